/**
 * @grpc/grpc-js 1.x, client and server, every call type (unary, client-, server- and bidi-streaming):
 * client calls through `getInterceptingCall` of `build/src/client-interceptors`, server calls through
 * `Server.prototype._runHandlerForCall`. The span logic, and why these and not the methods an app calls,
 * is in ../tracing/grpc, loaded when those files of grpc-js are.
 */
import type { Matcher } from '../matchers';
import { defineHook, fileTargets, lazyModule } from '../registry/define';
import type { CommonHookOptions } from '../spans';
import type { GrpcState } from '../tracing/grpc';

export interface GrpcOptions extends CommonHookOptions {
  /**
   * Methods not to trace, as client or server (health checks, reflection): strings and RegExps match the
   * full path, `/package.Service/Method`; a function gets the path. (`requireParent` applies to client calls.)
   */
  ignoreMethods?: Matcher | Matcher[];
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/grpc') as typeof import('../tracing/grpc'));

export const grpcHook = defineHook<'grpc', GrpcOptions, GrpcState>({
  name: 'grpc',
  summary: '@grpc/grpc-js client calls and server handlers, every call type (trace carried in the metadata)',
  setup: (hook) => tracing().makeState(hook),
  // Internal files, not the package entry: `import grpc from '@grpc/grpc-js'` loads the entry without
  // require(), but the entry still requires these.
  targets: fileTargets('@grpc/grpc-js', '>=1.10.0 <2', {
    'build/src/client-interceptors': (exports, ctx) => tracing().patchClientInterceptors(exports, ctx),
    'build/src/server': (exports, ctx) => tracing().patchServer(exports, ctx),
  }),
});
