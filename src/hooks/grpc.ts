/**
 * @grpc/grpc-js 1.x, client and server, every call type (unary, client-, server- and bidi-streaming):
 * client calls through `getInterceptingCall` of `build/src/client-interceptors`, server calls through
 * `Server.prototype._runHandlerForCall`. The span logic, and why these and not the methods an app calls,
 * is in ../tracing/grpc, loaded when those files of grpc-js are.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { GrpcOptions } from '../options/grpc';

export const grpcHook = defineHook<'grpc', GrpcOptions, typeof import('../tracing/grpc')>({
  name: 'grpc',
  summary: '@grpc/grpc-js client calls and server handlers, every call type (trace carried in the metadata)',
  tracing: () => require('../tracing/grpc'),
  // Internal files, not the package entry: `import grpc from '@grpc/grpc-js'` loads the entry without
  // require(), but the entry still requires these.
  // `single-subchannel-channel` (1.14+) is only noted: the calls grpc-js makes on it by itself are untraced.
  // `server-call`'s `serverErrorToStatus`: the error a handler fails with, for its server span's details.
  targets: fileTargets('@grpc/grpc-js', '>=1.10.0 <2', { 'build/src/client-interceptors': 'patchClientInterceptors', 'build/src/single-subchannel-channel': 'noteSubchannelChannel', 'build/src/server': 'patchServer', 'build/src/server-call': 'patchServerCall' }),
});
