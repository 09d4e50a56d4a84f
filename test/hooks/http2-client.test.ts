/**
 * The http hook on the HTTP/2 client: `http2.connect(...).request(...)` gets the same client span as an
 * http request (component `http2`), the trace headers go into a copy of the caller's headers, the stream's
 * events run in the context of the code that called `request`, and gRPC requests are left to the grpc hook.
 * A real h2c server on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as opentracing from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import { withOutbound } from '../../src/context';
import { closedPort, tlsCa, tlsOptions } from '../helpers/servers';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

/** What the app saw of one request: its status, body, the events in order, the error, and each event's active span. */
interface Outcome {
  stream: http2.ClientHttp2Stream;
  status: number | undefined;
  body: string;
  events: string[];
  error: (Error & { code?: string }) | undefined;
  spans: Record<string, unknown>;
}

/** Sends a request on `session` (no body) and resolves at the stream's 'close', whatever happened. */
function send(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, onResponse?: () => void): { stream: http2.ClientHttp2Stream; done: Promise<Outcome> } {
  const stream = session.request(headers);
  const outcome: Outcome = { stream, status: undefined, body: '', events: [], error: undefined, spans: {} };
  stream.setEncoding('utf8');
  stream.on('response', (h) => {
    outcome.events.push('response');
    outcome.spans.response = currentSpan();
    outcome.status = Number(h[':status']);
    onResponse?.();
  });
  stream.on('data', (d: string) => {
    outcome.spans.data = currentSpan();
    outcome.body += d;
  });
  stream.on('end', () => {
    outcome.events.push('end');
    outcome.spans.end = currentSpan();
  });
  stream.on('error', (err) => {
    outcome.events.push(`error ${(err as { code?: string }).code}`);
    outcome.spans.error = currentSpan();
    outcome.error = err;
  });
  // Not events.once, which listens to 'error' too.
  const done = new Promise<Outcome>((resolve) =>
    stream.on('close', () => {
      outcome.events.push('close');
      outcome.spans.close = currentSpan();
      resolve(outcome);
    }),
  );
  return { stream, done };
}

function get(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, onResponse?: () => void): Promise<Outcome> {
  return send(session, headers, onResponse).done;
}

