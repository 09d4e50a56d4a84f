import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { closedPort, readBody, TestServer } from '../../helpers/servers';
import type { Driver } from '../driver';

/** What a call resolves with, the same traced and untraced. */
export interface Reply {
  status: number;
  body: string;
}

let arrived: (() => void) | undefined;

/** Resolves when the next `/slow` request reaches the server (it is then in flight). */
export function nextArrival(): Promise<void> {
  return new Promise((resolve) => (arrived = resolve));
}

/**
 * The server every HTTP driver calls: `/fail` answers 500, `/destroy` drops the connection, `/slow` answers
 * after a moment, anything else answers `ok`. It keeps nothing per request (test/helpers' servers record
 * each one), so that the heap check measures the hooks alone.
 */
export async function startConformanceServer(): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    if (req.url === '/fail') {
      res.statusCode = 500;
      return void res.end('fail');
    }
    if (req.url === '/destroy') return void req.socket.destroy();
    if (req.url === '/slow') {
      arrived?.();
      return void setTimeout(() => res.end('ok'), 30);
    }
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    received: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}


/** The tags of the span of a GET of `/conformance` on `server`: a client's (`component`), or the server's own. */
export function conformanceTags(component: string, server: TestServer, side: 'client' | 'server' = 'client'): Record<string, unknown> {
  const peer = side === 'client' ? { 'peer.hostname': '127.0.0.1', 'peer.port': server.port } : { 'peer.address': '127.0.0.1' };
  return { component, 'http.method': 'GET', 'http.url': `${server.url}/conformance`, 'http.status_code': 200, ...peer };
}

/** What the HTTP client drivers declare alike: a GET of `/conformance` on the conformance server `server()`, made through `hook`. */
export function httpClientFacts(hook: 'http' | 'fetch' | 'axios', server: () => TestServer, name: string = hook): Pick<Driver, 'name' | 'hook' | 'operation' | 'tags'> {
  return { name, hook, operation: 'HTTP GET', tags: () => conformanceTags(hook, server()) };
}

/** A call started once `arrival` (made first) is armed, resolving when the call has arrived: it is in flight. */
export async function inFlight(arrival: Promise<void>, call: () => Promise<unknown>): Promise<{ outcome: Promise<unknown> }> {
  const outcome = call();
  await arrival;
  return { outcome };
}

/** A driver's start and stop: `begin` starts its server, then a keep-alive agent for its calls; both handed to `set`. */
export function serverAndAgent<S extends { close(): Promise<void> }>(begin: () => Promise<S>, set: (server: S, agent: http.Agent) => void): Pick<Driver, 'start' | 'stop'> {
  let server: S | undefined;
  let agent: http.Agent | undefined;
  return {
    async start() {
      server = await begin();
      agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
      set(server, agent);
    },
    async stop() {
      agent?.destroy();
      await server?.close();
    },
  };
}

/** OpenTelemetry's http instrumentation, for the coexistence contract. */
export const otelHttp: Driver['otel'] = { module: '@opentelemetry/instrumentation-http', export: 'HttpInstrumentation', reload: ['http', 'https'] };

let server: TestServer;
let agent: http.Agent;
let refused: string;

function send(input: string | http.RequestOptions, callback: (err: Error | null, reply?: Reply) => void): http.ClientRequest {
  const onResponse = (res: http.IncomingMessage): void => {
    readBody(res).then((body) => callback(null, { status: res.statusCode ?? 0, body }), callback);
  };
  const req = typeof input === 'string' ? http.get(input, { agent }, onResponse) : http.get(input, onResponse);
  return req.on('error', (err) => callback(err));
}

function get(input: string | http.RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => send(input, (err, reply) => (err ? reject(err) : resolve(reply as Reply))));
}

