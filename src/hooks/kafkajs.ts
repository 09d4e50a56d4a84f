/**
 * kafkajs 2.x: a producer span per `send`/`sendBatch` (transactions' too) with the trace in each
 * message's headers, and a consumer span per message (`eachMessage`) or per batch (`eachBatch`). The
 * producer is patched where kafkajs makes it (`Kafka.prototype.producer`): a producer made before the
 * hooks were installed is not traced. The consumer side is patched on kafkajs' internal Runner, which
 * every consumer shares; broker connections (`src/network/connection`) open outside any request, and a
 * broker's produce requests (`src/broker`) give a send's span its peer. The span logic is in
 * ../tracing/kafkajs, loaded when kafkajs is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { KafkajsOptions } from '../options/kafkajs';

export const kafkajsHook = defineHook<'kafkajs', KafkajsOptions, typeof import('../tracing/kafkajs')>({
  name: 'kafkajs',
  tracing: () => require('../tracing/kafkajs'),
  summary: 'kafkajs: producer spans for send/sendBatch with the trace in the message headers, consumer spans around eachMessage/eachBatch',
  targets: fileTargets('kafkajs', '>=2.0.0 <3', { src: 'patchKafka', 'src/consumer/runner': 'patchRunner', 'src/network/connection': 'patchConnection', 'src/broker': 'patchBroker' }),
});
