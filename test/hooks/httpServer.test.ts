import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer, ThrowingTracer } from '../helpers/tracer';
import { readBody, startServer, TestServer, tlsCa } from '../helpers/servers';
import { loggedErrorText } from '../helpers/error-log';
import { connectedPgClient, mysqlUrl } from '../helpers/services';

function get(url: string, headers: http.OutgoingHttpHeaders = {}, agent?: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https') ? https : http;
    mod.get(url, { headers, agent, ca: tlsCa }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)).on('error', reject);
  });
}

describe('http server hook', () => {
  const tracer = new RecordingTracer();
  afterEach(async () => {
    await tracer.settle();
    uninstallAllPatches();
    tracer.reset();
  });

  it('makes a server span from the incoming headers and keeps it active across async work', async () => {
    installPatches(['httpServer'], { tracer });
    let active: unknown;
    const server = await startServer((_req, res) => {
      setTimeout(() => {
        active = currentSpan();
        res.end('ok');
      }, 5);
    });
    try {
      const parent = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
      const { status } = await get(`${server.url}/orders/7?secret=1`, { traceparent: parent });
      assert.equal(status, 200);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'HTTP GET');
      assert.equal(span.traceId, '0123456789abcdef0123456789abcdef');
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(span.tags['span.kind'], 'server');
      assert.equal(span.tags['http.method'], 'GET');
      assert.equal(span.tags['http.url'], `${server.url}/orders/7`);
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(span.tags['peer.address'], '127.0.0.1');
      assert.equal(active, span);
    } finally {
      await server.close();
    }
  });

  it('https servers are traced too', async () => {
    installPatches(['httpServer'], { tracer });
    const server = await startServer(undefined, true);
    try {
      await get(`${server.url}/tls`);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags['http.url'], `${server.url.replace('127.0.0.1', '127.0.0.1')}/tls`);
    } finally {
      await server.close();
    }
  });

  const malformed: Array<[string, string]> = [
    ['all-zero trace id', '00-00000000000000000000000000000000-0123456789abcdef-01'],
    ['bad hex', '00-zz23456789abcdef0123456789abcdef-0123456789abcdef-01'],
    ['version ff', 'ff-0123456789abcdef0123456789abcdef-0123456789abcdef-01'],
    ['over-long', '00-' + 'a'.repeat(5000)],
    ['garbage', '\u0001\u0002;;;==='],
  ];
  for (const [name, header] of malformed) {
    it(`a malformed traceparent (${name}) gives a new root span`, async () => {
      installPatches(['httpServer'], { tracer });
      const server = await startServer();
      try {
        let value = header;
        if (/[\u0000-\u001f]/.test(value)) value = 'not a header';
        const { status } = await get(`${server.url}/m`, { traceparent: value });
        assert.equal(status, 200);
        const [span] = await tracer.waitFor(1);
        assert.equal(span.parentId, undefined);
      } finally {
        await server.close();
      }
    });
  }

  it('a tracer whose extract/startSpan throw does not change the response', async () => {
    const broken = new ThrowingTracer();
    installPatches(['httpServer', 'http'], { tracer: broken });
    const server = await startServer();
    try {
      const { status, body } = await get(`${server.url}/x?y=1`, { traceparent: 'whatever' });
      assert.equal(status, 200);
      assert.equal(JSON.parse(body).url, '/x?y=1');
      assert.ok(broken.calls > 0);
    } finally {
      await server.close();
    }
  });

  it('ignoreIncoming skips paths and predicates', async () => {
    installPatches(['httpServer'], { tracer, ignoreIncoming: ['/health', (req: http.IncomingMessage) => req.headers['x-skip'] === '1'] });
    const server = await startServer();
    try {
      await get(`${server.url}/health?full=1`);
      await get(`${server.url}/other`, { 'x-skip': '1' });
      await get(`${server.url}/traced`);
      const spans = await tracer.waitFor(1);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(spans.map((s) => s.tags['http.url']), [`${server.url}/traced`]);
    } finally {
      await server.close();
    }
  });

  it('an absolute-form request target (defect 8): http.url is that URL, no credentials or query in any tag or log', async () => {
    installPatches(['httpServer'], { tracer, ignoreIncoming: ['/health'] });
    const server = await startServer();
    try {
      const raw = (target: string): Promise<string> =>
        new Promise((resolve, reject) => {
          // As a client talks to a forward proxy: the whole URL on the request line.
          const socket = net.connect(server.port, '127.0.0.1', () =>
            socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`),
          );
          let reply = '';
          socket.on('data', (d) => (reply += d));
          socket.on('end', () => resolve(reply));
          socket.on('error', reject);
        });
      const reply = await raw(`http://user:s3cret@127.0.0.1:${server.port}/p?token=abc`);
      assert.match(reply, /^HTTP\/1\.1 200/);
      assert.equal(server.received[0].url, `http://user:s3cret@127.0.0.1:${server.port}/p?token=abc`, 'the app sees the target as sent');
      await raw(`http://127.0.0.1:${server.port}/health?x=1`);
      const [span] = await tracer.waitFor(1);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(tracer.finished.length, 1, 'ignoreIncoming matches the path of an absolute-form target');
      assert.equal(span.tags['http.url'], `http://127.0.0.1:${server.port}/p`);
      const recorded = JSON.stringify({ tags: span.tags, logs: span.logs.map((l) => l.fields) });
      assert.ok(!recorded.includes('s3cret') && !recorded.includes('user:') && !recorded.includes('token'), recorded);
    } finally {
      await server.close();
    }
  });

  it('5xx marks the server span as an error; a connection closed mid-response finishes it too', async () => {
    installPatches(['httpServer'], { tracer });
    const server = await startServer((req, res) => {
      if (req.url === '/boom') {
        res.statusCode = 500;
        res.end();
      } else {
        res.write('partial');
        setTimeout(() => req.socket.destroy(), 10);
      }
    });
    try {
      await get(`${server.url}/boom`);
      await get(`${server.url}/cut`).catch(() => undefined);
      const spans = await tracer.waitFor(2);
      const boom = spans.find((s) => s.tags['http.url'].endsWith('/boom')) as RecordedSpan;
      const cut = spans.find((s) => s.tags['http.url'].endsWith('/cut')) as RecordedSpan;
      assert.equal(boom.tags.error, true);
      assert.equal(cut.tags.error, true);
      assert.ok(cut.logs.some((l) => l.fields.event === 'abort'));
    } finally {
      await server.close();
    }
  });

  it('a request dispatched on to a second server (inner.emit(request, req, res)) keeps its one server span, finished once', async () => {
    installPatches(['httpServer'], { tracer });
    let outerActive: unknown;
    let innerActive: unknown;
    const inner = http.createServer((_req, res) => {
      innerActive = currentSpan();
      res.end('inner');
    });
    const outer = await startServer((req, res) => {
      outerActive = currentSpan();
      inner.emit('request', req, res);
    });
    try {
      const parent = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
      assert.deepEqual(await get(`${outer.url}/x`, { traceparent: parent }), { status: 200, body: 'inner' });
      await tracer.settle();
      assert.equal(tracer.started.length, 1, 'one server span');
      const [span] = tracer.started;
      assert.equal(span.finishCount, 1);
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(span.tags['http.status_code'], 200);
      assert.ok(outerActive === span && innerActive === span, 'the inner handler runs under the same span');
    } finally {
      await outer.close();
    }
  });

  it('no response sent (Node answered 408 itself): no http.status_code, error=true with the abort logged', async () => {
    installPatches(['httpServer'], { tracer });
    const server = http.createServer({ requestTimeout: 200, connectionsCheckingInterval: 20 }, (req, res) => {
      req.on('end', () => res.end('ok'));
      req.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const socket = net.connect(port, '127.0.0.1');
      let wire = '';
      socket.on('data', (d) => (wire += d));
      // A body announced and sent too slowly.
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
      await once(socket, 'close');
      assert.match(wire, /^HTTP\/1\.1 408 /);
      const [span] = await tracer.waitFor(1);
      assert.equal('http.status_code' in span.tags, false, 'the 200 the response object holds was never sent');
      assert.equal(span.tags.error, true);
      assert.deepEqual(span.logs.map((l) => [l.fields.event, l.fields.message]), [['abort', 'connection closed before the response was sent']]);
    } finally {
      server.close();
    }
  });
});

describe('http server hook: the request’s own events', () => {
  const tracer = new RecordingTracer();
  let back: TestServer;
  before(async () => {
    back = await startServer((_req, res) => res.end('back'));
  });
  after(() => back.close());
  afterEach(async () => {
    await tracer.settle();
    uninstallAllPatches();
    tracer.reset();
  });

  /** A POST of `body` whose response's own listeners note the active span: the test client is in no request. */
  function post(url: string, body: string, seen: Record<string, unknown>): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST' }, (res) => {
        res.on('data', () => (seen.clientData = currentSpan()));
        readBody(res).then((text) => {
          seen.clientEnd = currentSpan();
          resolve(text);
        }, reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('listeners of req data/end and res finish/close run with the server span active: a call made there is its child', async () => {
    installPatches(['httpServer', 'http'], { tracer });
    const seen: Record<string, unknown> = {};
    const closed = new EventEmitter();
    const server = await startServer((req, res) => {
      seen.handler = currentSpan();
      let body = '';
      req.on('data', (chunk) => {
        seen.data = currentSpan();
        body += chunk;
      });
      req.on('end', () => {
        seen.end = currentSpan();
        http.get(`${back.url}/from-end`, (r) => readBody(r).then(() => res.end(`got ${body}`)));
      });
      res.on('finish', () => (seen.finish = currentSpan()));
      res.on('close', () => {
        seen.close = currentSpan();
        closed.emit('closed');
      });
    });
    try {
      const done = once(closed, 'closed');
      assert.equal(await post(`${server.url}/classic`, 'payload', seen), 'got payload');
      await done;
      await tracer.settle();
      const [span] = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${server.url}/classic`);
      assert.ok(span !== undefined && seen.handler === span);
      assert.deepEqual(
        { data: seen.data === span, end: seen.end === span, finish: seen.finish === span, close: seen.close === span },
        { data: true, end: true, finish: true, close: true },
      );
      const client = tracer.ofKind('client').find((s) => s.tags['http.url'] === `${back.url}/from-end`);
      assert.equal(client?.parentId, span.id, 'the call made in the end listener is a child of the server span');
      assert.equal(span.finishCount, 1);
      // The test client's response (an IncomingMessage too) is in no request: its listeners see no span.
      assert.deepEqual([seen.clientData, seen.clientEnd], [undefined, undefined]);
    } finally {
      await server.close();
    }
  });

  it('a client that leaves: req aborted/close and res close listeners run with the server span active', async () => {
    installPatches(['httpServer'], { tracer });
    const seen: Record<string, unknown> = {};
    const arrived = new EventEmitter();
    const server = await startServer((req, res) => {
      seen.handler = currentSpan();
      req.on('aborted', () => (seen.aborted = currentSpan()));
      req.on('close', () => (seen.reqClose = currentSpan()));
      res.on('close', () => {
        seen.resClose = currentSpan();
        arrived.emit('closed');
      });
      arrived.emit('request');
    });
    try {
      const came = once(arrived, 'request');
      const closed = once(arrived, 'closed');
      // A body announced and never sent: the request is incomplete when the client goes.
      const client = http.request(`${server.url}/left`, { method: 'POST', headers: { 'content-length': '10' } });
      client.on('error', () => undefined);
      client.flushHeaders();
      await came;
      client.destroy();
      await closed;
      await tracer.settle();
      const [span] = tracer.ofKind('server');
      assert.ok(span !== undefined && seen.handler === span);
      assert.deepEqual(
        { aborted: seen.aborted === span, reqClose: seen.reqClose === span, resClose: seen.resClose === span },
        { aborted: true, reqClose: true, resClose: true },
      );
      assert.equal(span.finishCount, 1);
      assert.equal(span.tags.error, true);
    } finally {
      await server.close();
    }
  });

  it('a replacement of EventEmitter.prototype.emit made after install (the domain module’s) still gets the events of every http message, as untraced', async () => {
    // Regression: our emit on the two prototypes called the EventEmitter emit of install time, so a later
    // one (domain's, which routes an unhandled 'error' to the domain) never saw these events.
    installPatches(['httpServer'], { tracer });
    const before = EventEmitter.prototype.emit;
    const seen = new Set<string>();
    EventEmitter.prototype.emit = function (this: unknown, name: string | symbol, ...args: any[]): boolean {
      if (this instanceof http.IncomingMessage) seen.add(`${(this as { req?: unknown }).req === undefined ? 'server' : 'client'} req ${String(name)}`);
      if (this instanceof http.ServerResponse) seen.add(`res ${String(name)}`);
      return Reflect.apply(before, this, [name, ...args]);
    } as typeof before;
    const server = await startServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    try {
      assert.equal(await post(`${server.url}/x`, 'b', {}), 'ok');
      await tracer.settle();
      for (const event of ['server req end', 'client req end', 'res finish']) assert.ok(seen.has(event), `${event} in ${[...seen].join(', ')}`);
      assert.equal(tracer.ofKind('server').length, 1);
    } finally {
      EventEmitter.prototype.emit = before;
      await server.close();
    }
  });

  it('uninstall puts back the emit of IncomingMessage and ServerResponse (inherited) and leaves a wrapper made over ours working', async () => {
    const inherited = [http.IncomingMessage.prototype.emit, http.ServerResponse.prototype.emit];
    installPatches(['httpServer'], { tracer });
    assert.notEqual(http.IncomingMessage.prototype.emit, inherited[0]);
    assert.notEqual(http.ServerResponse.prototype.emit, inherited[1]);
    // Another instrumentation wraps over ours: at uninstall our layer stays below theirs and passes through.
    const ours = http.IncomingMessage.prototype.emit;
    let theirs = 0;
    http.IncomingMessage.prototype.emit = function (this: http.IncomingMessage, ...args: any[]) {
      theirs++;
      return Reflect.apply(ours, this, args);
    } as typeof ours;
    uninstallAllPatches();
    assert.equal(Object.getOwnPropertyDescriptor(http.ServerResponse.prototype, 'emit'), undefined);
    assert.equal(http.ServerResponse.prototype.emit, inherited[1]);
    const seen: Record<string, unknown> = {};
    const server = await startServer((req, res) => {
      req.on('end', () => {
        seen.end = currentSpan();
        res.end('ok');
      });
      req.resume();
    });
    try {
      assert.equal(await post(`${server.url}/x`, 'b', seen), 'ok');
      assert.ok(theirs > 0, 'their wrapper still runs');
      assert.equal(seen.end, undefined);
      assert.deepEqual(tracer.started, []);
    } finally {
      delete (http.IncomingMessage.prototype as { emit?: unknown }).emit;
      await server.close();
    }
    assert.equal(http.IncomingMessage.prototype.emit, inherited[0]);
  });
});

describe('http server hook: a request is judged by itself', () => {
  const tracer = new RecordingTracer();
  afterEach(async () => {
    await tracer.settle();
    uninstallAllPatches();
    tracer.reset();
  });
  const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  /** Runs `fn` inside a span of the app's (start-up work), finished after. */
  function startup(fn: () => void): void {
    const span = tracer.startSpan('startup');
    withSpan(span, fn);
    span.finish();
  }

  /** `server` listening on 127.0.0.1 (inside `around`, the context listen() runs in): its URL. */
  async function listenIn(server: http.Server, around: (fn: () => void) => void = (fn) => fn()): Promise<string> {
    around(() => server.listen(0, '127.0.0.1'));
    await once(server, 'listening');
    return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  for (const [name, around] of [
    ['suppressTracing', (fn: () => void) => suppressTracing(fn)],
    ['a span of the app', (fn: () => void) => startup(fn)],
  ] as const) {
    it(`a server whose listen() ran inside ${name}: each request gets its span from its own headers, and its handler makes spans`, async () => {
      installPatches(['httpServer', 'http'], { tracer });
      const back = await startServer();
      const seen: unknown[] = [];
      const server = http.createServer((_req, res) => {
        seen.push(currentSpan());
        http.get(`${back.url}/back`, (r) => readBody(r).then(() => res.end('ok')));
      });
      const url = await listenIn(server, around);
      try {
        assert.equal((await get(`${url}/a`, { traceparent: parent })).status, 200);
        await tracer.waitFor(name === 'suppressTracing' ? 2 : 3);
        await tracer.settle();
        const [serverSpan] = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${url}/a`);
        assert.ok(serverSpan, 'the request has its server span');
        assert.equal(serverSpan.traceId, '0af7651916cd43dd8448eb211c80319c');
        assert.equal(serverSpan.parentId, 'b7ad6b7169203331');
        assert.equal(seen[0], serverSpan);
        const [client] = tracer.ofKind('client');
        assert.equal(client.parentId, serverSpan.id, 'the handler is not suppressed');
      } finally {
        server.close();
        await back.close();
      }
    });
  }

  it('an ignored request of such a server runs outside the context listen() ran in', async () => {
    installPatches(['httpServer'], { tracer, hooks: { httpServer: { ignoreIncoming: '/health' } } });
    let seen: unknown = 'not run';
    const server = http.createServer((_req, res) => {
      seen = currentSpan();
      res.end('ok');
    });
    const url = await listenIn(server, startup);
    try {
      await get(`${url}/health`);
      assert.equal(seen, undefined);
    } finally {
      server.close();
    }
  });

  it('a handler that wraps its own work in suppressTracing: the request keeps its span, the work in it makes none', async () => {
    installPatches(['httpServer', 'http'], { tracer });
    const back = await startServer();
    const server = http.createServer((_req, res) => {
      suppressTracing(() => http.get(`${back.url}/quiet`, (r) => readBody(r).then(() => res.end('ok'))));
    });
    const url = await listenIn(server);
    try {
      await get(`${url}/s`, { traceparent: parent });
      await tracer.waitFor(3);
      await tracer.settle();
      const [span] = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${url}/s`);
      assert.equal(span.traceId, '0af7651916cd43dd8448eb211c80319c', 'the request keeps its span');
      assert.deepEqual(tracer.ofKind('client').map((s) => s.tags['http.url']), [`${url}/s`], 'no span of the suppressed call');
      // The back server's request is judged by itself too: a root, as it would be in its own process.
      const [quiet] = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${back.url}/quiet`);
      assert.equal(quiet.parentId, undefined);
      assert.equal(back.received[0].headers.traceparent, undefined);
    } finally {
      server.close();
      await back.close();
    }
  });

  /** A PUT with `expect` sent to `url`: the body only once the server said 100 Continue (or at once for another expectation). */
  function put(url: string, expect: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'PUT', headers: { traceparent: parent, expect } }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject));
      req.on('error', reject);
      if (expect === '100-continue') req.on('continue', () => req.end('data'));
      else req.end('data');
    });
  }

  it("a request delivered through 'checkContinue' (Expect: 100-continue) gets its span from its headers, active in the handler; one handed on to 'request' keeps it", async () => {
    installPatches(['httpServer'], { tracer });
    const seen: unknown[] = [];
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      seen.push(currentSpan());
      req.resume();
      req.on('end', () => res.end('stored'));
    };
    const server = http.createServer(handler);
    server.on('checkContinue', (req, res) => {
      seen.push(currentSpan());
      if (req.url === '/dispatch') {
        res.writeContinue();
        server.emit('request', req, res);
        return;
      }
      res.writeContinue();
      handler(req, res);
    });
    const url = await listenIn(server);
    try {
      assert.deepEqual(await put(`${url}/upload`, '100-continue'), { status: 200, body: 'stored' });
      assert.deepEqual(await put(`${url}/dispatch`, '100-continue'), { status: 200, body: 'stored' });
      const spans = await tracer.waitFor(2);
      await tracer.settle();
      assert.equal(tracer.finished.length, 2);
      for (const span of spans) {
        assert.equal(span.operationName, 'HTTP PUT');
        assert.equal(span.traceId, '0af7651916cd43dd8448eb211c80319c');
        assert.equal(span.tags['http.status_code'], 200);
      }
      assert.deepEqual(seen, [spans[0], spans[0], spans[1], spans[1]]);
    } finally {
      server.close();
    }
  });

  it("a request delivered through 'checkExpectation' (another Expect) gets its span too", async () => {
    installPatches(['httpServer'], { tracer });
    let seen: unknown;
    const server = http.createServer((_req, res) => res.end('not here'));
    server.on('checkExpectation', (_req, res) => {
      seen = currentSpan();
      res.writeHead(417);
      res.end();
    });
    const url = await listenIn(server);
    try {
      assert.equal((await put(`${url}/odd`, 'something-else')).status, 417);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(span.tags['http.status_code'], 417);
      assert.equal(seen, span);
    } finally {
      server.close();
    }
  });
});

