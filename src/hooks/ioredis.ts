/**
 * ioredis 5 and 6: every command through `Redis.prototype.sendCommand` (a Cluster's too, on the node it
 * goes to, with the parent it had when given to the Cluster), pipelines and MULTI through
 * `Pipeline.prototype.exec`, the commands given to an auto-pipeline through its `sendCommand` (known by
 * the symbols of `autoPipelining`), a script's call through `Script#execute`, and `connect`. What
 * ioredis does by itself (the ready handler's re-sends, a Cluster's slot refreshes, ready check and
 * redirects, a sentinel's queries, 6's HIMPORT PREPAREs, an auto-pipeline's batch, a script's re-send
 * after NOSCRIPT) is marked as its own work or makes no span of its own.
 * The span logic is in ../tracing/ioredis, loaded when ioredis is.
 */
import type { RedisOptions } from '../options/ioredis';
import { defineHook, fileTargets } from '../registry/define';

export const ioredisHook = defineHook<'ioredis', RedisOptions, typeof import('../tracing/ioredis')>({
  name: 'ioredis',
  summary: 'ioredis commands (one span per command, re-sends included), pipelines, MULTI and connections',
  tracing: () => require('../tracing/ioredis'),
  // Internal files rather than the entry, which `import Redis from 'ioredis'` loads without require().
  // 5 and 6 share sendCommand, Command's resolve/reject and the reconnect path patched here.
  targets: fileTargets('ioredis', '>=5.0.0 <7', {
    'built/Redis': 'patchRedis',
    'built/Pipeline': 'patchPipeline',
    'built/autoPipelining': 'patchAutoPipelining',
    'built/Script': 'patchScript',
    'built/redis/event_handler': 'patchEventHandler',
    'built/cluster': 'patchCluster',
    'built/cluster/ConnectionPool': 'patchConnectionPool',
    'built/cluster/ClusterSubscriber': 'patchClusterSubscriber',
    // Sharded Pub/Sub (recent 5.x, and 6).
    'built/cluster/ShardedSubscriber': 'patchShardedSubscriber',
    'built/connectors/SentinelConnector': 'patchSentinelConnector',
    // 6 only.
    'built/himport/HimportCoordinator': 'patchHimportCoordinator',
  }),
});
