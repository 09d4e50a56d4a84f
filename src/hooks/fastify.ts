/**
 * fastify 4 and 5: every instance (announced on the `fastify.initialization` diagnostics channel) gets
 * hooks that name the server span that httpServer opened after the route and record errors. An instance
 * keeps its hooks for good and they answer to whichever install is current. The span logic is in
 * ../tracing/fastify, loaded when the first fastify instance is made.
 */
import type { FrameworkHookOptions } from '../cores/http-server';
import { defineHook, lazyModule } from '../registry/define';

export type FastifyOptions = FrameworkHookOptions;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/fastify') as typeof import('../tracing/fastify'));

export const fastifyHook = defineHook<'fastify', FastifyOptions>({
  name: 'fastify',
  summary: 'fastify 4/5 routes: names the httpServer span after the route, records errors',
  targets: [],
  enable({ hook, subscribe }) {
    subscribe('fastify.initialization', (message) => tracing().onInitialization(hook, message));
  },
});
