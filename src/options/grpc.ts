/** The grpc hook's options (declared in ../hooks/grpc, read by ../tracing/grpc). */
import type { Matcher } from '../matchers';
import type { CommonHookOptions } from '../spans';

export interface GrpcOptions extends CommonHookOptions {
  /**
   * Methods not to trace, as client or server (health checks, reflection): strings and RegExps match the
   * full path, `/package.Service/Method`; a function gets the path. (`requireParent` applies to client calls.)
   */
  ignoreMethods?: Matcher | Matcher[];
}
