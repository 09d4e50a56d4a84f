import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { readBody, TestServer } from '../../helpers/servers';
import type { RecordedSpan } from '../../helpers/tracer';
import type { Driver } from '../driver';
import { conformanceTags, h2reply, inFlight, nextArrival, otelHttp, Reply, serverAndAgent, startConformanceServer, startH2ConformanceServer } from './http';

let server: TestServer;
let agent: http.Agent;

/** A plain client request (the http client hook is not installed): the span under test is the server's. */
function get(path: string, parent?: RecordedSpan): Promise<Reply> {
  const headers: http.OutgoingHttpHeaders = parent === undefined ? {} : { traceparent: `00-${parent.traceId}-${parent.id}-01` };
  return new Promise((resolve, reject) => {
    http
      .get(`${server.url}${path}`, { agent, headers }, (res) => {
        readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
      })
      .on('error', reject);
  });
}

export const httpServerDriver: Driver = {
  name: 'httpServer',
  hook: 'httpServer',
  kind: 'server',
  operation: 'HTTP GET',
  tags: () => conformanceTags('http', server, 'server'),
  targets: () => [
    [http.Server.prototype, 'emit'],
    [https.Server.prototype, 'emit'],
    [http.IncomingMessage.prototype, 'emit'],
    [http.ServerResponse.prototype, 'emit'],
  ],
  ...serverAndAgent(startConformanceServer, (s, a) => ((server = s), (agent = a))),
  call: (parent) => get('/conformance?q=1', parent),
  // The handler drops the connection: the client sees a socket hang-up, the server span an abort.
  failingCall: () => get('/destroy'),
  inFlightCall: () => inFlight(nextArrival(), () => get('/slow')),
  otel: otelHttp,
};

/** An h2c server of http2's compatibility API (or, `core`, its core API) answering as the conformance server does, one client session. */
function h2ServerDriver(core: boolean): Driver {
  let h2server: http2.Http2Server;
  let h2url = '';
  let session: http2.ClientHttp2Session;
  let h2arrived: (() => void) | undefined;
  const h2get = (path: string, parent?: RecordedSpan): Promise<Reply> => {
    const headers: http2.OutgoingHttpHeaders = parent === undefined ? {} : { traceparent: `00-${parent.traceId}-${parent.id}-01` };
    return h2reply(session, { ':path': path, ...headers });
  };
  // The core API: a server's session and stream, whose classes' emit the hook wraps once it saw one of each.
  let coreTargets: Array<[object, PropertyKey]> = [];
  return {
    name: `httpServer (http2 ${core ? 'core' : 'compatibility'} API)`,
    hook: 'httpServer',
    kind: 'server',
    operation: 'HTTP GET',
    tags: () => ({ component: 'http', 'http.method': 'GET', 'http.url': `${h2url}/conformance`, 'http.status_code': 200, 'peer.address': '127.0.0.1' }),
    targets: () => [
      [Object.getPrototypeOf(h2server), 'emit'],
      [http2.Http2ServerRequest.prototype, 'emit'],
      [http2.Http2ServerResponse.prototype, 'emit'],
      ...coreTargets,
    ],
    async start() {
      // `/destroy`: the client sees the stream reset, the server span an abort.
      ({ server: h2server, url: h2url } = await startH2ConformanceServer(() => h2arrived?.(), core));
      if (core) {
        h2server.once('stream', (stream: http2.ServerHttp2Stream) => {
          coreTargets = [
            [Object.getPrototypeOf(stream), 'emit'],
            [Object.getPrototypeOf(stream.session), 'emit'],
          ];
        });
      }
      session = http2.connect(h2url);
      await new Promise<void>((resolve) => session.once('connect', () => resolve()));
      if (core) await h2get('/first');
    },
    async stop() {
      session.destroy();
      await new Promise<void>((resolve) => h2server.close(() => resolve()));
    },
    call: (parent) => h2get('/conformance?q=1', parent),
    failingCall: () => h2get('/destroy'),
    inFlightCall: () => inFlight(new Promise<void>((resolve) => (h2arrived = resolve)), () => h2get('/slow')),
  };
}

export const http2ServerDriver: Driver = h2ServerDriver(false);
export const http2StreamDriver: Driver = h2ServerDriver(true);
