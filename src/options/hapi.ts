/** The hapi hook's options (declared in ../hooks/hapi, read by ../tracing/hapi): the HTTP server core's framework options. */
import type { FrameworkHookOptions } from '../cores/http-server';

export type HapiOptions = FrameworkHookOptions;
