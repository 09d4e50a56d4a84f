/**
 * The app's own spans, beside the hooks' (as the OpenTracing seeds give them): `traceFunction` wraps a
 * function so that each call runs in a child span of the current one, and `startActiveSpan` runs a
 * callback with a new span active. The hooks' spans made inside are their children. Both finish their
 * span when the function returns, or when the native promise it returns settles.
 */
import type { Span, SpanContext, SpanOptions, Tracer } from 'opentracing';
import { currentSpan, isSuppressed, storage, withSpan } from './context';
import { appTracer } from './hook-tracer';
import { reportOnce } from './logger';
import { finishSpan, runUserHook, TagMap } from './spans';
import { markAppError } from './cores/db-call';

export interface TraceFunctionOptions<A extends unknown[]> {
  /** Tags of every span. */
  tags?: TagMap;
  /** Runs as each span starts, with the call's arguments (to tag from them); errors are contained. */
  onStart?: (span: Span, ...args: A) => void;
  /** Make a span only inside a span (default true, as the seed's `traced_function`); false: a root span otherwise. */
  requireParent?: boolean;
  /** Default: the tracer given to `installAllPatches`, else opentracing's global tracer. */
  tracer?: Tracer;
}

export interface ActiveSpanOptions extends SpanOptions {
  /** Start a root span even inside a span (default false). Ignored when `childOf` or `references` is given. */
  ignoreActiveSpan?: boolean;
  /** Finish the span when `fn` returns or its promise settles (default true); false leaves it to the app. */
  finishOnClose?: boolean;
  /** Default: the tracer given to `installAllPatches`, else opentracing's global tracer. */
  tracer?: Tracer;
}

/** The active span, or the incoming request's context where no server span was made; undefined in a suppressed context. */
function activeParent(): Span | SpanContext | null | undefined {
  const store = storage.getStore();
  if (isSuppressed(store)) return undefined;
  return store?.span ?? store?.parentContext ?? null;
}

/** `caller` names the fault reported once: never the span's name, which an app may make per call. */
function startSpan(caller: 'traceFunction' | 'startActiveSpan', tracer: Tracer | undefined, name: string, options: SpanOptions): Span | undefined {
  try {
    return (tracer ?? appTracer()).startSpan(name, options);
  } catch (err) {
    reportOnce(`${caller}: tracer.startSpan`, err);
    return undefined;
  }
}

/**
 * Runs `fn` with `span` active. Its outcome is passed on exactly: a native promise comes back as one
 * chained on it (never a side `.then`, which would cost the caller's async stack frames), anything
 * else as it is. A thrown error or rejection marks the span. `settles: false` (an object `new` made,
 * which may be a promise of a Promise subclass) returns it as it is and finishes at once.
 */
function runActive<T>(span: Span, fn: () => T, finish: boolean, settles = true): T {
  let result: T;
  try {
    result = withSpan(span, fn);
  } catch (err) {
    markAppError(span, err);
    if (finish) finishSpan(span);
    throw err;
  }
  if (settles && result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        if (finish) finishSpan(span);
        return value;
      },
      (err: unknown) => {
        markAppError(span, err);
        if (finish) finishSpan(span);
        throw err;
      },
    ) as T;
  }
  if (finish) finishSpan(span);
  return result;
}

/** A `new.target`: the constructor `new` was applied to (undefined for a plain call). */
type NewTarget = Parameters<typeof Reflect.construct>[2];

/**
 * Returns a function that runs `fn` in a child span named `name` of the current span (by default only when
 * there is one), with `this`, arguments, return value and thrown error as `fn` has them, and the same
 * `name`, `length` and `prototype`. Called with `new`, it constructs as `fn` does (a class cannot be
 * applied, and an instance takes its prototype from `new.target`).
 */
export function traceFunction<A extends unknown[], R>(name: string, fn: (...args: A) => R, options: TraceFunctionOptions<A> = {}): (...args: A) => R {
  const invoke = (self: unknown, args: A, newTarget: NewTarget): R =>
    newTarget === undefined ? fn.apply(self, args) : (Reflect.construct(fn, args, newTarget) as R);
  const traced = function (this: unknown, ...args: A): R {
    const newTarget = new.target;
    const parent = activeParent();
    if (parent === undefined || (parent === null && options.requireParent !== false)) return invoke(this, args, newTarget);
    const span = startSpan('traceFunction', options.tracer, name, { childOf: parent ?? undefined, tags: options.tags === undefined ? undefined : { ...options.tags } });
    if (span === undefined) return invoke(this, args, newTarget);
    const onStart = options.onStart;
    if (onStart !== undefined) runUserHook('traceFunction onStart', () => onStart(span, ...args));
    return runActive(span, () => invoke(this, args, newTarget), true, newTarget === undefined);
  };
  Object.defineProperty(traced, 'name', { value: fn.name, configurable: true });
  Object.defineProperty(traced, 'length', { value: fn.length, configurable: true });
  // `new traced()` makes an instance of `fn.prototype` (new.target is `traced`), and `instanceof traced` holds.
  const prototype = (fn as { prototype?: unknown }).prototype;
  if (prototype !== null && typeof prototype === 'object') traced.prototype = prototype;
  return traced;
}

/**
 * Starts a span (a child of the active span unless `ignoreActiveSpan`, `childOf` or `references` says
 * otherwise), runs `fn(span)` with it active, and finishes it when `fn` returns or its promise settles
 * (unless `finishOnClose: false`). A tracer that throws costs only the span: `fn` then gets a no-op span,
 * as it does in a suppressed context, where no span is made.
 */
export function startActiveSpan<T>(name: string, options: ActiveSpanOptions, fn: (span: Span) => T): T {
  // Suppressed (suppressTracing, OpenTelemetry's): no span, and `fn` runs in this context, suppressed too.
  if (isSuppressed(storage.getStore())) return fn(noopSpan());
  const { ignoreActiveSpan, finishOnClose, tracer, ...spanOptions } = options;
  if (spanOptions.childOf === undefined && spanOptions.references === undefined && ignoreActiveSpan !== true) {
    const parent = activeParent();
    if (parent !== null && parent !== undefined) spanOptions.childOf = parent;
  }
  const span = startSpan('startActiveSpan', tracer, name, spanOptions) ?? noopSpan();
  return runActive(span, () => fn(span), finishOnClose !== false);
}

/**
 * opentracing's no-op span, loaded only when needed: opentracing must not load with the package, or the
 * registry cannot tell that its global tracer is the default no-op (see src/hook-tracer.ts).
 */
function noopSpan(): Span {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, not with the package (see above)
  const { Span: NoopSpan } = require('opentracing') as typeof import('opentracing');
  return new NoopSpan();
}

/** The active span (an alias of `currentSpan`, as the OpenTracing API names it). */
export const activeSpan = currentSpan;
