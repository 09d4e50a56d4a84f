/**
 * AWS SDK for JavaScript v3 (`@aws-sdk/client-*`), every service at once, through each client's middleware
 * stack: a client's first `send` (the shared `Client` class of `@smithy/core` >= 3.24, or of
 * `@smithy/smithy-client` before that) adds our middlewares to that client's stack, once; one span per
 * call, retries included. The span logic is in ../tracing/aws-sdk, loaded when that `Client` class is.
 */
import { defineHook, lazyModule } from '../registry/define';
import type { HookTarget } from '../registry/define';
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

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/aws-sdk') as typeof import('../tracing/aws-sdk'));

function clientTarget(module: string, versions: string, file?: string): HookTarget<AwsSdkOptions, undefined> {
  return { module, file, versions, patch: (exports, ctx) => tracing().patchClient(exports, ctx) };
}

export const awsSdkHook = defineHook<'aws-sdk', AwsSdkOptions, undefined>({
  name: 'aws-sdk',
  summary: 'AWS SDK v3 clients (every service, through the middleware stack): one span per call, retries included',
  targets: [
    // The Client class every @aws-sdk/client-* (>= 3.9xx) extends; `import` resolves to the same CommonJS file.
    clientTarget('@smithy/core', '>=3.24.0 <4', 'dist-cjs/submodules/client'),
    // Clients before @smithy/core took it in.
    clientTarget('@smithy/smithy-client', '>=1.0.3 <5'),
  ],
});
