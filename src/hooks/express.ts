/**
 * express 4 and 5 (express 5 routes through the `router` package 2.x): names the server span that
 * httpServer opened after the route template, with the paths of mounted routers and sub-apps joined
 * (`GET /api/v1/users/:id`), records the errors passed to `next(err)`, and, with `middlewareSpans`, adds a
 * child span per middleware and handler. The span logic is in ../tracing/express, loaded when express's
 * router or layer is.
 */
import { defineHook } from '../registry/define';
import type { HookTarget } from '../registry/define';
import type { ExpressOptions } from '../options/express';

type Tracing = typeof import('../tracing/express');

function routerTarget(module: string, file: string | undefined, versions: string, proto: (exports: any) => any): HookTarget<ExpressOptions, undefined, Tracing> {
  return { module, file, versions, patch: (exports, ctx) => ctx.tracing.patchRouter(proto(exports), ctx) };
}

function layerTarget(module: string, file: string, versions: string, names: [string, string]): HookTarget<ExpressOptions, undefined, Tracing> {
  return { module, file, versions, patch: (exports, ctx) => ctx.tracing.patchLayer(exports, ctx, names) };
}

export const expressHook = defineHook<'express', ExpressOptions, Tracing>({
  name: 'express',
  summary: 'express 4/5 routes: names the httpServer span after the route template, records errors',
  tracing: () => require('../tracing/express'),
  targets: [
    // express 4: the router is inside express. express requires it as './router', which the module hook
    // names `express/lib/router` (an `index` file is named after its folder): `lib/router/index` never matched.
    routerTarget('express', 'lib/router', '>=4 <5', (exports) => exports),
    layerTarget('express', 'lib/router/layer', '>=4 <5', ['handle_request', 'handle_error']),
    // express 5: the router package.
    routerTarget('router', undefined, '>=2 <3', (exports) => exports.prototype),
    layerTarget('router', 'lib/layer', '>=2 <3', ['handleRequest', 'handleError']),
  ],
});
