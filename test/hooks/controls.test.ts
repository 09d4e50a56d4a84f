/**
 * The seeds' controls, against real servers: static span tags, `propagate: false`, the HTTP clients'
 * request and response hooks, `peer.service` naming (by host and from a response header), local spans
 * (`traceFunction`, `startActiveSpan`), each with the recording tracer, and the main ones with the
 * built-in tracer and jaeger-client.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as opentracing from 'opentracing';
import { activeSpan, currentSpan, HooksConfig, installPatches, startActiveSpan, traceFunction, uninstallAllPatches, withSpan } from '../../src';
import { hookOptions, spanTagsFromEnv } from '../../src/config';
import { createTracerFromEnv } from '../../src/tracer';
import { EchoClient, EchoServer, loadEcho, startEchoServer, unary } from '../conformance/drivers/grpc';
import { freshSubject, headerRecord, natsConnect, sc } from '../conformance/drivers/nats';
import { headers as natsHeaders } from 'nats';
import { amqpUrl, pgConfig, redisUrl } from '../helpers/services';
import { closedPort, readBody, startServer, TestServer } from '../helpers/servers';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

 

/** GET `url`; resolves with the body once the request has closed (its span, if any, has then finished). */
function get(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    let body: Promise<string> | undefined;
    const req = http.get(url, { headers, agent: false }, (res) => (body = readBody(res)));
    req.on('error', reject);
    req.on('close', () => (body ?? Promise.reject(new Error('no response'))).then(resolve, reject));
  });
}

const HTTP_CLIENTS: Array<{ hook: 'http' | 'fetch' | 'axios'; call(url: string): Promise<unknown> }> = [
  { hook: 'http', call: (url) => get(url, { 'x-tenant': 'acme' }) },
  { hook: 'fetch', call: async (url) => (await fetch(url, { headers: { 'x-tenant': 'acme' } })).text() },
  { hook: 'axios', call: (url) => require('axios').get(url, { headers: { 'x-tenant': 'acme' } }) },
];

