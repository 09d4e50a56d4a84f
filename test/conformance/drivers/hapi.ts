import http from 'node:http';
import type { Driver } from '../driver';
import { arrivedSlow, frameworkDriver, listen } from './framework';

/**
 * hapi instruments a server when it is made while the hook is installed; the driver starts before any
 * install, so the hapi server is made on the first request (the contract makes it with the hook
 * installed) and its request listener is called by a plain server started at once.
 */
export const hapiDriver: Driver = frameworkDriver({
  name: 'hapi@21',
  hook: 'hapi',
  route: '/conf/items/{id}',
  targets: () => {
    const Hapi = require('@hapi/hapi');
     
    const { Manager } = require('@hapi/hapi/lib/toolkit');
    return [[Hapi, 'server'], [Hapi, 'Server'], [Manager.prototype, 'execute']];
  },
  async start() {
    let ready: Promise<(req: http.IncomingMessage, res: http.ServerResponse) => void> | undefined;
    const build = async (): Promise<(req: http.IncomingMessage, res: http.ServerResponse) => void> => {
      const Hapi = require('@hapi/hapi');
      const app = Hapi.server({ autoListen: false, debug: false });
      await app.register(
        {
          name: 'conf',
          register: async (s: any) => {
            s.route({
              method: 'GET',
              path: '/items/{id}',
              handler: async (req: any, h: any) => {
                if (req.params.id === 'destroy') {
                  req.raw.req.socket.destroy();
                  return h.abandon;
                }
                if (req.params.id === 'slow') {
                  arrivedSlow();
                  await new Promise((resolve) => setTimeout(resolve, 30));
                }
                return 'ok';
              },
            });
          },
        },
        { routes: { prefix: '/conf' } },
      );
      await app.initialize();
      // hapi's own request listener, called directly (not through emit, which httpServer already traced).
      return app.listener.listeners('request')[0];
    };
    return listen(http.createServer((req, res) => void (ready ??= build()).then((listener) => listener(req, res))));
  },
  otel: { module: '@opentelemetry/instrumentation-hapi', export: 'HapiInstrumentation', reload: [require.resolve('./otel-parent'), 'http', '@hapi/hapi'] },
});
