/**
 * fastify 4 and 5: names the server span that httpServer opened after the route, records errors, runs
 * the handler and onTimeout hooks in the request's context, without adding hooks to an app's instances
 * or replacing the handlers it registers (see ../tracing/fastify).
 */
import type { FastifyOptions } from '../options/fastify';
import { defineHook } from '../registry/define';

export const fastifyHook = defineHook<'fastify', FastifyOptions, typeof import('../tracing/fastify')>({
  name: 'fastify',
  tracing: () => require('../tracing/fastify'),
  summary: 'fastify 4/5 routes: names the httpServer span after the route, records errors',
  targets: [
    // With fastify 5's reply module, its handler's tracing channel is subscribed to as well.
    { module: 'fastify', file: 'lib/reply', versions: '>=4 <6', patch: 'patchReply' },
    // fastify 4 publishes no such channel.
    { module: 'fastify', file: 'lib/context', versions: '>=4 <5', patch: 'patchContext' },
    // The hook runners (naming before the hooks run; onTimeout's in the request's context) and the body
    // parser, in the file of either name (fastify 4's, camelCase, and later fastify 5's, kebab-case).
    { module: 'fastify', file: 'lib/hooks', versions: '>=4 <6', patch: 'patchHooks' },
    { module: 'fastify', file: 'lib/content-type-parser', versions: '>=4 <6', patch: 'patchBodyParser' },
    { module: 'fastify', file: 'lib/contentTypeParser', versions: '>=4 <6', patch: 'patchBodyParser' },
  ],
});
