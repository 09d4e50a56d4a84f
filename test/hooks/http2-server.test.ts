/**
 * The httpServer hook on http2's servers: the 'request' event of the compatibility API of
 * `http2.createServer` and `http2.createSecureServer` servers (and, with allowHTTP1, their HTTP/1.1
 * requests), and the 'stream' event of the core API (the server's and its sessions'), get the same server
 * span as http's. Real servers on 127.0.0.1, clients `http2.connect` (and https for HTTP/1.1).
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import * as opentracing from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches } from '../../src';
import { h2request, h2stream } from '../helpers/http2';
import { readBody, tlsCa, tlsOptions } from '../helpers/servers';
import { requestLifecycle } from '../frameworks/harness';
import { RecordedSpan, RecordingTracer, ThrowingTracer } from '../helpers/tracer';

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
type Http2 = http2.Http2Server | http2.Http2SecureServer;

/** `server` listening on 127.0.0.1: its URL (`https` when `secure`) and a close that waits for it. */
async function listen(server: Http2, secure = false): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** One test per way of `ENDINGS`, on the server `make` makes (see `endedBeforeResponse`). */
function endedBeforeResponseTests(tracer: RecordingTracer, make: (events: EventEmitter) => Http2): void {
  for (const [how, end] of ENDINGS) {
    it(`${how} before the response: the span is finished once, error and abort logged, no status code`, async () => {
      const events = new EventEmitter();
      await endedBeforeResponse(tracer, make(events), events, end);
    });
  }
}

/** The span of `/boom`, answered 503 and asked for `httpVersion`, `path` and the `x-tenant` and `cookie` headers. */
function assertBoom(span: RecordedSpan): void {
  assert.equal(span.tags['http.status_code'], 503);
  assert.equal(span.tags.error, true);
  assert.equal(span.tags.httpVersion, '2.0');
  assert.equal(span.tags.path, '/boom');
  assert.equal(span.tags['headers.x-tenant'], 't1');
  assert.equal('headers.cookie' in span.tags, false);
}

/** A GET of `url` over HTTPS/1.1: its status and body. */
function h1get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: tlsCa, agent: false }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)).on('error', reject);
  });
}

const parentHeader = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';

/**
 * Reads the body of `from` (a request or a stream), noting in `seen` the span active in its 'data' and
 * 'end'; then, after a timer, makes an outbound call to `url` and answers with `answer(body)` once it is done.
 */
function readThenCall(from: Readable, seen: Record<string, unknown>, url: string, answer: (body: string) => void): void {
  let body = '';
  from.setEncoding('utf8');
  from.on('data', (d: string) => {
    seen.data = currentSpan();
    body += d;
  });
  from.on('end', () => {
    seen.end = currentSpan();
    setTimeout(() => {
      http.get(url, (r) => {
        r.resume();
        r.on('end', () => answer(body));
      });
    }, 5);
  });
}

/**
 * POSTs `abc` to `url` `/orders/7?secret=1` with a traceparent (and `headers`), its handler answering 201
 * `got abc` after an outbound call, then waits for `done` to emit 'done': the server span, checked (tags,
 * parent, the outbound call its child; four spans with the back server's and the test client's).
 */
async function postedOrder(tracer: RecordingTracer, url: string, done: EventEmitter, headers: http2.OutgoingHttpHeaders = {}): Promise<RecordedSpan> {
  const closed = once(done, 'done');
  assert.deepEqual(await h2request(url, '/orders/7?secret=1', { traceparent: parentHeader, ...headers }, 'abc'), { status: 201, body: 'got abc' });
  await closed;
  await tracer.settle();
  const server = tracer.ofKind('server').find((s) => s.tags['http.url'] === `${url}/orders/7`) as RecordedSpan;
  const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags.component === 'http') as RecordedSpan;
  assert.equal(tracer.started.length, 4);
  assert.equal(server.operationName, 'HTTP POST');
  assert.equal(server.traceId, '0123456789abcdef0123456789abcdef');
  assert.equal(server.parentId, '0123456789abcdef');
  assert.deepEqual(server.tags, {
    'span.kind': 'server',
    component: 'http',
    'http.method': 'POST',
    'http.url': `${url}/orders/7`,
    'peer.address': '127.0.0.1',
    'http.status_code': 201,
  });
  assert.deepEqual(server.logs, []);
  assert.equal(client.parentId, server.id, 'the outbound call is a child of the server span');
  return server;
}

/** Replaces Node's compatibility listener of `server` (`bound onServerStream`) by one of another name that calls it. */
function renameCompatListener(server: Http2): void {
  const [node] = server.listeners('stream').filter((l) => l.name === 'bound onServerStream');
  server.removeListener('stream', node as (...args: any[]) => void);
  server.on('stream', function other(this: unknown, ...args: unknown[]) {
    return Reflect.apply(node, this, args);
  });
}

