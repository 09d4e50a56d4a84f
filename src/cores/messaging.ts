/**
 * The messaging core shared by amqplib, kafkajs and NATS (and the job-queue and websocket hooks): producer
 * spans under the active span, whose context goes into the message's headers through a setter (any
 * header shape, never over a header the app set); consumer spans that follow from the contexts found in
 * the headers through a reader (Buffers decoded, names in any case), active while the handler runs. Both finish once
 * (DbCall, the finish-once call core). Payloads never come here: a span carries only the tags named
 * below and those a hook passes in `tags`.
 */
import { childOf, followsFrom, FORMAT_TEXT_MAP, Tags } from 'opentracing';
import type { Reference, Span, SpanContext } from 'opentracing';
import { isSuppressed, storage } from '../context';
import type { ActiveHook } from '../registry/define';
import { clientParent, CommonHookOptions, extractContext, injectHeaders, startSpanWith, TagMap, tracingOff } from '../spans';
import { appErrorForm, DbCall } from './db-call';
import { ownCopy } from '../own-copy';
import { headersToAdd } from '../trace-headers';
import { isPromise } from 'node:util/types';

type AnyFunction = (...args: any[]) => any;

/** Options every messaging hook takes. */
export interface MessagingHookOptions extends CommonHookOptions {
  /**
   * How a consumer span refers to the producer's context found in the message: an OpenTracing
   * `followsFrom` reference (default), or `childOf`. `requireParent` applies to producer spans only:
   * a consumer span's parent is the message.
   */
  consumerParent?: 'followsFrom' | 'childOf';
}

/** What a messaging span says: never a payload, a key or a header value. */
export interface MessageSpanSpec {
  /** `component` tag: the library. */
  component: string;
  /** `messaging.system`: `kafka`, `rabbitmq`, `nats`, ... */
  system: string;
  operationName: string;
  /** `message_bus.destination`: topic, queue, exchange or subject. */
  destination?: string;
  /** `messaging.batch.message_count`, for an operation on several messages. */
  messageCount?: number;
  /** The hook's own tags (partition, offset, routing key...). */
  tags?: TagMap;
}

export const MESSAGING_SYSTEM = 'messaging.system';
export const MESSAGE_COUNT = 'messaging.batch.message_count';

/**
 * The most references a consumer span of a batch gets: the distinct producer contexts of its messages,
 * in message order, up to OpenTelemetry's default span link limit (OTEL_SPAN_LINK_COUNT_LIMIT, 128),
 * which a tracer behind the OpenTelemetry shim would apply anyway.
 */
export const MAX_CONSUMER_REFERENCES = 128;

/** A header value longer than this (bytes or characters) is not a trace header and is not decoded. */
const MAX_HEADER_LENGTH = 8192;

function messageTags(kind: string, spec: MessageSpanSpec): TagMap {
  // Object.assign and assignments: a spread followed by keys it did not copy takes V8's slow path (about 4 µs a span).
  const tags: TagMap = Object.assign({}, spec.tags);
  tags[Tags.SPAN_KIND] = kind;
  tags[Tags.COMPONENT] = spec.component;
  tags[MESSAGING_SYSTEM] = spec.system;
  if (spec.destination !== undefined) tags[Tags.MESSAGE_BUS_DESTINATION] = spec.destination;
  if (spec.messageCount !== undefined) tags[MESSAGE_COUNT] = spec.messageCount;
  return tags;
}

// ---- producer -------------------------------------------------------------------------------------

/**
 * Starts a producer span (or, for a request that waits for its reply, `kind: 'client'`) under `parent`
 * or the active span; undefined when none is to be made (see clientParent: requireParent, suppressed).
 */
export function startProducer(
  hook: ActiveHook<CommonHookOptions>,
  spec: MessageSpanSpec,
  options: {
    kind?: 'producer' | 'client';
    parent?: Span;
    /** What the span logs of a failure, when the library's error can quote the message (see DbCall). */
    loggedError?: (err: unknown) => unknown;
  } = {},
): DbCall | undefined {
  const parent = clientParent(hook, options.parent);
  if (parent === undefined) return undefined;
  const kind = options.kind === 'client' ? Tags.SPAN_KIND_RPC_CLIENT : Tags.SPAN_KIND_MESSAGING_PRODUCER;
  const span = startSpanWith(hook, spec.operationName, { childOf: parent ?? undefined, tags: messageTags(kind, spec) });
  return span === undefined ? undefined : new DbCall(span, undefined, hook.name, options.loggedError);
}

