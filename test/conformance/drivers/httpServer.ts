import http from 'node:http';
import https from 'node:https';
import { readBody, TestServer } from '../../helpers/servers';
import type { RecordedSpan } from '../../helpers/tracer';
import type { Driver } from '../driver';
import { conformanceTags, inFlight, nextArrival, otelHttp, Reply, serverAndAgent, startConformanceServer } from './http';

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
