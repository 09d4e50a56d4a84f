/**
 * Inbound `http`/`https` requests and `http2` ones (its compatibility API's requests, its core API's
 * streams): a server span from the request's headers, active for the handler and everything asynchronous
 * it starts. The span logic is in ../tracing/httpServer, loaded when http, https or http2 is.
 */
import type { HttpServerHookOptions } from '../options/httpServer';
import { defineHook } from '../registry/define';

export const httpServerHook = defineHook<'httpServer', HttpServerHookOptions, typeof import('../tracing/httpServer')>({
  name: 'httpServer',
  summary: 'inbound http/https/http2 requests (server spans, parent from the request headers)',
  tracing: () => require('../tracing/httpServer'),
  targets: [
    { module: 'http', patch: 'patchServer' },
    { module: 'https', patch: 'patchServer' },
    // Costly to load (tens of milliseconds): patched only once the app loads it.
    { module: 'http2', patch: 'patchHttp2Server', onDemand: true },
  ],
});
