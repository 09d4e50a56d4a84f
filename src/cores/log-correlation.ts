/**
 * Log correlation, shared by the pino, winston and bunyan hooks: the ids of the active span, under the
 * field names OpenTelemetry's log instrumentations use (`trace_id`, `span_id`, `trace_flags`) or the
 * app's own (`logKeys`). Ids come from OpenTracing 0.14's `toTraceId()`/`toSpanId()`, so any tracer that
 * has them works; one without them adds nothing, and nothing is added outside a span.
 */
import type { SpanContext } from 'opentracing';
import { currentSpan } from '../context';
import { reportOnce } from '../logger';
import type { ActiveHook, PatchContext } from '../registry/define';
import { applyArgs } from '../apply-args';

export interface LogKeys {
  /** Default `trace_id`. */
  traceId?: string;
  /** Default `span_id`. */
  spanId?: string;
  /** Default `trace_flags`. */
  traceFlags?: string;
}

/** Options of the log hooks (pino, winston, bunyan). */
export interface LogHookOptions {
  /** Field names for the ids, e.g. `{ traceId: 'dd.trace_id', spanId: 'dd.span_id' }`. */
  logKeys?: LogKeys;
}

export interface TraceIds {
  traceId: string;
  spanId: string;
  /** `01` when sampled, `00` when not; absent when the tracer does not say. */
  traceFlags?: string;
}

/** The field names a hook writes, resolved once per install. */
export interface ResolvedLogKeys {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: string;
}

export function resolveLogKeys(options: LogHookOptions): ResolvedLogKeys {
  const keys = options.logKeys ?? {};
  const name = (value: unknown, fallback: string): string => (typeof value === 'string' && value !== '' ? value : fallback);
  return { traceId: name(keys.traceId, 'trace_id'), spanId: name(keys.spanId, 'span_id'), traceFlags: name(keys.traceFlags, 'trace_flags') };
}

type ContextWithFlags = SpanContext & {
  /** The built-in tracer's. */
  traceFlags?: unknown;
  /** jaeger-client's. */
  isSampled?: () => unknown;
  /** The OpenTelemetry shim's. */
  getSpanContext?: () => { traceFlags?: unknown } | undefined;
};

/** The sampled flag as W3C trace-flags hex, from whichever form the tracer's context has. */
function traceFlagsOf(context: ContextWithFlags): string | undefined {
  let flags: unknown = context.traceFlags;
  if (typeof flags !== 'number' && typeof context.isSampled === 'function') flags = context.isSampled() === true ? 1 : 0;
  if (typeof flags !== 'number' && typeof context.getSpanContext === 'function') flags = context.getSpanContext()?.traceFlags;
  return typeof flags === 'number' && flags >= 0 && flags <= 0xff ? (flags < 16 ? '0' : '') + flags.toString(16) : undefined;
}

/** The active span's trace and span ids, or undefined outside a span or with a tracer that has no ids. */
export function currentTraceIds(): TraceIds | undefined {
  const span = currentSpan();
  if (span === undefined) return undefined;
  try {
    const context = span.context() as ContextWithFlags;
    const traceId = context.toTraceId();
    const spanId = context.toSpanId();
    if (typeof traceId !== 'string' || traceId === '' || typeof spanId !== 'string' || spanId === '') return undefined;
    const traceFlags = traceFlagsOf(context);
    return traceFlags === undefined ? { traceId, spanId } : { traceId, spanId, traceFlags };
  } catch (err) {
    reportOnce('log correlation: span context ids', err);
    return undefined;
  }
}

export function hasOwn(record: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, key);
}

/** The hook's field names, made once per install (its state: the log hooks' span logic exports this as `makeState`). */
export function logKeysOf(hook: ActiveHook<LogHookOptions>): ResolvedLogKeys {
  return resolveLogKeys(hook.options);
}

/**
 * The ids put on each record, by record. winston hands its formats the app's own object when one is
 * logged (`logger.info({ message })`, `logger.log(info)`, an Error): an object logged again must not keep
 * an earlier span's ids, inside another span or outside any.
 */
const stamped = new WeakMap<object, Record<string, string>>();
/** Whether any record was stamped: until then (no tracer, no span yet) nothing is looked up. */
let anyStamped = false;

/** Takes out of `record` the ids an earlier call put on it that are still as put. */
function unstamp(record: Record<string, unknown>): void {
  if (!anyStamped) return;
  const earlier = stamped.get(record);
  if (earlier === undefined) return;
  stamped.delete(record);
  for (const key of Object.keys(earlier)) if (hasOwn(record, key) && record[key] === earlier[key]) delete record[key];
}

/** Sets the ids on `record` under `keys`, leaving every field the record already has as it is; remembers what it set. */
function stamp(record: Record<string, unknown>, keys: ResolvedLogKeys, ids: TraceIds): void {
  const added: Record<string, string> = {};
  const set = (key: string, value: string | undefined): void => {
    if (value === undefined || hasOwn(record, key)) return;
    record[key] = value;
    added[key] = value;
  };
  set(keys.traceId, ids.traceId);
  set(keys.spanId, ids.spanId);
  set(keys.traceFlags, ids.traceFlags);
  if (Object.keys(added).length === 0) return;
  stamped.set(record, added);
  anyStamped = true;
}

/**
 * Wraps `target[method]`, whose first argument is the record being logged (winston's info, bunyan's
 * record), so that a record logged inside a span gets the ids before the logger formats or writes it.
 * Records the logger cannot take fields on (frozen ones) are left as they are.
 */
export function addIdsToRecordsOf(ctx: PatchContext<LogHookOptions, ResolvedLogKeys>, target: object, method: string): void {
  const hook = ctx.hook;
  ctx.wrap(target, method, (original) =>
    function (this: unknown, record: unknown): unknown {
      if (hook.enabled && record !== null && typeof record === 'object') {
        try {
          unstamp(record as Record<string, unknown>);
          const ids = currentTraceIds();
          if (ids !== undefined && Object.isExtensible(record)) stamp(record as Record<string, unknown>, ctx.state, ids);
        } catch (err) {
          reportOnce(`${hook.name}: adding trace ids`, err);
        }
      }
      return applyArgs(original, this, arguments);
    },
  );
}
