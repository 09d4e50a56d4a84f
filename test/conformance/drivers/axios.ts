import http from 'node:http';
import axios from 'axios';
import type { TestServer } from '../../helpers/servers';
import type { Driver } from '../driver';
import { httpClientFacts, inFlight, nextArrival, otelHttp, serverAndAgent, startConformanceServer } from './http';

const axios0 = require('axios0') as typeof axios;

/** A driver per axios major, each on the default instance (instances made before install are not ours). */
function axiosDriver(name: string, client: typeof axios, config?: Driver['config']): Driver {
  let server: TestServer;
  let agent: http.Agent;
  const get = (path: string) => client.get(`${server.url}${path}`, { httpAgent: agent });
  return {
    ...httpClientFacts('axios', () => server, name),
    config,
    targets: () => [[client, 'create']],
    ...serverAndAgent(startConformanceServer, (s, a) => ((server = s), (agent = a))),
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
    inFlightCall: () => inFlight(nextArrival(), () => get('/slow')),
    // No OpenTelemetry instrumentation of axios exists: its http one runs beneath ours.
    otel: otelHttp,
  };
}

export const axiosDrivers: Driver[] = [axiosDriver('axios', axios), axiosDriver('axios@0', axios0, { aliases: { axios0: 'axios' } })];
