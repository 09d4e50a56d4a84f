/** The httpServer hook's options (declared in ../hooks/httpServer, read by ../tracing/httpServer): the HTTP server core's. */
export type { HttpServerHookOptions, HttpServerOptions } from '../cores/http-server';
