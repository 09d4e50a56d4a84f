/** bunyan's span logic: ids on each record at `Logger.prototype._emit`, before it is serialised. */
import { addIdsToRecordsOf, LogHookOptions, ResolvedLogKeys } from '../cores/log-correlation';
import type { PatchContext } from '../registry/define';

/** The hook's state: its field names, made once per install. */
export { logKeysOf as makeState } from '../cores/log-correlation';

/**
 * bunyan's entry exports the Logger class (required), or a namespace whose `default` it is (imported by
 * an ES module, through the loader); `_emit` gets a record bunyan made for this one call.
 */
export function patchLogger(exports: unknown, ctx: PatchContext<LogHookOptions, ResolvedLogKeys>): void {
  const Logger = typeof exports === 'function' ? exports : (exports as { default?: unknown } | null)?.default;
  if (typeof Logger === 'function' && typeof Logger.prototype === 'object') addIdsToRecordsOf(ctx, Logger.prototype as object, '_emit');
}
