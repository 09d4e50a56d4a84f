import http from 'node:http';
import axios from 'axios';
import type { TestServer } from '../../helpers/servers';
import type { Driver } from '../driver';
import { nextArrival, startConformanceServer } from './http';

const axios0 = require('axios0') as typeof axios;

/** A driver per axios major, each on the default instance (instances made before install are not ours). */
function axiosDriver(name: string, client: typeof axios, config?: Driver['config']): Driver {
  let server: TestServer;
  let agent: http.Agent;
  const get = (path: string) => client.get(`${server.url}${path}`, { httpAgent: agent });
  return {
    name,
    hook: 'axios',
    config,
    operation: 'HTTP GET',
    tags: () => ({
      component: 'axios',
      'http.method': 'GET',
      'http.url': `${server.url}/conformance`,
      'http.status_code': 200,
      'peer.hostname': '127.0.0.1',
      'peer.port': server.port,
    }),
    targets: () => [[client, 'create']],
    async start() {
      server = await startConformanceServer();
      agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    },
    async stop() {
      agent.destroy();
      await server.close();
    },
    call: () => get('/conformance?q=1'),
    failingCall: () => get('/fail'),
    normalize: (result) => {
      const { status, data } = result as { status: number; data: unknown };
      return { status, data };
    },
    countedCall(onRead) {
      const input: Record<string, unknown> = {};
      for (const [key, value] of Object.entries({ url: `${server.url}/conformance`, method: 'get', httpAgent: agent, headers: { 'x-counted': '1' } })) {
        Object.defineProperty(input, key, { enumerable: true, get: () => (onRead(key), value) });
      }
      return client.request(input);
    },
    async inFlightCall() {
      const arrival = nextArrival();
      const outcome = get('/slow');
      await arrival;
      return { outcome };
    },
    // No OpenTelemetry instrumentation of axios exists: its http one runs beneath ours.
    otel: { module: '@opentelemetry/instrumentation-http', export: 'HttpInstrumentation', reload: ['http', 'https'] },
  };
}

export const axiosDrivers: Driver[] = [axiosDriver('axios', axios), axiosDriver('axios@0', axios0, { aliases: { axios0: 'axios' } })];
