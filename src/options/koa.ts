/** The koa hook's options (declared in ../hooks/koa, read by ../tracing/koa): the HTTP server core's framework options. */
import type { FrameworkHookOptions } from '../cores/http-server';

export type KoaOptions = FrameworkHookOptions;