describe('http server hook: the error a framework caught', () => {
  const tracer = new RecordingTracer();
  afterEach(async () => {
    await tracer.settle();
    uninstallAllPatches();
    tracer.reset();
  });

  /** An express 5 app whose `/fail` runs `handler`; its error handler answers 500 with the message it got. */
  async function expressServer(handler: () => Promise<unknown>): Promise<{ url: string; close: () => void }> {
    const express = require('express');
    const app = express();
    app.get('/fail', async () => {
      await handler();
    });
    app.use((err: Error, _req: unknown, res: http.ServerResponse, _next: unknown) => {
      res.statusCode = 500;
      res.end(err.message);
    });
    const server: http.Server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => server.close() };
  }

  it('a pg error the handler rethrew is logged on the server span as the pg span logged it (its echoed value left out)', async () => {
    installPatches(['httpServer', 'express', 'pg'], { tracer });
    const client = await connectedPgClient();
    const server = await expressServer(() => client.query('select $1::int as pin', ['my-secret-4711']));
    try {
      const { status, body } = await get(`${server.url}/fail`);
      assert.equal(status, 500);
      assert.match(body, /my-secret-4711/, 'the app gets the error unchanged');
      const spans = await tracer.waitFor(2);
      const query = spans.find((s) => s.operationName.startsWith('pg.query')) as RecordedSpan;
      const serverSpan = spans.find((s) => s.tags['span.kind'] === 'server') as RecordedSpan;
      assert.equal(query.parentId, serverSpan.id);
      assert.equal(serverSpan.tags.error, true);
      assert.doesNotMatch(loggedErrorText(serverSpan), /my-secret-4711/);
      assert.equal(serverSpan.errorLog()?.fields.message, query.errorLog()?.fields.message);
      assert.equal(serverSpan.errorLog()?.fields['error.object'], query.errorLog()?.fields['error.object'], 'the very copy the pg span logged');
    } finally {
      server.close();
      await client.end();
    }
  });

  it('a pg error the handler wrapped (its own error\'s `cause`, an AggregateError\'s) is logged there as the pg span logged it', async () => {
    installPatches(['httpServer', 'express', 'pg'], { tracer });
    const client = await connectedPgClient();
    await client.query('create temp table wrapped_users (email text unique)');
    await client.query("insert into wrapped_users values ('alice@example.com')");
    await tracer.settle();
    tracer.reset();
    const insert = (): Promise<unknown> => client.query('insert into wrapped_users values ($1)', ['alice@example.com']);
    const wrappers: Array<(err: unknown) => Error> = [
      (err) => new Error('could not create user', { cause: err }),
      (err) => new AggregateError([err], 'several failed', { cause: err }),
    ];
    const caught: Error[] = [];
    let wrap = wrappers[0];
    const server = await expressServer(() =>
      insert().catch((err: unknown) => {
        const wrapper = wrap(err);
        caught.push(wrapper);
        throw wrapper;
      }),
    );
    try {
      for (const w of wrappers) {
        wrap = w;
        const { status, body } = await get(`${server.url}/fail`);
        assert.equal(status, 500);
        assert.match(body, /could not create user|several failed/);
        const spans = await tracer.waitFor(2);
        const query = spans.find((s) => s.operationName.startsWith('pg.query')) as RecordedSpan;
        const serverSpan = spans.find((s) => s.tags['span.kind'] === 'server') as RecordedSpan;
        assert.equal(query.parentId, serverSpan.id);
        assert.equal(serverSpan.errorLog()?.fields.message, caught[caught.length - 1].message);
        const logged = serverSpan.errorLog()?.fields['error.object'] as Error & { cause: { detail: string } };
        assert.equal(logged.cause.detail, 'Key (email)=(?) already exists.');
        assert.equal((logged.cause as unknown as Error).message, (query.errorLog()?.fields['error.object'] as Error).message);
        assert.doesNotMatch(loggedErrorText(serverSpan), /alice/);
        await tracer.settle();
        tracer.reset();
      }
      assert.equal((caught[0].cause as { detail: string }).detail, 'Key (email)=(alice@example.com) already exists.', 'the app\'s errors are untouched');
      assert.equal((caught[1] as AggregateError).errors[0], caught[1].cause);
    } finally {
      server.close();
      await client.end();
    }
  });

  it('a MariaDB error two wrappers deep is logged there as the mysql2 span logged it', async () => {
    installPatches(['httpServer', 'express', 'mysql2'], { tracer });
    const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
    const connection = await mysql.createConnection(mysqlUrl());
    await connection.query('create temporary table wrapped_users (email varchar(100) unique)');
    await connection.query("insert into wrapped_users values ('alice@example.com')");
    await tracer.settle();
    tracer.reset();
    const server = await expressServer(() =>
      connection.query('insert into wrapped_users values (?)', ['alice@example.com']).catch((err: unknown) => {
        throw new Error('signup failed', { cause: new Error('could not create user', { cause: err }) });
      }),
    );
    try {
      const { status, body } = await get(`${server.url}/fail`);
      assert.equal(status, 500);
      assert.equal(body, 'signup failed');
      const spans = await tracer.waitFor(2);
      const query = spans.find((s) => s.operationName.startsWith('mysql.query')) as RecordedSpan;
      const serverSpan = spans.find((s) => s.tags['span.kind'] === 'server') as RecordedSpan;
      assert.equal(query.parentId, serverSpan.id);
      const logged = serverSpan.errorLog()?.fields['error.object'] as Error & { cause: Error & { cause: Error & { sqlMessage: string } } };
      assert.equal(logged.cause.message, 'could not create user');
      assert.equal(logged.cause.cause.sqlMessage, 'Duplicate entry ? for key ?');
      assert.doesNotMatch(loggedErrorText(serverSpan), /alice/);
    } finally {
      server.close();
      await connection.end();
    }
  });

  it('an error of the handler\'s own that quotes a pg error\'s texts has them as the pg span logged them there, under middleware spans too', async () => {
    installPatches(['httpServer', 'express', 'pg'], { tracer, hooks: { express: { middlewareSpans: true } } });
    const client = await connectedPgClient();
    await client.query('create temp table quoted_users (email text unique)');
    await client.query("insert into quoted_users values ('alice@example.com')");
    await tracer.settle();
    tracer.reset();
    const server = await expressServer(() =>
      client.query('insert into quoted_users values ($1)', ['alice@example.com']).catch((err: Error & { detail: string }) => {
        throw new Error(`could not create user: ${err.message} (${err.detail})`);
      }),
    );
    try {
      const { status, body } = await get(`${server.url}/fail`);
      assert.equal(status, 500);
      assert.match(body, /alice@example\.com/, 'the app gets its error unchanged');
      await tracer.settle();
      const query = tracer.finished.find((s) => s.operationName.startsWith('pg.query')) as RecordedSpan;
      const serverSpan = tracer.finished.find((s) => s.tags['span.kind'] === 'server') as RecordedSpan;
      assert.notEqual(query.parentId, serverSpan.id, 'under a middleware span');
      const message = 'could not create user: duplicate key value violates unique constraint ? (Key (email)=(?) already exists.)';
      assert.equal(serverSpan.errorLog()?.fields.message, message);
      assert.match(String(serverSpan.errorLog()?.fields.stack), new RegExp(`^Error: ${message.replace(/[()?]/g, '\\$&')}\n`));
      assert.doesNotMatch(loggedErrorText(serverSpan), /alice/);
    } finally {
      server.close();
      await client.end();
    }
  });

  it('URL credentials in the error are left out of the server span\'s message and stack', async () => {
    installPatches(['httpServer', 'express'], { tracer });
    const err = new Error('cannot reach amqp://admin:s3cret-pw@broker:5672/vhost');
    const server = await expressServer(() => Promise.reject(err));
    try {
      const { status, body } = await get(`${server.url}/fail`);
      assert.equal(status, 500);
      assert.equal(body, 'cannot reach amqp://admin:s3cret-pw@broker:5672/vhost', 'the app gets the error unchanged');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields.message, 'cannot reach amqp://broker:5672/vhost');
      assert.match(String(span.errorLog()?.fields.stack), /^Error: cannot reach amqp:\/\/broker:5672\/vhost/);
      assert.doesNotMatch(loggedErrorText(span), /s3cret-pw|admin:/);
      assert.equal(err.message, 'cannot reach amqp://admin:s3cret-pw@broker:5672/vhost');
    } finally {
      server.close();
    }
  });
});

