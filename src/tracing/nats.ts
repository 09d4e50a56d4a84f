/**
 * NATS span logic (declared in ../hooks/nats), for the `nats` 2.x client (2.7 on) and nats.js 3, on the
 * messaging core.
 *
 * Producer: `NatsConnectionImpl.prototype.publish` makes a `producer` span (`nats.publish <subject>`)
 * that finishes when publish returns (the client only buffers the message); `request` makes a `client`
 * span (`nats.request <subject>`) that the reply, a timeout or "no responders" finishes (the promise is
 * handed back chained). Both carry `peer.hostname` and `peer.port` of the server the connection is on.
 * Either sends the trace in a new header set made with the client's own `headers()`, holding a copy of
 * the app's headers (a header the app set wins, whatever its case; the app's are never written, but for
 * what the client itself writes on them, see `headersProxy`). A server without header support, or a
 * message the trace headers would make too big for the server, gets no trace headers. The publish a
 * request makes for itself is part of the request's span.
 *
 * Consumer: `ProtocolHandler.prototype.processMsg`, through which the client hands every message to its
 * subscription, runs a callback subscription's callback inside a `consumer` span (`nats.process
 * <subscription subject>`) that follows from the publisher's context; it finishes when the callback
 * returns (or the native promise it returns settles; nothing else it returns is touched). An async-iterator subscription gets a span per message
 * from the moment the iterator hands it over until the next pull or the loop's end: an iterator cannot
 * make it active in the loop body, which runs in its caller's context. Replies to requests (inbox
 * subjects, and the subscription a `noMux` request makes, whatever its reply subject) make no consumer span,
 * nor do the services framework's discovery requests (`$SRV.…`), which its services answer by themselves.
 *
 * JetStream: `publish` is one producer span (`nats.publish <subject>`) over its requests (the client's
 * retries included), ended by the stream's ack, whose stream it tags. A consumer's
 * messages (pull: `consume`, `fetch`, `next`, ordered consumers; nats.js 3's push consumers) get a
 * consumer span each (`nats.process <stream>`), around the callback or from the iterator's hand-over as
 * above; so do the messages of the older `js.subscribe`/`js.pullSubscribe`, on their subscription. Pull
 * requests (the `…CONSUMER.MSG.NEXT…` subjects) carry no message and make no span, nor do the server's
 * status messages (heartbeats, flow control) or a key-value bucket's or object store's reads, and what
 * a consumer does by itself (its heartbeat and reconnect checks, an ordered consumer's replacement) is
 * the client's own work: no span, never in a request. (Acks go through the protocol handler, unwrapped.)
 */
import path from 'node:path';
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import type { ActiveHook, PatchContext } from '../registry/define';
import { connectOutside, ownWork, ownWorkMethods } from '../cores/db-call';
import type { DbCall } from '../cores/db-call';
import { extractMessageContext, injectMessageContext, MessageSpanSpec, startConsumer, startProducer, traceHandler } from '../cores/messaging';
import type { HeaderReader } from '../cores/messaging';
import { setTag, tracingOff } from '../spans';
import type { TagMap } from '../spans';
import type { NatsOptions } from '../options/nats';
import { applyArgs } from '../apply-args';

type AnyFunction = (...args: any[]) => any;

const COMPONENT = 'nats';
const SYSTEM = 'nats';
/** The client's default inbox prefix (`inboxPrefix` option). */
const DEFAULT_INBOX = '_INBOX';
/** The client's `Match.IgnoreCase`. */
const MATCH_IGNORE_CASE = 2;

/** The client's MsgHdrs, as far as it is used here. */
interface MsgHdrs {
  keys(): string[];
  values(key: string): string[];
  has(key: string, match?: number): boolean;
  append(key: string, value: string): void;
  delete(key: string): void;
}

/** A server of the client's list (`ServerImpl`): its host name and port, parsed from the URL without its credentials. */
interface ServerLike {
  hostname?: unknown;
  port?: unknown;
}

