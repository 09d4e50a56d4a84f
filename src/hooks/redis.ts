/**
 * node-redis (`redis` 4 to 6, i.e. `@redis/client` 1, 5 and 6): every command, through
 * `RedisCommandsQueue.prototype.addCommand`, with the client's entry points, MULTI, pipelines and
 * `connect`, and 5+'s client pool. The span logic is in ../tracing/redis, loaded when @redis/client is.
 */
import type { RedisOptions } from '../options/redis';
import { defineHook, fileTargets } from '../registry/define';

type Tracing = typeof import('../tracing/redis');

export const redisHook = defineHook<'redis', RedisOptions, Tracing>({
  name: 'redis',
  summary: 'node-redis commands (promise API and legacy mode), MULTI, pipelines and connections',
  tracing: () => require('../tracing/redis'),
  targets: [
    // @redis/client went from 1.x (redis 4) to 5.x (redis 5); 2 to 4 exist only as 2.0.0-next previews.
    fileTargets('@redis/client', '>=1.0.0 <7', {
      'dist/lib/client/commands-queue': 'patchCommandsQueue',
      'dist/lib/client': 'patchClient',
      'dist/lib/cluster/cluster-slots': 'patchClusterSlots',
      'dist/lib/sentinel': 'patchSentinel',
    }),
    fileTargets('@redis/client', '>=1.0.0 <2', { 'dist/lib/commander': 'patchCommander' }),
    fileTargets('@redis/client', '>=5.0.0 <7', {
      'dist/lib/commands/generic-transformers': 'patchGenericTransformers',
      'dist/lib/client/pool': 'patchPool',
    }),
  ],
});
