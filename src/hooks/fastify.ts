/**
 * fastify 4 and 5: every instance (announced on the `fastify.initialization` diagnostics channel) gets
 * hooks that name the server span that httpServer opened after the route and record errors. An instance
 * keeps its hooks for good and they answer to whichever install is current. The span logic is in
 * ../tracing/fastify, loaded when the first fastify instance is made.
 */
import { defineHook } from '../registry/define';
import type { FastifyOptions } from '../options/fastify';

export const fastifyHook = defineHook<'fastify', FastifyOptions, typeof import('../tracing/fastify')>({
  name: 'fastify',
  summary: 'fastify 4/5 routes: names the httpServer span after the route, records errors',
  tracing: () => require('../tracing/fastify'),
  targets: [],
  // Runs at install: `ctx.tracing` is read only when an instance is announced, as reading it loads the span logic.
  enable(ctx) {
    ctx.subscribe('fastify.initialization', (message) => ctx.tracing.onInitialization(ctx, message));
  },
});
