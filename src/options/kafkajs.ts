import type { MessagingHookOptions } from '../cores/messaging';

/**
 * Options of the kafkajs hook: those of every messaging hook (`requireParent` for producer spans,
 * `consumerParent` for how a consumer span refers to the producer's context).
 */
export type KafkajsOptions = MessagingHookOptions;