interface ConnectionLike {
  options?: { inboxPrefix?: unknown };
  protocol?: { info?: { headers?: unknown; max_payload?: unknown }; servers?: { getCurrentServer?(): ServerLike | undefined } };
}

interface SubscriptionLike {
  subject?: unknown;
  queue?: unknown;
  noIterator?: unknown;
  callback?: unknown;
  protocol?: ProtocolLike;
  /** Set by the client on the subscription of a request of its own (`noMux`, `requestMany`): the request's subject. */
  requestSubject?: unknown;
  /** Set by `nats` 2's older JetStream subscriptions: their stream and consumer. */
  info?: { stream?: unknown; name?: unknown } | null;
}

interface ProtocolLike {
  options?: { inboxPrefix?: unknown };
  subscriptions?: { get(sid: unknown): SubscriptionLike | undefined; getMux?(): unknown };
}

interface MsgLike {
  subject?: unknown;
  headers?: unknown;
}

function inboxPrefix(options: { inboxPrefix?: unknown } | undefined): string {
  return typeof options?.inboxPrefix === 'string' && options.inboxPrefix !== '' ? options.inboxPrefix : DEFAULT_INBOX;
}

/** A subject as it may stand in a span name: every inbox (a reply subject, one per request) is one name. */
function stableSubject(subject: string, prefix: string): string {
  return subject.startsWith(`${prefix}.`) ? `${prefix}.*` : subject;
}

const msgHeaders: HeaderReader<MsgHdrs> = (headers, visit) => {
  for (const key of headers.keys()) visit(key, headers.values(key));
};

function isMsgHdrs(value: unknown): value is MsgHdrs {
  const h = value as MsgHdrs | null | undefined;
  return h != null && typeof h === 'object' && typeof h.keys === 'function' && typeof h.values === 'function' && typeof h.has === 'function';
}

// ---- producer -------------------------------------------------------------------------------------

/** The publish a traced request makes for itself: part of the request's span. Synchronous, so a variable is enough. */
let requesting = false;

/**
 * The JetStream publish whose first request runs now (synchronously, inside its call), and the options
 * objects of its requests: a retry sends the same one again, later.
 */
let jetStreamPublish: DbCall | undefined;
const jetStreamRequests = new WeakMap<object, DbCall>();
let jetStreamPublished = false;

/** A JetStream pull request (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`, any API prefix): no message, no span. */
function isPullRequest(subject: string): boolean {
  return subject.includes('.CONSUMER.MSG.NEXT.');
}

/** The payload's size as the client counts it against `max_payload`; undefined for one it refuses (BAD_PAYLOAD). */
function payloadLength(data: unknown): number | undefined {
  if (data === undefined) return 0;
  if (data instanceof Uint8Array) return data.length;
  return typeof data === 'string' ? Buffer.byteLength(data) : undefined;
}

/** Whether the client would refuse the message with these headers as bigger than the server takes (MAX_PAYLOAD_EXCEEDED). */
function tooBig(info: { max_payload?: unknown } | undefined, payload: number, headers: MsgHdrs, charsBound: number): boolean {
  const max = info?.max_payload;
  if (typeof max !== 'number') return false;
  // "NATS/1.0\r\n", ": " and "\r\n" a value, "\r\n": at most 3 bytes a UTF-16 unit. Encoded only near the limit.
  if (payload + 12 + 3 * charsBound <= max) return false;
  const encode = (headers as { encode?: () => Uint8Array }).encode;
  return typeof encode !== 'function' || payload + encode.call(headers).length > max;
}

/**
 * The options to send with: the app's, seen through a Proxy that answers `headers` with a new set made
 * with the client's `headers()`, holding the app's headers and the trace. The client's other reads and
 * its writes (`reply`, a request's `timeout`; `headers` as `headersProxy` says) go to the app's object,
 * as without the hooks. The app's options when the server takes no headers, the tracer failed, or the
 * trace would make the message too big.
 */