describe('http client hook: http2 client (connect(...).request(...))', () => {
  const tracer = new RecordingTracer();
  /** The headers of each request the server got, in order. */
  const received: http2.IncomingHttpHeaders[] = [];
  let server: http2.Http2Server;
  let url: string;
  let port: number;
  const sessions: http2.ClientHttp2Session[] = [];

  const connect = (authority: string | URL = url): http2.ClientHttp2Session => {
    const session = http2.connect(authority);
    session.on('error', () => undefined);
    sessions.push(session);
    return session;
  };

  before(async () => {
    server = http2.createServer((req, res) => {
      received.push(req.headers);
      const path = req.url.split('?')[0];
      if (path === '/reset') return void req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      if (path === '/cancel') return void req.stream.close(http2.constants.NGHTTP2_CANCEL);
      if (path === '/hang') return;
      res.statusCode = path === '/missing' ? 404 : path === '/bad' ? 502 : 200;
      res.setHeader('x-service', 'backend');
      res.end(JSON.stringify({ traceparent: req.headers.traceparent ?? null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    tracer.reset();
    received.length = 0;
  });
  afterEach(async () => {
    for (const session of sessions.splice(0)) session.destroy();
    uninstallAllPatches();
    await tracer.settle();
  });

  it('a request under an active span: a child client span with http tags, the trace header sent in a copy of the caller’s headers, the very stream Node made, events in the caller’s context', async () => {
    // Another instrumentation's layer below ours, put on before install: it records the stream Node returned.
    const probe = connect();
    const proto = Object.getPrototypeOf(probe) as { request: (...args: any[]) => http2.ClientHttp2Stream };
    const nodeRequest = proto.request;
    const made: Array<[unknown, http2.ClientHttp2Stream]> = [];
    proto.request = function request(this: unknown, ...args: any[]) {
      const stream = Reflect.apply(nodeRequest, this, args) as http2.ClientHttp2Stream;
      made.push([args[0], stream]);
      return stream;
    };
    try {
      installPatches(['http'], { tracer });
      const session = connect();
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const headers = Object.freeze({ ':path': '/orders/7?token=secret', 'x-a': '1' });
      const { stream, done } = withSpan(parent, () => send(session, headers));
      stream.end();
      const outcome = await done;
      parent.finish();
      await tracer.settle();
      assert.equal(made.length, 1);
      assert.equal(made[0][1], stream, 'the stream Node made');
      assert.notEqual(made[0][0], headers, 'Node gets a copy');
      assert.deepEqual(headers, { ':path': '/orders/7?token=secret', 'x-a': '1' });
      assert.deepEqual(outcome.events, ['response', 'end', 'close']);
      assert.equal(outcome.status, 200);
      const [client] = tracer.ofKind('client');
      assert.equal(client.operationName, 'HTTP GET');
      assert.equal(client.parentId, parent.id);
      assert.deepEqual(client.tags, {
        'span.kind': 'client',
        component: 'http2',
        'http.method': 'GET',
        'http.url': `${url}/orders/7`,
        'peer.hostname': '127.0.0.1',
        'peer.port': port,
        'http.status_code': 200,
      });
      assert.deepEqual(client.logs, []);
      assert.equal(received[0].traceparent, `00-${client.traceId}-${client.id}-01`);
      assert.equal(received[0]['x-a'], '1');
      assert.equal(JSON.parse(outcome.body).traceparent, received[0].traceparent);
      for (const event of ['response', 'data', 'end', 'close']) assert.equal(outcome.spans[event], parent, event);
    } finally {
      proto.request = nodeRequest;
    }
  });

  it('method, scheme and authority from the headers; a header the caller set wins; a root span with no active span', async () => {
    installPatches(['http'], { tracer });
    const session = connect(new URL(`http://user:pw@127.0.0.1:${port}`));
    const own = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    const { stream, done } = send(session, { ':method': 'post', ':path': '/in', ':authority': `example.test:${port}`, traceparent: own });
    stream.end('body');
    await done;
    await tracer.settle();
    const [client] = tracer.finished;
    assert.equal(client.operationName, 'HTTP POST');
    assert.equal(client.parentId, undefined);
    assert.equal(client.tags['http.url'], `http://example.test:${port}/in`);
    assert.equal(client.tags['peer.hostname'], '127.0.0.1', 'the host connected to');
    assert.equal(received[0].traceparent, own);
    assert.ok(!tracer.everything().includes('pw'));
  });

  it('with httpServer on the server: its span is the client span’s child', async () => {
    installPatches(['http', 'httpServer'], { tracer });
    const traced = http2.createServer((req, res) => res.end('ok'));
    await new Promise<void>((resolve) => traced.listen(0, '127.0.0.1', resolve));
    const session = connect(`http://127.0.0.1:${(traced.address() as AddressInfo).port}`);
    try {
      const { stream, done } = send(session, { ':path': '/x' });
      stream.end();
      await done;
      session.close();
      await tracer.settle();
      const [client] = tracer.ofKind('client');
      const [inbound] = tracer.ofKind('server');
      assert.equal(inbound.parentId, client.id);
      assert.equal(inbound.traceId, client.traceId);
    } finally {
      session.destroy();
      await new Promise<void>((resolve) => traced.close(() => resolve()));
    }
  });

  it('a 404 is no error; a 502 is one', async () => {
    installPatches(['http'], { tracer });
    const session = connect();
    const missing = send(session, { ':path': '/missing' });
    missing.stream.end();
    assert.equal((await missing.done).status, 404);
    const bad = send(session, { ':path': '/bad' });
    bad.stream.end();
    assert.equal((await bad.done).status, 502);
    await tracer.settle();
    const byUrl = new Map(tracer.finished.map((s) => [s.tags['http.url'], s]));
    assert.equal(byUrl.get(`${url}/missing`)?.tags['http.status_code'], 404);
    assert.equal(byUrl.get(`${url}/missing`)?.tags.error, undefined);
    assert.equal(byUrl.get(`${url}/bad`)?.tags['http.status_code'], 502);
    assert.equal(byUrl.get(`${url}/bad`)?.tags.error, true);
  });

  it('a stream the server resets: the app’s error on the span, finished once; a cancel (no error event) is an abort', async () => {
    installPatches(['http'], { tracer });
    const session = connect();
    const reset = send(session, { ':path': '/reset' });
    reset.stream.end();
    const outcome = await reset.done;
    assert.deepEqual(outcome.events, ['error ERR_HTTP2_STREAM_ERROR', 'close']);
    const cancel = send(session, { ':path': '/cancel' });
    cancel.stream.end();
    assert.deepEqual((await cancel.done).events, ['end', 'close']);
    await tracer.settle();
    const byUrl = new Map(tracer.finished.map((s) => [s.tags['http.url'], s]));
    const resetSpan = byUrl.get(`${url}/reset`) as RecordedSpan;
    assert.equal(resetSpan.tags.error, true);
    assert.equal(resetSpan.errorLog()?.fields.message, outcome.error?.message);
    const cancelSpan = byUrl.get(`${url}/cancel`) as RecordedSpan;
    assert.equal(cancelSpan.tags.error, true);
    assert.equal(cancelSpan.errorLog()?.fields.event, 'abort');
    assert.equal(cancelSpan.errorLog()?.fields.message, 'stream reset with code 8');
  });

  it('the app cancels (stream.close(NGHTTP2_CANCEL)) or aborts through its signal: an abort, finished once', async () => {
    installPatches(['http'], { tracer });
    const session = connect();
    const arrived = (path: string): Promise<void> =>
      new Promise((resolve) => {
        const wait = (): void => void (received.some((h) => h[':path'] === path) ? resolve() : setTimeout(wait, 5));
        wait();
      });
    const cancelled = send(session, { ':path': '/hang' });
    cancelled.stream.end();
    await arrived('/hang');
    cancelled.stream.close(http2.constants.NGHTTP2_CANCEL);
    assert.deepEqual((await cancelled.done).events, ['end', 'close']);
    const controller = new AbortController();
    const stream = session.request({ ':path': '/hang?signal' }, { signal: controller.signal });
    const events: string[] = [];
    stream.on('error', (err) => events.push(err.name));
    await arrived('/hang?signal');
    const closed = new Promise((resolve) => stream.on('close', resolve));
    controller.abort();
    await closed;
    assert.deepEqual(events, ['AbortError']);
    await tracer.settle();
    assert.equal(tracer.finished.length, 2);
    for (const span of tracer.finished) {
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields.event, 'abort');
    }
  });

  it("stream.destroy() with an app's error whose name getter throws: the app's 'close' runs, the span finishes once with error (the read threw out of emit)", async () => {
    installPatches(['http'], { tracer });
    const session = connect();
    const odd = { message: 'odd', get name(): string { throw new Error('name getter throws'); } };
    const hanging = send(session, { ':path': '/hang' });
    hanging.stream.end();
    await new Promise<void>((resolve) => {
      const wait = (): void => void (received.some((h) => h[':path'] === '/hang') ? resolve() : setTimeout(wait, 5));
      wait();
    });
    hanging.stream.destroy(odd as unknown as Error);
    const outcome = await hanging.done;
    assert.deepEqual(outcome.events, ['error undefined', 'close']);
    assert.equal(outcome.error, odd);
    await tracer.settle();
    assert.equal(tracer.finished.length, 1);
    const [span] = tracer.finished;
    assert.equal(span.finishCount, 1);
    assert.equal(span.tags.error, true);
    assert.equal(span.errorLog()?.fields.message, 'odd');
  });

  it('connection refused: the span finishes once with the error; the app sees the same events and error as untraced', async () => {
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const attempt = async (): Promise<{ events: string[]; session: string[]; message: string | undefined }> => {
      const session = http2.connect(closed);
      const sessionEvents: string[] = [];
      session.on('error', (err: NodeJS.ErrnoException) => sessionEvents.push(`error ${err.code}`));
      const { stream, done } = send(session, { ':path': '/' });
      stream.end();
      const outcome = await done;
      return { events: outcome.events, session: sessionEvents, message: outcome.error?.message };
    };
    const untraced = await attempt();
    installPatches(['http'], { tracer });
    const traced = await attempt();
    assert.deepEqual(traced, untraced);
    assert.ok(untraced.events.some((e) => e.startsWith('error')), JSON.stringify(untraced));
    await tracer.settle();
    assert.equal(tracer.finished.length, 1);
    const [span] = tracer.finished;
    assert.equal(span.tags.error, true);
    assert.equal(span.errorLog()?.fields.message, traced.message);
  });

  it('util.promisify(http2.connect) resolves with the session, as untraced, and its requests are traced; a refused connect rejects with the same error', async () => {
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const connectAsync = (): ((authority: string) => Promise<http2.ClientHttp2Session>) => promisify(http2.connect) as unknown as (authority: string) => Promise<http2.ClientHttp2Session>;
    const untracedRefusal = await connectAsync()(closed).then(() => assert.fail('expected a refusal'), (e: NodeJS.ErrnoException) => e.code);
    installPatches(['http'], { tracer });
    const session = await connectAsync()(url);
    sessions.push(session);
    assert.equal(session.constructor.name, 'ClientHttp2Session', 'resolved with the session');
    const { stream, done } = send(session, { ':path': '/promisified' });
    stream.end();
    await done;
    await tracer.settle();
    assert.equal(tracer.finished.length, 1);
    assert.equal(tracer.finished[0].tags['http.url'], `${url}/promisified`);
    assert.ok(received[0].traceparent !== undefined, 'the trace header went');
    const tracedRefusal = await connectAsync()(closed).then(() => assert.fail('expected a refusal'), (e: NodeJS.ErrnoException) => e.code);
    assert.equal(tracedRefusal, untracedRefusal);
  });

  it('a session opened in request A: a request made in B gets its events in B’s context, and what its handler calls is B’s child (traced or ignored)', async () => {
    installPatches(['http'], { tracer, ignoreOutgoing: [/\/ignored$/] });
    const a = tracer.startSpan('A') as RecordedSpan;
    const b = tracer.startSpan('B') as RecordedSpan;
    const session = withSpan(a, () => connect());
    // A first request in A: the session connects there.
    const first = withSpan(a, () => send(session, { ':path': '/first' }));
    first.stream.end();
    await first.done;
    let inner: Promise<Outcome> | undefined;
    const traced = withSpan(b, () =>
      send(session, { ':path': '/second' }, () => {
        inner = get(session, { ':path': '/from-handler' });
      }),
    );
    traced.stream.end();
    const outcome = await traced.done;
    await inner;
    const ignored = withSpan(b, () => send(session, { ':path': '/ignored' }));
    ignored.stream.end();
    const quiet = await ignored.done;
    a.finish();
    b.finish();
    await tracer.settle();
    for (const event of ['response', 'end', 'close']) {
      assert.equal(outcome.spans[event], b, event);
      assert.equal(quiet.spans[event], b, `ignored: ${event}`);
    }
    const byUrl = new Map(tracer.finished.map((s) => [s.tags['http.url'], s]));
    assert.equal(byUrl.get(`${url}/first`)?.parentId, a.id);
    assert.equal(byUrl.get(`${url}/second`)?.parentId, b.id);
    assert.equal(byUrl.get(`${url}/from-handler`)?.parentId, b.id);
    assert.equal(byUrl.has(`${url}/ignored`), false);
    assert.equal(received[received.length - 1].traceparent, undefined, 'no header on an ignored request');
  });

  it('a session that fails (refused in A, destroyed by C): the stream’s error and close, which Node delivers in that context, run in B’s', async () => {
    installPatches(['http'], { tracer, ignoreOutgoing: [/\/ignored$/] });
    const [a, b, c] = ['A', 'B', 'C'].map((name) => tracer.startSpan(name) as RecordedSpan);
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const refused = withSpan(a, () => connect(closed));
    const failed = await Promise.all([withSpan(b, () => get(refused, { ':path': '/' })), withSpan(b, () => get(refused, { ':path': '/ignored' }))]);
    const open = withSpan(a, () => connect());
    const hanging = withSpan(b, () => send(open, { ':path': '/hang' }));
    hanging.stream.end();
    await new Promise<void>((resolve) => {
      const wait = (): void => void (received.some((h) => h[':path'] === '/hang') ? resolve() : setTimeout(wait, 5));
      wait();
    });
    withSpan(c, () => open.destroy(new Error('gone')));
    const destroyed = await hanging.done;
    for (const span of [a, b, c]) span.finish();
    await tracer.settle();
    for (const outcome of [...failed, destroyed]) {
      assert.ok(outcome.error !== undefined, outcome.events.join());
      assert.equal(outcome.spans.error, b, outcome.events.join());
      assert.equal(outcome.spans.close, b, outcome.events.join());
    }
    const clients = tracer.ofKind('client');
    assert.equal(clients.length, 2);
    for (const span of clients) {
      assert.equal(span.parentId, b.id);
      assert.equal(span.tags.error, true);
    }
  });

  it('a gRPC request (content-type application/grpc): no span, no header, the stream left as Node made it', async () => {
    installPatches(['http'], { tracer });
    const session = connect();
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const headers = { ':method': 'POST', ':path': '/pkg.Service/Method', 'content-type': 'application/grpc', te: 'trailers' };
    const { stream, done } = withSpan(parent, () => send(session, headers));
    assert.equal(Object.prototype.hasOwnProperty.call(stream, 'emit'), false);
    stream.end();
    await done;
    // Any case of the name (Node sends it lower case).
    const mixed = withSpan(parent, () => send(session, { ':method': 'POST', ':path': '/pkg.Service/Other', 'Content-Type': 'application/grpc+proto' }));
    mixed.stream.end();
    await mixed.done;
    parent.finish();
    await tracer.settle();
    assert.deepEqual(tracer.finished.map((s) => s.operationName), ['parent']);
    assert.deepEqual(received.map((h) => h.traceparent), [undefined, undefined]);
  });

  it('headers marked sensitive (http2.sensitiveHeaders, on an object or on a raw array) stay so: never indexed, as untraced', async () => {
    // The raw array's copy lost the list (a property of the array, not an entry): the header went out indexable.
    const objectForm = (): http2.OutgoingHttpHeaders => ({ ':path': '/', 'x-secret': 'abc', [http2.sensitiveHeaders]: ['x-secret'] });
    const arrayForm = (): any => Object.assign([':path', '/', 'x-secret', 'abc'], { [http2.sensitiveHeaders]: ['x-secret'] });
    const outcomes = async (): Promise<unknown[]> => {
      const seen: unknown[] = [];
      for (const headers of [objectForm(), arrayForm()]) {
        received.length = 0;
        const session = connect();
        let thrown: string | undefined;
        const parent = tracer.startSpan('parent');
        try {
          await withSpan(parent, () => get(session, headers));
        } catch (err) {
          thrown = (err as { code?: string }).code; // Node 20 takes no raw array
        }
        parent.finish();
        seen.push({ thrown, sensitive: received.map((h) => (h as Record<symbol, unknown>)[http2.sensitiveHeaders]) });
      }
      return seen;
    };
    const untraced = await outcomes();
    assert.deepEqual((untraced[0] as { sensitive: unknown[] }).sensitive, [['x-secret']]);
    installPatches(['http'], { tracer });
    assert.deepEqual(await outcomes(), untraced);
    assert.ok(tracer.ofKind('client').length >= 1);
  });

  it('a grpc-js call with the grpc hook too: the grpc spans alone, and one trace header, the grpc client span’s', async () => {
    installPatches(['grpc', 'http'], { tracer });
    const bytes = (b: Buffer): Buffer => b;
    const method = { path: '/test.Bytes/Unary', requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes };
    const grpcServer = new grpc.Server();
    let got: unknown[] = [];
    grpcServer.addService({ Unary: method }, {
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        got = call.metadata.get('traceparent');
        callback(null, Buffer.alloc(0));
      },
    });
    const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const err = await withSpan(parent, () => new Promise((resolve) => client.makeUnaryRequest(method.path, bytes, bytes, Buffer.alloc(0), resolve)));
      assert.equal(err, null);
      parent.finish();
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => `${s.tags.component} ${s.tags['span.kind']}`).sort(), ['grpc client', 'grpc server', 'undefined undefined']);
      const [grpcClient] = tracer.ofKind('client');
      assert.deepEqual(got, [`00-${grpcClient.traceId}-${grpcClient.id}-01`]);
    } finally {
      client.close();
      grpcServer.forceShutdown();
    }
  });

  it('undici with allowH2 (its own sessions): the fetch span alone, its trace header sent', async () => {
    installPatches(['fetch', 'http'], { tracer });
    const undici = require('undici') as typeof import('undici');
    const secure = http2.createSecureServer({ ...tlsOptions, allowHTTP1: true }, (req, res) => res.end(`${req.httpVersion} ${String(req.headers.traceparent)}`));
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const agent = new undici.Agent({ allowH2: true, connect: { ca: tlsCa } });
    try {
      const reply = await undici.request(`https://127.0.0.1:${(secure.address() as AddressInfo).port}/h2`, { dispatcher: agent });
      const body = await reply.body.text();
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => s.tags.component), ['undici']);
      const [span] = tracer.finished;
      assert.equal(body, `2.0 00-${span.traceId}-${span.id}-01`);
    } finally {
      await agent.close();
      await new Promise<void>((resolve) => secure.close(() => resolve()));
    }
  });

  it('a session made before install, and every session after uninstall: not traced; uninstall puts back Node’s request', async () => {
    const before = connect();
    const nodeRequest = (Object.getPrototypeOf(before) as { request: unknown }).request;
    installPatches(['http'], { tracer });
    const during = connect();
    assert.notEqual((Object.getPrototypeOf(during) as { request: unknown }).request, nodeRequest);
    await get(before, { ':path': '/before' }).catch(() => undefined);
    uninstallAllPatches();
    assert.equal((Object.getPrototypeOf(during) as { request: unknown }).request, nodeRequest);
    const after = connect();
    const outcome = await get(after, { ':path': '/after' });
    assert.equal(Object.prototype.hasOwnProperty.call(outcome.stream, 'emit'), false);
    await tracer.settle();
    assert.equal(tracer.started.length, 0);
    assert.deepEqual(received.map((h) => h.traceparent), [undefined, undefined]);
  });

  it('a session made while installed is traced again after uninstall and install, with no new connect', async () => {
    installPatches(['http'], { tracer });
    const session = connect();
    await get(session, { ':path': '/one' });
    uninstallAllPatches();
    await get(session, { ':path': '/two' });
    installPatches(['http'], { tracer });
    await get(session, { ':path': '/three' });
    await tracer.settle();
    assert.deepEqual(tracer.finished.map((s) => s.tags['http.url']), [`${url}/one`, `${url}/three`]);
    assert.deepEqual(received.map((h) => typeof h.traceparent), ['string', 'undefined', 'string']);
  });

  it('propagationBlocklist: a span, no header; requireParent without a parent: no span', async () => {
    installPatches(['http'], { tracer, propagationBlocklist: ['127.0.0.1'] });
    await get(connect(), { ':path': '/blocked' });
    await tracer.settle();
    assert.equal(tracer.finished.length, 1);
    assert.equal(received[0].traceparent, undefined);
    uninstallAllPatches();
    tracer.reset();
    installPatches(['http'], { tracer, requireParent: true });
    await get(connect(), { ':path': '/orphan' });
    await tracer.settle();
    assert.equal(tracer.started.length, 0);
    assert.equal(received[1].traceparent, undefined);
  });

  it('captureQueryString keeps the query; suppressTracing: no span, no header; under an outer client call (aws-sdk’s withOutbound): no span of its own, its status told to that call, its header not doubled', async () => {
    installPatches(['http'], { tracer, captureQueryString: true });
    const session = connect();
    await get(session, { ':path': '/q?page=2' });
    await suppressTracing(() => get(session, { ':path': '/suppressed' }));
    const outer = tracer.startSpan('outer') as RecordedSpan;
    const statuses: number[] = [];
    const call = { span: outer, component: 'aws-sdk', injected: true, onStatus: (code: number) => statuses.push(code) };
    const inner = await withOutbound(call, () => get(session, { ':path': '/missing', traceparent: `00-${outer.traceId}-${outer.id}-01` }));
    outer.finish();
    await tracer.settle();
    assert.deepEqual(tracer.finished.map((s) => s.tags['http.url'] ?? s.operationName), [`${url}/q?page=2`, 'outer']);
    assert.deepEqual(received.map((h) => h.traceparent), [`00-${tracer.finished[0].traceId}-${tracer.finished[0].id}-01`, undefined, `00-${outer.traceId}-${outer.id}-01`]);
    assert.equal(inner.status, 404);
    assert.deepEqual(statuses, [404]);
  });

  it('requestHook, responseHook and peerServiceHeader as on http', async () => {
    const seen: unknown[] = [];
    installPatches(['http'], {
      tracer,
      hooks: {
        http: {
          peerServiceHeader: 'x-service',
          requestHook: (span, req) => seen.push(['request', req.method, req.url, (req.headers as Record<string, unknown>).traceparent !== undefined]),
          responseHook: (span, res) => seen.push(['response', res.status]),
        },
      },
    });
    await get(connect(), { ':path': '/hooked?q=1' });
    await tracer.settle();
    assert.deepEqual(seen, [['request', 'GET', `${url}/hooked`, true], ['response', 200]]);
    assert.equal(tracer.finished[0].tags['peer.service'], 'backend');
  });
});

describe('http client hook: http2 client with no tracer registered', () => {
  after(() => {
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it('no span, no header, and past the first request (which finds the tracer a no-op) no wrapper work: the stream as Node made it', async () => {
    installPatches(['http']);
    opentracing.initGlobalTracer(new opentracing.Tracer());
    const got: Array<string | undefined> = [];
    const server = http2.createServer((req, res) => {
      got.push(req.headers.traceparent as string | undefined);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      assert.equal((await get(session, { ':path': '/first' })).status, 200);
      for (let i = 0; i < 2; i++) {
        const outcome = await get(session, { ':path': `/next/${i}` });
        assert.equal(outcome.status, 200);
        assert.equal(Object.prototype.hasOwnProperty.call(outcome.stream, 'emit'), false);
      }
      assert.deepEqual(got, [undefined, undefined, undefined]);
    } finally {
      session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
