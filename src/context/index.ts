import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span, SpanContext } from 'opentracing';
import { GENERATION } from '../active-copy';

/**
 * What an outbound client call that is already being traced (axios, say) tells the lower transport
 * (http, undici) running inside it, so that one logical call yields one span.
 */
export interface OutboundCall {
  readonly span: Span;
  readonly component: string;
  /** Set by the transport once it has injected the trace headers. */
  injected?: boolean;
  /** Called by the transport with the status code it saw. */
  onStatus?(status: number): void;
  /** Set when the outer call has finished: a late re-send is no longer part of it. */
  finished?: boolean;
}

export interface RequestContext {
  readonly span: Span | undefined;
  /** No span is made in a suppressed context (a tracer exporting its own spans). */
  readonly suppressed?: boolean;
  /**
   * The library of the hook so named is doing work of its own here (a cluster's topology refresh): that
   * hook makes no span; the others make root spans, or children of `span` where a span of that hook's
   * covers the work (node-redis's EVAL after a NOSCRIPT).
   */
  readonly ownWorkOf?: string;
  readonly outbound?: OutboundCall;
  /** An incoming request's trace context where no server span was made: outbound calls continue it. */
  readonly parentContext?: SpanContext;
}

/**
 * One store for every copy of this package in the process that has this generation of it (see
 * src/active-copy): a span the app makes active through one copy is the parent of the hooks' spans of
 * the copy that installed them.
 */
const kStorage = Symbol.for(`opentracing-client-hooks.context.${GENERATION}`);
export const storage: AsyncLocalStorage<RequestContext> = ((globalThis as { [kStorage]?: AsyncLocalStorage<RequestContext> })[kStorage] ??=
  new AsyncLocalStorage<RequestContext>());

/** The active span of the current request context, if any. */
export function currentSpan(): Span | undefined {
  const store = storage.getStore();
  return store === undefined ? undefined : store.span;
}

/** Runs `fn` with `span` active, and everything asynchronous that `fn` starts; under `suppressTracing`, still no span is made there. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return storage.run(storage.getStore()?.suppressed === true ? { span, suppressed: true } : { span }, fn);
}

/** OpenTelemetry API 1.x's global registry, shared by every copy of the API: its `context` is the app's context manager. */
const OTEL_API = Symbol.for('opentelemetry.js.api.1');
/** The context key of `suppressTracing` in `@opentelemetry/core` (a `Symbol.for`, the same in every copy). */
const OTEL_SUPPRESS_TRACING = Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

interface OtelContextManager {
  active(): { getValue(key: symbol): unknown } | undefined;
}

/**
 * Whether OpenTelemetry's active context has tracing suppressed (`suppressTracing` of @opentelemetry/core,
 * which the SDK's span processors apply around each export, and instrumentations around their own inner
 * calls): OpenTelemetry's instrumentations make no span there, and neither do the hooks. Read through the
 * API's global registry, so nothing is loaded for an app without OpenTelemetry.
 */
export function otelTracingSuppressed(): boolean {
  const manager = (globalThis as { [OTEL_API]?: { context?: OtelContextManager } })[OTEL_API]?.context;
  if (manager === undefined) return false;
  try {
    return manager.active()?.getValue(OTEL_SUPPRESS_TRACING) === true;
  } catch {
    return false;
  }
}

interface OtelContext {
  getValue(key: symbol): unknown;
  deleteValue?(key: symbol): OtelContext;
}

/**
 * Runs `fn` in OpenTelemetry's active context without its tracing suppression, when it has one (a server's
 * request: the context its socket carries is the one its `listen()` ran in, no context of the request's).
 */
