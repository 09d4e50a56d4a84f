/**
 * The httpServer hook on http2's compatibility API: the 'request' event of `http2.createServer` and
 * `http2.createSecureServer` servers (and, with allowHTTP1, their HTTP/1.1 requests) gets the same server
 * span as http's. Real servers on 127.0.0.1, clients `http2.connect` (and https for HTTP/1.1).
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as opentracing from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches } from '../../src';
import { h2request } from '../helpers/http2';
import { readBody, tlsCa, tlsOptions } from '../helpers/servers';
import { requestLifecycle } from '../frameworks/harness';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;
type Http2 = http2.Http2Server | http2.Http2SecureServer;

/** `server` listening on 127.0.0.1: its URL (`https` when `secure`) and a close that waits for it. */
async function listen(server: Http2, secure = false): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A GET of `url` over HTTPS/1.1: its status and body. */
function h1get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: tlsCa, agent: false }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)).on('error', reject);
  });
}

const parentHeader = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';

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
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        seen.data = currentSpan();
        body += d;
      });
      req.on('end', () => {
        seen.end = currentSpan();
        setTimeout(() => {
          http.get(`${back().url}/from-h2`, (r) => {
            r.resume();
            r.on('end', () => {
              res.statusCode = 201;
              res.end(`got ${body}`);
            });
          });
        }, 5);
      });
      res.on('finish', () => (seen.finish = currentSpan()));
      res.on('close', () => {
        seen.close = currentSpan();
        done.emit('done');
      });
    };
    const { url, close } = await listen(http2.createServer(handler));
    try {
      const closed = once(done, 'done');
      assert.deepEqual(await h2request(url, '/orders/7?secret=1', { traceparent: parentHeader }, 'abc'), { status: 201, body: 'got abc' });
      await closed;
      await tracer.settle();
      const server = tracer.finished.find((s) => s.tags['http.url'] === `${url}/orders/7`) as RecordedSpan;
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags.component === 'http') as RecordedSpan;
      // With the back server's own, and the test's own http2 client request's (its own traceparent sent).
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
      assert.equal(client.parentId, server.id, 'the handler’s outbound call is a child of the server span');
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
      assert.equal(span.tags['http.status_code'], 503);
      assert.equal(span.tags.error, true);
      assert.equal(span.tags.httpVersion, '2.0');
      assert.equal(span.tags.path, '/boom');
      assert.equal(span.tags['headers.x-tenant'], 't1');
      assert.equal('headers.cookie' in span.tags, false);
    } finally {
      await close();
    }
  });

  for (const [how, end] of [
    ['the client resets the stream', (_session: http2.ClientHttp2Session, stream: http2.ClientHttp2Stream) => stream.close(http2.constants.NGHTTP2_CANCEL)],
    ['the client’s session is destroyed', (session: http2.ClientHttp2Session) => session.destroy()],
    // Node closes the streams of a session destroyed with no error code, and ends them: the stream's `aborted` says it was not ended before.
    ['the server’s session is destroyed', (_session: http2.ClientHttp2Session, _stream: http2.ClientHttp2Stream, req: http2.Http2ServerRequest) => req.stream.session?.destroy()],
  ] as const) {
    it(`${how} before the response: the span is finished once, error and abort logged, no status code`, async () => {
      installPatches(['httpServer'], { tracer });
      const arrived = new EventEmitter();
      const closed = new EventEmitter();
      const { url, close } = await listen(
        http2.createServer((req, res) => {
          res.on('close', () => closed.emit('closed', currentSpan()));
          arrived.emit('request', req);
        }),
      );
      try {
        const session = http2.connect(url);
        session.on('error', () => undefined);
        const stream = session.request({ ':path': '/slow' });
        stream.on('error', () => undefined);
        const [req] = (await once(arrived, 'request')) as [http2.Http2ServerRequest];
        const gone = once(closed, 'closed');
        end(session, stream, req);
        const [activeAtClose] = await gone;
        session.destroy();
        await tracer.settle();
        assert.equal(tracer.started.length, 1);
        const [span] = tracer.finished;
        assert.equal(span.finishCount, 1);
        assert.equal(activeAtClose, span, 'res close runs with the span active');
        assert.equal('http.status_code' in span.tags, false);
        assert.equal(span.tags.error, true);
        assert.deepEqual(span.logs.map((l) => l.fields.event), ['abort']);
      } finally {
        await close();
      }
    });
  }

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
});
