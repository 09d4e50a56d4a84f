/** The express hook's options (declared in ../hooks/express, read by ../tracing/express): the HTTP server core's framework options. */
import type { FrameworkHookOptions } from '../cores/http-server';

export type ExpressOptions = FrameworkHookOptions;
