import { FORMAT_HTTP_HEADERS, globalTracer, Tags } from 'opentracing';
import type { Span, SpanContext, Tracer } from 'opentracing';
import { storage } from './context';
import type { CommonHookOptions, HookName } from './config';
import { reportOnce } from './logger';

export type TagMap = { [key: string]: unknown };

/** What a hook sees of the registry: its name, its options and the tracer to use. */
export class ActiveHook<O extends object = object> {
  constructor(
    readonly name: HookName,
    readonly options: O,
    private readonly explicitTracer: Tracer | undefined,
  ) {}

  /** Resolved per span, so that a tracer set after install still gets every span. */
  get tracer(): Tracer {
    return this.explicitTracer ?? globalTracer();
  }
}

/**
 * Starts a client span under the active span (or `parent`), or returns undefined when the context is
 * suppressed, `requireParent` finds none, or the tracer fails.
 */
export function startClientSpan(
  hook: ActiveHook<CommonHookOptions>,
  operationName: string,
  tags: TagMap,
  parent?: Span,
): Span | undefined {
  let childOf = parent;
  if (childOf === undefined) {
    const store = storage.getStore();
    if (store !== undefined) {
      if (store.suppressed === true) return undefined;
      childOf = store.span;
    }
  }
  if (childOf === undefined && (hook.options as CommonHookOptions).requireParent === true) return undefined;
  tags[Tags.SPAN_KIND] = Tags.SPAN_KIND_RPC_CLIENT;
  try {
    return hook.tracer.startSpan(operationName, { childOf, tags });
  } catch (err) {
    reportOnce(`${hook.name}: tracer.startSpan`, err);
    return undefined;
  }
}

export function startServerSpan(hook: ActiveHook, operationName: string, tags: TagMap, parent: SpanContext | null | undefined): Span | undefined {
  tags[Tags.SPAN_KIND] = Tags.SPAN_KIND_RPC_SERVER;
  try {
    return hook.tracer.startSpan(operationName, { childOf: parent ?? undefined, tags });
  } catch (err) {
    reportOnce(`${hook.name}: tracer.startSpan`, err);
    return undefined;
  }
}

/** Injects `span`'s context into a fresh header map; undefined when the tracer fails. */
export function injectHeaders(hook: ActiveHook, span: Span): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  try {
    hook.tracer.inject(span.context(), FORMAT_HTTP_HEADERS, carrier);
    return carrier;
  } catch (err) {
    reportOnce(`${hook.name}: tracer.inject`, err);
    return undefined;
  }
}

export function extractContext(hook: ActiveHook, headers: object): SpanContext | null {
  try {
    return hook.tracer.extract(FORMAT_HTTP_HEADERS, headers);
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

export function addTags(span: Span, tags: TagMap): void {
  try {
    span.addTags(tags);
  } catch (err) {
    reportOnce('span.addTags', err);
  }
}

export function logEvent(span: Span, fields: TagMap): void {
  try {
    span.log(fields);
  } catch (err) {
    reportOnce('span.log', err);
  }
}

/** Marks `span` as failed with the OpenTracing error log fields. */
export function markError(span: Span, err: unknown, event = 'error'): void {
  const error = err as { message?: unknown; stack?: unknown } | null | undefined;
  setTag(span, Tags.ERROR, true);
  logEvent(span, {
    event,
    'error.object': err,
    message: error != null && typeof error === 'object' ? error.message : String(err),
    stack: error != null && typeof error === 'object' ? error.stack : undefined,
  });
}

/** Finishes `span`, recording `err` first when given. */
export function finishSpan(span: Span, err?: unknown): void {
  if (err !== undefined) markError(span, err);
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

/** Shortens a statement to `max` characters. */
export function truncate(text: string, max: number | undefined, fallback: number): string {
  const limit = max !== undefined && max >= 0 ? max : fallback;
  return text.length > limit ? text.slice(0, limit) : text;
}
