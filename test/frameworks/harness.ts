/**
 * What the framework tests share: a driver per framework and major version (how to build and start the
 * app every framework test talks to), the handler work every app runs, and the per-test life cycle (a back
 * server for outbound calls, an app started under an install, everything torn down after each test).
 * The contract (contract.test.ts) runs the same tests through every driver; a framework's own test file
 * (test/hooks/<framework>.test.ts) keeps only what is particular to that framework.
 */
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches, traced, uninstallAllPatches } from '../../src';
import type { HookName, HooksConfig } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { readBody, startServer, TestServer } from '../helpers/servers';

export interface Reply {
  status: number;
  body: string;
}

/** A GET, or a POST when there is a body. */
export function request(url: string, headers: http.OutgoingHttpHeaders = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: body === undefined ? 'GET' : 'POST', headers }, (res) => readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, body: text }), reject));
    req.on('error', reject);
    req.end(body);
  });
}
export const get = (url: string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> => request(url, headers);

/** An outbound call from a handler (http.get, traced by the `http` hook). */
export function fetchBack(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (r) => readBody(r).then(resolve, reject)).on('error', reject);
  });
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An error of the app's own for a missing resource: no status property, the app's error handling answers it 404. */
export class NotFound extends Error {
  override name = 'NotFound';
}

/** The finished server spans named `name`. */
export const serverSpans = (tracer: RecordingTracer, name: string): RecordedSpan[] => tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.operationName === name);

/** The spans whose parent is the (first) server span named `route`. */
export const childrenOf = (tracer: RecordingTracer, route: string): RecordedSpan[] => tracer.finished.filter((s) => s.parentId === serverSpans(tracer, route)[0].id);

/** What the handlers saw: the active span at points in a request (`afterAwait`, `inTimeout`, `tracedActive`...). */
export type Seen = Record<string, unknown>;

/**
 * The work behind the routes every driver's app has, so that apps differ only in how each framework
 * routes, nests and answers:
 *   GET /api/v1/users/:id          getUser: after an await and in a timer notes the active span, calls the back server, `{ id }`
 *   GET /api/v1/async-boom         rejects with `async kaput` after a moment
 *   GET /api/boom                  throws `kaput`
 *   GET /admin/orgs/:org/items/:item  `<org>/<item>` (a sub-app, router or plugin with a prefix)
 *   GET /plain  `plain`;  GET /traced  traced() first, `t`;  GET /untraced  calls the back server, `u`;  GET /tag  tags the active span, `ok`
 *   GET /after-response            answers `sent`, then works on: afterResponse
 *   GET /slow-traced               a slow middleware (slowAuth) that goes on only once the client is gone, then lateTraced(), then `late`
 *   GET /abort-notice              the framework's notice that the client left calls clientGone(); waits as slowAuth does, then `late`
 */
export class AppWork {
  readonly seen: Seen = {};
  backUrl = '';
  /** What the app signals: `afterResponse` (its work after the response done), `waiting` (slowAuth waits), `lateTraced` (traced() ran), `clientGone`. */
  readonly events = new EventEmitter();

  async getUser(id: string): Promise<{ id: string }> {
    await delay(2);
    this.seen.afterAwait = currentSpan();
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        this.seen.inTimeout = currentSpan();
        fetchBack(`${this.backUrl}/user/${id}`).then(() => resolve());
      }, 1),
    );
    return { id };
  }
  async asyncBoom(): Promise<never> {
    await delay(2);
    throw new Error('async kaput');
  }
  boom(): never {
    throw new Error('kaput');
  }
  items(org: string, item: string): string {
    return `${org}/${item}`;
  }
  traced(): string {
    this.seen.tracedActive = currentSpan();
    return 't';
  }
  async untraced(): Promise<string> {
    this.seen.untracedActive = currentSpan();
    await fetchBack(`${this.backUrl}/from-untraced`);
    return 'u';
  }
  tag(): string {
    currentSpan()?.setTag('user.tier', 'gold');
    return 'ok';
  }
  /** traced(), for the framework's own way of running it (middleware, hook, extension). */
  readonly tracedMiddleware = traced;

  /**
   * Called by a handler as it answers (`res` is the raw response): once the response is done, after an
   * await, notes the active span and calls the back server (an audit call), then signals `afterResponse`.
   */
  async afterResponse(res: http.ServerResponse): Promise<void> {
    await closed(res);
    await delay(1);
    this.seen.afterResponse = currentSpan();
    await fetchBack(`${this.backUrl}/after-response`);
    this.events.emit('afterResponse');
  }

  /** A slow middleware's wait (an auth check): signals `waiting`, resolves once the client is gone and the response closed. */
  async slowAuth(res: http.ServerResponse): Promise<void> {
    const gone = closed(res);
    this.events.emit('waiting');
    await gone;
  }

  /**
   * The framework's notice that the client left (fastify's onRequestAbort, hapi's 'disconnect', a `req`
   * 'close' listener in express and koa, which have none of their own): notes the active span, signals `clientGone`.
   */
  clientGone(): void {
    this.seen.clientGone = currentSpan();
    this.events.emit('clientGone');
  }

  /** traced() that signals `lateTraced` once it ran (after slowAuth, the client gone). */
  lateTraced(): (a: any, b?: any, c?: any) => any {
    const inner = traced();
    const events = this.events;
    return function lateTraced(a: any, b?: any, c?: any): any {
      const result = inner(a, b, c);
      events.emit('lateTraced');
      return result;
    };
  }
}

