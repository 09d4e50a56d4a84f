/**
 * Inbound `http`/`https` requests: a server span from the request's headers, active for the handler and
 * everything asynchronous it starts. The span logic is in ../tracing/httpServer, loaded when http or https
 * is.
 */
import type { HttpServerHookOptions } from '../options/httpServer';
import { defineHook } from '../registry/define';

export const httpServerHook = defineHook<'httpServer', HttpServerHookOptions, typeof import('../tracing/httpServer')>({
  name: 'httpServer',
  summary: 'inbound http/https requests (server spans, parent from the request headers)',
  tracing: () => require('../tracing/httpServer'),
  targets: [
    { module: 'http', patch: 'patchServer' },
    { module: 'https', patch: 'patchServer' },
  ],
});