type Ending = (streams: { session: http2.ClientHttp2Session; stream: http2.ClientHttp2Stream; served: http2.ServerHttp2Stream }) => void;

/** Ways a request ends before its response. */
const ENDINGS: ReadonlyArray<readonly [string, Ending]> = [
  ['the client resets the stream', ({ stream }) => stream.close(http2.constants.NGHTTP2_CANCEL)],
  ['the client’s session is destroyed', ({ session }) => session.destroy()],
  ['the server destroys the stream with an error', ({ served }) => served.destroy(new Error('gave up'))],
  // Node closes the streams of a session destroyed with no error code, and ends them: the stream's `aborted` says it was not ended before.
  ['the server’s session is destroyed', ({ served }) => served.session?.destroy()],
];

/**
 * A request to `server` (which emits `'arrived'` with the stream it serves, and `'closed'` with the span
 * active when it closes) that `end` ends before any response: one span, finished once, active at the
 * close, with no status code and an abort.
 */
async function endedBeforeResponse(tracer: RecordingTracer, server: Http2, events: EventEmitter, end: Ending): Promise<void> {
  installPatches(['httpServer'], { tracer });
  const { url, close } = await listen(server);
  try {
    const session = http2.connect(url);
    session.on('error', () => undefined);
    const stream = session.request({ ':path': '/slow' });
    stream.on('error', () => undefined);
    const [served] = (await once(events, 'arrived')) as [http2.ServerHttp2Stream];
    const gone = once(events, 'closed');
    end({ session, stream, served });
    const [activeAtClose] = await gone;
    session.destroy();
    await tracer.settle();
    assert.equal(tracer.started.length, 1);
    const [span] = tracer.finished;
    assert.equal(span.finishCount, 1);
    assert.equal(activeAtClose, span, 'the close runs with the span active');
    assert.equal('http.status_code' in span.tags, false);
    assert.equal(span.tags.error, true);
    assert.deepEqual(span.logs.map((l) => l.fields.event), ['abort']);
  } finally {
    await close();
  }
}


