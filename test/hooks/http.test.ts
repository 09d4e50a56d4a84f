import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import https from 'node:https';
import nock from 'nock';
import * as opentracing from 'opentracing';
import { currentSpan, installAllPatches, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer, ThrowingTracer } from '../helpers/tracer';
import { closedPort, readBody, startServer, TestServer, tlsCa } from '../helpers/servers';

// nock takes over http when imported: only this file's client suite runs with it (others measure the heap).
nock.restore();

const originals = { request: http.request, get: http.get, srequest: https.request, sget: https.get, emit: http.Server.prototype.emit };

function send(fn: () => http.ClientRequest): Promise<{ res: http.IncomingMessage; body: string; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = fn();
    req.on('response', (res) => readBody(res).then((body) => resolve({ res, body, req }), reject));
    req.on('error', reject);
  });
}

describe('http client hook', () => {
  const tracer = new RecordingTracer();
  let server: TestServer;
  let secure: TestServer;

  before(async () => {
    nock.activate();
    installPatches(['http'], { tracer });
    server = await startServer();
    secure = await startServer(undefined, true);
  });
  after(async () => {
    uninstallAllPatches();
    nock.restore();
    await server.close();
    await secure.close();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());

  const forms: Array<[string, (base: string, cb?: (res: http.IncomingMessage) => void) => http.ClientRequest]> = [
    ['request(string)', (b) => { const r = http.request(`${b}/a?q=1`); r.end(); return r; }],
    ['request(string, options)', (b) => { const r = http.request(`${b}/a?q=1`, { method: 'POST', headers: { 'x-a': '1' } }); r.end('x'); return r; }],
    ['request(string, options, cb)', (b, cb) => { const r = http.request(`${b}/a?q=1`, { method: 'PUT' }, cb); r.end(); return r; }],
    ['request(string, cb)', (b, cb) => { const r = http.request(`${b}/a?q=1`, cb); r.end(); return r; }],
    ['request(URL)', (b) => { const r = http.request(new URL(`${b}/a?q=1`)); r.end(); return r; }],
    ['request(URL, options, cb)', (b, cb) => { const r = http.request(new URL(`${b}/a?q=1`), { headers: { 'x-b': '2' } }, cb); r.end(); return r; }],
    ['request(options)', (b) => { const u = new URL(b); const r = http.request({ host: u.hostname, port: u.port, path: '/a?q=1' }); r.end(); return r; }],
    ['request(options, cb)', (b, cb) => { const u = new URL(b); const r = http.request({ hostname: u.hostname, port: Number(u.port), path: '/a?q=1', method: 'DELETE' }, cb); r.end(); return r; }],
    ['get(string)', (b) => http.get(`${b}/a?q=1`)],
    ['get(string, cb)', (b, cb) => http.get(`${b}/a?q=1`, cb)],
    ['get(string, options, cb)', (b, cb) => http.get(`${b}/a?q=1`, { headers: { 'x-c': '3' } }, cb)],
    ['get(URL, cb)', (b, cb) => http.get(new URL(`${b}/a?q=1`), cb)],
    ['get(options, cb)', (b, cb) => { const u = new URL(b); return http.get({ host: u.hostname, port: u.port, path: '/a?q=1' }, cb); }],
  ];

  for (const [name, call] of forms) {
    it(`traces ${name}: child span, injected header, tags`, async () => {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      let inCallback: unknown;
      const { res, body } = await withSpan(parent, () => send(() => call(server.url, () => { inCallback = currentSpan(); })));
      parent.finish();
      await tracer.waitFor(2);
      assert.equal(res.statusCode, 200);
      const [client] = tracer.byName(/^HTTP /);
      assert.ok(client, 'client span recorded');
      assert.equal(client.parentId, parent.id);
      assert.equal(client.traceId, parent.traceId);
      assert.equal(client.tags['span.kind'], 'client');
      assert.equal(client.tags.component, 'http');
      assert.equal(client.tags['http.url'], `${server.url}/a`);
      assert.equal(client.tags['http.status_code'], 200);
      assert.equal(client.tags['peer.hostname'], '127.0.0.1');
      assert.equal(client.tags['peer.port'], server.port);
      assert.equal(client.operationName, `HTTP ${client.tags['http.method']}`);
      const received = server.received[server.received.length - 1];
      assert.equal(received.headers.traceparent, `00-${client.traceId}-${client.id}-01`);
      assert.equal(JSON.parse(body).traceparent, received.headers.traceparent);
      if (inCallback !== undefined) assert.equal(inCallback, parent, 'response callback runs in the caller context');
    });
  }

  it('traces https.request and https.get', async () => {
    await send(() => { const r = https.request(`${secure.url}/s`, { ca: tlsCa }); r.end(); return r; });
    await send(() => https.get(`${secure.url}/g`, { ca: tlsCa }));
    await tracer.waitFor(2);
    const spans = tracer.byName('HTTP GET');
    assert.deepEqual(spans.map((s) => s.tags['http.url']).sort(), [`${secure.url}/g`, `${secure.url}/s`]);
    assert.ok(secure.received.every((r) => typeof r.headers.traceparent === 'string'));
  });

  it('makes a root span when there is no active span, and none with requireParent', async () => {
    await send(() => http.get(`${server.url}/root`));
    await tracer.waitFor(1);
    assert.equal(tracer.finished[0].parentId, undefined);
    uninstallAllPatches();
    installPatches(['http'], { tracer, requireParent: true });
    try {
      tracer.reset();
      await send(() => http.get(`${server.url}/none`));
      assert.equal(tracer.started.length, 0);
      assert.equal(server.received[server.received.length - 1].headers.traceparent, undefined);
    } finally {
      uninstallAllPatches();
      installPatches(['http'], { tracer });
    }
  });

  it('removes credentials and the query string from http.url; keeps the query when asked', async () => {
    const u = new URL(server.url);
    await send(() => http.get(`http://user:secret@127.0.0.1:${u.port}/p?token=abc`));
    const [span] = await tracer.waitFor(1);
    assert.equal(span.tags['http.url'], `${server.url}/p`);
    assert.ok(!JSON.stringify(span.tags).includes('secret'));
    uninstallAllPatches();
    installPatches(['http'], { tracer, captureQueryString: true });
    try {
      tracer.reset();
      await send(() => http.get(`http://user:secret@127.0.0.1:${u.port}/p?x=1`));
      await tracer.waitFor(1);
      assert.equal(tracer.finished[0].tags['http.url'], `${server.url}/p?x=1`);
      assert.ok(!JSON.stringify(tracer.finished[0].tags).includes('secret'));
    } finally {
      uninstallAllPatches();
      installPatches(['http'], { tracer });
    }
  });

  it('does not mutate the caller options or headers (frozen ones work)', async () => {
    const u = new URL(server.url);
    const headers = Object.freeze({ 'x-user': 'yes' });
    const options = Object.freeze({ host: u.hostname, port: u.port, path: '/frozen', headers });
    const before = JSON.stringify(options);
    await send(() => http.get(options));
    assert.equal(JSON.stringify(options), before);
    assert.equal(server.received[server.received.length - 1].headers['x-user'], 'yes');
    assert.ok(server.received[server.received.length - 1].headers.traceparent);
  });

  it("keeps a trace header the caller set, and adds no tracestate of the tracer's beside it (baggage is its own)", async () => {
    const own = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    tracer.injectAlso = { tracestate: 'ours=1', baggage: 'k=v' };
    try {
      await send(() => http.get(`${server.url}/own`, { headers: { Traceparent: own } }));
      const { headers } = server.received[server.received.length - 1];
      assert.equal(headers.traceparent, own);
      assert.equal(headers.tracestate, undefined, "no tracestate of the tracer's beside the caller's traceparent");
      assert.equal(headers.baggage, 'k=v');
      await send(() => http.get(`${server.url}/not-own`));
      assert.equal(server.received[server.received.length - 1].headers.tracestate, 'ours=1');
    } finally {
      tracer.injectAlso = {};
    }
  });

  it('ignoreOutgoing skips the span; propagationBlocklist keeps the span but sends no header', async () => {
    uninstallAllPatches();
    installPatches(['http'], { tracer, ignoreOutgoing: [/\/health$/], propagationBlocklist: ['127.0.0.1'] });
    try {
      await send(() => http.get(`${server.url}/health`));
      assert.equal(tracer.started.length, 0);
      await send(() => http.get(`${server.url}/blocked`));
      await tracer.waitFor(1);
      assert.equal(server.received[server.received.length - 1].headers.traceparent, undefined);
    } finally {
      uninstallAllPatches();
      installPatches(['http'], { tracer });
    }
  });

  it('ECONNREFUSED: error span, and the same error reaches the caller', async () => {
    const port = await closedPort();
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => http.get(`http://127.0.0.1:${port}/`).on('error', resolve));
    assert.equal(err.code, 'ECONNREFUSED');
    const [span] = await tracer.waitFor(1);
    assert.equal(span.tags.error, true);
    const log = span.errorLog();
    assert.ok(log);
    assert.equal(log.fields['error.object'], err);
    assert.equal(log.fields.message, err.message);
    assert.equal(log.fields.stack, err.stack);
  });

  it('timeout: the span finishes with error and a timeout event', async () => {
    const hang = await startServer(() => { /* never answers */ });
    try {
      const err = await new Promise<Error>((resolve) => {
        const req = http.get(`${hang.url}/slow`);
        req.setTimeout(50, () => req.destroy(new Error('client timeout')));
        req.on('error', resolve);
      });
      assert.equal(err.message, 'client timeout');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags.error, true);
      assert.ok(span.logs.some((l) => l.fields.event === 'timeout'));
      assert.equal(span.errorLog()?.fields['error.object'], err);
    } finally {
      await hang.close();
    }
  });

  it('abort: destroy() before the response finishes the span with error', async () => {
    const hang = await startServer(() => { /* never answers */ });
    try {
      const req = http.get(`${hang.url}/abort`);
      req.on('error', () => {});
      setTimeout(() => req.destroy(), 20);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags.error, true);
    } finally {
      await hang.close();
    }
  });

  it("destroy() with an app's error whose name getter throws: the app's 'close' runs, the span finishes once with error (the read threw out of emit)", async () => {
    let arrived!: () => void;
    const got = new Promise<void>((resolve) => (arrived = resolve));
    const hang = await startServer(() => arrived());
    try {
      const odd = { message: 'odd', get name(): string { throw new Error('name getter throws'); } };
      const req = http.get(`${hang.url}/odd`);
      const events: string[] = [];
      req.on('error', (err) => events.push(err === (odd as unknown) ? 'error odd' : `error ${err.message}`));
      const closed = new Promise<void>((resolve) => req.on('close', () => resolve(void events.push('close'))));
      await got;
      req.destroy(odd as unknown as Error);
      await closed;
      assert.deepEqual(events, ['error odd', 'close']);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.finishCount, 1);
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields.message, 'odd');
    } finally {
      await hang.close();
    }
  });

  it('socket hang-up before the response is an error', async () => {
    const rude = await startServer((req) => req.socket.destroy());
    try {
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => http.get(`${rude.url}/x`).on('error', resolve));
      assert.equal(err.code, 'ECONNRESET');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags.error, true);
    } finally {
      await rude.close();
    }
  });

  it('5xx is an error; 4xx is not', async () => {
    await send(() => http.get(`${server.url}/status/503`));
    await send(() => http.get(`${server.url}/status/404`));
    const [s503, s404] = await tracer.waitFor(2);
    assert.equal(s503.tags['http.status_code'], 503);
    assert.equal(s503.tags.error, true);
    assert.equal(s404.tags['http.status_code'], 404);
    assert.notEqual(s404.tags.error, true);
  });

  it('finishes the span when the body is never read (socket close)', async () => {
    const closing = await startServer((_req, res) => { res.setHeader('connection', 'close'); res.end('x'.repeat(1000)); });
    try {
      await new Promise<void>((resolve) => http.get(`${closing.url}/unread`, () => resolve()));
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags['http.status_code'], 200);
    } finally {
      await closing.close();
    }
  });

  it('traces a remote host through nock, header included', async () => {
    let seen: string | undefined;
    const scope = nock('http://api.remote.example')
      .get('/v1/items')
      .query({ page: '2' })
      .reply(function () {
        seen = this.req.headers.traceparent as string;
        return [200, 'ok'];
      });
    try {
      const { body } = await send(() => http.get('http://api.remote.example/v1/items?page=2'));
      assert.equal(body, 'ok');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags['http.url'], 'http://api.remote.example/v1/items');
      assert.equal(span.tags['peer.hostname'], 'api.remote.example');
      assert.equal(span.tags['peer.port'], 80);
      assert.equal(seen, `00-${span.traceId}-${span.id}-01`);
      assert.ok(scope.isDone());
    } finally {
      nock.cleanAll();
    }
  });

  describe('headers given as an array (defect 7): injected before Node writes them, into a copy', () => {
    type Shape = 'object' | 'flat array' | 'pairs';
    const own = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    /** The caller's headers in `shape`, frozen (a header block Node writes out at once for arrays). */
    function headersOf(shape: Shape, base: string, extra: Record<string, string>): any {
      const entries = Object.entries({ host: new URL(base).host, 'x-a': '1', ...extra });
      if (shape === 'object') return Object.freeze(Object.fromEntries(entries));
      if (shape === 'flat array') return Object.freeze(entries.flat());
      return Object.freeze(entries.map((e) => Object.freeze(e)));
    }
    const forms: Array<[string, (base: string, headers: any, cb: (res: http.IncomingMessage) => void) => http.ClientRequest]> = [
      ['http.request(string, options)', (b, headers, cb) => http.request(`${b}/arr`, { headers }).on('response', cb).end()],
      ['http.request(URL, options)', (b, headers, cb) => http.request(new URL(`${b}/arr`), { headers }).on('response', cb).end()],
      ['http.request(options)', (b, headers, cb) => { const u = new URL(b); return http.request(Object.freeze({ host: u.hostname, port: u.port, path: '/arr', headers })).on('response', cb).end(); }],
      ['http.request(string, options, cb)', (b, headers, cb) => http.request(`${b}/arr`, { headers }, cb).end()],
      ['http.request(URL, options, cb)', (b, headers, cb) => http.request(new URL(`${b}/arr`), { headers }, cb).end()],
      ['http.get(string, options, cb)', (b, headers, cb) => http.get(`${b}/arr`, { headers }, cb)],
      ['http.get(URL, options, cb)', (b, headers, cb) => http.get(new URL(`${b}/arr`), { headers }, cb)],
      ['http.get(options, cb)', (b, headers, cb) => { const u = new URL(b); return http.get({ host: u.hostname, port: u.port, path: '/arr', headers }, cb); }],
      ['https.request(string, options, cb)', (b, headers, cb) => https.request(`${b}/arr`, { headers, ca: tlsCa }, cb).end()],
      ['https.get(options, cb)', (b, headers, cb) => { const u = new URL(b); return https.get({ host: u.hostname, port: u.port, path: '/arr', headers, ca: tlsCa }, cb); }],
    ];
    for (const [name, call] of forms) {
      for (const shape of ['object', 'flat array', 'pairs'] as const) {
        for (const callerSet of [false, true]) {
          it(`${name}, headers as ${shape}${callerSet ? ', trace header set by the caller' : ''}: exactly one trace header`, async () => {
            const target = name.startsWith('https') ? secure : server;
            const headers = headersOf(shape, target.url, callerSet ? { traceparent: own } : {});
            const snapshot = JSON.stringify(headers);
            const { body } = await send(() => call(target.url, headers, () => undefined));
            const echoed = JSON.parse(body);
            assert.equal(echoed.copies, 1, 'one trace header on the wire');
            const [span] = await tracer.waitFor(1);
            assert.equal(echoed.traceparent, callerSet ? own : `00-${span.traceId}-${span.id}-01`);
            assert.equal(JSON.stringify(headers), snapshot, "the caller's headers are untouched");
            assert.equal(target.received[target.received.length - 1].headers['x-a'], '1');
          });
        }
      }
    }

    it('reads each element of an array of headers once, as Node does untraced', async () => {
      const count = async (): Promise<Map<PropertyKey, number>> => {
        const reads = new Map<PropertyKey, number>();
        const raw = ['host', new URL(server.url).host, 'x-a', '1'];
        const headers = new Proxy(raw, { get: (t, k, r) => (reads.set(k, (reads.get(k) ?? 0) + 1), Reflect.get(t, k, r)) });
        await send(() => http.get(`${server.url}/reads`, { headers: headers as unknown as string[] }));
        return reads;
      };
      uninstallAllPatches();
      const untraced = await count();
      installPatches(['http'], { tracer });
      const traced = await count();
      for (const index of ['0', '1', '2', '3']) assert.ok((traced.get(index) ?? 0) <= (untraced.get(index) ?? 0), `element ${index}: ${traced.get(index)} reads traced, ${untraced.get(index)} untraced`);
      await tracer.waitFor(1);
    });
  });

  it('a tracer that throws in startSpan/inject costs only the span', async () => {
    for (const which of [['startSpan'], ['inject']] as const) {
      uninstallAllPatches();
      const broken = new ThrowingTracer([...which]);
      installPatches(['http'], { tracer: broken });
      try {
        const { res, body } = await send(() => http.get(`${server.url}/broken?x=1`));
        assert.equal(res.statusCode, 200);
        assert.equal(JSON.parse(body).url, '/broken?x=1');
        assert.ok(broken.calls > 0);
      } finally {
        uninstallAllPatches();
      }
    }
    installPatches(['http'], { tracer });
  });

  it('uses the global tracer when none is configured, even one set after install', async () => {
    uninstallAllPatches();
    installPatches(['http']);
    const late = new RecordingTracer();
    opentracing.initGlobalTracer(late);
    try {
      await send(() => http.get(`${server.url}/global`));
      await late.waitFor(1);
      assert.equal(late.finished[0].tags['http.url'], `${server.url}/global`);
    } finally {
      opentracing.initGlobalTracer(new opentracing.Tracer());
      uninstallAllPatches();
      installPatches(['http'], { tracer });
    }
  });
});

