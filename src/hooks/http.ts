/**
 * `http`/`https` `request` and `get`, every call form. The span logic is in ../tracing/http, loaded when
 * http or https is.
 */
import type { HttpOptions } from '../options/http';
import { defineHook } from '../registry/define';

export const httpHook = defineHook<'http', HttpOptions, typeof import('../tracing/http')>({
  name: 'http',
  summary: 'outbound http/https requests (request and get, every call form)',
  tracing: () => require('../tracing/http'),
  targets: [
    { module: 'http', patch: (exports, ctx) => ctx.tracing.patchModule(exports, ctx, 'http') },
    { module: 'https', patch: (exports, ctx) => ctx.tracing.patchModule(exports, ctx, 'https') },
  ],
});