function tracedOptions(hook: ActiveHook, connection: ConnectionLike, span: Span, newHeaders: () => MsgHdrs, options: unknown, data: unknown): unknown {
  if (options != null && typeof options !== 'object') return options;
  const info = connection.protocol?.info;
  // The client sends headers only to a server whose INFO says it takes them (as it checks, `info.headers`):
  // a server before 2.2 (no `headers` field) gets the message as the app gave it.
  if (!info?.headers) return options;
  const payload = payloadLength(data);
  if (payload === undefined) return options;
  const appHeaders = options == null ? undefined : (options as { headers?: unknown }).headers;
  if (appHeaders != null && !isMsgHdrs(appHeaders)) return options;
  const headers = newHeaders();
  let chars = 0;
  const append = (name: string, value: string): void => {
    headers.append(name, value);
    chars += name.length + value.length + 4;
  };
  if (appHeaders != null) {
    for (const key of appHeaders.keys()) for (const value of appHeaders.values(key)) append(key, value);
  }
  const has = (name: string): boolean => appHeaders != null && appHeaders.has(name, MATCH_IGNORE_CASE);
  const injected: string[] = [];
  const inject = (name: string, value: string): void => {
    append(name, value);
    injected.push(name);
  };
  if (!injectMessageContext(hook, span, inject, has) || tooBig(info, payload, headers, chars)) return options;
  if (options == null) return { headers };
  const own = Object.getOwnPropertyDescriptor(options, 'headers');
  if (own !== undefined && own.configurable === false && own.writable === false) {
    // Frozen options: the client's own write to them (`reply`, a request's `timeout`) throws, as untraced.
    if (Object.isFrozen(options)) return options;
    // A Proxy must answer a frozen property with its own value: a copy then (the client's writes go to it).
    return Object.assign({}, options, { headers });
  }
  let written: MsgHdrs | undefined;
  return headersProxy(options, headers, () => {
    // The header set the client writes back onto the app's options, as without the hooks: the app's own
    // (or one new set, for every write), holding what the client set on ours, without the trace.
    written ??= appHeaders ?? newHeaders();
    for (const key of headers.keys()) {
      if (injected.includes(key)) continue;
      written.delete(key);
      for (const value of headers.values(key)) written.append(key, value);
    }
    return written;
  });
}

/**
 * `options` seen with `headers` as our set. nats.js 3's `publish` with `traceOnly` or `traceDestination`
 * sets a header on the set it reads there and writes that set back onto the options: the app's object
 * then gets `untraced()`, the set it would hold without the hooks, and we keep answering ours (with the
 * trace, and the client's header); a write of another set goes through, and is what the options hold.
 */
function headersProxy(options: object, headers: MsgHdrs, untraced: () => MsgHdrs): object {
  let ours = true;
  return new Proxy(options, {
    get: (target, key) => (key === 'headers' && ours ? headers : Reflect.get(target, key)),
    set: (target, key, value, receiver) => {
      if (key !== 'headers' || !ours) return setOrThrow(target, key, value, receiver);
      if (value !== headers) {
        ours = false;
        return Reflect.set(target, key, value, receiver);
      }
      return Reflect.set(target, key, untraced(), receiver);
    },
  });
}

/**
 * A write through the Proxy as it goes without it: one the target refuses (frozen options) throws V8's own
 * TypeError, the app's untraced message, not the Proxy's "trap returned falsish".
 */
function setOrThrow(target: object, key: string | symbol, value: unknown, receiver: unknown): boolean {
  if (Reflect.set(target, key, value, receiver)) return true;
  (target as Record<string | symbol, unknown>)[key] = value;
  return true;
}

/**
 * The server `connection` is on, as peer tags (which `peerService` matches): the host name and port the
 * client connected to, never its URL, which may hold credentials.
 */
function peerTags(connection: ConnectionLike | undefined): TagMap {
  const tags: TagMap = {};
  const server = connection?.protocol?.servers?.getCurrentServer?.();
  if (typeof server?.hostname === 'string' && server.hostname !== '') tags[Tags.PEER_HOSTNAME] = server.hostname;
  if (typeof server?.port === 'number') tags[Tags.PEER_PORT] = server.port;
  return tags;
}

