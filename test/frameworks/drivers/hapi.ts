import { currentSpan } from '../../../src';
import type { AppWork, FrameworkDriver } from '../harness';
import { NotFound } from '../harness';

 
const Boom = require('@hapi/boom');
 
const load = (): any => require('@hapi/hapi');

/** An arrow function made where JavaScript gives it no name. */
const anonymous = (() => () => 'anon')();

/**
 * @hapi/hapi 21: nested plugins with route prefixes; besides the common routes a Boom 503
 * (`GET /api/unavailable`) and a handler behind the payload parser (`POST /api/echo`).
 */
export const hapiDriver: FrameworkDriver = {
  label: '@hapi/hapi@21',
  hook: 'hapi',
  route: (template) => template.replace(/:(\w+)/g, '{$1}'),
  errorPage: (app) => app.ext('onPreResponse', (req: any, h: any) => (req.response.isBoom ? h.response(`handled: ${req.response.message}`).code(500) : h.continue)),
  ownErrorReply: true,
  moreServerErrors: [['/api/unavailable', 'down for now', '/api/unavailable', 503]],
  clientError: (app) => app.route({ method: 'GET', path: '/bad', handler: () => Boom.badRequest('bad input') }),
  // hapi makes a 500 Boom of the thrown NotFound; the app's onPreResponse answers it 404.
  notFound: (app) => {
    app.ext('onPreResponse', (req: any, h: any) => (req.response instanceof NotFound ? h.response(`not found: ${req.response.message}`).code(404) : h.continue));
    app.route({
      method: 'GET',
      path: '/missing',
      handler: () => {
        throw new NotFound('user 42 not found');
      },
    });
  },
  // An arrow function in `{ handler: () => ... }` is named `handler` by JavaScript.
  handlerSpans: {
    extra: (app) => app.route({ method: 'GET', path: '/anon', handler: anonymous }),
    paths: ['/api/v1/users/3', '/plain', '/anon'],
    children: { 'GET /plain': ['handler'], 'GET /anon': ['<anonymous>'] },
  },
  async start(work: AppWork, extra) {
    const app = load().server({ port: 0, host: '127.0.0.1', debug: false });
    extra?.(app);
    const v1 = {
      name: 'v1',
      register: async (s: any) => {
        s.route({ method: 'GET', path: '/users/{id}', handler: async function getUser(req: any) { return work.getUser(req.params.id); } });
        s.route({ method: 'GET', path: '/async-boom', handler: async () => work.asyncBoom() });
      },
    };
    const api = {
      name: 'api',
      register: async (s: any) => {
        await s.register(v1, { routes: { prefix: '/v1' } });
        s.route({ method: 'GET', path: '/boom', handler: () => work.boom() });
        s.route({ method: 'GET', path: '/unavailable', handler: () => Boom.serverUnavailable('down for now') });
        s.route({
          method: 'POST',
          path: '/echo',
          handler: (req: any) => {
            work.seen.inPayloadHandler = currentSpan();
            return req.payload;
          },
        });
      },
    };
    await app.register(api, { routes: { prefix: '/api' } });
    await app.register({ name: 'admin', register: async (s: any) => s.route({ method: 'GET', path: '/orgs/{org}/items/{item}', handler: (req: any) => work.items(req.params.org, req.params.item) }) }, { routes: { prefix: '/admin' } });
    app.route({ method: 'GET', path: '/plain', handler: () => 'plain' });
    app.route({ method: 'GET', path: '/traced', options: { ext: { onPreHandler: { method: work.tracedMiddleware() } }, handler: () => work.traced() } });
    app.route({ method: 'GET', path: '/untraced', handler: async () => work.untraced() });
    app.route({ method: 'GET', path: '/tag', handler: () => work.tag() });
    app.route({
      method: 'GET',
      path: '/after-response',
      handler: (req: any) => {
        void work.afterResponse(req.raw.res);
        return 'sent';
      },
    });
    const slowAuth = async (req: any, h: any): Promise<symbol> => {
      await work.slowAuth(req.raw.res);
      return h.continue;
    };
    app.route({ method: 'GET', path: '/slow-traced', options: { ext: { onPreHandler: [{ method: slowAuth }, { method: work.lateTraced() }] }, handler: () => 'late' } });
    app.route({
      method: 'GET',
      path: '/abort-notice',
      handler: async (req: any) => {
        req.events.once('disconnect', () => work.clientGone());
        await work.slowAuth(req.raw.res);
        return 'late';
      },
    });
    await app.start();
    return { url: `http://127.0.0.1:${app.info.port}`, close: () => app.stop() };
  },
  async handedBack(fn) {
    const app = load().server();
    app.route({ method: 'GET', path: '/route', handler: fn });
    return [app.table().find((r: any) => r.path === '/route').settings.handler];
  },
};
