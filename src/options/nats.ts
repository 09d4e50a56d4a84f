import type { MessagingHookOptions } from '../cores/messaging';

/**
 * Options of the NATS hook: those of every messaging hook (`requireParent` for publish and request
 * spans, `consumerParent` for how a subscription's span refers to the publisher's context).
 */
export type NatsOptions = MessagingHookOptions;