/** Writes one header of the message being sent, as the library wants it (a string, a Buffer...). */
export type HeaderSetter = (name: string, value: string) => void;

/**
 * Injects `span`'s context (FORMAT_TEXT_MAP) through `set`, header by header, leaving out what `has` (asked
 * with lower-case names) says the app sent itself, and the rest of that format (headersToAdd). False when
 * the tracer failed (nothing was set).
 */
export function injectMessageContext(hook: ActiveHook, span: Span, set: HeaderSetter, has?: (name: string) => boolean): boolean {
  const carrier = injectHeaders(hook, span, FORMAT_TEXT_MAP);
  if (carrier === undefined) return false;
  for (const name of has === undefined ? Object.keys(carrier) : headersToAdd(Object.keys(carrier), has)) set(name, carrier[name]);
  return true;
}

/**
 * For a library that takes headers as a plain object: a new object with the app's own headers (each read
 * once, the app's object never written) and the trace headers it does not have, encoded by `encode`.
 * Undefined when the app's headers are not an object, or the tracer failed: send the app's as they are.
 */
export function withTraceHeaders(
  hook: ActiveHook,
  span: Span,
  appHeaders: unknown,
  encode: (value: string) => unknown = (value) => value,
): Record<string, unknown> | undefined {
  if (appHeaders != null && typeof appHeaders !== 'object') return undefined;
  const headers: Record<string, unknown> = ownCopy(appHeaders as object | null | undefined);
  const own = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  return injectMessageContext(hook, span, (name, value) => (headers[name] = encode(value)), (name) => own.has(name)) ? headers : undefined;
}

// ---- consumer -------------------------------------------------------------------------------------

/** Called with each header of a received message: its name, and its value as the library holds it. */
export type HeaderVisitor = (name: string, value: unknown) => void;
/** Visits every header of `headers`, whatever their shape. */
export type HeaderReader<H> = (headers: H, visit: HeaderVisitor) => void;

/** Headers as a plain object (own enumerable keys). */
export const objectHeaders: HeaderReader<object> = (headers, visit) => {
  for (const name of Object.keys(headers)) visit(name, (headers as Record<string, unknown>)[name]);
};

/** A header value as text: strings as they are, Buffers and byte arrays decoded, an array's first value. */
function headerText(value: unknown): string | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'string') return value.length <= MAX_HEADER_LENGTH ? value : undefined;
  if (value instanceof Uint8Array && value.length <= MAX_HEADER_LENGTH) return Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8');
  return undefined;
}

/**
 * The producer's context in a message's headers; null when there is none that the tracer accepts. Header
 * names are matched whatever their case (a producer in another language may write `Traceparent`, as Go's
 * HeaderCarrier does): the tracer gets them in lower case, the first of a name that has text winning.
 */
export function extractMessageContext<H extends object>(hook: ActiveHook, headers: unknown, read: HeaderReader<H>): SpanContext | null {
  if (headers === null || typeof headers !== 'object') return null;
  const carrier: Record<string, string> = {};
  let found = false;
  try {
    read(headers as H, (name, value) => {
      const key = name.toLowerCase();
      if (Object.prototype.hasOwnProperty.call(carrier, key)) return;
      const text = headerText(value);
      if (text === undefined) return;
      carrier[key] = text;
      found = true;
    });
  } catch {
    // Headers the library could not read for us: the message starts a new trace.
    return null;
  }
  return found ? extractContext(hook, carrier, FORMAT_TEXT_MAP) : null;
}

/** A span context's identity, for telling the contexts of a batch apart; undefined when the tracer does not say. */
function contextKey(context: SpanContext): string | undefined {
  try {
    const traceId = context.toTraceId();
    const spanId = context.toSpanId();
    return traceId === '' && spanId === '' ? undefined : `${traceId}:${spanId}`;
  } catch {
    return undefined;
  }
}

/**
 * The distinct producer contexts of a batch's messages, in message order, at most
 * MAX_CONSUMER_REFERENCES (messages after that are not read).
 */
export function extractBatchContexts<M, H extends object>(hook: ActiveHook, messages: Iterable<M>, headersOf: (message: M) => unknown, read: HeaderReader<H>): SpanContext[] {
  const contexts: SpanContext[] = [];
  const seen = new Set<string>();
  for (const message of messages) {
    if (contexts.length >= MAX_CONSUMER_REFERENCES) break;
    const context = extractMessageContext(hook, headersOf(message), read);
    if (context === null) continue;
    const key = contextKey(context);
    if (key !== undefined) {
      if (seen.has(key)) continue;
      seen.add(key);
    }
    contexts.push(context);
  }
  return contexts;
}

