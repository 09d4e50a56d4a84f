/**
 * pino's span logic. pino serialises a line in `asJson` on the loggers' shared prototype: the ids are
 * put into the finished line, right after the logger's own bindings (where a mixin's fields go), so no
 * object of the app's is touched or copied and its formatters and serializers see what they saw.
 */
import path from 'node:path';
import { currentTraceIds, hasOwn, LogHookOptions, ResolvedLogKeys, TraceIds } from '../cores/log-correlation';
import { reportOnce } from '../logger';
import type { PatchContext } from '../registry/define';
import { applyArgs } from '../apply-args';

/** The hook's state: its field names, made once per install. */
export { logKeysOf as makeState } from '../cores/log-correlation';

interface PinoSymbols {
  asJsonSym: symbol;
  chindingsSym: symbol;
  lsCacheSym: symbol;
}

type PinoLogger = { [key: symbol]: unknown };

/**
 * Whether the finished line already has `key` at its top level: from the app's object, a mixin, the
 * bindings or what a `formatters.log` returned (which this wrapper never sees as an object). The line is
 * parsed only when the key's text is in it; a line that is not JSON counts as having it.
 */
function lineHas(line: string, key: string): boolean {
  if (!line.includes(`${JSON.stringify(key)}:`)) return false;
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed === null || typeof parsed !== 'object' || hasOwn(parsed, key);
  } catch {
    return true;
  }
}

/** `,"key":"value"` for each id the line does not have yet. */
function idFields(ids: TraceIds, keys: ResolvedLogKeys, line: string): string {
  let fields = '';
  const add = (key: string, value: string | undefined): void => {
    if (value === undefined || lineHas(line, key)) return;
    fields += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  };
  add(keys.traceId, ids.traceId);
  add(keys.spanId, ids.spanId);
  add(keys.traceFlags, ids.traceFlags);
  return fields;
}

/**
 * `lib/proto` exports a factory of objects whose prototype is every logger's. The line asJson returns
 * starts with the level, the time and the bindings, exactly as read here; a line that does not (a
 * pino that builds it otherwise) is left as it is.
 */
export function patchProto(factory: unknown, ctx: PatchContext<LogHookOptions, ResolvedLogKeys>): void {
  if (typeof factory !== 'function' || ctx.basedir === undefined) return;
  const proto = Object.getPrototypeOf((factory as () => object)()) as object;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- pino's own symbols, already loaded by lib/proto
  const { asJsonSym, chindingsSym, lsCacheSym } = require(path.join(ctx.basedir, 'lib', 'symbols')) as PinoSymbols;
  const hook = ctx.hook;
  ctx.wrap(proto, asJsonSym, (original) =>
    function (this: PinoLogger, obj: unknown, msg: unknown, num: number, time: unknown): unknown {
      const line = applyArgs(original, this, arguments);
      if (!hook.enabled || typeof line !== 'string') return line;
      const ids = currentTraceIds();
      if (ids === undefined) return line;
      try {
        const bindings = String(this[chindingsSym] ?? '');
        const head = `${(this[lsCacheSym] as Record<number, string> | undefined)?.[num]}${time ?? ''}${bindings}`;
        if (!line.startsWith(head)) return line;
        let fields = idFields(ids, ctx.state, line);
        if (fields === '') return line;
        // A level formatter may leave nothing after the opening brace: no comma before the first field.
        if (head.endsWith('{')) fields = fields.slice(1);
        return head + fields + line.slice(head.length);
      } catch (err) {
        reportOnce('pino: adding trace ids', err);
        return line;
      }
    },
  );
}