// nock's interceptor rejects such a host itself: this suite runs on plain Node.
// Not under nock: its interceptor takes no CONNECT path (host:port).
describe('http client hook: upgrade and CONNECT', () => {
  const tracer = new RecordingTracer();
  before(() => installPatches(['http'], { tracer }));
  after(() => uninstallAllPatches());

  it("an upgrade (101) and a CONNECT's answer: the call's status, no error; the span ends when the socket is handed over", async () => {
    const raw = http.createServer();
    raw.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n'));
    raw.on('connect', (_req, socket) => socket.end('HTTP/1.1 200 Connection Established\r\n\r\n'));
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const { port } = raw.address() as AddressInfo;
    try {
      const handedOver = (req: http.ClientRequest, event: 'upgrade' | 'connect'): Promise<number | undefined> =>
        new Promise((resolve, reject) => {
          req.on(event, (res: http.IncomingMessage, socket: import('node:net').Socket) => {
            socket.destroy();
            resolve(res.statusCode);
          });
          req.on('error', reject);
          req.end();
        });
      const upgraded = await handedOver(http.request({ host: '127.0.0.1', port, path: '/ws', headers: { Connection: 'Upgrade', Upgrade: 'test' } }), 'upgrade');
      const connected = await handedOver(http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: 'example.com:443' }), 'connect');
      assert.deepEqual([upgraded, connected], [101, 200]);
      const spans = await tracer.waitFor(2);
      // A CONNECT's URL is the tunnel's end (its authority-form target), its peer the server it went to.
      assert.deepEqual(spans.map((s) => [s.tags['http.method'], s.tags['http.url'], s.tags['peer.port'], s.tags['http.status_code'], s.tags.error, s.logs.length]), [
        ['GET', `http://127.0.0.1:${port}/ws`, port, 101, undefined, 0],
        ['CONNECT', 'http://example.com:443', port, 200, undefined, 0],
      ]);
    } finally {
      await new Promise((resolve) => raw.close(resolve));
    }
  });
});

