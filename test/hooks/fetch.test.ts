import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import * as net from 'node:net';
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import * as undici from 'undici';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { closedPort, echoHandler, serverForSuite, startServer, TestServer } from '../helpers/servers';
import { runNode } from '../helpers/child';

const originalFetch = globalThis.fetch;

/** GET of `u` through an undici Client or Pool, closed afterwards: the JSON body. */
async function viaDispatcher(dispatcher: undici.Client | undici.Pool, u: string): Promise<any> {
  const url = new URL(u);
  try {
    const r = await dispatcher.request({ path: url.pathname + url.search, method: 'GET' });
    return await r.body.json();
  } finally {
    await dispatcher.close();
  }
}

/** A stream's whole text. */
async function text(stream: Readable): Promise<string> {
  let all = '';
  for await (const chunk of stream) all += chunk;
  return all;
}

/** A request sent with `dispatch` itself (no entry point: each request its own span), settled at the end of its response. */
function bareDispatch(dispatcher: undici.Dispatcher, url: string): Promise<void> {
  const { origin, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    dispatcher.dispatch({ origin, path: pathname, method: 'GET' }, {
      onRequestStart() {},
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd: () => resolve(),
      onResponseError: (_controller: unknown, err: Error) => reject(err),
    } as unknown as undici.Dispatcher.DispatchHandler);
  });
}

/** A proxy that opens the tunnel each CONNECT asks for, after telling `onConnect` of the CONNECT. */
async function tunnellingProxy(onConnect: (req: IncomingMessage) => void): Promise<TestServer> {
  const proxy = await startServer();
  proxy.server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    onConnect(req);
    const [host, port] = String(req.url).split(':');
    const upstream = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket).on('error', () => {});
      socket.pipe(upstream).on('error', () => {});
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  return proxy;
}

