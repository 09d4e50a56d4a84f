/** winston's span logic: ids on each record at `Logger.prototype.write`, before any format runs. */
import { addIdsToRecordsOf, LogHookOptions, ResolvedLogKeys } from '../cores/log-correlation';
import type { PatchContext } from '../registry/define';

/** The hook's state: its field names, made once per install. */
export { logKeysOf as makeState } from '../cores/log-correlation';

/** `lib/winston/logger` exports the Logger class; every logger (and child logger) writes through it. */
export function patchLogger(Logger: unknown, ctx: PatchContext<LogHookOptions, ResolvedLogKeys>): void {
  if (typeof Logger === 'function' && typeof Logger.prototype === 'object') addIdsToRecordsOf(ctx, Logger.prototype as object, 'write');
}
