/**
 * koa 2 and 3, with `@koa/router` or `koa-router`: names the server span that httpServer opened after
 * the matched route, records the errors thrown or rejected in any middleware, and, with
 * `middlewareSpans`, adds a child span per middleware and router handler. The span logic is in
 * ../tracing/koa, loaded when koa or a router is.
 */
import { defineHook } from '../registry/define';
import type { KoaOptions } from '../options/koa';

export const koaHook = defineHook<'koa', KoaOptions, typeof import('../tracing/koa')>({
  name: 'koa',
  summary: 'koa 2/3 with @koa/router or koa-router: names the httpServer span after the route, records errors',
  tracing: () => require('../tracing/koa'),
  targets: [
    { module: 'koa', versions: '>=2 <4', patch: 'patchKoa' },
    { module: '@koa/router', versions: '>=8', patch: 'patchRouter' },
    { module: 'koa-router', versions: '>=8', patch: 'patchRouter' },
  ],
});