describe('controls: static tags, propagate, HTTP client hooks, peer.service, local spans', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let server: TestServer;
  const install = (names: Parameters<typeof installPatches>[0], config: Omit<HooksConfig, 'tracer'> = {}): void => installPatches(names, { tracer, ...config });

  /** A parent span, finished at once: its children record it as their parent all the same. */
  const request = (name = 'request'): RecordedSpan => {
    const span = tracer.startSpan(name) as RecordedSpan;
    span.finish();
    return span;
  };

  before(async () => {
    server = await startServer((req, res) => {
      res.setHeader('x-service-name', 'inventory');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ traceparent: req.headers.traceparent ?? null }));
    });
  });
  after(async () => {
    uninstallAllPatches();
    await server.close();
  });
  beforeEach(() => {
    uninstallAllPatches();
    tracer.reset();
    server.received.length = 0;
  });
  afterEach(() => tracer.settle());

  describe('spanTags and OT_SPAN_TAGS', () => {
    it('OT_SPAN_TAGS parses key=value pairs; top level, then the hook, win key by key', () => {
      assert.deepEqual(spanTagsFromEnv(' team = checkout ,region=eu, , bad'), { team: 'checkout', region: 'eu' });
      const options = hookOptions('pg', { spanTags: { team: 'payments', tier: 1 }, hooks: { pg: { spanTags: { tier: 2 } } } }, { OT_SPAN_TAGS: 'team=env,zone=a' });
      assert.deepEqual(options.spanTags, { team: 'payments', zone: 'a', tier: 2 });
    });

    it('every span the hooks make carries them: HTTP client and server, PostgreSQL and Redis; the hook’s own tags win', async () => {
      const previous = process.env.OT_SPAN_TAGS;
      process.env.OT_SPAN_TAGS = 'deployment=canary';
      try {
        install(['http', 'httpServer', 'pg', 'ioredis'], { spanTags: { team: 'checkout', component: 'not-mine' }, hooks: { pg: { spanTags: { db: 'main' } } } });
      } finally {
        if (previous === undefined) delete process.env.OT_SPAN_TAGS;
        else process.env.OT_SPAN_TAGS = previous;
      }
      const { Client } = require('pg');
      const Redis = require('ioredis');
      const pg = new Client(pgConfig());
      const redis = new Redis(redisUrl());
      const front = http.createServer((_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
      try {
        await pg.connect();
        const parent = request();
        await withSpan(parent, async () => {
          await pg.query('SELECT 1');
          await redis.get('controls:key');
          await get(`http://127.0.0.1:${(front.address() as { port: number }).port}/`);
        });
        await tracer.settle();
        const made = tracer.finished.filter((s) => s !== parent);
        const components = new Set(made.map((s) => s.tags.component));
        for (const c of ['pg', 'ioredis', 'http']) assert.ok(components.has(c), `a ${c} span among ${[...components].join(', ')}`);
        assert.ok(made.some((s) => s.tags['span.kind'] === 'server'), 'a server span');
        for (const span of made) {
          assert.equal(span.tags.team, 'checkout', span.operationName);
          assert.equal(span.tags.deployment, 'canary', span.operationName);
          assert.notEqual(span.tags.component, 'not-mine', span.operationName);
          assert.equal(span.tags.db, span.tags.component === 'pg' ? 'main' : undefined, span.operationName);
        }
      } finally {
        await pg.end();
        redis.disconnect();
        front.close();
      }
    });
  });

  describe('propagate: false', () => {
    for (const client of HTTP_CLIENTS) {
      it(`${client.hook}: the span is made, no trace header is sent`, async () => {
        install([client.hook], { propagate: false });
        await withSpan(request(), () => client.call(`${server.url}/x`));
        await tracer.settle();
        assert.equal(tracer.finished.filter((s) => s.tags['span.kind'] === 'client').length, 1);
        assert.equal(server.received[0].headers.traceparent, undefined);
      });
    }

    it('grpc: the span is made, no trace metadata is sent (per-hook option)', async () => {
      install(['grpc'], { hooks: { grpc: { propagate: false } } });
      const echo: EchoServer = await startEchoServer();
      const client = new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure()) as EchoClient;
      try {
        const reply = await withSpan(request(), () => unary(client, { text: 'hi' }));
        assert.equal(reply.traceparent, '');
        await tracer.settle();
        assert.equal(tracer.finished.filter((s) => s.tags['span.kind'] === 'client').length, 1);
      } finally {
        client.close();
        await echo.close();
      }
    });

    it('amqplib: the producer span is made, the message carries no trace header', async () => {
      install(['amqplib'], { propagate: false });
      const amqp = require('amqplib');
      const connection = await amqp.connect(amqpUrl());
      try {
        const channel = await connection.createChannel();
        const { queue } = await channel.assertQueue('', { exclusive: true });
        await withSpan(request(), async () => channel.sendToQueue(queue, Buffer.from('x'), { headers: { own: 'kept' } }));
        let message: any = false;
        while (message === false) message = await channel.get(queue, { noAck: true });
        assert.deepEqual(message.properties.headers, { own: 'kept' });
        await tracer.settle();
        assert.equal(tracer.finished.filter((s) => s.tags['span.kind'] === 'producer').length, 1);
      } finally {
        await connection.close();
      }
    });

    it('nats (a messaging hook on the messaging core): the producer span is made, the message carries no trace header', async () => {
      install(['nats'], { propagate: false });
      const nc = await natsConnect();
      try {
        const subject = freshSubject('controls');
        const received = new Promise<Record<string, string[]>>((resolve) => nc.subscribe(subject, { max: 1, callback: (_err, msg) => resolve(headerRecord(msg.headers)) }));
        await nc.flush();
        const own = natsHeaders();
        own.set('own', 'kept');
        withSpan(request(), () => nc.publish(subject, sc.encode('x'), { headers: own }));
        assert.deepEqual(await received, { own: ['kept'] });
        await tracer.settle();
        assert.equal(tracer.finished.filter((s) => s.tags['span.kind'] === 'producer').length, 1);
      } finally {
        await nc.close();
      }
    });

    it('the default still propagates', async () => {
      install(['http']);
      await withSpan(request(), () => get(`${server.url}/x`));
      assert.match(String(server.received[0].headers.traceparent), /^00-/);
    });
  });

  describe('requestHook and responseHook on the HTTP clients', () => {
    for (const client of HTTP_CLIENTS) {
      it(`${client.hook}: the request's method, URL and headers; the response's status and headers; throwing hooks cost nothing`, async () => {
        const seen: string[] = [];
        install([client.hook], {
          hooks: {
            [client.hook]: {
              requestHook: (span: opentracing.Span, request: { method: string; url: string; headers: unknown }) => {
                const tenant = require('../../src/cores/http-client').headerValue(request.headers, 'x-tenant');
                span.setTag('tenant', String(tenant));
                seen.push(`${request.method} ${request.url}`);
                throw new Error('request hook broke');
              },
              responseHook: (span: opentracing.Span, response: { status: number; headers: unknown }) => {
                const name = require('../../src/cores/http-client').headerValue(response.headers, 'x-service-name');
                span.setTag('callee', Buffer.isBuffer(name) ? name.toString() : String(name));
                span.setTag('seen.status', response.status);
                throw new Error('response hook broke');
              },
            },
          },
        } as Omit<HooksConfig, 'tracer'>);
        const body = await withSpan(request(), () => client.call(`${server.url}/path?q=1`));
        assert.ok(body !== undefined);
        await tracer.settle();
        const [span] = tracer.finished.filter((s) => s.tags['span.kind'] === 'client');
        assert.deepEqual(seen, [`GET http://127.0.0.1:${server.port}/path`]);
        assert.equal(span.tags.tenant, 'acme');
        assert.equal(span.tags.callee, 'inventory');
        assert.equal(span.tags['seen.status'], 200);
        assert.ok(!span.hasError());
      });
    }
  });

  describe('peer.service', () => {
    it('peerService names client spans by host:port, then host: HTTP and the databases', async () => {
      const db = pgConfig();
      const cache = new URL(redisUrl());
      install(['http', 'pg', 'ioredis'], {
        peerService: { '127.0.0.1': 'local', [`127.0.0.1:${server.port}`]: 'edge', [`${db.host}:${db.port}`]: 'orders-db', [`${cache.hostname}:${cache.port}`]: 'cache', constructor: 'never' },
      });
      const { Client } = require('pg');
      const Redis = require('ioredis');
      const pg = new Client(db);
      const redis = new Redis(redisUrl());
      try {
        await pg.connect();
        await withSpan(request(), async () => {
          await get(`${server.url}/`);
          await get(`http://127.0.0.1:${await closedPort()}/`).catch(() => undefined);
          await pg.query('SELECT 1');
          await redis.get('controls:key');
        });
        await tracer.settle();
        const http = tracer.finished.filter((s) => s.tags.component === 'http');
        assert.deepEqual(http.map((s) => s.tags['peer.service']), ['edge', 'local']);
        assert.equal(tracer.finished.find((s) => s.tags.component === 'pg')!.tags['peer.service'], 'orders-db');
        assert.equal(tracer.finished.find((s) => s.tags.component === 'ioredis')!.tags['peer.service'], 'cache');
      } finally {
        await pg.end();
        redis.disconnect();
      }
    });

    for (const client of HTTP_CLIENTS) {
      it(`${client.hook}: peerServiceHeader takes peer.service from the callee's response header`, async () => {
        install([client.hook], { peerServiceHeader: 'X-Service-Name' });
        await withSpan(request(), () => client.call(`${server.url}/`));
        await tracer.settle();
        const [span] = tracer.finished.filter((s) => s.tags['span.kind'] === 'client');
        assert.equal(span.tags['peer.service'], 'inventory');
      });
    }
  });

  describe('traceFunction', () => {
    it('a child span of the current one; this, arguments, return value, name and length kept; hook spans inside are its children', async () => {
      install(['http']);
      const target = {
        factor: 3,
        scale(this: { factor: number }, a: number, b: number): number {
          return (a + b) * this.factor;
        },
      };
      const traced = traceFunction('scale', target.scale, { tags: { unit: 'x' }, onStart: (span, a) => span.setTag('a', a) });
      assert.equal(traced.name, 'scale');
      assert.equal(traced.length, 2);
      const parent = request();
      assert.equal(withSpan(parent, () => traced.call(target, 1, 2)), 9);
      const fetchTraced = traceFunction('load', async (url: string) => {
        assert.equal((currentSpan() as RecordedSpan).operationName, 'load');
        return get(url);
      });
      await withSpan(parent, () => fetchTraced(`${server.url}/`));
      await tracer.settle();
      const scale = tracer.byName('scale')[0];
      assert.equal(scale.parentId, parent.id);
      assert.equal(scale.tags.unit, 'x');
      assert.equal(scale.tags.a, 1);
      const load = tracer.byName('load')[0];
      const call = tracer.finished.find((s) => s.tags.component === 'http')!;
      assert.equal(call.parentId, load.id);
      assert.ok(load.endTime! >= call.endTime!, 'load finishes when its promise settles');
    });

    it('no span outside a span by default; requireParent: false makes a root span', () => {
      const fn = traceFunction('plain', () => activeSpan(), { tracer });
      assert.equal(fn(), undefined);
      assert.equal(tracer.started.length, 0);
      const root = traceFunction('root', () => (activeSpan() as RecordedSpan).operationName, { tracer, requireParent: false });
      assert.equal(root(), 'root');
      assert.equal(tracer.byName('root')[0].parentId, undefined);
    });

    it('a thrown error and a rejection reach the caller as they are and mark the span', async () => {
      const boom = new Error('boom');
      const sync = traceFunction('sync', () => {
        throw boom;
      }, { tracer });
      const async = traceFunction('async', async () => {
        throw boom;
      }, { tracer });
      const parent = request();
      assert.throws(() => withSpan(parent, sync), (err) => err === boom);
      await assert.rejects(withSpan(parent, async), (err) => err === boom);
      await tracer.settle();
      assert.equal(tracer.byName('sync')[0].tags.error, true);
      assert.equal(tracer.byName('async')[0].tags.error, true);
    });
  });

  describe('startActiveSpan and activeSpan', () => {
    it('a child of the active span, active while fn runs, finished when its promise settles; hook spans inside are its children', async () => {
      install(['http']);
      const parent = request();
      const result = await withSpan(parent, () =>
        startActiveSpan('checkout', { tags: { step: 1 } }, async (span) => {
          assert.equal(activeSpan(), span);
          await get(`${server.url}/`);
          return 'done';
        }),
      );
      assert.equal(result, 'done');
      await tracer.settle();
      const checkout = tracer.byName('checkout')[0];
      assert.equal(checkout.parentId, parent.id);
      assert.equal(checkout.tags.step, 1);
      assert.equal(tracer.finished.find((s) => s.tags.component === 'http')!.parentId, checkout.id);
    });

    it('ignoreActiveSpan makes a root; childOf wins; finishOnClose: false leaves the span open', async () => {
      const parent = request();
      const other = request('other');
      withSpan(parent, () => startActiveSpan('root', { ignoreActiveSpan: true, tracer }, () => undefined));
      withSpan(parent, () => startActiveSpan('explicit', { childOf: other, tracer }, () => undefined));
      const open = withSpan(parent, () => startActiveSpan('open', { finishOnClose: false, tracer }, (span) => span as RecordedSpan));
      assert.equal(tracer.byName('root')[0].parentId, undefined);
      assert.equal(tracer.byName('explicit')[0].parentId, other.id);
      assert.equal(open.finishCount, 0);
      open.finish();
    });

    it('a tracer that throws costs only the span: fn still runs, with a no-op span', () => {
      const broken = new (class extends opentracing.Tracer {
        protected override _startSpan(): opentracing.Span {
          throw new Error('tracer broke');
        }
      })();
      assert.equal(startActiveSpan('x', { tracer: broken }, (span) => span instanceof opentracing.Span), true);
    });
  });

  describe('with the built-in tracer and with jaeger-client', () => {
    it('built-in tracer: static tags, peer.service, traceFunction and the HTTP client span in one exported trace', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-controls-'));
      const file = path.join(dir, 'traces.jsonl');
      const built = createTracerFromEnv({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file })!;
      installPatches(['http'], { tracer: built.tracer, spanTags: { team: 'checkout' }, peerService: { '127.0.0.1': 'edge' } });
      try {
        const parent = built.tracer.startSpan('request');
        await withSpan(parent, () => traceFunction('step', () => get(`${server.url}/`))());
        parent.finish();
        await built.flush();
        const spans = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        const step = spans.find((s) => s.name === 'step');
        const call = spans.find((s) => s.name === 'HTTP GET' && s.tags['span.kind'] === 'client');
        assert.ok(step && call, JSON.stringify(spans.map((s) => s.name)));
        assert.equal(call.parentId, step.spanId);
        const attrs = call.tags;
        assert.equal(attrs.team, 'checkout');
        assert.equal(attrs['peer.service'], 'edge');
        assert.match(String(server.received[0].headers.traceparent), /^00-/);
      } finally {
        await built.shutdown();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('jaeger-client: the same, with its uber-trace-id sent unless propagate is false', async () => {
      const jaeger = require('jaeger-client');
      const reporter = new jaeger.InMemoryReporter();
      const jaegerTracer = jaeger.initTracer({ serviceName: 'controls', sampler: { type: 'const', param: 1 } }, { reporter, logger: { info: () => undefined, error: () => undefined } });
      installPatches(['http'], { tracer: jaegerTracer, spanTags: { team: 'checkout' }, peerServiceHeader: 'x-service-name' });
      const parent = jaegerTracer.startSpan('request');
      await withSpan(parent, () => startActiveSpan('step', {}, () => get(`${server.url}/`)));
      parent.finish();
      uninstallAllPatches();
      installPatches(['http'], { tracer: jaegerTracer, propagate: false });
      await withSpan(jaegerTracer.startSpan('request'), () => get(`${server.url}/`));
      const spans = reporter.spans as any[];
      const step = spans.find((s) => s.operationName === 'step');
      const call = spans.find((s) => s.operationName === 'HTTP GET');
      assert.equal(call.context().parentIdStr, step.context().spanIdStr);
      assert.equal(step.context().parentIdStr, parent.context().spanIdStr);
      const tags = Object.fromEntries(call._tags.map((t: { key: string; value: unknown }) => [t.key, t.value]));
      assert.equal(tags.team, 'checkout');
      assert.equal(tags['peer.service'], 'inventory');
      assert.ok(server.received[0].headers['uber-trace-id'] !== undefined);
      assert.equal(server.received[1].headers['uber-trace-id'], undefined);
      jaegerTracer.close();
    });
  });
});
