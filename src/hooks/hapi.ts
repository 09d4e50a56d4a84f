/**
 * @hapi/hapi 21: every server made with `Hapi.server()` / `new Hapi.Server()` while the hook is installed
 * gets extensions that name the server span that httpServer opened after the route and record server
 * errors. A server keeps its extensions for good and they answer to whichever install is current. The
 * span logic is in ../tracing/hapi, loaded when @hapi/hapi is.
 */
import type { FrameworkHookOptions } from '../cores/http-server';
import { defineHook, lazyModule } from '../registry/define';

export type HapiOptions = FrameworkHookOptions;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/hapi') as typeof import('../tracing/hapi'));

export const hapiHook = defineHook<'hapi', HapiOptions>({
  name: 'hapi',
  summary: '@hapi/hapi 21 routes: names the httpServer span after the route, records Boom server errors',
  targets: [
    { module: '@hapi/hapi', versions: '>=21 <22', patch: (exports, ctx) => tracing().patchHapi(exports, ctx) },
    { module: '@hapi/hapi', file: 'lib/toolkit', versions: '>=21 <22', patch: (exports, ctx) => tracing().patchToolkit(exports, ctx) },
  ],
});