describe('http client hook: secrets in error messages', () => {
  const tracer = new RecordingTracer();
  before(() => installPatches(['http'], { tracer }));
  after(() => uninstallAllPatches());

  it('an error whose message holds the credentials of the URL: none reach a tag or log (defect 8), the app error untouched', async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) =>
      http.get({ host: 'user:s3cret@nohost.invalid', path: '/x?token=abc' }).on('error', resolve),
    );
    assert.match(err.message, /user:s3cret@nohost\.invalid/, 'Node puts the host, credentials and all, in its message');
    const [span] = await tracer.waitFor(1);
    assert.equal(span.tags.error, true);
    assert.equal(span.tags['http.url'], 'http://nohost.invalid/x');
    assert.equal(span.tags['peer.hostname'], 'nohost.invalid');
    const log = span.errorLog();
    // A copy: the error's own message holds the credentials.
    const logged = log?.fields['error.object'] as Error & Record<string, unknown>;
    assert.notEqual(logged, err);
    assert.equal(Object.getPrototypeOf(logged), Object.getPrototypeOf(err));
    assert.equal(logged.code, (err as NodeJS.ErrnoException).code);
    assert.doesNotMatch(JSON.stringify(Object.fromEntries(Object.getOwnPropertyNames(logged).map((n) => [n, logged[n]]))), /s3cret/);
    assert.equal(log?.fields.message, err.message.replace('user:s3cret@', ''));
    assert.ok(!JSON.stringify(span.tags).includes('s3cret') && !JSON.stringify(span.tags).includes('token'));
    for (const field of ['message', 'stack']) {
      assert.ok(!String(log?.fields[field]).includes('s3cret'), `${field}: ${log?.fields[field]}`);
      assert.ok(!String(log?.fields[field]).includes('token=abc'), `${field}: ${log?.fields[field]}`);
    }
  });

});

