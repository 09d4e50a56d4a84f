/** The aws-sdk hook's options (declared in ../hooks/aws-sdk, read by ../tracing/aws-sdk). */
import type { CommonHookOptions } from '../spans';

export interface AwsSdkOptions extends CommonHookOptions {
  /** Add the trace headers to the HTTP requests the SDK sends (default true; false: the http hook adds none either). */
  propagateHeaders?: boolean;
  /**
   * Add the trace context as String message attributes to SQS `SendMessage` and `SendMessageBatch`
   * (default true). An attribute the caller set is never replaced, and none is added where it would take
   * a message past SQS's limit of 10 attributes.
   */
  sqsMessageAttributes?: boolean;
}
