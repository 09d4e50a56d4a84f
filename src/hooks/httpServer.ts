/**
 * Inbound `http`/`https` requests: a server span from the request's headers, active for the handler and
 * everything asynchronous it starts. The span logic is in ../tracing/httpServer, loaded when http or https
 * is.
 */
import type { HttpServerHookOptions } from '../cores/http-server';
import { defineHook, lazyModule } from '../registry/define';
import type { ServerState } from '../tracing/httpServer';

export type { HttpServerHookOptions, HttpServerOptions } from '../cores/http-server';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/httpServer') as typeof import('../tracing/httpServer'));

export const httpServerHook = defineHook<'httpServer', HttpServerHookOptions, ServerState>({
  name: 'httpServer',
  summary: 'inbound http/https requests (server spans, parent from the request headers)',
  setup: (hook) => tracing().makeState(hook),
  targets: [
    { module: 'http', patch: (exports, ctx) => tracing().patchServer(exports, ctx) },
    { module: 'https', patch: (exports, ctx) => tracing().patchServer(exports, ctx) },
  ],
});
