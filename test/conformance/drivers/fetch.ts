import * as undici from 'undici';
import { closedPort, TestServer } from '../../helpers/servers';
import type { Driver } from '../driver';
import { httpClientFacts, inFlight, nextArrival, Reply, startConformanceServer } from './http';

let server: TestServer;
let refused: string;

/** Global fetch (Node's bundled undici, keep-alive by default). */
async function get(url: string, init?: RequestInit): Promise<Reply> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text() };
}

export const fetchDriver: Driver = {
  ...httpClientFacts('fetch', () => server),
  targets: () => [
    [globalThis, 'fetch'],
    [undici, 'fetch'],
    [undici, 'request'],
    [undici, 'stream'],
    [undici, 'pipeline'],
    [undici.Dispatcher.prototype, 'request'],
    [undici.Dispatcher.prototype, 'stream'],
    [undici.Dispatcher.prototype, 'pipeline'],
  ],
  async start() {
    server = await startConformanceServer();
    refused = `http://127.0.0.1:${await closedPort()}/conformance`;
  },
  async stop() {
    await server.close();
  },
  call: () => get(`${server.url}/conformance?q=1`),
  failingCall: () => get(refused),
  countedCall(onRead) {
    const init: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ method: 'GET', headers: { 'x-counted': '1' } })) {
      Object.defineProperty(init, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return get(`${server.url}/conformance`, init as RequestInit);
  },
  inFlightCall: () => inFlight(nextArrival(), () => get(`${server.url}/slow`)),
  // It subscribes to undici's diagnostics channels: nothing to load again.
  otel: { module: '@opentelemetry/instrumentation-undici', export: 'UndiciInstrumentation', reload: [] },
};
