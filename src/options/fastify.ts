/** The fastify hook's options (declared in ../hooks/fastify, read by ../tracing/fastify): the HTTP server core's framework options. */
import type { FrameworkHookOptions } from '../cores/http-server';

export type FastifyOptions = FrameworkHookOptions;