function producerSpec(kind: 'publish' | 'request', subject: string, connection: ConnectionLike | undefined): MessageSpanSpec {
  const name = stableSubject(subject, inboxPrefix(connection?.options));
  return { component: COMPONENT, system: SYSTEM, operationName: `nats.${kind} ${name}`, destination: name, tags: peerTags(connection) };
}

/** Starts the span of a publish or request, with the arguments to call with; undefined when none is made. */
function startSend(
  hook: ActiveHook<NatsOptions>,
  kind: 'publish' | 'request',
  connection: ConnectionLike,
  newHeaders: () => MsgHdrs,
  args: IArguments,
): { call: DbCall; args: unknown[] } | undefined {
  const subject = args[0];
  if (typeof subject !== 'string' || subject === '' || tracingOff(hook) || isPullRequest(subject)) return undefined;
  const call = startProducer(hook, producerSpec(kind, subject, connection), { kind: kind === 'request' ? 'client' : 'producer' });
  if (call === undefined) return undefined;
  return { call, args: withTrace(hook, call, connection, newHeaders, args) };
}

/** The arguments to send with: the options carry `call`'s trace (see `tracedOptions`). */
function withTrace(hook: ActiveHook, call: DbCall, connection: ConnectionLike, newHeaders: () => MsgHdrs, args: IArguments): unknown[] {
  const traced: unknown[] = Array.prototype.slice.call(args);
  try {
    traced[2] = tracedOptions(hook, connection, call.span, newHeaders, args[2], args[1]);
  } catch {
    // Headers we cannot copy: sent as the app gave them.
    traced[2] = args[2];
  }
  return traced;
}

/** The JetStream publish `options` belongs to (its first request, or a retry of it); undefined for any other request. */
function jetStreamPublishOf(options: unknown): DbCall | undefined {
  if (options === null || typeof options !== 'object') return undefined;
  if (jetStreamPublish === undefined) return jetStreamRequests.get(options);
  jetStreamRequests.set(options, jetStreamPublish);
  return jetStreamPublish;
}

function wrapPublish(hook: ActiveHook<NatsOptions>, newHeaders: () => MsgHdrs) {
  return (original: AnyFunction) =>
    function publish(this: ConnectionLike): unknown {
      const started = requesting || !hook.enabled ? undefined : startSend(hook, 'publish', this, newHeaders, arguments);
      if (started === undefined) return applyArgs(original, this, arguments);
      const result = started.call.invoke(original, this, started.args);
      started.call.succeed();
      return result;
    };
}

function wrapRequest(hook: ActiveHook<NatsOptions>, newHeaders: () => MsgHdrs) {
  return (original: AnyFunction) =>
    function request(this: ConnectionLike): unknown {
      // (Set before `jetStreamPublish` is: until a JetStream publish, no lookup.)
      const publish = jetStreamPublished ? jetStreamPublishOf(arguments[2]) : undefined;
      // A JetStream publish's request: its span is the publish's, whose trace it carries.
      if (publish !== undefined) return sendAsPartOf(original, this, publish.finished ? Array.prototype.slice.call(arguments) : withTrace(hook, publish, this, newHeaders, arguments));
      const started = requesting || !hook.enabled ? undefined : startSend(hook, 'request', this, newHeaders, arguments);
      if (started === undefined) return applyArgs(original, this, arguments);
      return sendAsPartOf(started.call.invokeAndChain, started.call, [original, this, started.args]);
    };
}

/** Runs a request whose span is made already: the publish it makes for itself makes none. */
function sendAsPartOf(fn: AnyFunction, thisArg: unknown, args: unknown[]): unknown {
  requesting = true;
  try {
    return Reflect.apply(fn, thisArg, args);
  } finally {
    requesting = false;
  }
}