describe('http server hook: http2 (compatibility API)', () => {
  const tracer = new RecordingTracer();
  // A back server for outbound calls; after each test the spans settled, the hooks uninstalled.
  const back = requestLifecycle(tracer, {}, async () => undefined);

  it('a request gets a server span from its headers, active in the handler and its async work, the request’s and response’s events: an outbound call is its child', async () => {
    installPatches(['httpServer', 'http'], { tracer });
    const seen: Record<string, unknown> = {};
    const done = new EventEmitter();
    const handler: Handler = (req, res) => {
      seen.handler = currentSpan();
      readThenCall(req, seen, `${back().url}/from-h2`, (body) => {
        res.statusCode = 201;
        res.end(`got ${body}`);
      });
      res.on('finish', () => (seen.finish = currentSpan()));
      res.on('close', () => {
        seen.close = currentSpan();
        done.emit('done');
      });
    };
    const { url, close } = await listen(http2.createServer(handler));
    try {
      const server = await postedOrder(tracer, url, done);
      for (const where of ['handler', 'data', 'end', 'finish', 'close']) assert.equal(seen[where], server, where);
    } finally {
      await close();
    }
  });

  it('a server whose listen() ran inside suppressTracing: its requests get their spans, and their handlers are not suppressed', async () => {
    installPatches(['httpServer', 'http'], { tracer });
    let active: unknown;
    const server = http2.createServer((_req, res) => {
      active = currentSpan();
      http.get(`${back().url}/from-h2`, (r) => readBody(r).then(() => res.end('ok')));
    });
    const { url, close } = await suppressTracing(() => listen(server));
    try {
      assert.deepEqual(await h2request(url, '/quiet-start', { traceparent: parentHeader }), { status: 200, body: 'ok' });
      await tracer.waitFor(3);
      await tracer.settle();
      const [span] = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${url}/quiet-start`);
      assert.equal(span.traceId, '0123456789abcdef0123456789abcdef');
      assert.equal(active, span);
      const [client] = tracer.ofKind('client');
      assert.equal(client.parentId, span.id);
    } finally {
      await close();
    }
  });

  it("a request delivered through 'checkContinue' (Expect: 100-continue) gets its span from its headers, active in the handler", async () => {
    installPatches(['httpServer'], { tracer });
    let active: unknown;
    const server = http2.createServer((_req, res) => res.end('not here'));
    server.on('checkContinue', (req, res) => {
      active = currentSpan();
      res.writeContinue();
      req.resume();
      req.on('end', () => res.end('stored'));
    });
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/upload', { traceparent: parentHeader, expect: '100-continue' }, 'data'), { status: 200, body: 'stored' });
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'HTTP POST');
      assert.equal(span.traceId, '0123456789abcdef0123456789abcdef');
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(active, span);
    } finally {
      await close();
    }
  });

  it("an Expect Node answers 417 itself (not 100-continue, no 'checkExpectation' listener; no 'request'): one span from its headers, the 417, finished at the stream's close, what the 'stream' listeners start asynchronously its children", async () => {
    installPatches(['httpServer'], { tracer });
    const seen: Record<string, unknown> = {};
    const closed = new EventEmitter();
    const server = http2.createServer(() => (seen.handler = 'called'));
    server.on('stream', (stream: http2.ServerHttp2Stream) => {
      setImmediate(() => (seen.later = currentSpan()));
      stream.on('close', () => closed.emit('closed', currentSpan()));
    });
    const { url, close } = await listen(server);
    try {
      const gone = once(closed, 'closed');
      assert.deepEqual(await h2request(url, '/expects?x=1', { traceparent: parentHeader, expect: 'something-else' }), { status: 417, body: '' });
      const [activeAtClose] = await gone;
      await tracer.settle();
      assert.equal(tracer.started.length, 1);
      const [span] = tracer.finished;
      assert.equal(span.operationName, 'HTTP GET');
      assert.equal(span.traceId, '0123456789abcdef0123456789abcdef');
      assert.equal(span.parentId, '0123456789abcdef');
      assert.deepEqual(span.tags, { 'span.kind': 'server', component: 'http', 'http.method': 'GET', 'http.url': `${url}/expects`, 'peer.address': '127.0.0.1', 'http.status_code': 417 });
      assert.deepEqual(span.logs, []);
      assert.equal(seen.handler, undefined, 'Node emitted no request');
      assert.equal(seen.later, span);
      assert.equal(activeAtClose, span);
    } finally {
      await close();
    }
  });

  it("an Expect delivered through 'checkExpectation', and Expect: 100-continue with no 'checkContinue' listener (Node sends the 100 and emits 'request'): one span each, the request's, active in its listener", async () => {
    installPatches(['httpServer'], { tracer });
    const seen: Record<string, unknown> = {};
    const server = http2.createServer((req, res) => {
      seen[req.url] = currentSpan();
      req.resume();
      req.on('end', () => res.end('stored'));
    });
    server.on('checkExpectation', (req, res) => {
      seen[req.url] = currentSpan();
      res.statusCode = 202;
      res.end('expected');
    });
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/expectation', { traceparent: parentHeader, expect: 'something-else' }), { status: 202, body: 'expected' });
      assert.deepEqual(await h2request(url, '/continue', { traceparent: parentHeader, expect: '100-continue' }, 'data'), { status: 200, body: 'stored' });
      await tracer.settle();
      assert.equal(tracer.started.length, 2);
      for (const [path, method, status] of [['/expectation', 'GET', 202], ['/continue', 'POST', 200]] as const) {
        const span = tracer.finished.find((s) => s.tags['http.url'] === `${url}${path}`) as RecordedSpan;
        assert.equal(span.operationName, `HTTP ${method}`, path);
        assert.equal(span.parentId, '0123456789abcdef', path);
        assert.equal(span.tags['http.status_code'], status, path);
        assert.equal(span.tags.error, undefined, path);
        assert.equal(seen[path], span, path);
      }
    } finally {
      await close();
    }
  });

  it('a handler that answers through the stream (respondWithFile, respond and end): the status it sent, no error', async () => {
    // Regression: the span said 200 (the compat response's own status) and logged an abort, the response never ended by `res`.
    installPatches(['httpServer'], { tracer });
    const { url, close } = await listen(
      http2.createServer((req) => {
        if (req.url === '/file') req.stream.respondWithFile(__filename, { ':status': 203, 'content-type': 'text/plain' });
        else {
          req.stream.respond({ ':status': 404 });
          req.stream.end('none');
        }
      }),
    );
    try {
      assert.equal((await h2request(url, '/file')).status, 203);
      assert.deepEqual(await h2request(url, '/missing'), { status: 404, body: 'none' });
      await tracer.settle();
      const byUrl = new Map(tracer.finished.map((s) => [s.tags['http.url'], s]));
      for (const [path, status] of [['/file', 203], ['/missing', 404]] as const) {
        const span = byUrl.get(`${url}${path}`) as RecordedSpan;
        assert.equal(span.tags['http.status_code'], status, path);
        assert.equal(span.tags.error, undefined, path);
        assert.deepEqual(span.logs, [], path);
      }
    } finally {
      await close();
    }
  });

  it('tracedAttributes, ignoreIncoming (path and predicate) and a 5xx as on HTTP/1', async () => {
    const ignoreIncoming = ['/health', (req: http.IncomingMessage) => req.headers['x-skip'] === '1'];
    installPatches(['httpServer'], { tracer, ignoreIncoming, hooks: { httpServer: { tracedAttributes: ['httpVersion', 'path', 'headers.x-tenant', 'headers.cookie'] } } });
    const { url, close } = await listen(
      http2.createServer((req, res) => {
        res.statusCode = req.url === '/boom' ? 503 : 200;
        res.end('ok');
      }),
    );
    try {
      await h2request(url, '/health?full=1');
      await h2request(url, '/other', { 'x-skip': '1' });
      await h2request(url, '/boom', { 'x-tenant': 't1', cookie: 'secret=1' });
      await tracer.settle();
      assert.equal(tracer.started.length, 1);
      const [span] = tracer.finished;
      assert.equal(span.tags['http.url'], `${url}/boom`);
      assertBoom(span);
    } finally {
      await close();
    }
  });

  endedBeforeResponseTests(tracer, (events) =>
    http2.createServer((req, res) => {
      res.on('close', () => events.emit('closed', currentSpan()));
      events.emit('arrived', req.stream);
    }),
  );

  it('a secure server with allowHTTP1: HTTP/2 and HTTP/1.1 requests get exactly one span each', async () => {
    installPatches(['httpServer'], { tracer });
    const { url, close } = await listen(http2.createSecureServer({ ...tlsOptions, allowHTTP1: true }, (req, res) => res.end(`v${req.httpVersion} ${currentSpan() !== undefined}`)), true);
    try {
      assert.deepEqual(await h2request(url, '/h2?q=1', { traceparent: parentHeader }), { status: 200, body: 'v2.0 true' });
      assert.deepEqual(await h1get(`${url}/h1?q=1`), { status: 200, body: 'v1.1 true' });
      await tracer.settle();
      assert.equal(tracer.started.length, 2);
      const urls = tracer.finished.map((s) => [s.tags['http.url'], s.tags['http.status_code'], s.tags['peer.address'], s.parentId]);
      assert.deepEqual(urls.sort(), [
        [`${url}/h1`, 200, '127.0.0.1', undefined],
        [`${url}/h2`, 200, '127.0.0.1', '0123456789abcdef'],
      ]);
    } finally {
      await close();
    }
  });

  it('uninstall leaves http2 servers working, untraced, with the emit of their classes put back', async () => {
    installPatches(['httpServer'], { tracer });
    const server = http2.createServer((req, res) => res.end(`ok ${req.url}`));
    const proto = Object.getPrototypeOf(server);
    const requestProto = http2.Http2ServerRequest.prototype;
    assert.equal(Object.prototype.hasOwnProperty.call(proto, 'emit'), true);
    uninstallAllPatches();
    assert.equal(Object.prototype.hasOwnProperty.call(proto, 'emit'), false);
    assert.equal(Object.prototype.hasOwnProperty.call(requestProto, 'emit'), false);
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/after'), { status: 200, body: 'ok /after' });
      await tracer.settle();
      assert.equal(tracer.started.length, 0);
    } finally {
      await close();
    }
  });
});

describe('http server hook: http2 core API (the stream event)', () => {
  const tracer = new RecordingTracer();
  const back = requestLifecycle(tracer, {}, async () => undefined);

  it("a stream gets a server span from its headers, active in the server's and the session's 'stream' listeners and the stream's events: an outbound call is its child; the listeners get Node's arguments", async () => {
    installPatches(['httpServer', 'http'], { tracer });
    const seen: Record<string, unknown> = {};
    const args: unknown[][] = [];
    const done = new EventEmitter();
    const server = http2.createServer();
    server.on('session', (session) =>
      session.on('stream', (...got: unknown[]) => {
        args.push(got);
        seen.session = currentSpan();
      }),
    );
    server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
      args.push([stream, headers, flags, rawHeaders]);
      seen.listener = currentSpan();
      readThenCall(stream, seen, `${back().url}/from-stream`, (body) => {
        stream.respond({ ':status': 201 });
        stream.end(`got ${body}`);
      });
      stream.on('close', () => {
        seen.close = currentSpan();
        done.emit('done');
      });
    });
    const { url, close } = await listen(server);
    try {
      const span = await postedOrder(tracer, url, done, { 'x-tenant': 't1' });
      for (const where of ['listener', 'session', 'data', 'end', 'close']) assert.equal(seen[where], span, where);
      // The server's listener and the session's got the same stream, headers object, flags and raw headers: Node's.
      assert.equal(args.length, 2);
      const [ofServer, ofSession] = args;
      assert.equal(ofServer.length, 4);
      for (let i = 0; i < 4; i++) assert.equal(ofServer[i], ofSession[i], `argument ${i}`);
      assert.equal(typeof ofServer[2], 'number');
      assert.ok(Array.isArray(ofServer[3]));
      assert.equal((ofServer[1] as http2.IncomingHttpHeaders)['x-tenant'], 't1');
    } finally {
      await close();
    }
  });

  it('a secure server: the status respondWithFile and respondWithFD sent, a 5xx an error, ignoreIncoming and tracedAttributes as for a request', async () => {
    const ignoreIncoming = ['/health', (req: http.IncomingMessage) => req.headers['x-skip'] === '1'];
    installPatches(['httpServer'], { tracer, ignoreIncoming, hooks: { httpServer: { tracedAttributes: ['method', 'httpVersion', 'path', 'headers.x-tenant', 'headers.cookie'] } } });
    const server = http2.createSecureServer(tlsOptions);
    server.on('stream', (stream, headers) => {
      const path = headers[':path'];
      if (path === '/file') stream.respondWithFile(__filename, { ':status': 203 });
      else if (path === '/fd') {
        const fd = fs.openSync(__filename, 'r');
        stream.on('close', () => fs.closeSync(fd));
        stream.respondWithFD(fd, { ':status': 206 });
      } else {
        stream.respond({ ':status': path === '/boom' ? 503 : 200 });
        stream.end('ok');
      }
    });
    const { url, close } = await listen(server, true);
    try {
      assert.equal((await h2request(url, '/file', { traceparent: parentHeader })).status, 203);
      assert.equal((await h2request(url, '/fd')).status, 206);
      assert.equal((await h2request(url, '/boom', { 'x-tenant': 't1', cookie: 'secret=1' })).status, 503);
      assert.equal((await h2request(url, '/health?full=1')).status, 200);
      assert.equal((await h2request(url, '/other', { 'x-skip': '1' })).status, 200);
      await tracer.settle();
      assert.equal(tracer.started.length, 3);
      const byUrl = new Map(tracer.finished.map((s) => [s.tags['http.url'], s]));
      const file = byUrl.get(`${url}/file`) as RecordedSpan;
      assert.equal(file.parentId, '0123456789abcdef');
      for (const [path, status] of [['/file', 203], ['/fd', 206]] as const) {
        const span = byUrl.get(`${url}${path}`) as RecordedSpan;
        assert.equal(span.tags['http.status_code'], status, path);
        assert.equal(span.tags.error, undefined, path);
        assert.deepEqual(span.logs, [], path);
      }
      const boom = byUrl.get(`${url}/boom`) as RecordedSpan;
      assertBoom(boom);
      assert.equal(boom.tags.method, 'GET');
    } finally {
      await close();
    }
  });

  endedBeforeResponseTests(tracer, (events) =>
    http2.createServer().on('stream', (stream: http2.ServerHttp2Stream) => {
      stream.on('error', () => undefined);
      stream.on('close', () => events.emit('closed', currentSpan()));
      events.emit('arrived', stream);
    }),
  );

  it('a server closed while a stream is open: the stream answers, its span finishes once at its close', async () => {
    installPatches(['httpServer'], { tracer });
    const arrived = new EventEmitter();
    const server = http2.createServer();
    server.on('stream', (stream) => arrived.emit('stream', stream));
    const { url } = await listen(server);
    const session = http2.connect(url);
    const { done } = h2stream(session, '/late');
    const [served] = (await once(arrived, 'stream')) as [http2.ServerHttp2Stream];
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    served.respond({ ':status': 200 });
    served.end('late');
    assert.deepEqual(await done, { status: 200, body: 'late' });
    session.close();
    await serverClosed;
    await tracer.settle();
    assert.equal(tracer.started.length, 1);
    assert.equal(tracer.finished[0].tags['http.status_code'], 200);
    assert.equal(tracer.finished[0].tags.error, undefined);
  });

  it("a server with both a 'request' and 'stream' listeners (before and after the compatibility layer's): one span per stream, the request's (requestHook gets the Http2ServerRequest), active in all of them", async () => {
    const hooked: unknown[] = [];
    installPatches(['httpServer', 'http'], { tracer, hooks: { httpServer: { requestHook: (_span, req) => hooked.push(req), responseHook: (_span, res) => hooked.push(res) } } });
    const seen: Record<string, unknown> = {};
    const server = http2.createServer();
    server.on('stream', () => (seen.before = currentSpan()));
    server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      seen.request = currentSpan();
      req.on('end', () => {
        seen.end = currentSpan();
        http.get(`${back().url}/from-both`, (r) => readBody(r).then(() => res.end('both')));
      });
      req.resume();
    });
    server.on('stream', (stream) => {
      seen.after = currentSpan();
      stream.on('close', () => (seen.close = currentSpan()));
    });
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/both', { traceparent: parentHeader }), { status: 200, body: 'both' });
      await tracer.settle();
      const servers = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${url}/both`);
      assert.equal(servers.length, 1);
      const [span] = servers;
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(span.tags['http.status_code'], 200);
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags.component === 'http') as RecordedSpan;
      assert.equal(client.parentId, span.id);
      // The listener before the compatibility layer's runs before its span started: in the stream's context, which the span then fills.
      assert.equal(seen.before, undefined);
      for (const where of ['request', 'end', 'after', 'close']) assert.equal(seen[where], span, where);
      // The back server's request and response besides.
      const ofHttp2 = hooked.filter((x) => !(x instanceof http.IncomingMessage || x instanceof http.ServerResponse));
      assert.equal(ofHttp2.length, 2);
      assert.ok(ofHttp2[0] instanceof http2.Http2ServerRequest);
      assert.ok(ofHttp2[1] instanceof http2.Http2ServerResponse);
    } finally {
      await close();
    }
  });

  // Node's own 'stream' listener, the compatibility layer's, is known by its name ('bound onServerStream'). Under another name the
  // stream gets its span at once, as a stream of the core API, and the request the layer makes of it takes that span.
  const renamings: ReadonlyArray<readonly [string, (server: http2.Http2Server) => void, (server: http2.Http2Server) => void]> = [
    [
      'replaced by a listener of the app that calls it',
      () => undefined,
      renameCompatListener,
    ],
    [
      // (OpenTelemetry's `context.bind(ctx, server)` leaves Node's as it is: its `on` adds a listener added from 'newListener' unwrapped.)
      "wrapped, as every listener of the server, by another instrumentation's 'on'",
      (server) => {
        const on = server.on;
        server.on = function wrappedOn(this: unknown, event: string, listener: (...args: any[]) => void) {
          const wrapped = function wrappedListener(this: unknown, ...args: unknown[]): unknown {
            return Reflect.apply(listener, this, args);
          };
          return Reflect.apply(on, this, [event, wrapped]);
        } as typeof server.on;
      },
      () => undefined,
    ],
  ];
  for (const [how, before, after] of renamings) {
    it(`Node's compatibility listener under another name (${how}): one span per request, from its headers, with its status, active in the 'stream' listeners and the handler`, async () => {
      installPatches(['httpServer', 'http'], { tracer });
      const seen: Record<string, unknown[]> = {};
      const note = (where: string): number => (seen[where] ??= []).push(currentSpan());
      const closed = new EventEmitter();
      const server = http2.createServer();
      before(server);
        server.on('stream', () => note('before'));
        server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
          note('request');
          req.on('end', () => {
            note('end');
            http.get(`${back().url}/from-renamed`, (r) =>
              readBody(r).then(() => {
                res.statusCode = req.url === '/second' ? 503 : 201;
                res.end('renamed');
              }),
            );
          });
          req.resume();
        });
        server.on('stream', (stream: http2.ServerHttp2Stream) => {
          note('after');
          stream.on('close', () => {
            note('close');
            closed.emit('closed');
          });
        });
        after(server);
        assert.equal(server.listeners('stream').filter((l) => l.name === 'bound onServerStream').length, 0);
        const { url, close } = await listen(server);
        try {
          const session = http2.connect(url);
          const both = new Promise<void>((resolve) => closed.on('closed', () => seen.close.length === 2 && resolve()));
          const first = h2stream(session, '/first', { traceparent: parentHeader });
          const second = h2stream(session, '/second', { traceparent: '00-0123456789abcdef0123456789abcdef-fedcba9876543210-01' });
          assert.deepEqual([await first.done, await second.done], [{ status: 201, body: 'renamed' }, { status: 503, body: 'renamed' }]);
          session.close();
          await both;
          await tracer.settle();
          const servers = tracer.ofKind('server').filter((s) => s.tags['http.url']?.startsWith(url));
          assert.equal(servers.length, 2);
          for (const [path, parent, status] of [['/first', '0123456789abcdef', 201], ['/second', 'fedcba9876543210', 503]] as const) {
            const span = servers.find((s) => s.tags['http.url'] === `${url}${path}`) as RecordedSpan;
            assert.equal(span.operationName, 'HTTP GET', path);
            assert.equal(span.parentId, parent, path);
            assert.equal(span.tags['http.status_code'], status, path);
            assert.equal(span.tags.error, status === 503 ? true : undefined, path);
            assert.deepEqual(span.logs, [], path);
            const client = tracer.ofKind('client').find((s) => s.parentId === span.id);
            assert.ok(client !== undefined, `${path}: the outbound call is a child of its span`);
          }
          for (const where of ['before', 'request', 'end', 'after', 'close']) {
            assert.equal(seen[where].length, 2, where);
            assert.deepEqual(new Set(seen[where]), new Set(servers), where);
          }
        } finally {
          await close();
        }
    });
  }

  it("ignoreIncoming judges a stream once: its predicate is called once per stream, not again for the server's 'stream' inside the session's, nor for the request Node's listener under another name makes of it", async () => {
    // Regression: an ignored stream was judged again at each of these (a sampling predicate could trace it the second time).
    const judged: unknown[] = [];
    const ignoreIncoming = (req: http.IncomingMessage): boolean => (judged.push(req.url), req.url === '/skip');
    installPatches(['httpServer'], { tracer, ignoreIncoming });
    const core = http2.createServer().on('stream', (stream: http2.ServerHttp2Stream) => {
      stream.respond({ ':status': 200 });
      stream.end(String(currentSpan() !== undefined));
    });
    const compat = http2.createServer((_req, res) => res.end(String(currentSpan() !== undefined)));
    renameCompatListener(compat);
    for (const server of [core, compat]) {
      const { url, close } = await listen(server);
      try {
        assert.deepEqual(await h2request(url, '/kept'), { status: 200, body: 'true' });
        assert.deepEqual(await h2request(url, '/skip'), { status: 200, body: 'false' });
      } finally {
        await close();
      }
    }
    await tracer.settle();
    assert.deepEqual(judged, ['/kept', '/skip', '/kept', '/skip']);
    assert.equal(tracer.started.length, 2);
  });

  it("a stream the compatibility layer makes no request of (CONNECT to a server with a 'request' listener only): one span, once its listeners ran", async () => {
    installPatches(['httpServer'], { tracer });
    const { url, close } = await listen(http2.createServer((_req, res) => res.end('never')));
    try {
      const session = http2.connect(url);
      const { done } = h2stream(session, '', { ':method': 'CONNECT', ':authority': 'example.com:443', ':path': undefined as unknown as string });
      assert.equal((await done).status, 405);
      session.close();
      await tracer.settle();
      assert.equal(tracer.started.length, 1);
      assert.equal(tracer.finished[0].operationName, 'HTTP CONNECT');
      assert.equal(tracer.finished[0].tags['http.status_code'], 405);
    } finally {
      await close();
    }
  });

  it("a CONNECT tunnel (a server with a 'connect' listener, not traced itself): one span from its headers, with the status sent, finished once at the tunnel's close; the tunnel's data and what the listener starts asynchronously in it", async () => {
    installPatches(['httpServer'], { tracer });
    const seen: Record<string, unknown> = {};
    const server = http2.createServer((_req, res) => res.end('never'));
    server.on('connect', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      seen.listener = currentSpan();
      setImmediate(() => {
        seen.later = currentSpan();
        res.writeHead(200);
        req.on('data', (d: Buffer) => {
          seen.data = currentSpan();
          res.write(d);
        });
        req.on('end', () => res.end());
      });
    });
    const { url, close } = await listen(server);
    try {
      const session = http2.connect(url);
      const tunnel = session.request({ ':method': 'CONNECT', ':authority': 'example.com:443', traceparent: parentHeader }, { endStream: false });
      let echoed = '';
      tunnel.setEncoding('utf8');
      tunnel.on('data', (d: string) => {
        echoed += d;
        if (echoed === 'ping') tunnel.end();
      });
      const [headers] = (await once(tunnel, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(headers[':status'], 200);
      tunnel.write('ping');
      await once(tunnel, 'close');
      session.close();
      await tracer.settle();
      assert.equal(tracer.started.length, 1);
      const [span] = tracer.finished;
      assert.equal(span.operationName, 'HTTP CONNECT');
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(span.tags.error, undefined);
      assert.deepEqual(span.logs, []);
      // The listener runs before the span starts (as a 'stream' listener before the compatibility layer's); what it starts has the span.
      assert.equal(seen.listener, undefined);
      assert.equal(seen.later, span);
      assert.equal(seen.data, span);
    } finally {
      await close();
    }
  });

  it('a pushed stream is the server’s own answer: no span of its own; the pushing stream’s one span', async () => {
    installPatches(['httpServer'], { tracer });
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.pushStream({ ':path': '/pushed.css' }, (err, push) => {
        if (err) throw err;
        push.respond({ ':status': 200 });
        push.end('css');
        stream.respond({ ':status': 200 });
        stream.end('page');
      });
    });
    const { url, close } = await listen(server);
    try {
      const session = http2.connect(url);
      const pushedClosed = new Promise<void>((resolve) =>
        session.on('stream', (pushed: http2.ClientHttp2Stream) => {
          pushed.resume();
          pushed.on('close', resolve);
        }),
      );
      const { done } = h2stream(session, '/page');
      assert.deepEqual(await done, { status: 200, body: 'page' });
      await pushedClosed;
      session.close();
      await tracer.settle();
      assert.equal(tracer.started.length, 1);
      assert.equal(tracer.finished[0].tags['http.url'], `${url}/page`);
    } finally {
      await close();
    }
  });

  it("a gRPC stream (content-type application/grpc) is left to the grpc hook: no span, the listener's stream untouched", async () => {
    installPatches(['httpServer'], { tracer });
    let active: unknown = 'unset';
    const server = http2.createServer();
    server.on('stream', (stream) => {
      active = currentSpan();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.end();
    });
    const { url, close } = await listen(server);
    try {
      assert.equal((await h2request(url, '/pkg.Svc/Method', { 'content-type': 'application/grpc+proto', traceparent: parentHeader }, '')).status, 200);
      await tracer.settle();
      assert.equal(tracer.started.length, 0);
      assert.equal(active, undefined);
    } finally {
      await close();
    }
  });

  it('a tracer that throws: the stream is served as untraced', async () => {
    const throwing = new ThrowingTracer();
    installPatches(['httpServer'], { tracer: throwing });
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(`span ${currentSpan() !== undefined}`);
    });
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/x', { traceparent: parentHeader }), { status: 200, body: 'span false' });
      assert.ok(throwing.calls > 0);
    } finally {
      await close();
    }
  });

  it('uninstall puts back the emit of the session and stream classes; their streams are served untraced', async () => {
    installPatches(['httpServer'], { tracer });
    const server = http2.createServer();
    const protos: object[] = [];
    server.on('stream', (stream) => {
      protos.push(Object.getPrototypeOf(stream), Object.getPrototypeOf(stream.session));
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/before'), { status: 200, body: 'ok' });
      for (const proto of protos) assert.equal(Object.prototype.hasOwnProperty.call(proto, 'emit'), true);
      uninstallAllPatches();
      for (const proto of protos) assert.equal(Object.prototype.hasOwnProperty.call(proto, 'emit'), false);
      assert.deepEqual(await h2request(url, '/after'), { status: 200, body: 'ok' });
      await tracer.settle();
      assert.equal(tracer.started.length, 1);
    } finally {
      await close();
    }
  });
});

