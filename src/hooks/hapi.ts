/**
 * @hapi/hapi 21: every server made with `Hapi.server()` / `new Hapi.Server()` while the hook is installed
 * gets extensions that name the server span that httpServer opened after the route; the Booms its
 * requests' responses become (the request's `_setResponse`) are recorded as server errors. A server keeps
 * its extensions for good and they answer to whichever install is current. The span logic is in
 * ../tracing/hapi, loaded when @hapi/hapi is.
 */
import type { HapiOptions } from '../options/hapi';
import { defineHook, fileTargets } from '../registry/define';

export const hapiHook = defineHook<'hapi', HapiOptions, typeof import('../tracing/hapi')>({
  name: 'hapi',
  tracing: () => require('../tracing/hapi'),
  summary: '@hapi/hapi 21 routes: names the httpServer span after the route, records Boom server errors',
  targets: fileTargets('@hapi/hapi', '>=21 <22', { '.': 'patchHapi', 'lib/request': 'patchRequest', 'lib/toolkit': 'patchToolkit' }),
});
