/**
 * bullmq 5.22+ (the first with bullmq's own `telemetry` job option, where the context is kept) and 6: a
 * `bullmq.add` producer span per job added through `Queue.add`, `Queue.addBulk`, `FlowProducer.add` and
 * `FlowProducer.addBulk`, its context stored with the job; a
 * `bullmq.process` consumer span per attempt of a Worker's processor; bullmq's own Redis traffic
 * (worker loops, locks, stalled checks, QueueEvents, connection set-up) runs with tracing suppressed.
 * The patches are on the classes the package entry exports (CommonJS and ES-module builds alike). The span
 * logic is in ../tracing/bullmq, loaded when bullmq is. In a sandboxed processor's child, bullmq's
 * main-base is patched so that the processor continues the job's trace.
 */
import type { BullmqOptions } from '../options/bullmq';
import { defineHook, fileTargets } from '../registry/define';

export type { BullmqOptions } from '../options/bullmq';

export const bullmqHook = defineHook<'bullmq', BullmqOptions, typeof import('../tracing/bullmq')>({
  name: 'bullmq',
  tracing: () => require('../tracing/bullmq'),
  summary: 'bullmq: producer spans for jobs added (context kept in the job), consumer spans per processing attempt; no spans for its own Redis traffic',
  // A sandboxed processor's child runs bullmq's main-base by path, never the package entry.
  targets: fileTargets('bullmq', '>=5.22.0 <7', { '.': 'patchBullmq', 'dist/cjs/classes/main-base': 'patchSandboxChild' }),
});
