import type { AppWork, FrameworkDriver } from '../harness';
import { listen, NotFound } from '../harness';

/** express 5 and 4 (npm alias `express4`): nested routers and a sub-app, an error middleware when asked for. */
function expressDriver(label: string, moduleName: string): FrameworkDriver {
   
  const load = (): any => require(moduleName);
  const isExpress4 = moduleName === 'express4';
  return {
    label,
    hook: 'express',
    aliases: isExpress4 ? { express4: 'express' } : undefined,
    route: (template) => template,
    // The error middleware must come after the routes: `errorPage` only asks for it.
    errorPage: (app) => (app.locals.withErrorPage = true),
    ownErrorReply: true,
    notFound: (app) => {
      app.get('/missing', (_req: any, _res: any, next: any) => next(new NotFound('user 42 not found')));
      app.use(function notFoundPage(err: any, _req: any, res: any, next: any) {
        if (err instanceof NotFound) res.status(404).send(`not found: ${err.message}`);
        else next(err);
      });
    },
    async start(work: AppWork, extra) {
      const express = load();
      const app = express();
      extra?.(app);
      const api = express.Router();
      const v1 = express.Router();
      v1.get('/users/:id', async function getUser(req: any, res: any) {
        res.json(await work.getUser(req.params.id));
      });
      v1.get('/async-boom', async function asyncBoom(_req: any, _res: any, next: any) {
        try {
          await work.asyncBoom();
        } catch (err) {
          if (isExpress4) return next(err); // express 4 does not catch rejections
          throw err;
        }
      });
      api.use('/v1', v1);
      api.get('/boom', () => work.boom());
      app.use('/api', api);
      const admin = express();
      admin.get('/orgs/:org/items/:item', (req: any, res: any) => res.send(work.items(req.params.org, req.params.item)));
      app.use('/admin', admin);
      app.get('/plain', (_req: any, res: any) => res.send('plain'));
      app.get('/traced', work.tracedMiddleware(), (_req: any, res: any) => res.send(work.traced()));
      app.get('/untraced', async (_req: any, res: any) => res.send(await work.untraced()));
      app.get('/tag', (_req: any, res: any) => res.send(work.tag()));
      app.get('/after-response', (_req: any, res: any) => {
        void work.afterResponse(res);
        res.send('sent');
      });
      app.get(
        '/slow-traced',
        function slowAuth(_req: any, res: any, next: any) {
          void work.slowAuth(res).then(() => next());
        },
        work.lateTraced(),
        (_req: any, res: any) => res.send('late'),
      );
      app.get('/abort-notice', (req: any, res: any) => {
        req.on('close', () => work.clientGone());
        void work.slowAuth(res).then(() => res.send('late'));
      });
      if (app.locals.withErrorPage === true) {
        app.use(function errorHandler(err: any, _req: any, res: any, _next: any) {
          res.status(500).send(`handled: ${err.message}`);
        });
      }
      return listen(app);
    },
    async handedBack(fn) {
      const express = load();
      const app = express();
      const router = express.Router();
      router.get('/route', fn);
      app.use(fn);
      app.use('/mounted', router);
      const appRouter = isExpress4 ? app._router : app.router;
      return [appRouter.stack.find((l: any) => l.name === fn.name)?.handle, router.stack[0].route.stack[0].handle];
    },
  };
}

export const expressDrivers: FrameworkDriver[] = [expressDriver('express@5', 'express'), expressDriver('express@4', 'express4')];
