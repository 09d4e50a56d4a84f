/**
 * NestJS 11 over platform-express (the `express` hook) and platform-fastify (the `fastify` hook): the
 * server span that httpServer opened is named after Nest's route (global prefix + controller path +
 * method path), and the handler runs with it active. The app is declared with Nest's decorator functions
 * called by hand, so no `experimentalDecorators` is needed.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches } from '../../src';
import type { HookName } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import type { TestServer } from '../helpers/servers';
import { fetchBack, get, requestLifecycle } from '../frameworks/harness';

const { Controller, Get, Module, Param } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');

/** Applies a method decorator and its parameter decorators, as `@Get(':id') getUser(@Param('id') id)` would. */
function method(cls: { prototype: object }, name: string, decorator: MethodDecorator, params: ParameterDecorator[] = []): void {
  const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, name)!;
  params.forEach((param, index) => param(cls.prototype, name, index));
  Object.defineProperty(cls.prototype, name, decorator(cls.prototype, name, descriptor) ?? descriptor);
}

const seen: Record<string, unknown> = {};
let back: TestServer;

/** `@Controller('users')`: `GET /users/:id` calls the back server; `GET /users/:id/boom` throws. */
function makeModule(): unknown {
  class UsersController {
    async getUser(id: string): Promise<{ id: string }> {
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.afterAwait = currentSpan();
      await fetchBack(`${back.url}/user/${id}`);
      return { id };
    }
    boom(): never {
      throw new Error('nest kaput');
    }
  }
  method(UsersController, 'getUser', Get(':id'), [Param('id')]);
  method(UsersController, 'boom', Get(':id/boom'));
  Controller('users')(UsersController);
  class AppModule {}
  Module({ controllers: [UsersController] })(AppModule);
  return AppModule;
}

const PLATFORMS: Array<[label: string, hook: HookName, adapter: () => unknown]> = [
  ['platform-express', 'express', () => undefined],
  [
    'platform-fastify',
    'fastify',
    () => {
      const { FastifyAdapter } = require('@nestjs/platform-fastify');
      return new FastifyAdapter();
    },
  ],
];

for (const [label, hook, adapter] of PLATFORMS) {
  describe(`NestJS 11 over ${label} (the ${hook} hook)`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    let app: any;
    let url: string;

    async function start(names: HookName[] = ['httpServer', 'http', hook], prefix = 'api'): Promise<void> {
      installPatches(names, { tracer });
      const made = adapter();
      app = made === undefined ? await NestFactory.create(makeModule(), { logger: false }) : await NestFactory.create(makeModule(), made, { logger: false });
      if (prefix !== '') app.setGlobalPrefix(prefix);
      await app.listen(0, '127.0.0.1');
      url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    }

    const backServer = requestLifecycle(tracer, seen, async () => {
      await app?.close();
      app = undefined;
    });
    before(() => (back = backServer()));

    const appServerSpans = (): RecordedSpan[] => tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url'].startsWith(url));

    it('names the one server span GET /api/users/:id (global prefix + controller + method path); the handler’s active span is it, its outbound call its child', async () => {
      await start();
      const parent = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
      const reply = await get(`${url}/api/users/42`, { traceparent: parent });
      assert.equal(reply.status, 200);
      assert.equal(reply.body, '{"id":"42"}');
      await tracer.waitFor(3);
      await tracer.settle();
      const servers = appServerSpans();
      assert.equal(servers.length, 1, 'one server span per request');
      const [span] = servers;
      assert.equal(span.operationName, 'GET /api/users/:id');
      assert.equal(span.tags['http.route'], '/api/users/:id');
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(seen.afterAwait, span, 'currentSpan() after await in the handler is the server span');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === `${back.url}/user/42`);
      assert.equal(client?.parentId, span.id, 'the outbound call made in the handler is a child of the server span');
    });

    it('without a global prefix: GET /users/:id; concurrent requests keep their own names and parents', async () => {
      await start(undefined, '');
      const n = 20;
      await Promise.all(Array.from({ length: n }, (_, i) => get(`${url}/users/${i}`)));
      await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${url}/users/${i}/boom`)));
      await tracer.settle();
      const servers = appServerSpans();
      const users = servers.filter((s) => s.operationName === 'GET /users/:id');
      assert.equal(users.length, n);
      assert.equal(servers.filter((s) => s.operationName === 'GET /users/:id/boom').length, 4);
      for (const span of users) {
        const id = span.tags['http.url'].split('/').pop();
        const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === `${back.url}/user/${id}`);
        assert.equal(client?.parentId, span.id, `request ${id}: its outbound call under its own server span`);
      }
    });

    it('an error Nest turns into its 500 reply: error=true on the route-named span', async () => {
      await start();
      const reply = await get(`${url}/api/users/1/boom`);
      assert.equal(reply.status, 500);
      await tracer.settle();
      const [span] = appServerSpans();
      assert.equal(span.operationName, 'GET /api/users/:id/boom');
      assert.equal(span.tags.error, true);
      assert.equal(span.tags['http.status_code'], 500);
    });

    it(`with the ${hook} hook off the span keeps HTTP GET`, async () => {
      await start(['httpServer', 'http']);
      assert.equal((await get(`${url}/api/users/5`)).status, 200);
      await tracer.settle();
      assert.deepEqual(appServerSpans().map((s) => s.operationName), ['HTTP GET']);
    });
  });
}
