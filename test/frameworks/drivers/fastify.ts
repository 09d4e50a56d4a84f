import type { AddressInfo } from 'node:net';
import { currentSpan } from '../../../src';
import type { AppWork, FrameworkDriver } from '../harness';
import { fetchBack, NotFound } from '../harness';

/**
 * fastify 5 and 4 (npm alias `fastify4`): nested plugins with prefixes; besides the common routes a
 * callback-style handler (`GET /api/cb/:id`, reply.send later), a handler behind the body parser
 * (`POST /api/echo`) and a scope whose onRequest hook is traced() (`GET /hooked`).
 */
function fastifyDriver(label: string, moduleName: string): FrameworkDriver {
   
  const load = (): any => require(moduleName);
  return {
    label,
    hook: 'fastify',
    aliases: moduleName === 'fastify4' ? { fastify4: 'fastify' } : undefined,
    route: (template) => template,
    errorPage: (app) => app.setErrorHandler((err: Error, _req: any, reply: any) => reply.status(500).send(`handled: ${err.message}`)),
    ownErrorReply: true,
    clientError: (app) =>
      app.get('/bad', async () => {
        throw Object.assign(new Error('bad input'), { statusCode: 400 });
      }),
    // A scope's error handler answers a thrown NotFound 404; a handler that set 404 itself returns one to fastify's own error handler.
    notFound: (app) => {
      app.register(async (scope: any) => {
        scope.setErrorHandler((err: Error, _req: any, reply: any) => (err instanceof NotFound ? reply.code(404).send(`not found: ${err.message}`) : reply.send(err)));
        scope.get('/missing', async () => {
          throw new NotFound('user 42 not found');
        });
      });
      app.get('/missing-returned', async (_req: any, reply: any) => {
        reply.code(404);
        return new NotFound('user 42 not found');
      });
    },
    moreNotFound: [['/missing-returned', '/missing-returned']],
    alsoTraced: ['/hooked'],
    handlerSpans: { paths: ['/api/v1/users/3', '/plain', '/api/cb/4'], children: { 'GET /plain': ['<anonymous>'], 'GET /api/cb/:id': ['callbackStyle'] } },
    async start(work: AppWork, extra) {
      const { seen } = work;
      const app = load()();
      extra?.(app);
      app.register(
        async (api: any) => {
          api.register(
            async (v1: any) => {
              v1.get('/users/:id', async function getUser(req: any) {
                return work.getUser(req.params.id);
              });
              v1.get('/async-boom', async () => work.asyncBoom());
            },
            { prefix: '/v1' },
          );
          api.get('/boom', () => work.boom());
          api.get('/cb/:id', function callbackStyle(req: any, reply: any) {
            setTimeout(() => {
              seen.inCallback = currentSpan();
              fetchBack(`${work.backUrl}/cb/${req.params.id}`).then(() => reply.send(`cb ${req.params.id}`));
            }, 1);
          });
          api.post('/echo', async (req: any) => {
            seen.inBodyHandler = currentSpan();
            return req.body;
          });
        },
        { prefix: '/api' },
      );
      app.register(async (admin: any) => admin.get('/orgs/:org/items/:item', async (req: any) => work.items(req.params.org, req.params.item)), { prefix: '/admin' });
      app.get('/plain', async () => 'plain');
      app.get('/traced', { onRequest: work.tracedMiddleware() }, async () => work.traced());
      app.register(async (scope: any) => {
        scope.addHook('onRequest', work.tracedMiddleware());
        scope.get('/hooked', async () => 'h');
      });
      app.get('/untraced', async () => work.untraced());
      app.get('/tag', async () => work.tag());
      app.get('/after-response', async (_req: any, reply: any) => {
        void work.afterResponse(reply.raw);
        return 'sent';
      });
      app.get('/slow-traced', { onRequest: [async (_req: any, reply: any) => work.slowAuth(reply.raw), work.lateTraced()] }, async () => 'late');
      app.get('/abort-notice', { onRequestAbort: async () => work.clientGone() }, async (_req: any, reply: any) => {
        await work.slowAuth(reply.raw);
        return 'late';
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
    },
    async handedBack(fn) {
      const app = load()();
      let handedBack: unknown;
      app.addHook('onRoute', (route: { url: string; handler: unknown }) => {
        if (route.url === '/route') handedBack = route.handler;
      });
      app.get('/route', fn);
      await app.ready();
      await app.close();
      return [handedBack];
    },
  };
}

export const fastifyDrivers: FrameworkDriver[] = [fastifyDriver('fastify@5', 'fastify'), fastifyDriver('fastify@4', 'fastify4')];
