/**
 * axios 1.x and 0.x: a request interceptor on the default instance and on `create()` instances puts a
 * traced adapter into each request's own config, one span per attempt. The span logic is in
 * ../tracing/axios, loaded when axios is.
 */
import type { AxiosOptions } from '../options/axios';
import { defineHook } from '../registry/define';

export const axiosHook = defineHook<'axios', AxiosOptions, typeof import('../tracing/axios')>({
  name: 'axios',
  summary: 'axios 1.x and 0.19+ requests (default instance, create() instances), one span per attempt',
  tracing: () => require('../tracing/axios'),
  targets: [{ module: 'axios', versions: '>=0.19.0 <2', patch: 'patchAxios' }],
});