/**
 * Starts a consumer span that refers to `contexts` (the producers'; none starts a new trace, never a
 * child of whatever context the library runs in); undefined when none is to be made.
 */
export function startConsumer(
  hook: ActiveHook<MessagingHookOptions>,
  spec: MessageSpanSpec,
  contexts: SpanContext | null | readonly SpanContext[],
  /** The handler's errors that are no failure, and the tags they give instead (see DbCall). */
  outcomeOf?: (err: unknown) => TagMap | undefined,
): DbCall | undefined {
  if (tracingOff(hook) || isSuppressed(storage.getStore())) return undefined;
  const list = contexts === null ? [] : Array.isArray(contexts) ? contexts : [contexts as SpanContext];
  const references: Reference[] = [];
  for (let i = 0; i < list.length && i < MAX_CONSUMER_REFERENCES; i++) {
    references.push(i === 0 && hook.options.consumerParent === 'childOf' ? childOf(list[i]) : followsFrom(list[i]));
  }
  const span = startSpanWith(hook, spec.operationName, { references, tags: messageTags(Tags.SPAN_KIND_MESSAGING_CONSUMER, spec) });
  // The handler's error is the app's: logged as a server span logs one (a rethrown database error as its span did).
  return span === undefined ? undefined : new DbCall(span, undefined, hook.name, appErrorForm, outcomeOf);
}

/**
 * What the library does with what its handler returns: `awaited` (kafkajs's eachMessage, bullmq's
 * processor wait for its promise), or `ignored` (amqplib's deliveries and NATS callbacks throw it away).
 */
export type HandlerResult = 'awaited' | 'ignored';

/**
 * Runs the handler `original` with `call`'s span active (for it and all it starts). The span finishes
 * when the handler returns or throws, or when the promise it returns settles. What the handler throws or
 * rejects with reaches the library unchanged.
 * - `awaited`: a returned promise (any thenable: the library awaits it) is handed back chained
 *   (`p.then(ok, rethrow)`), never with a side `.then`, so the caller's async frames stay.
 * - `ignored`: the result is handed back as it is, and only a native promise is waited for, with an
 *   `await` that neither reads its `then` nor calls a patched `Promise.prototype.then`. Anything else (a
 *   lazy thenable: a knex builder, a mongoose Query the handler did not await) is never touched, as the
 *   library never touches it, and the span ends when the handler returns.
 */
export function runConsumer(call: DbCall, original: AnyFunction, thisArg: unknown, args: ArrayLike<unknown>, result: HandlerResult = 'awaited'): any {
  // Reflect.apply, not a closure: one frame fewer under the handler (AsyncLocalStorage.run, invokeAndChain, invoke).
  if (result === 'awaited') return storage.run({ span: call.span }, Reflect.apply, call.invokeAndChain, call, [original, thisArg, args]);
  return storage.run({ span: call.span }, invokeIgnored, call, original, thisArg, args);
}

function invokeIgnored(call: DbCall, original: AnyFunction, thisArg: unknown, args: ArrayLike<unknown>): unknown {
  const result = call.invoke(original, thisArg, args);
  if (isPlainPromise(result)) void settled(call, result);
  else call.succeed(result);
  return result;
}

/**
 * A promise of the built-in class itself, told without running any code of the app's (no getter, no
 * Proxy trap): `await` then takes it as it is, without reading its `then`.
 */
function isPlainPromise(value: unknown): value is Promise<unknown> {
  return isPromise(value) && Object.getPrototypeOf(value) === Promise.prototype && !Object.prototype.hasOwnProperty.call(value, 'constructor');
}

/**
 * Finishes `call` when `promise` settles. A rejection is rethrown: the library ignores the handler's
 * promise, so untraced it would be an unhandled rejection, and this one stays that (with the same reason).
 */
async function settled(call: DbCall, promise: Promise<unknown>): Promise<void> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    call.fail(err);
    throw err;
  }
  call.succeed(value);
}

/** `startConsumer` and `runConsumer`; the handler runs as it is when no span is made. */
export function traceHandler(
  hook: ActiveHook<MessagingHookOptions>,
  spec: MessageSpanSpec,
  contexts: SpanContext | null | readonly SpanContext[],
  original: AnyFunction,
  thisArg: unknown,
  args: ArrayLike<unknown>,
  result: HandlerResult = 'awaited',
): any {
  const call = startConsumer(hook, spec, contexts);
  return call === undefined ? Reflect.apply(original, thisArg, args) : runConsumer(call, original, thisArg, args, result);
}