/** `JetStreamClientImpl.prototype.publish`: one producer span over its requests, ended by the stream's ack. */
function wrapJetStreamPublish(hook: ActiveHook<NatsOptions>) {
  return (original: AnyFunction) =>
    function publish(this: { nc?: ConnectionLike }, subject: unknown): unknown {
      if (!hook.enabled || typeof subject !== 'string' || subject === '' || jetStreamPublish !== undefined) return applyArgs(original, this, arguments);
      const call = startProducer(hook, producerSpec('publish', subject, this.nc));
      if (call === undefined) return applyArgs(original, this, arguments);
      jetStreamPublished = true;
      jetStreamPublish = call;
      let result;
      try {
        result = call.invoke(original, this, arguments);
      } finally {
        jetStreamPublish = undefined;
      }
      return call.chainOrSucceed(result, (ack: { stream?: unknown } | null | undefined) => {
        if (typeof ack?.stream === 'string') setTag(call.span, 'nats.stream', ack.stream);
      });
    };
}

// ---- consumer -------------------------------------------------------------------------------------

/**
 * A status message of the server's (a JetStream consumer's idle heartbeat or flow control request on its
 * deliver subject): its headers carry a status code, which no app's message has.
 */
function isStatusMessage(msg: MsgLike): boolean {
  const code = (msg.headers as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && code !== 0;
}

/**
 * A subject of the services framework's discovery (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`, each also
 * per service name and id), which `nats` 2's services answer by themselves: the client's own work.
 */
function isServiceDiscovery(subject: unknown): boolean {
  return typeof subject === 'string' && subject.startsWith('$SRV.');
}

/**
 * The subscription's span spec for one message; undefined for a reply to a request (an inbox, or the
 * subscription of a request with a reply subject of the app's, `noMux`), a services framework's
 * discovery subject, or a status message.
 */
function consumerSpec(sub: SubscriptionLike, msg: MsgLike, prefix: string): MessageSpanSpec | undefined {
  const consumer = legacyJetStreamConsumer(sub);
  if (consumer !== undefined) return consumer === null || isStatusMessage(msg) ? undefined : jetStreamSpec(consumer, msg);
  const subject = typeof sub.subject === 'string' ? sub.subject : undefined;
  if (subject === undefined || subject.startsWith(`${prefix}.`) || typeof sub.requestSubject === 'string' || isServiceDiscovery(subject) || isStatusMessage(msg)) {
    return undefined;
  }
  const tags: TagMap = {};
  if (typeof sub.queue === 'string' && sub.queue !== '') tags['nats.queue'] = sub.queue;
  if (typeof msg.subject === 'string' && msg.subject !== subject) tags['nats.subject'] = msg.subject;
  return { component: COMPONENT, system: SYSTEM, operationName: `nats.process ${subject}`, destination: subject, tags };
}

function wrapProcessMsg(hook: ActiveHook<NatsOptions>) {
  return (original: AnyFunction) =>
    function processMsg(this: ProtocolLike, msg: { sid?: unknown } | null): unknown {
      // No tracer: no span to make, nothing of the message to read.
      if (tracingOff(hook) || msg == null) return applyArgs(original, this, arguments);
      const subscriptions = this.subscriptions;
      const sub = subscriptions?.get(msg.sid);
      // A service's discovery answer: no span, and never in the context the connection was made in.
      if (isServiceDiscovery(sub?.subject)) return ownWork(hook, original, this, arguments);
      const callback = sub?.callback;
      if (sub == null || sub.noIterator !== true || typeof callback !== 'function' || sub === subscriptions?.getMux?.() || (consumerSubscriptionsMade && consumerSubscriptions.has(sub))) {
        return applyArgs(original, this, arguments);
      }
      const prefix = inboxPrefix(this.options);
      // The client calls the subscription's callback synchronously in here: for that call only, it is
      // one that runs in the message's span.
      const traced = function (this: unknown, err: unknown, message: MsgLike): unknown {
        const spec = err == null && message != null ? consumerSpec(sub, message, prefix) : undefined;
        if (spec === undefined) return applyArgs(callback as AnyFunction, this, arguments);
        return traceHandler(hook, spec, extractMessageContext(hook, message.headers, msgHeaders), callback as AnyFunction, this, arguments, 'ignored');
      };
      return callingThrough(sub, callback, traced, original, this, arguments);
    };
}

/**
 * Calls `original`, in which the client calls `holder.callback` synchronously, with `traced` in its
 * place for that call only.
 */
function callingThrough(holder: { callback?: unknown }, callback: unknown, traced: AnyFunction, original: AnyFunction, thisArg: unknown, args: IArguments): unknown {
  holder.callback = traced;
  try {
    return applyArgs(original, thisArg, args);
  } finally {
    if (holder.callback === traced) holder.callback = callback;
  }
}

interface IteratorResultLike {
  done?: boolean;
  value?: unknown;
}

/** An async iterator (the same object), with a span per message it hands over: `specOf` says which. */
function traceIterator(hook: ActiveHook<NatsOptions>, specOf: (message: MsgLike) => MessageSpanSpec | undefined, iterator: Record<string, unknown>): void {
  const next = iterator.next;
  const finish = iterator.return;
  if (typeof next !== 'function') return;
  let open: DbCall | undefined;
  const close = (): void => {
    open?.succeed();
    open = undefined;
  };
  // With several pulls in flight (`next()` called again before the first settled), the message handed
  // over before is done with when the next one, the end or a failure comes.
  const received = (result: IteratorResultLike): IteratorResultLike => {
    close();
    const message = result?.value as MsgLike | undefined;
    if (result?.done === true || message == null || typeof message !== 'object' || tracingOff(hook)) return result;
    const spec = specOf(message);
    if (spec !== undefined) open = startConsumer(hook, spec, extractMessageContext(hook, message.headers, msgHeaders));
    return result;
  };
  const failed = (err: unknown): never => {
    close();
    throw err;
  };
  iterator.next = function (this: unknown): unknown {
    close();
    const result = applyArgs(next as AnyFunction, this, arguments);
    return result != null && typeof result.then === 'function' && !tracingOff(hook) ? result.then(received, failed) : result;
  };
  if (typeof finish === 'function') {
    iterator.return = function (this: unknown): unknown {
      close();
      return applyArgs(finish as AnyFunction, this, arguments);
    };
  }
}

/** The messages a queued iterator hands over, if they are a subscription's or a JetStream consumer's (the client iterates other queues too). */
function messageSpecOf(queue: SubscriptionLike & ConsumerMessagesLike): ((message: MsgLike) => MessageSpanSpec | undefined) | undefined {
  if (queue.protocol != null && typeof queue.subject === 'string') {
    const sub = queue;
    const prefix = inboxPrefix(sub.protocol?.options);
    return (message) => consumerSpec(sub, message, prefix);
  }
  const consumer = tracedConsumer(queue.consumer);
  return consumer === undefined ? undefined : (message) => jetStreamSpec(consumer, message);
}

function wrapAsyncIterator(hook: ActiveHook<NatsOptions>) {
  return (original: AnyFunction) =>
    function asyncIterator(this: SubscriptionLike & ConsumerMessagesLike): unknown {
      const iterator = applyArgs(original, this, arguments);
      const specOf = hook.enabled && this != null ? messageSpecOf(this) : undefined;
      if (specOf !== undefined && iterator != null && typeof iterator === 'object') {
        try {
          traceIterator(hook, specOf, iterator as Record<string, unknown>);
        } catch {
          // An iterator we cannot extend stays untraced.
        }
      }
      return iterator;
    };
}

// ---- JetStream consumers ----------------------------------------------------------------------------

/**
 * The subscriptions through which a JetStream consumer started under the hooks gets its messages (a pull
 * consumer's inbox, a push consumer's deliver subject, which need not be an inbox): the consumer makes
 * each message's span at hand-over, the subscription none.
 */
const consumerSubscriptions = new WeakSet<object>();
let consumerSubscriptionsMade = false;

/** A pull or push consumer (`PullConsumerImpl`, `PushConsumerImpl`): its stream and name. */
interface ConsumerLike {
  stream: string;
  name?: unknown;
}

/** A consumer's message queue (`PullConsumerMessagesImpl`, `PushConsumerMessagesImpl`): a callback (`consume({ callback })`) or an iterator. */
interface ConsumerMessagesLike {
  consumer?: unknown;
  callback?: unknown;
  /** Its subscription, once started. */
  sub?: unknown;
}

/** A key-value bucket's or object store's stream (`KV_…`, `OBJ_…`): the client reads it itself (`keys()`, `watch()`, `get()`). */
function isStoreStream(stream: string): boolean {
  return stream.startsWith('KV_') || stream.startsWith('OBJ_');
}

/** `value` if it is a JetStream consumer whose messages get spans: any stream's but a store's. */
function tracedConsumer(value: unknown): ConsumerLike | undefined {
  if (value == null || typeof value !== 'object') return undefined;
  const stream = (value as ConsumerLike).stream;
  return typeof stream === 'string' && !isStoreStream(stream) ? (value as ConsumerLike) : undefined;
}

/**
 * The consumer behind a subscription of `nats` 2's older JetStream API (`js.subscribe`,
 * `js.pullSubscribe`), which puts its info (stream, consumer name) on the subscription: its messages get
 * the JetStream span there, whatever subject delivers them (an inbox, most often). Null for a key-value
 * bucket's or object store's stream (`KV_…`, `OBJ_…`, which the client reads itself); undefined for any
 * other subscription.
 */
function legacyJetStreamConsumer(sub: SubscriptionLike): ConsumerLike | null | undefined {
  const info = sub.info;
  if (info === null || typeof info !== 'object' || typeof info.stream !== 'string') return undefined;
  return isStoreStream(info.stream) ? null : { stream: info.stream, name: info.name };
}

/** A JetStream message's span: named for its stream (as a topic), its subject and consumer as tags. */
function jetStreamSpec(consumer: ConsumerLike, msg: MsgLike): MessageSpanSpec {
  const tags: TagMap = {};
  if (typeof msg.subject === 'string') tags['nats.subject'] = msg.subject;
  tags['nats.stream'] = consumer.stream;
  if (typeof consumer.name === 'string') tags['nats.consumer'] = consumer.name;
  return { component: COMPONENT, system: SYSTEM, operationName: `nats.process ${consumer.stream}`, destination: consumer.stream, tags };
}

/**
 * A consumer's `_push` (pull and push consumers alike): with a callback, the client calls it here,
 * synchronously, for each message (a `nats` 2 ordered consumer's is the client's own, which calls the
 * app's or queues the message for its iterator): that call runs in the message's span.
 */
function wrapPush(hook: ActiveHook<NatsOptions>) {
  return (original: AnyFunction) =>
    function push(this: ConsumerMessagesLike, message: unknown): unknown {
      const callback = this?.callback;
      const consumer = tracingOff(hook) || typeof callback !== 'function' || message === null || typeof message !== 'object' ? undefined : tracedConsumer(this.consumer);
      if (consumer === undefined) return applyArgs(original, this, arguments);
      const spec = jetStreamSpec(consumer, message as MsgLike);
      const traced = function (this: unknown): unknown {
        return traceHandler(hook, spec, extractMessageContext(hook, (message as MsgLike).headers, msgHeaders), callback as AnyFunction, this, arguments, 'ignored');
      };
      return callingThrough(this, callback, traced, original, this, arguments);
    };
}

// ---- patches --------------------------------------------------------------------------------------

/** Patches a client's connection class; `headersFile` is where, under the package, its `headers()` is. */
function connectionPatch(...headersFile: string[]) {
  return (exports: any, { hook, wrap, basedir }: PatchContext<NatsOptions, undefined>): void => {
    let factory: (() => MsgHdrs) | undefined;
    // The client's own `headers()`, loaded with the first traced send.
    const newHeaders = (): MsgHdrs => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      factory ??= (require(path.join(basedir ?? '', ...headersFile)) as { headers: () => MsgHdrs }).headers;
      return factory();
    };
    const proto = exports.NatsConnectionImpl.prototype;
    wrap(proto, 'publish', wrapPublish(hook, newHeaders));
    wrap(proto, 'request', wrapRequest(hook, newHeaders));
  };
}

