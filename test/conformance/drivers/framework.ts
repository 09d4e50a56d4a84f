import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HookName } from '../../../src';
import { readBody } from '../../helpers/servers';
import type { RecordedSpan } from '../../helpers/tracer';
import type { Driver } from '../driver';
import { inFlight, serverAndAgent, type Reply } from './http';

let slowArrived: (() => void) | undefined;
/** Resolves when the next `/slow` request reaches the app. */
export function nextSlow(): Promise<void> {
  return new Promise((resolve) => (slowArrived = resolve));
}
export function arrivedSlow(): void {
  slowArrived?.();
}

export interface FrameworkApp {
  url: string;
  close(): Promise<void>;
}

/**
 * A server-kind driver for a framework: the app answers `GET /conf/items/:id` (`ok`), drops the connection
 * for id `destroy`, answers id `slow` after a moment.
 */
export function frameworkDriver(spec: {
  name: string;
  hook: HookName;
  config?: Driver['config'];
  component?: string;
  targets(): Array<[object, PropertyKey]>;
  start(): Promise<FrameworkApp>;
  /** The route template as the framework writes it (hapi: `/conf/items/{id}`). */
  route?: string;
  otel?: Driver['otel'];
}): Driver {
  const route = spec.route ?? '/conf/items/:id';
  let app: FrameworkApp;
  let agent: http.Agent;
  const get = (path: string, parent?: RecordedSpan): Promise<Reply> => {
    const headers: http.OutgoingHttpHeaders = parent === undefined ? {} : { traceparent: `00-${parent.traceId}-${parent.id}-01` };
    return new Promise((resolve, reject) => {
      http
        .get(`${app.url}${path}`, { agent, headers }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject))
        .on('error', reject);
    });
  };
  return {
    name: spec.name,
    hook: spec.hook,
    // A framework hook adds to the span that httpServer opens.
    alsoInstall: ['httpServer'],
    config: spec.config,
    kind: 'server',
    operation: `GET ${route}`,
    tags: () => ({ component: 'http', 'http.method': 'GET', 'http.route': route, 'http.url': `${app.url}/conf/items/7`, 'http.status_code': 200 }),
    targets: spec.targets,
    otel: spec.otel,
    ...serverAndAgent(spec.start, (started, keepAlive) => ((app = started), (agent = keepAlive))),
    call: (parent) => get('/conf/items/7?q=1', parent),
    failingCall: () => get('/conf/items/destroy'),
    inFlightCall: () => inFlight(nextSlow(), () => get('/conf/items/slow')),
  };
}

export async function listen(server: http.Server): Promise<FrameworkApp> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
