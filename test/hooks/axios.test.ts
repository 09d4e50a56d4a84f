import assert from 'node:assert/strict';
import http from 'node:http';
import { Readable } from 'node:stream';
import axios from 'axios';
import axiosRetry from 'axios-retry';
import nock from 'nock';
import { installPatches, uninstallAllPatches, withSpan } from '../../src';
import { storage } from '../../src/context';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { closedPort, echoHandler, startServer, TestServer } from '../helpers/servers';

const axios0 = require('axios0');

// nock takes over http when imported: only this suite runs with it (others measure the heap).
nock.restore();

const hooks: Array<'axios' | 'http' | 'fetch' | 'httpServer'> = ['axios', 'http', 'fetch', 'httpServer'];
const config = { aliases: { axios0: 'axios' } };

describe('axios hook', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let server: TestServer;
  const clients = () => tracer.finished.filter((s) => s.tags['span.kind'] === 'client');
  const servers = () => tracer.finished.filter((s) => s.tags['span.kind'] === 'server');

  before(async () => {
    nock.activate();
    installPatches(hooks, { tracer, ...config });
    server = await startServer((req, res) => {
      const hops = /^\/redirect\/(\d+)/.exec(req.url ?? '');
      if (hops) {
        res.writeHead(302, { location: Number(hops[1]) > 1 ? `/redirect/${Number(hops[1]) - 1}` : '/get?final=1' });
        return void res.end();
      }
      echoHandler(req, res);
    });
  });
  after(async () => {
    uninstallAllPatches();
    nock.restore();
    await server.close();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());

  async function oneCall(run: () => Promise<any>): Promise<{ span: RecordedSpan; data: any }> {
    const res = await run();
    await tracer.waitFor(2); // client + server span
    await new Promise((r) => setTimeout(r, 20));
    const c = clients();
    assert.equal(c.length, 1, `one client span, got ${c.map((s) => `${s.tags.component}`)}`);
    const [srv] = servers();
    assert.equal(srv.parentId, c[0].id, 'the downstream server span is a child of the one client span');
    assert.equal(res.data.copies, 1, 'one trace header');
    assert.equal(res.data.traceparent, `00-${c[0].traceId}-${c[0].id}-01`);
    return { span: c[0], data: res.data };
  }

  const forms: Array<[string, (base: string) => Promise<any>]> = [
    ['axios.get', (b) => axios.get(`${b}/get?q=1`)],
    ['axios(config)', (b) => axios({ url: `${b}/get?q=1`, method: 'get' })],
    ['axios.request', (b) => axios.request({ url: `${b}/get?q=1` })],
    ['axios.post', (b) => axios.post(`${b}/get?q=1`, { a: 1 })],
    ['axios.create() instance with baseURL and params', (b) => axios.create({ baseURL: b }).get('/get', { params: { q: 1 } })],
    ['a nested axios.create() instance', (b) => (axios.create({ baseURL: b }) as any).create({ baseURL: b }).get('/get?q=1')],
    ['the fetch adapter', (b) => axios.get(`${b}/get?q=1`, { adapter: 'fetch' })],
    ['axios 0.x', (b) => axios0.get(`${b}/get?q=1`)],
  ];
  for (const [name, run] of forms) {
    it(`${name}: one client span, child of the caller, header injected`, async () => {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const { span } = await withSpan(parent, () => oneCall(() => run(server.url)));
      parent.finish();
      assert.equal(span.parentId, parent.id);
      assert.equal(span.tags.component, 'axios');
      assert.equal(span.tags['http.url'], `${server.url}/get`);
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(span.tags['peer.hostname'], '127.0.0.1');
      assert.equal(span.tags['peer.port'], server.port);
      assert.match(span.operationName, /^HTTP (GET|POST)$/);
    });
  }

  it('sees the final URL and headers after interceptors, credentials removed', async () => {
    const instance = axios.create({ baseURL: 'http://127.0.0.1:1' });
    instance.interceptors.request.use((cfg) => {
      cfg.baseURL = server.url.replace('http://', 'http://user:pw@');
      cfg.url = '/rewritten';
      cfg.headers.set('x-from-interceptor', 'yes');
      return cfg;
    });
    const { span } = await oneCall(() => instance.get('/original'));
    assert.equal(span.tags['http.url'], `${server.url}/rewritten`);
    assert.equal(server.received[server.received.length - 1].headers['x-from-interceptor'], 'yes');
    assert.ok(!JSON.stringify(span.tags).includes('pw'));
  });

  it("never mutates the user's config or the defaults", async () => {
    const userConfig = Object.freeze({ url: `${server.url}/cfg`, headers: Object.freeze({ 'x-user': '1' }) });
    const defaultsBefore = JSON.stringify(axios.defaults.headers);
    await oneCall(() => axios.request(userConfig as any));
    assert.deepEqual(userConfig, { url: `${server.url}/cfg`, headers: { 'x-user': '1' } });
    assert.equal(JSON.stringify(axios.defaults.headers), defaultsBefore);
    assert.equal((axios.defaults as any).adapter.toString(), ['xhr', 'http', 'fetch'].toString());
  });

  it("runs the app's paramsSerializer once per request, as axios does (the span's URL leaves out what it makes)", async () => {
    let serialized = 0;
    const paramsSerializer = { serialize: (params: Record<string, unknown>) => (serialized++, `q=${String(params.q)}`) };
    const { span, data } = await oneCall(() => axios.get(`${server.url}/get`, { params: { q: 1 }, paramsSerializer }));
    assert.equal(serialized, 1);
    assert.equal(data.url, '/get?q=1');
    assert.equal(span.tags['http.url'], `${server.url}/get`);
  });

  it('gives back in response.config and error.config the adapter the request had (the app\'s, or axios\'s default)', async () => {
    const own = (cfg: any) => axios.getAdapter('http')(cfg);
    const fromDefault = await axios.get(`${server.url}/get`);
    const fromOwn = await axios.get(`${server.url}/get`, { adapter: own });
    const named = await axios.get(`${server.url}/get`, { adapter: 'fetch' });
    const failed = await axios.get(`${server.url}/get`, { adapter: own, validateStatus: () => false }).catch((err) => err);
    await tracer.waitFor(8);
    assert.deepEqual(fromDefault.config.adapter, axios.defaults.adapter);
    assert.equal(fromOwn.config.adapter, own);
    assert.equal(named.config.adapter, 'fetch');
    assert.equal(failed.config.adapter, own);
  });

  it("keeps a trace header the user set", async () => {
    const own = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    const res = await axios.get(`${server.url}/own`, { headers: { traceparent: own } });
    assert.equal(res.data.traceparent, own);
    assert.equal(res.data.copies, 1);
  });

  it('nestedClientSpans: true keeps an axios span and an http span under it', async () => {
    uninstallAllPatches();
    installPatches(hooks, { tracer, ...config, nestedClientSpans: true });
    try {
      await axios.get(`${server.url}/nested`);
      await tracer.waitFor(3);
      const c = clients();
      assert.equal(c.length, 2);
      const outer = c.find((s) => s.tags.component === 'axios') as RecordedSpan;
      const inner = c.find((s) => s.tags.component === 'http') as RecordedSpan;
      assert.equal(inner.parentId, outer.id);
    } finally {
      uninstallAllPatches();
      installPatches(hooks, { tracer, ...config });
    }
  });

  it('4xx and 5xx rejections carry http.status_code and error', async () => {
    const e404 = await axios.get(`${server.url}/status/404`).catch((e) => e);
    const e503 = await axios.get(`${server.url}/status/503`).catch((e) => e);
    assert.equal(e404.response.status, 404);
    assert.equal(e503.response.status, 503);
    await tracer.waitFor(4);
    const [s404, s503] = clients();
    assert.equal(s404.tags['http.status_code'], 404);
    assert.equal(s503.tags['http.status_code'], 503);
    assert.equal(s404.tags.error, true);
    // A copy of axios's error without its config (credentials, headers), request and response.
    const logged = s503.errorLog()?.fields['error.object'] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(logged), Object.getPrototypeOf(e503));
    assert.equal(logged.message, e503.message);
    assert.equal(logged.code, e503.code);
    assert.equal(logged.config, undefined);
    assert.equal(logged.response, undefined);
  });

  it('timeout, AbortController, CancelToken and ECONNREFUSED finish the span with error and say which', async () => {
    // A server of its own: a request the client gave up on may still reach it afterwards (its bytes were
    // sent), and its server span start then. Closing it (connections too) is the event after which no
    // server span can start and every one started has ended.
    const slow = await startServer((_req, res) => void setTimeout(() => res.end('late'), 500));
    const timeout = await axios.get(`${slow.url}/slow`, { timeout: 50 }).catch((e) => e);
    const controller = new AbortController();
    const aborted = axios.get(`${slow.url}/slow`, { signal: controller.signal }).catch((e) => e);
    setTimeout(() => controller.abort(), 20);
    const source = axios.CancelToken.source();
    const cancelled = axios.get(`${slow.url}/slow`, { cancelToken: source.token }).catch((e) => e);
    setTimeout(() => source.cancel('stop'), 20);
    const refused = await axios.get(`http://127.0.0.1:${await closedPort()}/`).catch((e) => e);
    const [abortErr, cancelErr] = await Promise.all([aborted, cancelled]);
    assert.equal(timeout.code, 'ECONNABORTED');
    assert.ok(axios.isCancel(abortErr));
    assert.ok(axios.isCancel(cancelErr));
    assert.equal(refused.code, 'ECONNREFUSED');
    await slow.close();
    await tracer.settle();
    // The spans log copies of axios's errors (without their config): told apart by message.
    const byMessage = new Map(clients().map((s) => [s.errorLog()?.fields.message, s]));
    assert.equal(byMessage.get(timeout.message)?.errorLog()?.fields.event, 'timeout');
    assert.equal(byMessage.get(abortErr.message)?.errorLog()?.fields.event, 'cancel');
    assert.equal(byMessage.get(cancelErr.message)?.errorLog()?.fields.event, 'cancel');
    assert.equal(byMessage.get(refused.message)?.errorLog()?.fields.event, 'error');
    assert.ok(clients().every((s) => s.tags.error === true));
  });

  it('an adapter that returns no promise (defect 4): the app gets the error axios gives untraced; the span finishes once', async () => {
    const call = () => axios.get(`${server.url}/np`, { adapter: (() => ({ not: 'a promise' })) as any }).catch((e) => e);
    uninstallAllPatches();
    const untraced = await call();
    installPatches(hooks, { tracer, ...config });
    const traced = await call();
    assert.ok(untraced instanceof TypeError, String(untraced));
    assert.equal(Object.getPrototypeOf(traced), Object.getPrototypeOf(untraced));
    assert.equal(traced.message, untraced.message);
    await tracer.settle();
    const [span] = clients();
    assert.equal(clients().length, 1);
    assert.equal(span.finishCount, 1);
    assert.equal(span.tags.error, true);
  });

  it('a fresh adapter function per request (defect 6) keeps no memory: heap after GC over 20,000 calls', async function () {
    const gc = (globalThis as { gc?: () => void }).gc;
    assert.ok(gc !== undefined, 'run with --expose-gc (the mocha config does)');
    uninstallAllPatches();
    const counting = new RecordingTracer(false);
    installPatches(['axios'], { tracer: counting });
    try {
      const batch = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i += 50) {
          await Promise.all(
            Array.from({ length: 50 }, () =>
              axios.get(`${server.url}/mem`, { adapter: async (cfg) => ({ data: 'ok', status: 200, statusText: 'OK', headers: {}, config: cfg, request: {} }) }),
            ),
          );
        }
      };
      await batch(2000);
      gc();
      const before = process.memoryUsage().heapUsed;
      await batch(20000);
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.ok(counting.startedCount >= 22000, `spans made: ${counting.startedCount}`);
      assert.ok(grown < 2_000_000, `heap grew by ${grown} bytes over 20,000 calls`);
    } finally {
      uninstallAllPatches();
      installPatches(hooks, { tracer, ...config });
    }
  });

  // axios 1.x's http adapter runs without a context of its own: the hops follow-redirects sends later are tied to the call by their callback.
  const redirected: Array<[string, (url: string) => Promise<any>]> = [
    ['the http adapter (no context entered)', (url) => axios.get(url)],
    ['a stream body (run in a context)', (url) => axios.post(url, Readable.from(['body']))],
    ['axios 0.x', (url) => axios0.get(url)],
  ];
  for (const [name, run] of redirected) {
    it(`redirects, ${name}: one span for all the hops, each hop sent with it as parent`, async () => {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const before = server.received.length;
      const res = await withSpan(parent, () => run(`${server.url}/redirect/2`));
      parent.finish();
      assert.equal(res.status, 200);
      assert.equal(res.data.url, '/get?final=1');
      await tracer.waitFor(5); // the parent, 1 client span, 3 server spans
      const c = clients();
      assert.equal(c.length, 1, `one client span, got ${c.map((s) => `${s.tags.component} ${s.tags['http.url']}`)}`);
      assert.equal(c[0].tags.component, 'axios');
      assert.equal(c[0].parentId, parent.id);
      assert.equal(c[0].tags['http.url'], `${server.url}/redirect/2`);
      assert.equal(c[0].tags['http.status_code'], 200);
      const hops = server.received.slice(before);
      assert.deepEqual(hops.map((r) => r.url), ['/redirect/2', '/redirect/1', '/get?final=1']);
      for (const hop of hops) assert.equal(hop.headers.traceparent, `00-${c[0].traceId}-${c[0].id}-01`);
      assert.deepEqual(servers().map((s) => s.parentId), [c[0].id, c[0].id, c[0].id]);
    });
  }

  it("axios 1.x's http adapter runs in the caller's own context (none entered per call: no promise hooks switched on for it)", async () => {
    const seen: unknown[] = [];
    const agent = new http.Agent();
    const createConnection = agent.createConnection.bind(agent);
    agent.createConnection = (...args: any[]) => {
      seen.push(storage.getStore());
      return (createConnection as any)(...args);
    };
    const parent = tracer.startSpan('parent') as RecordedSpan;
    await storage.run({ span: parent }, async () => {
      const caller = storage.getStore();
      await axios.get(`${server.url}/own-context`, { httpAgent: agent });
      assert.deepEqual(seen, [caller]);
    });
    parent.finish();
    agent.destroy();
  });

  it('an http request sent right after an axios call, in the same tick, has its own span', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const [viaAxios, viaHttp] = await withSpan(parent, () => {
      const first = axios.get(`${server.url}/first`);
      const second = new Promise<string>((resolve, reject) =>
        http.get(`${server.url}/second`, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk)).on('end', () => resolve(body));
        }).on('error', reject),
      );
      return Promise.all([first, second]);
    });
    parent.finish();
    await tracer.waitFor(5); // the parent, 2 client spans, 2 server spans
    const c = clients();
    assert.deepEqual(c.map((s) => s.tags.component).sort(), ['axios', 'http']);
    for (const span of c) assert.equal(span.parentId, parent.id);
    const axiosSpan = c.find((s) => s.tags.component === 'axios') as RecordedSpan;
    const httpSpan = c.find((s) => s.tags.component === 'http') as RecordedSpan;
    assert.equal(viaAxios.data.traceparent, `00-${axiosSpan.traceId}-${axiosSpan.id}-01`);
    assert.equal(JSON.parse(viaHttp).traceparent, `00-${httpSpan.traceId}-${httpSpan.id}-01`);
  });

  it('axios-retry: one span per attempt, each attempt sends its own span as parent', async () => {
    let attempts = 0;
    const flaky = await startServer((req, res) => {
      attempts++;
      res.statusCode = attempts < 3 ? 503 : 200;
      res.end(String(req.headers.traceparent));
    });
    try {
      const client = axios.create();
      axiosRetry(client, { retries: 3, retryDelay: () => 0, retryCondition: (e) => e.response?.status === 503 });
      const res = await client.get(`${flaky.url}/flaky`);
      assert.equal(res.status, 200);
      await tracer.waitFor(3);
      const spans = clients();
      assert.equal(spans.length, 3);
      assert.deepEqual(spans.map((s) => s.tags['http.status_code']), [503, 503, 200]);
      const sent = flaky.received.map((r) => r.headers.traceparent);
      assert.deepEqual(sent, spans.map((s) => `00-${s.traceId}-${s.id}-01`));
    } finally {
      await flaky.close();
    }
  });

  it('a remote host through nock gets the header', async () => {
    let seen: unknown;
    nock('https://payments.example.com').post('/charge').query(true).reply(function () {
      seen = this.req.headers.traceparent;
      return [201, { ok: true }];
    });
    try {
      const res = await axios.post('https://payments.example.com/charge?card=secret', { amount: 1 });
      assert.equal(res.status, 201);
      await tracer.waitFor(1);
      const [span] = clients();
      assert.equal(span.tags['http.url'], 'https://payments.example.com/charge');
      assert.equal(span.tags['peer.port'], 443);
      assert.equal(seen, `00-${span.traceId}-${span.id}-01`);
    } finally {
      nock.cleanAll();
    }
  });

  it('500 concurrent calls from 500 traced server requests: the right parents', async () => {
    const front = await startServer((req, res) => {
      const id = (req.url ?? '/').slice(1);
      const call = Number(id) % 2 === 0 ? axios.get(`${server.url}/back/${id}`) : fetch(`${server.url}/back/${id}`).then((r) => r.json().then((data) => ({ data })));
      call.then((r: any) => res.end(r.data.url), (e: Error) => { res.statusCode = 500; res.end(e.message); });
    });
    try {
      const n = 500;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
      const bodies = await Promise.all(
        Array.from({ length: n }, (_, i) => new Promise<string>((resolve, reject) => http.get(`${front.url}/${i}`, { agent }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); }).on('error', reject))),
      );
      agent.destroy();
      bodies.forEach((b, i) => assert.equal(b, `/back/${i}`));
      await tracer.waitFor(n * 3, 20000);
      await tracer.settle(10000);
      const frontSpans = new Map(servers().filter((s) => !s.tags['http.url'].includes('/back/')).map((s) => [s.id, s]));
      const backSpans = servers().filter((s) => s.tags['http.url'].includes('/back/'));
      const clientSpans = new Map(clients().filter((s) => s.tags['http.url'].includes('/back/')).map((s) => [s.id, s]));
      assert.equal(clientSpans.size, n);
      for (const back of backSpans) {
        const client = clientSpans.get(back.parentId as string) as RecordedSpan;
        assert.ok(client, 'back server span under a client span');
        const frontSpan = frontSpans.get(client.parentId as string) as RecordedSpan;
        assert.ok(frontSpan, 'client span under a front server span');
        assert.equal(new URL(frontSpan.tags['http.url']).pathname.slice(1), back.tags['http.url'].split('/').pop());
        assert.equal(client.tags.component, Number(back.tags['http.url'].split('/').pop()) % 2 === 0 ? 'axios' : 'fetch');
      }
    } finally {
      await front.close();
    }
  });

  it('an instance made before an uninstall passes through meanwhile, then follows the next install with one interceptor', async () => {
    const instance = axios.create();
    const handlers = (): number => (instance.interceptors.request as any).handlers.filter(Boolean).length;
    const before = handlers();
    uninstallAllPatches();
    try {
      await instance.get(`${server.url}/gone`);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(tracer.started.length, 0, 'its interceptor passes through while uninstalled');
    } finally {
      installPatches(hooks, { tracer, ...config });
    }
    const { span } = await oneCall(() => instance.get(`${server.url}/back`));
    assert.equal(span.tags.component, 'axios');
    assert.equal(handlers(), before, 'no second interceptor on it');
  });

  it('uninstall restores: no interceptor left, create unwrapped, no span', async () => {
    const handlersBefore = (axios.interceptors.request as any).handlers.filter(Boolean).length;
    uninstallAllPatches();
    try {
      assert.equal((axios.interceptors.request as any).handlers.filter(Boolean).length, handlersBefore - 1);
      assert.equal((axios.create as any).__wrapped, undefined);
      await axios.get(`${server.url}/after`);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(tracer.started.length, 0);
    } finally {
      installPatches(hooks, { tracer, ...config });
    }
  });
});