describe('fetch / undici hook', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let server: TestServer;
  const clients = (): RecordedSpan[] => tracer.ofKind('client');

  before(async () => {
    installPatches(['fetch', 'httpServer'], { tracer });
    server = await startServer((req, res) => {
      if (req.url?.startsWith('/big')) {
        // More than undici buffers: unread, the response cannot complete on its own.
        res.write(Buffer.alloc(16 * 1024 * 1024, 120));
        return void res.end();
      }
      if (req.url?.startsWith('/redirect')) {
        res.statusCode = 302;
        res.setHeader('location', '/landed');
        return void res.end();
      }
      echoHandler(req, res);
    });
  });
  after(async () => {
    uninstallAllPatches();
    await server.close();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());

  const forms: Array<[string, string, (url: string) => Promise<any>]> = [
    ['global fetch', 'fetch', (u) => fetch(u).then((r) => r.json())],
    ['undici.fetch', 'fetch', (u) => undici.fetch(u).then((r) => r.json())],
    ['undici.request', 'undici', (u) => undici.request(u).then((r) => r.body.json())],
    ['undici Client#request', 'undici', (u) => viaDispatcher(new undici.Client(new URL(u).origin), u)],
    ['undici Pool#request', 'undici', (u) => viaDispatcher(new undici.Pool(new URL(u).origin), u)],
  ];
  for (const [name, component, run] of forms) {
    it(`${name}: one span, header once, downstream parent is the client span`, async () => {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const body: any = await withSpan(parent, () => run(`${server.url}/f?secret=1`));
      parent.finish();
      await tracer.waitFor(3);
      const [client] = clients();
      assert.equal(clients().length, 1);
      assert.equal(client.parentId, parent.id);
      assert.equal(client.tags.component, component);
      assert.equal(client.tags['http.url'], `${server.url}/f`);
      assert.equal(client.tags['http.method'], 'GET');
      assert.equal(client.tags['http.status_code'], 200);
      assert.equal(client.tags['peer.port'], server.port);
      assert.equal(body.copies, 1);
      assert.equal(body.traceparent, `00-${client.traceId}-${client.id}-01`);
      assert.equal(tracer.ofKind('server')[0].parentId, client.id);
    });
  }

  it('each origin its own target: calls to two servers alternately, origins as strings, URLs and with a trailing slash', async () => {
    const other = await startServer(echoHandler);
    try {
      const calls: Array<[string, () => Promise<unknown>]> = [
        [`${server.url}/a`, () => fetch(`${server.url}/a`).then((r) => r.json())],
        [`${other.url}/b`, () => undici.request(new URL(`${other.url}/b?q=1`)).then((r) => r.body.json())],
        [`${server.url}/c`, () => undici.request({ origin: `${server.url}/`, path: '/c', method: 'GET' } as any).then((r) => r.body.json())],
        [`${other.url}/d`, () => viaDispatcher(new undici.Client(new URL(other.url)), `${other.url}/d`)],
      ];
      for (const [, call] of calls) await call();
      await tracer.waitFor(calls.length);
      assert.deepEqual(
        clients().map((s) => [s.tags['http.url'], s.tags['http.method'], s.tags['peer.port']]),
        calls.map(([url]) => [url, 'GET', url.startsWith(server.url) ? server.port : other.port]),
      );
    } finally {
      await other.close();
    }
  });

  it('a forward proxy without a tunnel (absolute-form path): http.url is the target, peer.* the proxy', async () => {
    const http = await import('node:http');
    const proxy = await startServer((req, res) => {
      http.get(String(req.url), { headers: req.headers }, (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(res);
      });
    });
    const agent = new undici.ProxyAgent({ uri: proxy.url, proxyTunnel: false } as any);
    try {
      const body: any = await undici.request(`${server.url}/via-proxy`, { dispatcher: agent }).then((r) => r.body.json());
      await tracer.waitFor(2);
      const [client] = clients();
      assert.equal(clients().length, 1);
      assert.equal(client.tags['http.url'], `${server.url}/via-proxy`);
      assert.equal(client.tags['peer.hostname'], '127.0.0.1');
      assert.equal(client.tags['peer.port'], proxy.port);
      assert.equal(body.traceparent, `00-${client.traceId}-${client.id}-01`);
    } finally {
      await agent.close();
      await proxy.close();
    }
  });

  it('a tunnelling ProxyAgent: its CONNECTs carry no trace header and make no span, a redirect through it stays the one call', async () => {
    const target = await startServer((req, res) => {
      if (req.url === '/start') {
        // Closed after the redirect: the next request needs a tunnel of its own.
        res.writeHead(302, { location: '/landed', connection: 'close' });
        return void res.end();
      }
      echoHandler(req, res);
    });
    const connects: unknown[] = [];
    const proxy = await tunnellingProxy((req) => connects.push(req.headers.traceparent));
    const agent = new undici.ProxyAgent(proxy.url);
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const bodies: any[] = await withSpan(parent, async () => [
        await fetch(`${target.url}/start`, { dispatcher: agent } as unknown as RequestInit).then((r) => r.json()),
        await undici.request(`${target.url}/direct`, { dispatcher: agent }).then((r) => r.body.json()),
      ]);
      parent.finish();
      await tracer.settle();
      assert.deepEqual(bodies.map((b) => b.url), ['/landed', '/direct']);
      assert.ok(connects.length >= 2, `CONNECTs: ${connects.length}`);
      assert.deepEqual(connects.filter((h) => h !== undefined), []);
      const spans = clients();
      assert.deepEqual(spans.map((s) => [s.tags.component, s.tags['http.method'], s.tags['http.url'], s.tags['http.status_code'], s.parentId]), [
        ['fetch', 'GET', `${target.url}/start`, 200, parent.id],
        ['undici', 'GET', `${target.url}/direct`, 200, parent.id],
      ]);
      const [start, landed, direct] = target.received.map((r) => r.headers.traceparent);
      assert.equal(start, `00-${spans[0].traceId}-${spans[0].id}-01`);
      assert.equal(landed, start);
      assert.equal(direct, `00-${spans[1].traceId}-${spans[1].id}-01`);
    } finally {
      await agent.close();
      await proxy.close();
      await target.close();
    }
  });

  it("an app's own CONNECT (Client#connect, promise and callback) through a proxy: a span under the caller, http.url the tunnel's end and peer.* the proxy, as http's (http.url was the proxy's origin and the target run together)", async () => {
    const target = await startServer();
    const paths: string[] = [];
    const proxy = await tunnellingProxy((req) => paths.push(String(req.url)));
    const { host } = new URL(target.url);
    const client = new undici.Client(proxy.url);
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const statuses = await withSpan(parent, async () => {
        const viaClient = await client.connect({ path: host });
        viaClient.socket.destroy();
        const viaCallback = await new Promise<number>((resolve, reject) =>
          client.connect({ path: host }, (err, data) => {
            if (err) return reject(err);
            data.socket.destroy();
            resolve(data.statusCode);
          }),
        );
        return [viaClient.statusCode, viaCallback];
      });
      parent.finish();
      await tracer.settle();
      assert.deepEqual(statuses, [200, 200]);
      assert.deepEqual(paths, [host, host]);
      const { hostname, port } = new URL(proxy.url);
      assert.deepEqual(
        clients().map((s) => [s.operationName, s.tags.component, s.tags['http.method'], s.tags['http.url'], s.tags['peer.hostname'], s.tags['peer.port'], s.tags['http.status_code'], s.parentId]),
        Array(2).fill(['HTTP CONNECT', 'undici', 'CONNECT', `http://${host}`, hostname, Number(port), 200, parent.id]),
      );
    } finally {
      await client.close();
      await proxy.close();
      await target.close();
    }
  });

  it("the load-time probe of undici's handler classes calls undici's own methods, not a shimmer wrapper another tool put on Dispatcher#request, stream and pipeline (it ran that wrapper once each)", async () => {
    const script = `
      const shimmer = require('shimmer');
      const undici = require('undici');
      let calls = 0;
      for (const name of ['request', 'stream', 'pipeline'])
        shimmer.wrap(undici.Dispatcher.prototype, name, (original) => function () { calls++; return original.apply(this, arguments); });
      const { installPatches } = require('./build/src');
      installPatches(['fetch'], { tracer: new (require('opentracing').Tracer)() });
      const atInstall = calls;
      // Still in place beneath ours: a call goes through it.
      undici.Dispatcher.prototype.request.call({ dispatch: () => true }, {}, () => undefined);
      console.log(JSON.stringify({ atInstall, later: calls }));`;
    const run = await runNode({}, ['-e', script]);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { atInstall: 0, later: 1 });
  });

  it('a trace header the caller set in another case (undici.request keeps the case) is not added again', async () => {
    const own = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    const body: any = await undici.request(`${server.url}/own-case`, { headers: { TraceParent: own } }).then((r) => r.body.json());
    assert.equal(body.copies, 1);
    assert.equal(body.traceparent, own);
  });

  it('never adds a second trace header when the caller set one', async () => {
    const own = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    const body: any = await fetch(`${server.url}/own`, { headers: { traceparent: own } }).then((r) => r.json());
    assert.equal(body.copies, 1);
    assert.equal(body.traceparent, own);
  });

  it('4xx is recorded, 5xx is an error', async () => {
    await fetch(`${server.url}/status/404`).then((r) => r.text());
    await fetch(`${server.url}/status/502`).then((r) => r.text());
    await tracer.waitFor(4);
    const [c404, c502] = clients();
    assert.equal(c404.tags['http.status_code'], 404);
    assert.notEqual(c404.tags.error, true);
    assert.equal(c502.tags['http.status_code'], 502);
    assert.equal(c502.tags.error, true);
  });

  it('timeout, cancellation and ECONNREFUSED: error spans, the same errors reach the caller', async () => {
    // A server of its own, closed before the spans are counted: a request given up on may still reach it
    // afterwards and start a server span (as in the axios test).
    const slow = await startServer((_req, res) => void setTimeout(() => res.end('late'), 1000));
    const timeout = await fetch(`${slow.url}/slow`, { signal: AbortSignal.timeout(50) }).catch((e) => e);
    const controller = new AbortController();
    const pending = fetch(`${slow.url}/slow`, { signal: controller.signal }).catch((e) => e);
    setTimeout(() => controller.abort(), 20);
    const aborted = await pending;
    const refused = await fetch(`http://127.0.0.1:${await closedPort()}/`).catch((e) => e);
    assert.equal(timeout.name, 'TimeoutError');
    assert.equal(aborted.name, 'AbortError');
    assert.equal(refused.name, 'TypeError');
    await slow.close();
    await tracer.settle();
    const errs = clients().map((s) => s.errorLog()?.fields['error.object'] as Error & { cause?: Error & { code?: string } });
    assert.ok(errs.includes(timeout));
    assert.ok(errs.includes(aborted));
    // fetch's TypeError holds its cause: a copy, with the cause's copy (what failed) kept.
    const failed = errs.find((e) => e !== timeout && e !== aborted)!;
    assert.equal(failed.message, refused.message);
    assert.equal(failed.cause?.code, refused.cause.code);
    assert.ok(clients().every((s) => s.tags.error === true));
  });

  it("an abort reason whose name getter throws: fetch rejects with that reason (the hook's read threw instead), the span finishes once with error", async () => {
    const slow = await startServer((_req, res) => void setTimeout(() => res.end('late'), 1000));
    try {
      const odd = { message: 'odd', get name(): string { throw new Error('name getter throws'); } };
      const controller = new AbortController();
      const pending = fetch(`${slow.url}/slow`, { signal: controller.signal }).catch((e) => e);
      setTimeout(() => controller.abort(odd), 20);
      assert.equal(await pending, odd);
    } finally {
      await slow.close();
    }
    await tracer.settle();
    const [span] = clients();
    assert.equal(clients().length, 1);
    assert.equal(span.finishCount, 1);
    assert.equal(span.tags.error, true);
    // undici gave the reason a stack, which reads its name: the error is not shown.
    assert.equal(typeof span.errorLog()?.fields.message, 'string');
  });

  it("undici's ResponseError (interceptors.responseError): the span logs its name, code and status, never the server's body or headers; the app gets the original", async () => {
    const said = 'invalid card number 4111111111111111 for user alice@example.com';
    const refusing = await startServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain', 'x-echo': said });
      res.end(said);
    });
    const dispatcher = new undici.Agent().compose(undici.interceptors.responseError());
    try {
      const err = await undici.request(`${refusing.url}/pay`, { dispatcher }).catch((e) => e);
      assert.equal(err.name, 'ResponseError');
      assert.equal(err.body, said);
      await tracer.settle();
      const [span] = clients();
      assert.equal(span.tags['http.status_code'], 400);
      const logged = span.errorLog()!.fields['error.object'] as Record<string, unknown>;
      assert.notEqual(logged, err);
      assert.deepEqual([logged.name, logged.code, logged.statusCode, logged.message], [err.name, err.code, 400, err.message]);
      assert.deepEqual([logged.body, logged.headers], [undefined, undefined]);
      assert.ok(!require('node:util').inspect(logged).includes('4111111111111111'));
    } finally {
      await dispatcher.close();
      await refusing.close();
    }
  });

  it('a DOMException that names the URL is logged as a readable redacted copy; the caller gets the original', async () => {
    // A copy keeping DOMException's prototype threw on reading its message and name (accessors that need
    // the original's internal slots): the span logged "error not shown" and util.inspect of it threw.
    const slow = await startServer((_req, res) => void setTimeout(() => res.end('late'), 1000));
    const url = `${slow.url}/slow?token=tokenSecret123`;
    const controller = new AbortController();
    const pending = fetch(url, { signal: controller.signal }).catch((e) => e);
    const reason = new DOMException(`gave up on ${url}`, 'TimeoutError');
    setTimeout(() => controller.abort(reason), 20);
    assert.equal(await pending, reason);
    await slow.close();
    await tracer.settle();
    const log = clients()[0].errorLog()!.fields;
    const copy = log['error.object'] as Error;
    assert.notEqual(copy, reason);
    assert.equal(copy.name, 'TimeoutError');
    assert.equal(log.message, copy.message);
    assert.ok(copy.message.startsWith(`gave up on ${slow.url}/slow`), copy.message);
    assert.ok(!require('node:util').inspect(copy).includes('tokenSecret123'));
    assert.ok(!String(log.stack).includes('tokenSecret123'));
    assert.ok(reason.message.includes('tokenSecret123'));
  });

  it("a rejection keeps the caller's async frames (defect 2: the chained promise, no side .then)", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/`;
    async function fetchCallerFrame(): Promise<unknown> {
      return await fetch(url);
    }
    const stack = async (): Promise<string> => String(((await fetchCallerFrame().catch((e: unknown) => e)) as Error).stack);
    uninstallAllPatches();
    const untraced = await stack();
    installPatches(['fetch', 'httpServer'], { tracer });
    const traced = await stack();
    // Node 24's fetch rejects with an error whose stack has no async frames even untraced: the rule
    // is that the hook never takes away frames the untraced call has.
    assert.equal(traced.includes('fetchCallerFrame'), untraced.includes('fetchCallerFrame'), `untraced:\n${untraced}\ntraced:\n${traced}`);
    await tracer.settle();
    assert.equal(clients().length, 1);
    assert.equal(clients()[0].tags.error, true);
  });

  it('a redirected fetch is one span', async () => {
    const res = await fetch(`${server.url}/redirect`);
    assert.equal(((await res.json()) as any).url, '/landed');
    await tracer.settle();
    assert.equal(clients().length, 1);
  });

  it('a redirected fetch under a parent: one span, each request carries it; redirect: manual ends at the 302', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const body: any = await withSpan(parent, () => fetch(`${server.url}/redirect`).then((r) => r.json()));
    const manual = await fetch(`${server.url}/redirect`, { redirect: 'manual' });
    await manual.text();
    parent.finish();
    await tracer.settle();
    const [followed, kept] = clients();
    assert.equal(clients().length, 2);
    assert.equal(followed.parentId, parent.id);
    assert.equal(body.traceparent, `00-${followed.traceId}-${followed.id}-01`);
    assert.equal(followed.tags['http.status_code'], 200);
    assert.equal(kept.tags['http.status_code'], 302);
  });

  it("the body of a request on a connection another request opened: its events run in the caller's context, so what its listeners call is the caller's child (it was the other request's, with its trace)", async () => {
    // The body's end comes after the caller listens: undici pushes it from the socket.
    const slowEnd = await startServer((req, res) => {
      if (req.url !== '/b' && req.url !== '/quiet') return echoHandler(req, res);
      res.write('x');
      setTimeout(() => res.end('y'), 30);
    });
    const client = new undici.Client(slowEnd.url);
    const a = tracer.startSpan('A') as RecordedSpan;
    const b = tracer.startSpan('B') as RecordedSpan;
    try {
      await withSpan(a, () => client.request({ path: '/a', method: 'GET' }).then((r) => r.body.text()));
      const seen: Array<[string, unknown]> = [];
      const then = await withSpan(b, async () => {
        const { body } = await client.request({ path: '/b', method: 'GET' });
        return new Promise<any>((resolve, reject) => {
          body.on('data', () => seen.push(['data', currentSpan()]));
          body.on('end', () => {
            seen.push(['end', currentSpan()]);
            client.request({ path: '/b-then', method: 'GET' }).then((r) => r.body.json()).then(resolve, reject);
          });
          body.on('close', () => seen.push(['close', currentSpan()]));
        });
      });
      // An untraced call's too: what a suppressed call's listener calls is suppressed, never A's child.
      await withSpan(a, () => client.request({ path: '/a', method: 'GET' }).then((r) => r.body.text()));
      const quiet = await withSpan(b, () =>
        suppressTracing(async () => {
          const { body } = await client.request({ path: '/quiet', method: 'GET' });
          body.resume();
          return new Promise<any>((resolve, reject) => body.on('end', () => void client.request({ path: '/quiet-then', method: 'GET' }).then((r) => r.body.json()).then(resolve, reject)));
        }),
      );
      assert.equal(quiet.traceparent, null);
      a.finish();
      b.finish();
      await tracer.settle();
      assert.deepEqual([...new Set(seen.map(([event, span]) => `${event} ${span === b ? 'B' : 'other'}`))], ['data B', 'end B', 'close B']);
      const byPath = new Map(clients().map((s) => [new URL(s.tags['http.url'] as string).pathname, s]));
      const after = byPath.get('/b-then')!;
      assert.deepEqual([byPath.get('/a')!.parentId, byPath.get('/b')!.parentId, after.parentId], [a.id, b.id, b.id]);
      assert.deepEqual(clients().map((s) => new URL(s.tags['http.url'] as string).pathname), ['/a', '/b', '/b-then', '/a']);
      assert.equal(then.traceparent, `00-${b.traceId}-${after.id}-01`);
    } finally {
      await client.close();
      await slowEnd.close();
    }
  });

  it("a callback-form request's body, stream()'s writable and pipeline()'s body on a connection another request opened: their events and writes run in the caller's context (they ran in the other request's)", async () => {
    // The rest of the body comes after the caller listens: undici pushes it from the socket.
    const slowEnd = await startServer((req, res) => {
      if (req.url === '/a') return echoHandler(req, res);
      req.resume();
      res.write('x');
      setTimeout(() => res.end('y'), 30);
    });
    const client = new undici.Client(slowEnd.url);
    const a = tracer.startSpan('A') as RecordedSpan;
    const b = tracer.startSpan('B') as RecordedSpan;
    const seen: string[] = [];
    const note = (what: string): void => void seen.push(`${what} ${currentSpan() === b ? 'B' : 'other'}`);
    const opened = (): Promise<unknown> => withSpan(a, () => client.request({ path: '/a', method: 'GET' }).then((r) => r.body.text()));
    try {
      await opened();
      await withSpan(b, () =>
        new Promise<void>((resolve, reject) =>
          client.request({ path: '/request', method: 'GET' }, (err, data) => {
            if (err) return reject(err);
            data.body.on('data', () => note('request data'));
            data.body.on('end', () => note('request end'));
            data.body.on('close', () => (note('request close'), resolve()));
          }),
        ),
      );
      await opened();
      await withSpan(b, () =>
        new Promise<void>((resolve, reject) =>
          client.stream(
            { path: '/stream', method: 'GET' },
            () => new Writable({ write: (_chunk, _e, done) => (note('stream write'), done()), final: (done) => (note('stream final'), done()) }),
            (err) => (err ? reject(err) : resolve()),
          ),
        ),
      );
      await opened();
      await withSpan(b, () =>
        new Promise<void>((resolve, reject) => {
          const duplex = client.pipeline({ path: '/pipeline', method: 'GET' }, ({ body }) => {
            body.on('data', () => note('pipeline data'));
            body.on('end', () => note('pipeline end'));
            return body;
          });
          duplex.on('error', reject).end();
          duplex.on('data', () => undefined).on('end', resolve);
        }),
      );
      a.finish();
      b.finish();
      assert.deepEqual([...new Set(seen)], ['request data B', 'request end B', 'request close B', 'stream write B', 'stream final B', 'pipeline data B', 'pipeline end B']);
      await tracer.settle();
      assert.deepEqual(clients().map((s) => [new URL(s.tags['http.url'] as string).pathname, s.parentId === b.id ? 'B' : 'A']), [['/a', 'A'], ['/request', 'B'], ['/a', 'A'], ['/stream', 'B'], ['/a', 'A'], ['/pipeline', 'B']]);
    } finally {
      await client.close();
      await slowEnd.close();
    }
  });

  it("a callback-form request redirected on a connection another request opened is one span under its caller, the redirect carrying the caller's trace (it was a span under the other request, with its trace)", async () => {
    const client = new undici.Client(server.url).compose(undici.interceptors.redirect({ maxRedirections: 2 }));
    const viaCallback = (path: string) =>
      new Promise<any>((resolve, reject) => {
        client.request({ origin: server.url, path, method: 'GET' }, (err, data) => (err ? reject(err) : data.body.json().then(resolve, reject)));
      });
    const [opener, caller] = ['opener', 'caller'].map((name) => tracer.startSpan(name) as RecordedSpan);
    try {
      await withSpan(opener, () => viaCallback('/opened')); // opens the connection: undici reads its responses in this context
      const landed = await withSpan(caller, () => viaCallback('/redirect'));
      opener.finish();
      caller.finish();
      await tracer.settle();
      assert.equal(landed.url, '/landed');
      assert.deepEqual(clients().map((s) => [s.tags['http.status_code'], s.parentId]), [[200, opener.id], [200, caller.id]]);
      const redirected = clients()[1];
      const header = `00-${redirected.traceId}-${redirected.id}-01`;
      assert.deepEqual(server.received.slice(-2).map((r) => [r.url, r.headers.traceparent]), [['/redirect', header], ['/landed', header]]);
      assert.equal(redirected.traceId, caller.traceId);
    } finally {
      await client.close();
    }
  });

  it("a callback-form call's redirect that a busy pool queues stays in the call's one span, under its caller and with its trace, whether it succeeds, its request fails, or it fails before its request exists (it was a span of its own, the call's ended at the 3xx)", async () => {
    // Each run's `/hold` answers when released, and says when it is held.
    let release: () => void = () => undefined;
    let held = Promise.resolve();
    let holding: () => void = () => undefined;
    const site = await startServer((req, res) => {
      const { pathname, searchParams } = new URL(String(req.url), 'http://x');
      if (pathname === '/redirect') return void res.writeHead(302, { location: String(searchParams.get('to')) }).end();
      if (pathname === '/cut') return void req.socket.destroy();
      if (pathname === '/hold') {
        res.write('x');
        holding();
        return void held.then(() => res.end());
      }
      echoHandler(req, res);
    });
    type Outcome = (err: Error | null) => void;
    const forms: Array<[string, (d: undici.Dispatcher, path: string, done: Outcome) => void]> = [
      ['request', (d, path, done) => d.request({ origin: site.url, path, method: 'GET' }, (err, data) => (err ? done(err) : data.body.text().then(() => done(null), done)))],
      ['stream', (d, path, done) => d.stream({ origin: site.url, path, method: 'GET' }, () => new Writable({ write: (_c, _e, cb) => cb() }), (err) => done(err))],
    ];
    // One connection: the redirect goes behind a request the pool sent when the 3xx's response ended.
    const run = async (to: string, ending: (pool: undici.Pool) => void): Promise<Array<[string, string]>> => {
      held = new Promise<void>((resolve) => (release = resolve));
      const isHolding = new Promise<void>((resolve) => (holding = resolve));
      const pool = new undici.Pool(site.url, { connections: 1 });
      const d = pool.compose(undici.interceptors.redirect({ maxRedirections: 2 }));
      const [a, b] = ['A', 'B'].map((name) => tracer.startSpan(name) as RecordedSpan);
      const outcomes = forms.map(([name, form]) =>
        withSpan(a, () => new Promise<[string, string]>((resolve) => form(d, `/redirect?to=${to}`, (err) => resolve([name, err === null ? 'ok' : 'failed']))))
      );
      const other = withSpan(b, () => d.request({ origin: site.url, path: '/hold', method: 'GET' }).then((r) => r.body.text()).catch(() => 'failed'));
      await isHolding;
      ending(pool);
      const results = await Promise.all(outcomes);
      release();
      await other;
      a.finish();
      b.finish();
      await pool.destroy().catch(() => undefined);
      await tracer.settle();
      const mine = clients().filter((s) => s.parentId === a.id);
      assert.deepEqual(mine.map((s) => [new URL(s.tags['http.url'] as string).pathname, s.tags.error]), Array(2).fill(['/redirect', to === '/landed' ? undefined : true]), to);
      return results;
    };
    try {
      assert.deepEqual(await run('/landed', () => release()), [['request', 'ok'], ['stream', 'ok']]);
      const landed = site.received.filter((r) => r.url === '/landed').map((r) => r.headers.traceparent);
      assert.deepEqual(landed, clients().filter((s) => s.parentId !== undefined && !String(s.tags['http.url']).endsWith('/hold')).map((s) => `00-${s.traceId}-${s.id}-01`));
      tracer.reset();
      assert.deepEqual(await run('/cut', () => release()), [['request', 'failed'], ['stream', 'failed']]);
      tracer.reset();
      // The pool destroyed with the redirects queued: no request comes for them, and one to their URL now is another's.
      assert.deepEqual(await run('/gone', (pool) => void pool.destroy().catch(() => undefined)), [['request', 'failed'], ['stream', 'failed']]);
      const c = tracer.startSpan('C') as RecordedSpan;
      const agent = new undici.Agent();
      await withSpan(c, () => bareDispatch(agent, `${site.url}/gone`)).finally(() => agent.close());
      c.finish();
      await tracer.settle();
      assert.deepEqual(clients().filter((s) => String(s.tags['http.url']).endsWith('/gone')).map((s) => s.parentId), [c.id]);
    } finally {
      release();
      await site.close();
    }
  });

  it('requests a busy pool queues (one connection) keep their own parents', async () => {
    const pool = new undici.Pool(server.url, { connections: 1 });
    try {
      const parents = Array.from({ length: 6 }, (_, i) => tracer.startSpan(`parent${i}`) as RecordedSpan);
      const bodies: any[] = await Promise.all(parents.map((p) => withSpan(p, () => undici.request(`${server.url}/queued`, { dispatcher: pool }).then((r) => r.body.json()))));
      parents.forEach((p) => p.finish());
      await tracer.settle();
      assert.equal(clients().length, 6);
      bodies.forEach((b, i) => {
        const client = clients().find((c) => b.traceparent === `00-${c.traceId}-${c.id}-01`);
        assert.equal(client?.parentId, parents[i].id, `call ${i}`);
      });
    } finally {
      await pool.close();
    }
  });

  it("calls queued by a busy Pool (one connection) in every form without an origin in their options keep their own parent and span: request (promise and callback), stream, undici.stream, pipeline", async () => {
    const slow = await startServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => echoHandler(req, res), 30));
    });
    const sink = (chunks: Buffer[]) => new Writable({ write: (chunk: Buffer, _e, done) => void (chunks.push(chunk), done()) });
    const forms: Array<[string, (pool: undici.Pool, path: string) => Promise<string>]> = [
      ['Pool#request', (pool, path) => pool.request({ path, method: 'GET' }).then((r) => r.body.text())],
      ['Pool#request with a callback', (pool, path) =>
        new Promise((resolve, reject) => pool.request({ path, method: 'GET' }, (err, r) => (err ? reject(err) : resolve(r.body.text()))))],
      ['Pool#stream with a callback', (pool, path) => {
        const chunks: Buffer[] = [];
        return new Promise((resolve, reject) =>
          pool.stream({ path, method: 'GET' }, () => sink(chunks), (err) => (err ? reject(err) : resolve(Buffer.concat(chunks).toString()))));
      }],
      ['undici.stream', async (pool, path) => {
        const chunks: Buffer[] = [];
        await undici.stream(`${slow.url}${path}`, { method: 'GET', dispatcher: pool }, () => sink(chunks));
        return Buffer.concat(chunks).toString();
      }],
      ['Pool#pipeline', (pool, path) => {
        const duplex = pool.pipeline({ path, method: 'GET' }, ({ body }) => body);
        duplex.end();
        return text(duplex);
      }],
    ];
    try {
      for (const [name, run] of forms) {
        tracer.reset();
        const pool = new undici.Pool(slow.url, { connections: 1 });
        const parents = [tracer.startSpan('a') as RecordedSpan, tracer.startSpan('b') as RecordedSpan];
        const bodies = await Promise.all(parents.map((p, i) => withSpan(p, () => run(pool, `/${'ab'[i]}`))));
        parents.forEach((p) => p.finish());
        await pool.close();
        await tracer.settle();
        assert.equal(clients().length, 2, name);
        bodies.forEach((body, i) => {
          const { url, traceparent } = JSON.parse(body);
          const client = clients().find((c) => c.tags['http.url'] === `${slow.url}${url}`)!;
          assert.equal(client.parentId, parents[i].id, `${name}: ${url}`);
          assert.equal(traceparent, `00-${client.traceId}-${client.id}-01`, `${name}: ${url}`);
        });
      }
    } finally {
      await slow.close();
    }
  });

  it("a callback is left as the caller gave it: an error made in it has the stack it has untraced (undici's own tests check it)", async () => {
    const frames = () =>
      new Promise<string[]>((resolve, reject) => {
        const client = new undici.Client(server.url);
        client.request({ path: '/callback', method: 'GET' }, (err, data) => {
          const stack = String(new Error('here').stack).split('\n').slice(1, 4).map((line) => line.trim().replace(/:\d+:\d+\)?$/, ''));
          if (err) return reject(err);
          data.body.dump().then(() => client.close()).then(() => resolve(stack), reject);
        });
      });
    const parent = tracer.startSpan('parent') as RecordedSpan;
    uninstallAllPatches();
    const untraced = await withSpan(parent, frames);
    installPatches(['fetch', 'httpServer'], { tracer });
    const traced = await withSpan(parent, frames);
    parent.finish();
    assert.deepEqual(traced, untraced);
    assert.match(traced[1], /runInAsyncScope/);
    await tracer.settle();
    assert.deepEqual(clients().map((s) => [s.tags['http.url'], s.parentId]), [[`${server.url}/callback`, parent.id]]);
  });

  it('fetches rejected before any request (an aborted signal, GET with a body, a bad header name) expect none: a later dispatch to that URL is a span of its own', async () => {
    const url = `${server.url}/rejected-early`;
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const inits: RequestInit[] = [{ signal: AbortSignal.abort() }, { body: 'x' }, { headers: { 'a b': '1' } }];
    const errors = await withSpan(parent, () => Promise.all(inits.map((init) => fetch(url, init).catch((e: Error) => e.name))));
    parent.finish();
    assert.deepEqual(errors, ['AbortError', 'TypeError', 'TypeError']);
    const agent = new undici.Agent();
    try {
      await bareDispatch(agent, url);
    } finally {
      await agent.close();
    }
    await tracer.settle();
    assert.deepEqual(clients().map((s) => [s.tags.component, s.tags['http.url'], s.parentId]), [['undici', url, undefined]]);
  });

  it('callback-form calls undici fails before any request (a closed Client, a destroyed Pool, a closed Agent) expect none: later dispatches to that URL keep their own parent and trace', async () => {
    const url = `${server.url}/failed-early`;
    const { origin } = new URL(url);
    const errors: string[] = [];
    // One callback for every call, as an app's module-level handler: it outlives the calls.
    let failed!: () => void;
    const allFailed = new Promise<void>((resolve) => (failed = resolve));
    const handler = (err: Error | null): void => void (errors.push((err as { code?: string } | null)?.code ?? 'none'), errors.length === 3 && failed());
    const client = new undici.Client(origin);
    await client.close();
    const pool = new undici.Pool(origin);
    await pool.destroy();
    const agent = new undici.Agent();
    await agent.close();
    const a = tracer.startSpan('A') as RecordedSpan;
    withSpan(a, () => {
      client.request({ path: '/failed-early', method: 'GET' }, handler);
      pool.request({ path: '/failed-early', method: 'GET' }, handler);
      (undici.request as (url: string, options: object, callback: typeof handler) => void)(url, { dispatcher: agent }, handler);
    });
    await allFailed;
    a.finish();
    assert.ok(errors.every((code) => code.startsWith('UND_ERR_')), errors.join());
    const b = tracer.startSpan('B') as RecordedSpan;
    const live = new undici.Agent();
    try {
      for (let i = 0; i < 3; i++) await withSpan(b, () => bareDispatch(live, url));
    } finally {
      await live.close();
    }
    b.finish();
    await tracer.settle();
    const spans = clients();
    assert.equal(spans.length, 3);
    for (const span of spans) assert.deepEqual([span.tags['http.url'], span.parentId, span.traceId], [url, b.id, b.traceId]);
    assert.deepEqual(server.received.slice(-3).map((r) => r.headers.traceparent), spans.map((s) => `00-${s.traceId}-${s.id}-01`));
  });

  it('callback-form calls a busy pool queued and that fail before undici creates their request (the pool destroyed, options its Client rejects) expect none from their failure on: a later request to that URL keeps its own parent and trace', async () => {
    const slow = await startServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => echoHandler(req, res), 50));
    });
    const url = `${slow.url}/queued-failed`;
    const sink = () => new Writable({ write: (_chunk: Buffer, _e, done) => done() });
    // Each form once, queued behind a slow request on a one-connection pool, then failed.
    type Done = (err: Error | null) => void;
    const forms: Array<[string, (pool: undici.Pool, headers: Record<string, string>, done: Done) => void]> = [
      ['Pool#request', (pool, headers, done) => pool.request({ path: '/queued-failed', method: 'GET', headers }, (err) => done(err))],
      ['undici.request', (pool, headers, done) => (undici.request as (url: string, o: object, cb: Done) => void)(url, { dispatcher: pool, headers }, (err) => done(err))],
      ['Pool#stream', (pool, headers, done) => pool.stream({ path: '/queued-failed', method: 'GET', headers }, sink, (err) => done(err))],
      ['Pool#pipeline', (pool, headers, done) => void pool.pipeline({ path: '/queued-failed', method: 'GET', headers }, ({ body }) => body).on('error', done).end()],
    ];
    const failures: Array<[string, Record<string, string>, (pool: undici.Pool) => void]> = [
      ['destroyed', {}, (pool) => void pool.destroy().catch(() => undefined)],
      // The pool queues them as they are; its Client refuses them (a header name with a space) when the pool gets to them.
      ['refused', { 'bad name': 'x' }, () => undefined],
    ];
    try {
      for (const [how, headers, fail] of failures) {
        for (const [name, run] of forms) {
          tracer.reset();
          const pool = new undici.Pool(slow.url, { connections: 1 });
          const a = tracer.startSpan('A') as RecordedSpan;
          const outcome = await withSpan(a, () => {
            const first = pool.request({ path: '/slow', method: 'GET' }).then((r) => r.body.text()).then(() => 'ok', (e: Error) => e.name);
            const queued = new Promise<string>((resolve) =>
              run(pool, headers, (err) => resolve(err === null ? 'none' : ((err as { code?: string }).code ?? err.name))),
            );
            fail(pool);
            return Promise.all([first, queued]);
          });
          a.finish();
          assert.notEqual(outcome[1], 'none', `${how} ${name}`);
          // Its callback has the error (the pool may still be open): a request to its URL now is not its.
          const b = tracer.startSpan('B') as RecordedSpan;
          const agent = new undici.Agent();
          await withSpan(b, () => bareDispatch(agent, url)).finally(() => agent.close());
          b.finish();
          if (!pool.destroyed) await pool.close();
          await tracer.settle();
          const later = clients().filter((s) => s.tags['http.url'] === url);
          assert.deepEqual(later.map((s) => [s.parentId, s.traceId, s.tags.error]), [[b.id, b.traceId, undefined]], `${how} ${name}`);
          assert.equal(slow.received.at(-1)?.headers.traceparent, `00-${later[0].traceId}-${later[0].id}-01`, `${how} ${name}`);
        }
      }
    } finally {
      await slow.close();
    }
  });

  it('a fetch aborted while its request waits in a busy pool: no span left open, and the request undici makes of it later (only to abort it) makes no span under another caller', async () => {
    const slow = await startServer((_req, res) => void setTimeout(() => res.end('ok'), 100));
    const pool = new undici.Pool(slow.url, { connections: 1 });
    try {
      const [a, b] = [tracer.startSpan('a') as RecordedSpan, tracer.startSpan('b') as RecordedSpan];
      const results = await Promise.all([
        withSpan(a, () => fetch(`${slow.url}/slow`, { dispatcher: pool } as unknown as RequestInit).then((r) => r.text())),
        withSpan(b, () => fetch(`${slow.url}/queued`, { dispatcher: pool, signal: AbortSignal.timeout(20) } as unknown as RequestInit).catch((e: Error) => e.name)),
      ]);
      assert.deepEqual(results, ['ok', 'TimeoutError']);
      a.finish();
      b.finish();
      // Closing waits for the queue: undici has created the aborted fetch's request by then.
      await pool.close();
      // Nothing waits for that request any more: a later one to its URL is a span of its own.
      const agent = new undici.Agent();
      await bareDispatch(agent, `${slow.url}/queued`).finally(() => agent.close());
      await tracer.settle();
      assert.deepEqual(
        clients().map((s) => [s.tags['http.url'], s.parentId]),
        [[`${slow.url}/slow`, a.id], [`${slow.url}/queued`, undefined]],
      );
      assert.deepEqual(slow.received.map((r) => r.url), ['/slow', '/queued']);
    } finally {
      await slow.close();
    }
  });

  it('a retried undici request (RetryAgent) is one span', async () => {
    let attempts = 0;
    const flaky = await startServer((req, res) => {
      attempts++;
      if (attempts < 3) return void req.socket.destroy();
      res.end('ok');
    });
    try {
      const agent = new undici.RetryAgent(new undici.Agent(), { maxRetries: 3, minTimeout: 1, timeoutFactor: 1, errorCodes: ['UND_ERR_SOCKET', 'ECONNRESET'] });
      const r = await undici.request(`${flaky.url}/retry`, { dispatcher: agent });
      assert.equal(await r.body.text(), 'ok');
      assert.equal(attempts, 3);
      await tracer.settle();
      assert.equal(clients().length, 1);
      const sent = flaky.received.map((x) => x.headers.traceparent);
      assert.ok(sent.every((h) => h === sent[0]), 'each attempt carries the one span');
      await agent.close();
    } finally {
      await flaky.close();
    }
  });

  it('a retried request whose last answer is 200 is no error, though an earlier attempt got a 503', async () => {
    let attempts = 0;
    const flaky = await startServer((_req, res) => {
      res.statusCode = ++attempts < 2 ? 503 : 200;
      res.end(String(res.statusCode));
    });
    try {
      const agent = new undici.RetryAgent(new undici.Agent(), { maxRetries: 2, minTimeout: 1, timeoutFactor: 1, statusCodes: [503] });
      const r = await undici.request(`${flaky.url}/retry`, { dispatcher: agent });
      assert.equal(await r.body.text(), '200');
      await tracer.settle();
      assert.deepEqual(clients().map((s) => [s.tags['http.status_code'], s.hasError()]), [[200, false]]);
      await agent.close();
    } finally {
      await flaky.close();
    }
  });

  it('a body cut off mid-way that RetryAgent resumes (a range request) is one span and no error; one cut off for good is the error', async () => {
    const data = Buffer.alloc(200000, 97);
    const server = await startServer((req, res) => {
      res.setHeader('etag', '"v1"');
      const range = /bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
      if (range === null) {
        res.writeHead(200, { 'content-length': data.length });
        return void res.write(data.subarray(0, 100000), () => setTimeout(() => res.socket?.destroy(), 20));
      }
      const start = Number(range[1]);
      res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
      res.end(data.subarray(start));
    });
    const retrying = () => new undici.RetryAgent(new undici.Agent(), { minTimeout: 10, maxRetries: 2 });
    const cases: Array<[string, boolean, () => Promise<number>]> = [
      ['undici.request', true, async () => (await (await undici.request(`${server.url}/file`, { dispatcher: retrying() })).body.arrayBuffer()).byteLength],
      ['fetch', true, async () => (await (await fetch(`${server.url}/file`, { dispatcher: retrying() } as unknown as RequestInit)).arrayBuffer()).byteLength],
      ['undici.request, no retry', false, async () => (await (await undici.request(`${server.url}/file`)).body.arrayBuffer()).byteLength],
      ['fetch, no retry', false, async () => (await (await fetch(`${server.url}/file`)).arrayBuffer()).byteLength],
    ];
    try {
      for (const [name, resumed, run] of cases) {
        tracer.reset();
        server.received.length = 0;
        const parent = tracer.startSpan('parent') as RecordedSpan;
        const got = await withSpan(parent, run).catch((e: Error) => e);
        parent.finish();
        await tracer.settle();
        const [span] = clients();
        assert.equal(clients().length, 1, name);
        assert.equal(span.parentId, parent.id, name);
        if (resumed) {
          assert.equal(got, data.length, name);
          assert.deepEqual([span.tags['http.status_code'], span.hasError()], [206, false], name);
          assert.deepEqual(server.received.map((r) => [r.headers.range, r.headers.traceparent]), [
            [undefined, `00-${span.traceId}-${span.id}-01`],
            ['bytes=100000-199999', `00-${span.traceId}-${span.id}-01`],
          ], name);
        } else {
          assert.ok(got instanceof Error, name);
          assert.deepEqual([span.tags['http.status_code'], span.hasError()], [200, true], name);
        }
      }
    } finally {
      await server.close();
    }
  });

  it("an input fetch rejects: the hook runs none of its getters, as undici runs none", async () => {
    let reads = 0;
    const input = {
      get url(): string {
        reads++;
        return `${server.url}/getter`;
      },
      toString: () => 'not a url',
    };
    const err = await undici.fetch(input as unknown as string).catch((e: unknown) => e);
    assert.ok(err instanceof TypeError, String(err));
    assert.equal(reads, 0);
  });

  it('a response whose body is never read still finishes its span (garbage collected)', async function () {
    if (typeof global.gc !== 'function') throw new Error('run mocha with --expose-gc (npm test does)');
    await (async () => {
      const res = await fetch(`${server.url}/big`);
      assert.equal(res.status, 200);
    })();
    for (let i = 0; i < 50 && clients().length === 0; i++) {
      global.gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(clients().length, 1);
    assert.ok(clients()[0].logs.some((l) => l.fields.event === 'body not consumed'), JSON.stringify(clients()[0].logs.map((l) => [l.fields.event, l.fields.message])));
    assert.notEqual(clients()[0].tags.error, true);
  });

  it('a body the caller cancels, dumps or destroys after a 200 is no error (body not consumed); one its signal aborts still is', async () => {
    const slow = await startServer((_req, res) => {
      res.write(Buffer.alloc(1 << 20));
      setTimeout(() => res.end('end'), 300);
    });
    try {
      const url = `${slow.url}/body`;
      const dropped: Array<[string, () => Promise<unknown>]> = [
        ['fetch, cancel()', async () => (await fetch(url)).body!.cancel()],
        ['undici.fetch, cancel()', async () => (await undici.fetch(url)).body!.cancel()],
        ['undici.request, dump()', async () => (await undici.request(url)).body.dump()],
        ['undici.request, destroy()', async () => {
          const { body } = await undici.request(url);
          body.destroy();
          await new Promise((resolve) => body.on('close', resolve));
        }],
      ];
      for (const [name, run] of dropped) {
        tracer.reset();
        await run();
        await tracer.settle();
        const [span] = clients();
        assert.deepEqual([clients().length, span.tags['http.status_code'], span.hasError()], [1, 200, false], name);
        assert.deepEqual(span.logs.map((l) => l.fields.event), ['body not consumed'], name);
      }
      const timedOut: Array<[string, () => Promise<unknown>]> = [
        ['fetch', async () => (await fetch(url, { signal: AbortSignal.timeout(50) })).text()],
        ['undici.request', async () => (await undici.request(url, { signal: AbortSignal.timeout(50) })).body.text()],
      ];
      for (const [name, run] of timedOut) {
        tracer.reset();
        assert.equal(await run().catch((e: Error) => e.name), 'TimeoutError', name);
        await tracer.settle();
        assert.deepEqual(clients().map((s) => [s.tags['http.status_code'], s.hasError()]), [[200, true]], name);
      }
    } finally {
      await slow.close();
    }
  });

  it("captureQueryString keeps the query, with the values of a presigned URL's signatures, tokens and credentials redacted", async () => {
    const query =
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z' +
      '&X-Amz-Expires=900&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Btoken%3D&X-Amz-Signature=0123456789abcdef0123456789abcdef' +
      '&sig=azureSas%2Fsignature%3D&X-Goog-Signature=ab12cd34ef56&Signature=sigv2value&AWSAccessKeyId=AKIAEXAMPLE2&part=2&sig2=kept';
    const redacted =
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20240101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=REDACTED' +
      '&X-Amz-Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&Signature=REDACTED&AWSAccessKeyId=REDACTED&part=2&sig2=kept';
    const hookUrls: string[] = [];
    uninstallAllPatches();
    installPatches(['fetch'], { tracer, captureQueryString: true, hooks: { fetch: { requestHook: (_span, request) => void hookUrls.push(request.url) } } });
    try {
      const body: any = await fetch(`${server.url}/presigned?${query}`).then((r) => r.json());
      assert.equal(body.url, `/presigned?${query}`);
      await tracer.settle();
      assert.equal(clients()[0].tags['http.url'], `${server.url}/presigned?${redacted}`);
      assert.deepEqual(hookUrls, [`${server.url}/presigned?${redacted}`]);
      for (const secret of ['AKIAEXAMPLE', 'FwoGZXIvYXdzEXAMPLE', '0123456789abcdef', 'azureSas', 'ab12cd34ef56', 'sigv2value']) {
        assert.ok(!tracer.everything().includes(secret), secret);
      }
    } finally {
      uninstallAllPatches();
      installPatches(['fetch', 'httpServer'], { tracer });
    }
  });

  it('propagationBlocklist is asked for each request of a call: a redirect to a blocked host carries no trace header, one from it to another host does', async () => {
    const servers: TestServer[] = [];
    const redirecting = () =>
      startServer((req, res) => {
        const to = /^\/to\/(\d)$/.exec(req.url ?? '');
        if (to === null) return echoHandler(req, res);
        res.writeHead(302, { location: `${servers[Number(to[1])].url}/landed` });
        res.end();
      });
    servers.push(await redirecting(), await redirecting());
    const [allowed, blocked] = servers;
    uninstallAllPatches();
    installPatches(['fetch'], { tracer, hooks: { fetch: { propagationBlocklist: `127.0.0.1:${blocked.port}` } } });
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      await withSpan(parent, async () => {
        await fetch(`${allowed.url}/to/1`).then((r) => r.text());
        await fetch(`${blocked.url}/to/0`).then((r) => r.text());
      });
      parent.finish();
      await tracer.settle();
      const [first, second] = clients();
      assert.equal(clients().length, 2);
      const header = (span: RecordedSpan) => `00-${span.traceId}-${span.id}-01`;
      assert.deepEqual(allowed.received.map((r) => [r.url, r.headers.traceparent]), [['/to/1', header(first)], ['/landed', header(second)]]);
      assert.deepEqual(blocked.received.map((r) => [r.url, r.headers.traceparent]), [['/landed', undefined], ['/to/0', undefined]]);
    } finally {
      uninstallAllPatches();
      installPatches(['fetch', 'httpServer'], { tracer });
      await Promise.all(servers.map((server) => server.close()));
    }
  });

  it('finishOnHeaders finishes at the response headers', async () => {
    uninstallAllPatches();
    installPatches(['fetch'], { tracer, hooks: { fetch: { finishOnHeaders: true } } });
    try {
      const res = await fetch(`${server.url}/headers-only`);
      await tracer.waitFor(1);
      assert.equal(clients()[0].tags['http.status_code'], 200);
      await res.text();
    } finally {
      uninstallAllPatches();
      installPatches(['fetch', 'httpServer'], { tracer });
    }
  });

  it('finishOnHeaders: a redirected or retried call is one span, finished at its final response', async () => {
    let attempts = 0;
    const flaky = await startServer((req, res) => {
      if (req.url === '/flaky' && attempts++ === 0) {
        res.statusCode = 503;
        return void res.end();
      }
      echoHandler(req, res);
    });
    uninstallAllPatches();
    installPatches(['fetch'], { tracer, hooks: { fetch: { finishOnHeaders: true } } });
    const agent = new undici.RetryAgent(new undici.Agent(), { statusCodes: [503], minTimeout: 1, timeoutFactor: 1, methods: ['GET'] });
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const bodies: any[] = await withSpan(parent, async () => [
        await fetch(`${server.url}/redirect`).then((r) => r.json()),
        await undici.request(`${flaky.url}/flaky`, { dispatcher: agent }).then((r) => r.body.json()),
      ]);
      parent.finish();
      await tracer.settle();
      assert.deepEqual(bodies.map((b) => b.url), ['/landed', '/flaky']);
      assert.deepEqual(clients().map((s) => [s.tags.component, s.tags['http.url'], s.tags['http.status_code'], s.hasError(), s.parentId]), [
        ['fetch', `${server.url}/redirect`, 200, false, parent.id],
        ['undici', `${flaky.url}/flaky`, 200, false, parent.id],
      ]);
      bodies.forEach((b, i) => assert.equal(b.traceparent, `00-${clients()[i].traceId}-${clients()[i].id}-01`));
    } finally {
      await agent.close();
      await flaky.close();
      uninstallAllPatches();
      installPatches(['fetch', 'httpServer'], { tracer });
    }
  });

  it('calls in flight at uninstall (docs/configuration.md): one whose response came finishes at once, before its body ends; one waiting for its response when it settles; each once', async () => {
    const slow = await startServer((req, res) => {
      if (req.url === '/slow-head') return void setTimeout(() => res.end('late'), 100);
      res.write('head');
      setTimeout(() => res.end('tail'), 100);
    });
    try {
      const answered = await fetch(`${slow.url}/slow-body`);
      const waiting = fetch(`${slow.url}/slow-head`);
      uninstallAllPatches();
      const url = (s: RecordedSpan): string => new URL(s.tags['http.url'] as string).pathname;
      assert.deepEqual(clients().map(url), ['/slow-body']);
      const late = await waiting;
      assert.deepEqual(clients().map(url), ['/slow-body', '/slow-head']);
      assert.deepEqual([await answered.text(), await late.text()], ['headtail', 'late']);
      await tracer.settle();
      assert.deepEqual(clients().map((s) => [url(s), s.finishCount, s.tags.error ?? false]), [['/slow-body', 1, false], ['/slow-head', 1, false]]);
    } finally {
      installPatches(['fetch', 'httpServer'], { tracer });
      await slow.close();
    }
  });

  it('uninstall restores global fetch and stops listening', async () => {
    assert.notEqual(globalThis.fetch, originalFetch);
    uninstallAllPatches();
    try {
      assert.equal(globalThis.fetch, originalFetch);
      await fetch(`${server.url}/after`).then((r) => r.text());
      await undici.request(`${server.url}/after`).then((r) => r.body.text());
      assert.equal(tracer.started.length, 0);
    } finally {
      installPatches(['fetch', 'httpServer'], { tracer });
    }
  });
});

describe('fetch / undici hook with an option it cannot take', function () {
  this.timeout(30000);
  const server = serverForSuite(() => startServer());

  it('turns itself off: every call form works as untraced, nothing thrown, no span, no header', async () => {
    const tracer = new RecordingTracer();
    // A matcher must be a string, RegExp or function: the hook's setup throws on a number.
    installPatches(['fetch'], { tracer, ignoreOutgoing: 42 as unknown as string });
    try {
      const bodies = [
        await fetch(`${server().url}/a`).then((r) => r.json()),
        await undici.fetch(`${server().url}/b`).then((r) => r.json()),
        await undici.request(`${server().url}/c`).then((r) => r.body.json()),
      ];
      assert.deepEqual(bodies, ['/a', '/b', '/c'].map((url) => ({ url, traceparent: null, copies: 0 })));
      assert.equal(tracer.finished.length, 0);
    } finally {
      uninstallAllPatches();
    }
    assert.equal(globalThis.fetch, originalFetch);
  });
});