/** Resolves once `res` has closed (at once if it has). */
async function closed(res: http.ServerResponse): Promise<void> {
  if (!res.closed) await once(res, 'close');
}

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

/** Changes made to an app before the common routes: a framework test's extra route or middleware. */
export type Extra = (app: any) => void;

/** What the shared tests know of one framework and one major version of it. */
export interface FrameworkDriver {
  /** Shown in test titles, e.g. `express@4`, `koa@2 + koa-router`. */
  readonly label: string;
  readonly hook: HookName;
  /** npm aliases of a second major (`express4` is `express`). */
  readonly aliases?: Record<string, string>;
  /** A route template as this framework writes it (hapi: `{id}` for `:id`). */
  route(template: string): string;
  /** Builds the app with the common routes (see AppWork), `extra` first, and starts it on 127.0.0.1. */
  start(work: AppWork, extra?: Extra): Promise<RunningApp>;
  /** An error page of the app's own: answers a server error with 500 `handled: <message>`. */
  readonly errorPage: Extra;
  /** Whether the framework's own error reply (no error page) is checked too (express's is finalhandler's). */
  readonly ownErrorReply: boolean;
  /** More routes whose error the app answers: [path, message, route template, status of the framework's own reply]. */
  readonly moreServerErrors?: ReadonlyArray<readonly [string, string, string, number]>;
  /** Adds `GET /bad` that fails with a client error (400, `bad input`) the framework's way. */
  readonly clientError?: Extra;
  /**
   * Adds `GET /missing`, whose `NotFound('user 42 not found')` (an error without a status) reaches the
   * framework's error handling (next(err), a throw, a returned error), where the app answers it 404 `not found: <message>`.
   */
  readonly notFound: Extra;
  /** More routes that `notFound` adds, answered 404 the framework's other ways: [path, route template]. */
  readonly moreNotFound?: ReadonlyArray<readonly [string, string]>;
  /** Paths besides /traced that run traced() the framework's other ways (fastify: a scope's onRequest hook). */
  readonly alsoTraced?: readonly string[];
  /**
   * With `middlewareSpans`: the requests to make and, per route template, the names of the route handler's
   * child spans (the getUser route is checked for its outbound call and active span too).
   */
  readonly handlerSpans?: { extra?: Extra; paths: readonly string[]; children: Readonly<Record<string, readonly string[]>> };
  /**
   * Registers `fn` the framework's way on a new app (the hook installed) and returns the function the
   * framework hands back to the app for it (a router layer's handle, koa's middleware list, fastify's
   * onRoute hook, hapi's route settings).
   */
  handedBack(fn: (...args: any[]) => unknown): Promise<unknown>;
}

/** The test context of a framework suite: the tracer, what handlers saw, and the app under test. */
export interface FrameworkSuite {
  readonly tracer: RecordingTracer;
  readonly seen: Seen;
  /** What the app signals (AppWork.events). */
  readonly events: EventEmitter;
  back(): TestServer;
  /** Installs the hooks (httpServer, http and the framework's by default) and starts the app. */
  start(config?: HooksConfig, names?: HookName[], extra?: Extra): Promise<string>;
  /** Stops the app, uninstalls, forgets the spans, and starts again with `config`. */
  restart(config?: HooksConfig): Promise<string>;
  install(config?: HooksConfig, names?: HookName[]): void;
}

/**
 * The life cycle every framework suite shares (call inside `describe`): a back server for outbound calls,
 * and after each test the app closed, spans settled, hooks uninstalled, tracer and `seen` cleared.
 */
export function requestLifecycle(tracer: RecordingTracer, seen: Seen, closeApp: () => Promise<void>): () => TestServer {
  let back: TestServer;
  before(async () => {
    back = await startServer((_req, res) => res.end('back'));
  });
  after(() => back.close());
  afterEach(async () => {
    try {
      await closeApp();
      await tracer.settle();
    } finally {
      // A test that failed here (a span left unfinished) leaves no install and no spans to the next suite.
      uninstallAllPatches();
      tracer.reset();
      for (const key of Object.keys(seen)) delete seen[key];
    }
  });
  return () => back;
}

/** A framework suite for `driver` (call inside `describe`). */
export function frameworkSuite(driver: FrameworkDriver): FrameworkSuite {
  const tracer = new RecordingTracer();
  const work = new AppWork();
  let app: RunningApp | undefined;
  const back = requestLifecycle(tracer, work.seen, async () => {
    await app?.close();
    app = undefined;
  });
  const install = (config: HooksConfig = {}, names: HookName[] = ['httpServer', 'http', driver.hook]): void => {
    installPatches(names, { tracer, aliases: driver.aliases, ...config });
  };
  const start = async (config?: HooksConfig, names?: HookName[], extra?: Extra): Promise<string> => {
    install(config, names);
    work.backUrl = back().url;
    app = await driver.start(work, extra);
    return app.url;
  };
  return {
    tracer,
    seen: work.seen,
    events: work.events,
    back,
    start,
    install,
    async restart(config) {
      await app!.close();
      uninstallAllPatches();
      tracer.reset();
      return start(config);
    },
  };
}

/** Listens on a free port of 127.0.0.1 with a plain http server (express, koa). */
export async function listen(handler: http.RequestListener): Promise<RunningApp> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}
