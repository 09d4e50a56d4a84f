import { FORMAT_HTTP_HEADERS, Span as BaseSpan, Tags, Tracer } from 'opentracing';
import type { Span, SpanContext, SpanOptions } from 'opentracing';
import { otelTracingSuppressed, parentNow, storage } from './context';
import { inNoopWindow, startNoopWindow, tracerIsDefaultNoop, tracerOf } from './hook-tracer';
import type { ActiveHook } from './registry/define';
import { reportOnce } from './logger';
import { validTraceHeaders } from './trace-headers';

export type TagMap = { [key: string]: unknown };

/** Options every hook takes. */
export interface CommonHookOptions {
  /** Make no span when no span is active (default false: a root span is made). */
  requireParent?: boolean;
  /**
   * Tags added to every span the hook makes (the hook's own tags win on a clash). Given at the top level
   * and per hook (merged, the hook's winning), and through `OT_SPAN_TAGS=key=value,...`.
   */
  spanTags?: { [key: string]: string | number | boolean };
  /** Hooks that carry the trace on (HTTP, gRPC, messaging): `false` still makes spans but sends no trace headers. */
  propagate?: boolean;
  /**
   * `peer.service` of client and producer spans by where they go: `host:port` or `host` (the first that
   * matches), e.g. `{ 'payments.internal:8443': 'payments', 'api.stripe.com': 'stripe' }`.
   */
  peerService?: { [hostOrHostPort: string]: string };
}

/** opentracing's shared no-op span: what the default tracer (and a bare `Tracer`) returns. */
const NOOP_SPAN = new Tracer().startSpan('noop');
/**
 * How long a tracer that gave a no-op span is taken for a no-op without asking it again. The window
 * also ends when the app calls initGlobalTracer (see install.ts), so a tracer set later is used at once.
 */
const NOOP_RECHECK_MS = 1000;

/**
 * The span `startSpan` returned, or undefined (the window set) when it is the no-op span of opentracing's
 * default global tracer. Any other tracer's no-op span is a span like another (a sampler's "not this one").
 */
function recorded(hook: ActiveHook, span: Span): Span | undefined {
  if (span !== NOOP_SPAN || !tracerIsDefaultNoop(hook)) return span;
  startNoopWindow(hook, NOOP_RECHECK_MS);
  return undefined;
}

/** An incoming request's context as a parent, in a request that has no span of its own (untraced). */
class IncomingParent extends BaseSpan {
  constructor(private readonly parentContext: SpanContext) {
    super();
  }
  protected override _context(): SpanContext {
    return this.parentContext;
  }
}

/**
 * The parent for a client span: `parent`, the span `asParentNow` set, or the active span; null for a
 * root span, or undefined when no span is to be made (hook uninstalled, context suppressed by us or by
 * OpenTelemetry, the hook's library at its own work, `requireParent` without one). Decided before any tag
 * is built.
 */
export function clientParent(hook: ActiveHook<CommonHookOptions>, parent?: Span): Span | null | undefined {
  if (tracingOff(hook) || otelTracingSuppressed()) return undefined;
  if (parent !== undefined) return parent;
  const store = storage.getStore();
  const now = parentNow(store);
  if (now !== undefined) return now;
  if (store !== undefined) {
    if (store.suppressed === true || store.ownWorkOf === hook.name) return undefined;
    if (store.span !== undefined) return store.span;
    if (store.parentContext !== undefined) return new IncomingParent(store.parentContext);
  }
  return hook.options.requireParent === true ? undefined : null;
}

/** Whether no span can be made now: the hook is uninstalled, or its tracer is a no-op (see `recorded`). */
export function tracingOff(hook: ActiveHook): boolean {
  return !hook.enabled || inNoopWindow(hook);
}

/**
 * Starts a client span under `parent` (from `clientParent`); undefined when the tracer fails or is a no-op
 * (the span would record nothing, so the caller does no more work for it).
 */
export function startClientSpanUnder(hook: ActiveHook, parent: Span | null, operationName: string, tags: TagMap, startTime?: number): Span | undefined {
  tags[Tags.SPAN_KIND] = Tags.SPAN_KIND_RPC_CLIENT;
  return startSpanWith(hook, operationName, startTime === undefined ? { childOf: parent ?? undefined, tags } : { childOf: parent ?? undefined, tags, startTime });
}

/** The `peer.service` that `map` names for `host` (with `port`), if any. */
export function peerServiceOf(map: CommonHookOptions['peerService'], host: unknown, port: unknown): string | undefined {
  if (map === undefined || typeof host !== 'string' || host === '') return undefined;
  const own = (key: string): string | undefined => (Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined);
  return (port !== undefined ? own(`${host}:${port}`) : undefined) ?? own(host);
}

/**
 * Tags a span with its server, known only once the span has started (an AWS SDK request's endpoint, the
 * node a cluster's batch goes to): `tags` (its `peer.*`), and the `peer.service` the hook's map names for it.
 */
export function tagLatePeer(span: Span, peerService: CommonHookOptions['peerService'], tags: TagMap): void {
  const service = peerServiceOf(peerService, tags[Tags.PEER_HOSTNAME], tags[Tags.PEER_PORT]);
  if (service !== undefined) tags[Tags.PEER_SERVICE] = service;
  for (const key of Object.keys(tags)) setTag(span, key, tags[key]);
}