export function outsideOtelSuppression<A extends unknown[], T>(fn: (...args: A) => T, thisArg: unknown, args: A): T {
  const manager = (globalThis as { [OTEL_API]?: { context?: OtelContextManager & { with?(c: OtelContext, f: () => T): T } } })[OTEL_API]?.context;
  let active: OtelContext | undefined;
  try {
    active = manager?.active() as OtelContext | undefined;
  } catch {
    active = undefined;
  }
  if (active === undefined || active.getValue(OTEL_SUPPRESS_TRACING) !== true || typeof active.deleteValue !== 'function' || typeof manager?.with !== 'function') {
    return Reflect.apply(fn, thisArg, args);
  }
  return manager.with(active.deleteValue(OTEL_SUPPRESS_TRACING), () => Reflect.apply(fn, thisArg, args));
}

/** Whether no span is made in `store` (the current context): ours suppressed, or OpenTelemetry's. */
export function isSuppressed(store: RequestContext | undefined): boolean {
  return store?.suppressed === true || otelTracingSuppressed();
}

/** Runs `fn` with tracing switched off, for a tracer's own export traffic. */
export function suppressTracing<T>(fn: () => T): T {
  const store = storage.getStore();
  return storage.run({ span: store?.span, suppressed: true }, fn);
}


/** Runs a transport call with `outbound` marking the client span that already covers it. */
export function withOutbound<T>(outbound: OutboundCall, fn: () => T): T {
  const store = storage.getStore();
  return storage.run({ span: store?.span, outbound }, fn);
}

/** The span that client spans started now take for parent, inside an `asParentNow` wrapper, and the context it was set in. */
let synchronousParent: Span | undefined;
let synchronousParentStore: RequestContext | undefined;

/**
 * Wraps `original` so that, when `spanOf(this)` names a span, that span is the parent of the client spans
 * the call starts before it returns (a driver's query under the knex query that sends it at once),
 * without entering a context, which would switch on the promise hooks for every promise after it. What
 * the call leaves for later runs in the caller's context. One frame, and `original` called from it: a
 * driver may keep the call site's stack for its errors.
 */
export function asParentNow(spanOf: (thisArg: unknown) => Span | undefined) {
  return (original: (...args: any[]) => any): ((...args: any[]) => any) =>
    function (this: unknown): any {
      const span = spanOf(this);
      if (span === undefined) return original.apply(this, arguments as unknown as unknown[]);
      const previousSpan = synchronousParent;
      const previousStore = synchronousParentStore;
      synchronousParent = span;
      synchronousParentStore = storage.getStore();
      try {
        return original.apply(this, arguments as unknown as unknown[]);
      } finally {
        synchronousParent = previousSpan;
        synchronousParentStore = previousStore;
      }
    };
}

/** The span `asParentNow` set, while `store` is still the context it was set in (no nested run changed it). */
export function parentNow(store: RequestContext | undefined): Span | undefined {
  return synchronousParent !== undefined && store === synchronousParentStore ? synchronousParent : undefined;
}

/** The outbound call of the transport calls made now, inside `asOutbound`. */
let synchronousOutbound: OutboundCall | undefined;
/** A request's callback -> the outbound call it was first sent under: a library re-sends with it (redirects). */
const resends = new WeakMap<object, OutboundCall>();

/**
 * `withOutbound` for a transport that sends before `fn` returns, without entering a context (which
 * would switch on the promise hooks for every promise after it). A later request the transport sends
 * with the same callback (follow-redirects' hops) still adds to `outbound`, until it has finished.
 */
export function asOutbound<T>(outbound: OutboundCall, fn: () => T): T {
  const previous = synchronousOutbound;
  synchronousOutbound = outbound;
  try {
    return fn();
  } finally {
    synchronousOutbound = previous;
  }
}

/** The outer client call a transport call starting now adds to; `callback` is the request's own, if any. */
export function outboundOf(store: RequestContext | undefined, callback?: unknown): OutboundCall | undefined {
  const now = synchronousOutbound;
  if (now !== undefined) {
    if (typeof callback === 'function') resends.set(callback, now);
    return now;
  }
  if (store?.outbound !== undefined || typeof callback !== 'function') return store?.outbound;
  const first = resends.get(callback);
  return first?.finished === true ? undefined : first;
}