/** `nats` 2.x. */
export const patchConnection = connectionPatch('lib', 'nats-base-client', 'headers');
/** `@nats-io/nats-core` 3.x (what `@nats-io/transport-node` connects with). */
export const patchCoreConnection = connectionPatch('lib', 'headers');

export function patchProtocol(exports: any, { hook, wrap }: PatchContext<NatsOptions, undefined>): void {
  wrap(exports.ProtocolHandler.prototype, 'processMsg', wrapProcessMsg(hook));
  // The connection's socket, and so every message it delivers, its pings and reconnects, run outside the
  // context that called `connect()`: a request's, or a suppressed one (which would leave every message untraced).
  wrap(exports.ProtocolHandler, 'connect', (original) =>
    function connect(this: unknown): unknown {
      return connectOutside(original, this, arguments);
    },
  );
}

export function patchIterator(exports: any, { hook, wrap }: PatchContext<NatsOptions, undefined>): void {
  wrap(exports.QueuedIteratorImpl.prototype, Symbol.asyncIterator, wrapAsyncIterator(hook));
}

export function patchJetStreamClient(exports: any, { hook, wrap }: PatchContext<NatsOptions, undefined>): void {
  const proto = exports.JetStreamClientImpl?.prototype;
  if (proto !== undefined) wrap(proto, 'publish', wrapJetStreamPublish(hook));
  // nats 2's older ordered subscriptions replace their consumer by themselves, and answer a stalled
  // consumer's heartbeat: the client's own work.
  ownWorkMethods(exports.JetStreamSubscriptionImpl?.prototype, ['_resetOrderedConsumer', '_checkHbOrderConsumer'], hook, wrap);
}

