/**
 * axios 1.x and 0.x: a request interceptor on the default instance and on `create()` instances puts a
 * traced adapter into each request's own config, one span per attempt. The span logic is in
 * ../tracing/axios, loaded when axios is.
 */
import type { HttpClientOptions, HttpClientState } from '../cores/http-client';
import { defineHook, lazyModule } from '../registry/define';

export type AxiosOptions = HttpClientOptions;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/axios') as typeof import('../tracing/axios'));

export const axiosHook = defineHook<'axios', AxiosOptions, HttpClientState<AxiosOptions>>({
  name: 'axios',
  summary: 'axios 1.x and 0.19+ requests (default instance, create() instances), one span per attempt',
  setup: (hook) => tracing().makeState(hook),
  targets: [
    {
      module: 'axios',
      versions: '>=0.19.0 <2',
      patch: (exports, ctx) => tracing().patchAxios(exports, ctx),
    },
  ],
});
