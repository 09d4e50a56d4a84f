/**
 * kafkajs 2.x: a producer span per `send`/`sendBatch` (transactions' too) with the trace in each
 * message's headers, and a consumer span per message (`eachMessage`) or per batch (`eachBatch`). The
 * producer is patched where kafkajs makes it (`Kafka.prototype.producer`): a producer made before the
 * hooks were installed is not traced. The consumer side is patched on kafkajs' internal Runner, which
 * every consumer shares. The span logic is in ../tracing/kafkajs, loaded when kafkajs is.
 */
import { defineHook } from '../registry/define';
import type { KafkajsOptions } from '../options/kafkajs';

const VERSIONS = '>=2.0.0 <3';

export const kafkajsHook = defineHook<'kafkajs', KafkajsOptions, typeof import('../tracing/kafkajs')>({
  name: 'kafkajs',
  tracing: () => require('../tracing/kafkajs'),
  summary: 'kafkajs: producer spans for send/sendBatch with the trace in the message headers, consumer spans around eachMessage/eachBatch',
  targets: [
    { module: 'kafkajs', versions: VERSIONS, patch: (exports, ctx) => ctx.tracing.patchKafka(exports, ctx) },
    { module: 'kafkajs', file: 'src/consumer/runner', versions: VERSIONS, patch: (exports, ctx) => ctx.tracing.patchRunner(exports, ctx) },
  ],
});
