/**
 * `http`/`https` `request` and `get`, every call form. The span logic is in ../tracing/http, loaded when
 * http or https is.
 */
import type { HttpClientOptions, HttpClientState } from '../cores/http-client';
import { defineHook, lazyModule } from '../registry/define';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/http') as typeof import('../tracing/http'));

export const httpHook = defineHook<'http', HttpClientOptions, HttpClientState>({
  name: 'http',
  summary: 'outbound http/https requests (request and get, every call form)',
  setup: (hook) => tracing().makeState(hook),
  targets: [
    { module: 'http', patch: (exports, ctx) => tracing().patchModule(exports, ctx, 'http') },
    { module: 'https', patch: (exports, ctx) => tracing().patchModule(exports, ctx, 'https') },
  ],
});
