/** bunyan's span logic: ids on each record at `Logger.prototype._emit`, before it is serialised. */
import { addIdsToRecordsOf, LogHookOptions, ResolvedLogKeys } from '../cores/log-correlation';
import type { PatchContext } from '../registry/define';

/** The hook's state: its field names, made once per install. */
export { logKeysOf as makeState } from '../cores/log-correlation';

/** `lib/bunyan` exports the Logger class; `_emit` gets a record bunyan made for this one call. */
export function patchLogger(Logger: unknown, ctx: PatchContext<LogHookOptions, ResolvedLogKeys>): void {
  if (typeof Logger === 'function' && typeof Logger.prototype === 'object') addIdsToRecordsOf(ctx, Logger.prototype as object, '_emit');
}
