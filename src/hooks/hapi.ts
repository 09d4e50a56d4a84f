/**
 * @hapi/hapi 21: every server made with `Hapi.server()` / `new Hapi.Server()` while the hook is installed
 * gets extensions that name the server span that httpServer opened after the route and record server
 * errors. A server keeps its extensions for good and they answer to whichever install is current. The
 * span logic is in ../tracing/hapi, loaded when @hapi/hapi is.
 */
import { defineHook } from '../registry/define';
import type { HapiOptions } from '../options/hapi';

export const hapiHook = defineHook<'hapi', HapiOptions, typeof import('../tracing/hapi')>({
  name: 'hapi',
  summary: '@hapi/hapi 21 routes: names the httpServer span after the route, records Boom server errors',
  tracing: () => require('../tracing/hapi'),
  targets: [{ module: '@hapi/hapi', versions: '>=21 <22', patch: (exports, ctx) => ctx.tracing.patchHapi(exports, ctx) }],
});
