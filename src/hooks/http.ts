/**
 * `http`/`https` `request` and `get`, every call form, and the `http2` client (`connect(...).request(...)`).
 * The span logic is in ../tracing/http, loaded when http or https is, and ../tracing/http2, loaded when
 * http2 is.
 */
import type { HttpOptions } from '../options/http';
import { defineHook } from '../registry/define';

export const httpHook = defineHook<'http', HttpOptions, typeof import('../tracing/http')>({
  name: 'http',
  summary: 'outbound http/https requests (request and get, every call form) and http2 client requests',
  tracing: () => require('../tracing/http'),
  targets: [
    { module: 'http', patch: (exports, ctx) => ctx.tracing.patchModule(exports, ctx, 'http') },
    { module: 'https', patch: (exports, ctx) => ctx.tracing.patchModule(exports, ctx, 'https') },
    // Costly to load (tens of milliseconds): patched only once the app loads it.
    { module: 'http2', patch: (exports, ctx) => (require('../tracing/http2') as typeof import('../tracing/http2')).patchHttp2Client(exports, ctx), onDemand: true },
  ],
});