export const httpDriver: Driver = {
  ...httpClientFacts('http', () => server),
  targets: () => [
    [http, 'request'],
    [http, 'get'],
    [https, 'request'],
    [https, 'get'],
  ],
  async start() {
    server = await startConformanceServer();
    agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    refused = `http://127.0.0.1:${await closedPort()}/conformance`;
  },
  async stop() {
    agent.destroy();
    await server.close();
  },
  call: () => get(`${server.url}/conformance?q=1`),
  failingCall: () => get(refused),
  callbackCall(callback) {
    send(`${server.url}/conformance`, callback);
  },
  async countedCall(onRead) {
    const input: Record<string, unknown> = {};
    const headers: Record<string, unknown> = {};
    const counted = (target: Record<string, unknown>, values: Record<string, unknown>, prefix: string): void => {
      for (const [key, value] of Object.entries(values)) {
        Object.defineProperty(target, key, { enumerable: true, get: () => (onRead(prefix + key), value) });
      }
    };
    counted(headers, { 'x-counted': '1' }, 'headers.');
    counted(input, { host: '127.0.0.1', port: server.port, path: '/conformance', agent, headers }, '');
    return get(input as http.RequestOptions);
  },
  inFlightCall: () => inFlight(nextArrival(), () => get(`${server.url}/slow`)),
  otel: otelHttp,
};

/** One request on an HTTP/2 `session`, its stream ended at once: the status and body (a stream error rejects). */
export function h2reply(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
    stream.end();
  });
}

/**
 * An h2c server on 127.0.0.1 answering as the conformance server does: `/destroy` resets the stream (the
 * client sees ERR_HTTP2_STREAM_ERROR), `/slow` answers after a moment (`slow` told when it arrives). Through
 * the compatibility API ('request'), or with `core` the core API ('stream').
 */
export async function startH2ConformanceServer(slow: () => void, core = false): Promise<{ server: http2.Http2Server; url: string }> {
  const serve = (stream: http2.ServerHttp2Stream, path: unknown, answer: () => void): void => {
    if (path === '/destroy') return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    if (path === '/slow') {
      slow();
      return void setTimeout(answer, 30);
    }
    answer();
  };
  const server = core
    ? http2.createServer().on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        // The reset of `/destroy` is an 'error' of the stream (the compatibility layer listens for it itself).
        stream.on('error', () => undefined);
        serve(stream, headers[':path'], () => {
          stream.respond({ ':status': 200 });
          stream.end('ok');
        });
      })
    : http2.createServer((req, res) => serve(req.stream, req.url, () => res.end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * The http2 client (`http2.connect(...).request(...)`) against the h2c conformance server. Its session is
 * opened again whenever `http2.connect` changed (an install or uninstall): only a session that the patched
 * `connect` made is traced, as an app's are.
 */
let h2server: http2.Http2Server;
let h2url = '';
let h2session: http2.ClientHttp2Session | undefined;
let h2connect: unknown;
let h2arrived: (() => void) | undefined;

function h2sessionNow(): http2.ClientHttp2Session {
  if (h2session === undefined || h2connect !== http2.connect) {
    h2session?.close();
    h2connect = http2.connect;
    h2session = http2.connect(h2url);
    h2session.on('error', () => undefined);
  }
  return h2session;
}

const h2get = (headers: http2.OutgoingHttpHeaders): Promise<Reply> => h2reply(h2sessionNow(), headers);

export const http2ClientDriver: Driver = {
  name: 'http (http2 client)',
  hook: 'http',
  operation: 'HTTP GET',
  tags: () => ({ component: 'http2', 'http.method': 'GET', 'http.url': `${h2url}/conformance`, 'http.status_code': 200, 'peer.hostname': '127.0.0.1', 'peer.port': Number(new URL(h2url).port) }),
  targets: () => [
    [http2, 'connect'],
    [Object.getPrototypeOf(h2sessionNow()), 'request'],
  ],
  async start() {
    ({ server: h2server, url: h2url } = await startH2ConformanceServer(() => h2arrived?.()));
  },
  async stop() {
    h2session?.destroy();
    h2session = undefined;
    await new Promise<void>((resolve) => h2server.close(() => resolve()));
  },
  call: () => h2get({ ':path': '/conformance?q=1' }),
  failingCall: () => h2get({ ':path': '/destroy' }),
  async countedCall(onRead) {
    const headers: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ ':path': '/conformance', 'x-counted': '1' })) {
      Object.defineProperty(headers, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return h2get(headers as http2.OutgoingHttpHeaders);
  },
  inFlightCall: () => inFlight(new Promise<void>((resolve) => (h2arrived = resolve)), () => h2get({ ':path': '/slow' })),
};