/**
 * A consumer's message queue class: a span per message at hand-over (`_push`); its `start` (the
 * subscription, heartbeat monitor and status watch, whose later work, such as a consumer info after
 * missed heartbeats or a reconnect, is the client's own, not the request that started the consumer) and
 * an ordered consumer's `reset` (a replacement consumer, after a missed message) as the client's own work.
 */
function patchConsumerMessages(proto: any, hook: ActiveHook<NatsOptions>, wrap: PatchContext<NatsOptions, undefined>['wrap']): void {
  if (proto === undefined) return;
  wrap(proto, '_push', wrapPush(hook));
  if (typeof proto.start === 'function') {
    wrap(proto, 'start', (original) =>
      function start(this: ConsumerMessagesLike): unknown {
        if (!hook.enabled) return applyArgs(original, this, arguments);
        const result = ownWork(hook, original, this, arguments);
        const sub = this?.sub;
        if (sub !== null && typeof sub === 'object') {
          consumerSubscriptionsMade = true;
          consumerSubscriptions.add(sub);
        }
        return result;
      },
    );
  }
  ownWorkMethods(proto, ['reset'], hook, wrap);
}

export function patchConsumer(exports: any, { hook, wrap }: PatchContext<NatsOptions, undefined>): void {
  patchConsumerMessages(exports.PullConsumerMessagesImpl?.prototype, hook, wrap);
  // An ordered consumer replaces its consumer by itself: nats 2's class of its own, nats.js 3's fetch.
  ownWorkMethods(exports.OrderedPullConsumerImpl?.prototype, ['notifyOrderedResetAndReset'], hook, wrap);
  ownWorkMethods(exports.PullConsumerImpl?.prototype, ['_reset'], hook, wrap);
}

/** nats.js 3's push consumers (`getPushConsumer`). */
export function patchPushConsumer(exports: any, { hook, wrap }: PatchContext<NatsOptions, undefined>): void {
  patchConsumerMessages(exports.PushConsumerMessagesImpl?.prototype, hook, wrap);
}