describe('http server hook: http2 with no tracer registered', () => {
  after(() => {
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it('no span work past the first request; the handler gets the request and response objects http2 made', async () => {
    let looked = 0;
    const ignoreIncoming = (): boolean => (looked++, false);
    installPatches(['httpServer'], { hooks: { httpServer: { ignoreIncoming } } });
    opentracing.initGlobalTracer(new opentracing.Tracer());
    const got: Array<[unknown, unknown]> = [];
    const server = http2.createServer();
    server.on('request', (req, res) => got.push([req, res]));
    server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      const [first] = got[got.length - 1];
      res.end(`${first === req && res.req === req && req instanceof http2.Http2ServerRequest && res instanceof http2.Http2ServerResponse} ${currentSpan() === undefined}`);
    });
    const { url, close } = await listen(server);
    try {
      assert.deepEqual(await h2request(url, '/first'), { status: 200, body: 'true true' });
      assert.equal(looked, 1);
      for (let i = 0; i < 3; i++) assert.deepEqual(await h2request(url, `/next/${i}`), { status: 200, body: 'true true' });
      assert.equal(looked, 1);
    } finally {
      await close();
    }
  });

  it("a stream: no span work past the first stream; the 'stream' listener gets Node's arguments", async () => {
    let looked = 0;
    const ignoreIncoming = (): boolean => (looked++, false);
    installPatches(['httpServer'], { hooks: { httpServer: { ignoreIncoming } } });
    opentracing.initGlobalTracer(new opentracing.Tracer());
    const server = http2.createServer();
    server.on('session', (session) =>
      session.on('stream', (stream: http2.ServerHttp2Stream, headers: unknown, flags: unknown, raw: unknown) => {
        // The server's listener ran first, with the same arguments.
        const ok = seen[0] === stream && seen[1] === headers && seen[2] === flags && seen[3] === raw && currentSpan() === undefined;
        stream.respond({ ':status': 200 });
        stream.end(String(ok));
      }),
    );
    let seen: unknown[] = [];
    server.on('stream', (...args: unknown[]) => (seen = args));
    const { url, close } = await listen(server);
    try {
      for (let i = 0; i < 3; i++) assert.deepEqual(await h2request(url, `/s/${i}`), { status: 200, body: 'true' });
      assert.equal(looked, 0);
    } finally {
      await close();
    }
  });
});
