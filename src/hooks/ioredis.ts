/**
 * ioredis 5 and 6: every command through `Redis.prototype.sendCommand` (a Cluster's too, on the node it
 * goes to), pipelines and MULTI through `Pipeline.prototype.exec`, and `connect`. The span logic is in
 * ../tracing/ioredis, loaded when ioredis is.
 */
import type { RedisOptions } from '../cores/redis';
import { defineHook, fileTargets, lazyModule } from '../registry/define';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/ioredis') as typeof import('../tracing/ioredis'));

export const ioredisHook = defineHook<'ioredis', RedisOptions>({
  name: 'ioredis',
  summary: 'ioredis commands (one span per command, re-sends included), pipelines, MULTI and connections',
  // Internal files rather than the entry, which `import Redis from 'ioredis'` loads without require().
  // 5 and 6 share sendCommand, Command's resolve/reject and the reconnect path patched here.
  targets: fileTargets('ioredis', '>=5.0.0 <7', {
    'built/Redis': (exports, ctx) => tracing().patchRedis(exports, ctx),
    'built/Pipeline': (exports, ctx) => tracing().patchPipeline(exports, ctx),
  }),
});