describe('registry', () => {
  const tracer = new RecordingTracer();
  let server: TestServer;
  before(async () => { server = await startServer(); });
  after(async () => { uninstallAllPatches(); await server.close(); });
  afterEach(() => { uninstallAllPatches(); tracer.reset(); });

  it('uninstall restores the original functions (identity, name, length)', () => {
    installAllPatches({ tracer });
    assert.notEqual(http.request, originals.request);
    assert.equal(http.request.name, originals.request.name);
    assert.equal(http.request.length, originals.request.length);
    assert.equal(http.get.length, originals.get.length);
    uninstallAllPatches();
    assert.equal(http.request, originals.request);
    assert.equal(http.get, originals.get);
    assert.equal(https.request, originals.srequest);
    assert.equal(https.get, originals.sget);
    assert.equal(http.Server.prototype.emit, originals.emit);
  });

  it('installing twice patches once: one span per call', async () => {
    installAllPatches({ tracer });
    installAllPatches({ tracer });
    installPatches(['http'], { tracer });
    await send(() => http.get(`${server.url}/twice`));
    await tracer.waitFor(2); // client + server span
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(tracer.byName('HTTP GET').filter((s) => s.tags['span.kind'] === 'client').length, 1);
  });

  for (const order of ['shim first', 'hooks first, then uninstall and reinstall']) {
    it(`a get replaced by one that calls the exported request (agent-base 4), ${order}: one span, one trace header, the response as untraced`, async () => {
      if (order !== 'shim first') installPatches(['http'], { tracer });
      const shimmed = http.get;
      // agent-base 4's patch-core does this to https.get (pulled in by https-proxy-agent 2/3, proxy-agent 3).
      http.get = function get(this: unknown, ...args: any[]) {
        const req = (http.request as (...a: any[]) => http.ClientRequest)(...args);
        req.end();
        return req;
      } as typeof http.get;
      try {
        if (order !== 'shim first') uninstallAllPatches();
        installPatches(['http'], { tracer });
        const parent = tracer.startSpan('parent') as RecordedSpan;
        const { res, body } = await withSpan(parent, () => send(() => http.get(`${server.url}/shimmed`)));
        parent.finish();
        assert.equal(res.statusCode, 200);
        const echoed = JSON.parse(body);
        assert.equal(echoed.url, '/shimmed');
        await tracer.settle();
        const clients = tracer.finished.filter((s) => s.tags['span.kind'] === 'client');
        assert.equal(clients.length, 1, 'one client span');
        assert.equal(clients[0].parentId, parent.id);
        assert.equal(echoed.copies, 1, 'one trace header');
        assert.ok(String(echoed.traceparent).includes(clients[0].id), 'the header names the client span');
      } finally {
        uninstallAllPatches();
        http.get = shimmed;
      }
    });
  }

  it('node:http and http are one module, patched once', async () => {
    installPatches(['http'], { tracer });
    const prefixed = require('node:http') as typeof http;
    assert.equal(prefixed.request, http.request);
    await send(() => prefixed.get(`${server.url}/prefixed`));
    await tracer.waitFor(1);
    assert.equal(tracer.finished.length, 1);
  });

  it('an unknown hook name in config throws a TypeError listing the valid names', () => {
    assert.throws(() => installAllPatches({ tracer, hooks: { nope: true } as never }), (err: Error) => err instanceof TypeError && /http, httpServer/.test(err.message));
    assert.throws(() => installPatches(['nope' as never]), TypeError);
  });
});