/** Adds what the user asked for on every span: static tags (under the hook's own) and `peer.service` of outbound spans. */
function addUserTags(options: CommonHookOptions, spanOptions: SpanOptions): void {
  const tags: TagMap = (spanOptions.tags ??= {});
  const kind = tags[Tags.SPAN_KIND];
  if (options.peerService !== undefined && tags[Tags.PEER_SERVICE] === undefined && (kind === Tags.SPAN_KIND_RPC_CLIENT || kind === Tags.SPAN_KIND_MESSAGING_PRODUCER)) {
    const service = peerServiceOf(options.peerService, tags[Tags.PEER_HOSTNAME], tags[Tags.PEER_PORT]);
    if (service !== undefined) tags[Tags.PEER_SERVICE] = service;
  }
  const extra = options.spanTags;
  if (extra !== undefined) {
    for (const key of Object.keys(extra)) if (tags[key] === undefined) tags[key] = extra[key];
  }
}

/** Starts a span with any options (references other than childOf); undefined when the tracer fails or is a no-op. */
export function startSpanWith(hook: ActiveHook, operationName: string, options: SpanOptions): Span | undefined {
  if (tracingOff(hook)) return undefined;
  const own = hook.options as CommonHookOptions;
  if (own.spanTags !== undefined || own.peerService !== undefined) addUserTags(own, options);
  // An untraced request's context goes to the tracer as the SpanContext it extracted: a tracer takes a
  // childOf that is not its own Span class for a context (jaeger-client does), which our stand-in is not.
  if (options.childOf instanceof IncomingParent) {
    // Object.assign: a spread's copy takes V8's slow path for each key it gets later (see own-copy.ts).
    const context = options.childOf.context();
    options = Object.assign({}, options);
    options.childOf = context;
  }
  try {
    return recorded(hook, tracerOf(hook).startSpan(operationName, options));
  } catch (err) {
    reportOnce(`${hook.name}: tracer.startSpan`, err);
    return undefined;
  }
}

export function startServerSpan(hook: ActiveHook, operationName: string, tags: TagMap, parent: SpanContext | null | undefined): Span | undefined {
  tags[Tags.SPAN_KIND] = Tags.SPAN_KIND_RPC_SERVER;
  return startSpanWith(hook, operationName, { childOf: parent ?? undefined, tags });
}

/**
 * Injects `span`'s context into a fresh header map (`format`: FORMAT_TEXT_MAP for message headers);
 * undefined when the tracer fails or the hook is not to propagate (`propagate: false`).
 */
export function injectHeaders(hook: ActiveHook, span: Span, format: string = FORMAT_HTTP_HEADERS): Record<string, string> | undefined {
  if ((hook.options as CommonHookOptions).propagate === false) return undefined;
  const carrier: Record<string, string> = {};
  try {
    tracerOf(hook).inject(span.context(), format, carrier);
    return carrier;
  } catch (err) {
    reportOnce(`${hook.name}: tracer.inject`, err);
    return undefined;
  }
}

/** The context in `headers`, from the trace headers in it that can be valid for their format (see trace-headers). */
export function extractContext(hook: ActiveHook, headers: object, format: string = FORMAT_HTTP_HEADERS): SpanContext | null {
  try {
    return tracerOf(hook).extract(format, validTraceHeaders(headers));
  } catch (err) {
    reportOnce(`${hook.name}: tracer.extract`, err);
    return null;
  }
}

export function setTag(span: Span, key: string, value: unknown): void {
  try {
    span.setTag(key, value);
  } catch (err) {
    reportOnce('span.setTag', err);
  }
}

export function logEvent(span: Span, fields: TagMap): void {
  try {
    span.log(fields);
  } catch (err) {
    reportOnce('span.log', err);
  }
}

/** Marks `span` as failed with the OpenTracing error log fields; `redact` cleans the logged message and stack. */
export function markError(span: Span, err: unknown, event = 'error', redact?: (text: string) => string): void {
  const error = err as { message?: unknown; stack?: unknown } | null | undefined;
  const clean = (text: unknown): unknown => (redact !== undefined && typeof text === 'string' ? redact(text) : text);
  setTag(span, Tags.ERROR, true);
  let message: unknown;
  let stack: unknown;
  try {
    message = clean(error != null && typeof error === 'object' ? error.message : String(err));
    stack = clean(error != null && typeof error === 'object' ? error.stack : undefined);
  } catch {
    // An error whose fields throw when read (a Proxy, a getter) is not shown; the span still finishes.
    message = 'error not shown: it could not be read';
    stack = undefined;
  }
  logEvent(span, { event, 'error.object': err, message, stack });
}

/** Finishes `span`, recording `err` first when given (logged as `event`: `error`, or `abort`, `timeout`...). */
export function finishSpan(span: Span, err?: unknown, event?: string): void {
  if (err !== undefined) markError(span, err, event);
  try {
    span.finish();
  } catch (e) {
    reportOnce('span.finish', e);
  }
}

/** Runs a user callback (requestHook, responseHook), containing whatever it throws. */
export function runUserHook(hookName: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    reportOnce(`${hookName}: user hook`, err);
  }
}