describe('http client and server together', () => {
  const tracer = new RecordingTracer();
  let front: TestServer;
  let back: TestServer;
  before(async () => {
    installPatches(['http', 'httpServer'], { tracer });
    back = await startServer((req, res) => res.end(req.url));
    front = await startServer((req, res) => {
      const id = (req.url ?? '').split('/')[2];
      // A little async work first, so that requests interleave.
      setImmediate(() => {
        http.get(`${back.url}/b/${id}`, (r) => readBody(r).then((body) => res.end(body)));
      });
    });
  });
  after(async () => {
    uninstallAllPatches();
    await front.close();
    await back.close();
  });

  it('1,000 concurrent requests: every client span has its own request as parent', async function () {
    this.timeout(60000);
    const n = 1000;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const bodies = await Promise.all(Array.from({ length: n }, (_, i) => get(`${front.url}/a/${i}`, {}, agent)));
    agent.destroy();
    bodies.forEach((b, i) => assert.equal(b.body, `/b/${i}`));
    await tracer.waitFor(n * 4, 30000);
    await tracer.settle();
    const byId = new Map(tracer.finished.map((s) => [s.id, s]));
    const frontServer = new Map<string, RecordedSpan>();
    const clientToBack = new Map<string, RecordedSpan>();
    const backServer = new Map<string, RecordedSpan>();
    for (const s of tracer.finished) {
      const url: string = s.tags['http.url'];
      const id = url.split('/').pop() as string;
      if (s.tags['span.kind'] === 'server' && url.includes('/a/')) frontServer.set(id, s);
      if (s.tags['span.kind'] === 'server' && url.includes('/b/')) backServer.set(id, s);
      if (s.tags['span.kind'] === 'client' && url.includes('/b/')) clientToBack.set(id, s);
    }
    assert.equal(clientToBack.size, n);
    for (let i = 0; i < n; i++) {
      const fs = frontServer.get(String(i)) as RecordedSpan;
      const cs = clientToBack.get(String(i)) as RecordedSpan;
      const bs = backServer.get(String(i)) as RecordedSpan;
      assert.equal(cs.parentId, fs.id, `client span ${i} under its own request`);
      assert.equal(bs.parentId, cs.id, `back server span ${i} under the client span`);
      assert.equal(bs.traceId, byId.get(fs.id)?.traceId);
    }
  });
});
