import http from 'node:http';
import type { Driver } from '../driver';
import { arrivedSlow, frameworkDriver, listen } from './framework';

/**
 * fastify instruments an instance when it is created while the hook is installed (the
 * `fastify.initialization` channel); the driver starts before any install, so the fastify app is built on
 * the first request (the contract makes it with the hook installed) behind a plain server started at once.
 */
function fastifyDriver(label: string, moduleName: string): Driver {
  return frameworkDriver({
    name: label,
    hook: 'fastify',
    config: moduleName === 'fastify4' ? { aliases: { fastify4: 'fastify' } } : undefined,
    // No wrapped functions: the hook works through the diagnostics channel and the instance's own hooks.
    targets: () => [],
    async start() {
      let ready: Promise<http.RequestListener> | undefined;
      const build = async (): Promise<http.RequestListener> => {
        let listener: http.RequestListener | undefined;
        const app = require(moduleName)({
          serverFactory: (handler: http.RequestListener) => {
            listener = handler;
            return http.createServer();
          },
        });
        app.register(
          async (conf: any) => {
            conf.get('/items/:id', async (req: any, reply: any) => {
              if (req.params.id === 'destroy') {
                req.raw.socket.destroy();
                return reply;
              }
              if (req.params.id === 'slow') {
                arrivedSlow();
                await new Promise((resolve) => setTimeout(resolve, 30));
              }
              return 'ok';
            });
          },
          { prefix: '/conf' },
        );
        await app.ready();
        return listener!;
      };
      return listen(http.createServer((req, res) => void (ready ??= build()).then((listener) => listener(req, res))));
    },
  });
}

export const fastifyDrivers: Driver[] = [fastifyDriver('fastify@5', 'fastify'), fastifyDriver('fastify@4', 'fastify4')];
