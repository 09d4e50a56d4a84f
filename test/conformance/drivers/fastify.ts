import http from 'node:http';
import type { Driver } from '../driver';
import { arrivedSlow, frameworkDriver, listen } from './framework';

/**
 * fastify 4 keeps a route's handler wrapped only when the route is added while the hook is installed; the
 * driver starts before any install, so the fastify app is built on the first request (the contract makes
 * it with the hook installed) behind a plain server started at once.
 */
function fastifyDriver(label: string, moduleName: string): Driver {
  return frameworkDriver({
    name: label,
    hook: 'fastify',
    config: moduleName === 'fastify4' ? { aliases: { fastify4: 'fastify' } } : undefined,
    // Reply#send (every reply), the hook runners and the body parser; fastify 5's handler channel and fastify 4's route contexts are not functions.
    targets: () => {
      const hooks = require(`${moduleName}/lib/hooks`);
      const parser = require(`${moduleName}/lib/${moduleName === 'fastify4' ? 'contentTypeParser' : 'content-type-parser'}`);
      const runners = ['onRequestHookRunner', 'preParsingHookRunner', 'preValidationHookRunner', 'preHandlerHookRunner', 'onTimeoutHookRunner'];
      return [[require(`${moduleName}/lib/reply`).prototype, 'send'], ...runners.map((name): [object, string] => [hooks, name]), [parser.prototype, 'run']];
    },
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
