/** Options of the bullmq hook, read by its declaration (../hooks/bullmq) and its span logic (../tracing/bullmq). */
import type { MessagingHookOptions } from '../cores/messaging';

/**
 * `requireParent` applies to `bullmq.add` spans; a `bullmq.process` span's parent is the job's context.
 * `consumerParent` says how a process span refers to it (`followsFrom` by default).
 */
export type BullmqOptions = MessagingHookOptions;
