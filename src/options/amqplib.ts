/** The amqplib hook's options (declared in ../hooks/amqplib, read by ../tracing/amqplib). */
import type { CommonHookOptions } from '../spans';

export interface AmqplibOptions extends CommonHookOptions {
  /**
   * How a consumer span refers to the producer's context found in the message headers: an OpenTracing
   * `followsFrom` reference (default), or `childOf`.
   */
  consumerParent?: 'followsFrom' | 'childOf';
}
