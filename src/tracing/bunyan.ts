/** bunyan's span logic: ids on each record at `Logger.prototype._emit`, before it is serialised. */
import { addIdsToRecordsOf, LogHookOptions, ResolvedLogKeys } from '../cores/log-correlation';
import { entryClass } from '../registry/define';
import type { PatchContext } from '../registry/define';

/** The hook's state: its field names, made once per install. */
export { logKeysOf as makeState } from '../cores/log-correlation';

/** bunyan's entry exports the Logger class; `_emit` gets a record bunyan made for this one call. */
export function patchLogger(exports: unknown, ctx: PatchContext<LogHookOptions, ResolvedLogKeys>): void {
  const proto = entryClass(exports)?.prototype;
  if (proto !== null && typeof proto === 'object') addIdsToRecordsOf(ctx, proto, '_emit');
}
