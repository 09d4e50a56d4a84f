/**
 * AWS SDK for JavaScript v3 (`@aws-sdk/client-*`), every service at once, through each client's middleware
 * stack: a client's first `send` (the shared `Client` class of `@smithy/core` >= 3.24, or of
 * `@smithy/smithy-client` before that) adds our middlewares to that client's stack, once; one span per
 * call, retries included. The span logic is in ../tracing/aws-sdk, loaded when that `Client` class is.
 */
import { defineHook } from '../registry/define';
import type { HookTarget } from '../registry/define';
import type { AwsSdkOptions } from '../options/aws-sdk';

type Tracing = typeof import('../tracing/aws-sdk');

function clientTarget(module: string, versions: string, file?: string): HookTarget<AwsSdkOptions, undefined, Tracing> {
  return { module, file, versions, patch: 'patchClient' };
}

export const awsSdkHook = defineHook<'aws-sdk', AwsSdkOptions, Tracing>({
  name: 'aws-sdk',
  summary: 'AWS SDK v3 clients (every service, through the middleware stack): one span per call, retries included',
  tracing: () => require('../tracing/aws-sdk'),
  targets: [
    // The Client class every @aws-sdk/client-* (>= 3.9xx) extends; `import` resolves to the same CommonJS file.
    clientTarget('@smithy/core', '>=3.24.0 <4', 'dist-cjs/submodules/client'),
    // Clients before @smithy/core took it in.
    clientTarget('@smithy/smithy-client', '>=1.0.3 <5'),
  ],
});
