import type { AppWork, FrameworkDriver } from '../harness';
import { listen, NotFound } from '../harness';

/** A koa driver, and the router class it uses (for koa's own tests). */
export interface KoaDriver extends FrameworkDriver {
  /** The router class this driver builds its apps with. */
  routerClass(): any;
}

/** koa 3 and 2 (npm alias `koa2`), each with both routers: prefixed and nested routers. */
function koaDriver(label: string, koaModule: string, routerModule: string): KoaDriver {
   
  const load = (): { Koa: any; Router: any } => ({ Koa: require(koaModule), Router: require(routerModule) });
  const newApp = (): any => {
    const app = new (load().Koa)();
    app.silent = true;
    return app;
  };
  return {
    label,
    hook: 'koa',
    routerClass: () => load().Router,
    aliases: koaModule === 'koa2' ? { koa2: 'koa' } : undefined,
    route: (template) => template,
    errorPage: (app) =>
      app.use(async function errorPage(ctx: any, next: any) {
        try {
          await next();
        } catch (err) {
          ctx.status = 500;
          ctx.body = `handled: ${(err as Error).message}`;
        }
      }),
    ownErrorReply: true,
    clientError: (app) => {
      const r = new (load().Router)();
      r.get('/bad', (ctx: any) => ctx.throw(400, 'bad input'));
      app.use(r.routes());
    },
    notFound: (app) => {
      app.use(async function notFoundPage(ctx: any, next: any) {
        try {
          await next();
        } catch (err) {
          if (!(err instanceof NotFound)) throw err;
          ctx.status = 404;
          ctx.body = `not found: ${err.message}`;
        }
      });
      const r = new (load().Router)();
      r.get('/missing', () => {
        throw new NotFound('user 42 not found');
      });
      app.use(r.routes());
    },
    handlerSpans: { paths: ['/api/v1/users/3', '/plain'], children: { 'GET /plain': ['<anonymous>'] } },
    async start(work: AppWork, extra) {
      const { Router } = load();
      const app = newApp();
      extra?.(app);
      const api = new Router({ prefix: '/api' });
      const v1 = new Router();
      v1.get('/users/:id', async function getUser(ctx: any) {
        ctx.body = await work.getUser(ctx.params.id);
      });
      v1.get('/async-boom', async () => work.asyncBoom());
      api.use('/v1', v1.routes());
      api.get('/boom', () => work.boom());
      app.use(api.routes());
      const admin = new Router({ prefix: '/admin' });
      admin.get('/orgs/:org/items/:item', (ctx: any) => (ctx.body = work.items(ctx.params.org, ctx.params.item)));
      app.use(admin.routes());
      const root = new Router();
      root.get('/plain', (ctx: any) => (ctx.body = 'plain'));
      root.get('/traced', work.tracedMiddleware(), (ctx: any) => (ctx.body = work.traced()));
      root.get('/untraced', async (ctx: any) => (ctx.body = await work.untraced()));
      root.get('/tag', (ctx: any) => (ctx.body = work.tag()));
      root.get('/after-response', (ctx: any) => {
        void work.afterResponse(ctx.res);
        ctx.body = 'sent';
      });
      root.get(
        '/slow-traced',
        async function slowAuth(ctx: any, next: any) {
          await work.slowAuth(ctx.res);
          return next();
        },
        work.lateTraced(),
        (ctx: any) => (ctx.body = 'late'),
      );
      root.get('/abort-notice', async (ctx: any) => {
        ctx.req.on('close', () => work.clientGone());
        await work.slowAuth(ctx.res);
        ctx.body = 'late';
      });
      app.use(root.routes());
      return listen(app.callback());
    },
    async handedBack(fn) {
      const app = newApp();
      const router = new (load().Router)();
      router.get('/route', fn);
      app.use(fn);
      app.use(router.routes());
      return [app.middleware[0], router.stack[0].stack.at(-1)];
    },
  };
}

export const koaDrivers: KoaDriver[] = [
  koaDriver('koa@3 + @koa/router', 'koa', '@koa/router'),
  koaDriver('koa@3 + koa-router', 'koa', 'koa-router'),
  koaDriver('koa@2 + @koa/router', 'koa2', '@koa/router'),
  koaDriver('koa@2 + koa-router', 'koa2', 'koa-router'),
];
