/** Options of the socket.io hook, read by its declaration (../hooks/socket.io) and its span logic (../tracing/socket.io). */
import type { CommonHookOptions } from '../spans';

/** `requireParent` applies to emit spans; a receive span has no parent (an event carries no trace context). */
export interface SocketIoOptions extends CommonHookOptions {
  /** Events that make no span, received or emitted (names as given to `emit`/`on`). */
  ignoreEvents?: string[];
}
