/**
 * amqplib span logic (declared in ../hooks/amqplib), for amqplib 0.10 (RabbitMQ): the promise API
 * (`amqplib`) and the callback API (`amqplib/callback_api`), on the messaging core
 * (`messaging.system=rabbitmq`).
 *
 * Producer: `publish` of each model's Channel and ConfirmChannel (`sendToQueue` calls `publish`) makes a
 * `producer` span under the active span and injects it (FORMAT_TEXT_MAP) into the message headers, a
 * copy of the caller's, seen through a Proxy over the caller's options (see tracedOptions); a header the
 * caller set wins. On a plain
 * channel the span finishes when `publish` returns: amqplib only buffers the message and there is no
 * outcome to wait for. On a confirm channel it finishes when the broker confirms: a nack, or the
 * channel closing first, marks it as an error. The caller's confirm callback runs after that, in the
 * caller's context.
 *
 * Consumer: `BaseChannel.prototype.dispatchMessage`, through which both models hand every delivery to
 * its consumer (consumers registered before install included), runs the consumer inside a `consumer`
 * span that follows from (option `consumerParent`) the context in the message headers; a message
 * without one, or with one the tracer rejects, starts a new trace. The span finishes when the callback
 * returns, or when the native promise it returns settles (amqplib ignores what the callback returns: the
 * hook calls no `then`, see runConsumer). It does not wait for ack/nack: those may come in batches, later, from elsewhere, or
 * never (noAck). `requireParent` does not apply to consumer spans: a message is their parent.
 *
 * Get (`basic.get`): a message `get` returns gets the same consumer span, its queue the one `get` named.
 * The callback API runs its callback inside it; the promise API's span is the hand-over only (the
 * caller's continuation runs in the caller's own context). An empty queue (`false`) and a failed `get`
 * make none, nor does the RPC itself. Returned (`mandatory`) messages make no span: they come back to a
 * publish whose span has ended (or ends at the confirm that follows), as an event run outside any request.
 *
 * Context: a connection's socket runs outside any request (`Connection#open`), so nothing it delivers
 * (replies, deliveries, events) is the request's that happened to connect; the callback API's callbacks
 * run in their caller's context.
 */
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { isSuppressed, storage } from '../context';
import { applyWithCallerCallback, callbackInCallerContext, outsideRequests, runInContext } from '../cores/db-call';
import type { DbCall } from '../cores/db-call';
import { extractMessageContext, injectMessageContext, objectHeaders, runConsumer, startConsumer, startProducer, traceHandler } from '../cores/messaging';
import type { MessageSpanSpec } from '../cores/messaging';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, peerServiceOf, TagMap, tracingOff } from '../spans';
import type { CommonHookOptions } from '../spans';
import type { AmqplibOptions } from '../options/amqplib';
import { applyArgs } from '../apply-args';
import { asWrapperOf, callbackWrapper } from '../registry/wrap';
import { isPromise } from 'node:util/types';
import { ownDataValue } from '../own-copy';

type AnyFunction = (...args: any[]) => any;

interface ConnectionLike {
  stream?: { remoteAddress?: unknown; remotePort?: unknown; emit?: unknown };
}

interface ChannelLike {
  connection?: ConnectionLike;
  consumers?: unknown;
}

interface DeliveryFields {
  consumerTag?: unknown;
  exchange?: unknown;
  routingKey?: unknown;
  redelivered?: unknown;
}

interface Delivery {
  properties?: { headers?: unknown } | null;
}

const COMPONENT = 'amqplib';
const SYSTEM = 'rabbitmq';

/** Where a connection goes: host and port from the URL when `connect` was patched in time, else the socket's remote end. */
interface Peer {
  hostname?: string;
  address?: string;
  port?: number;
}

const peers = new WeakMap<object, Peer>();

/** The host and port amqplib connects to for `url` (string or object form), if it can be told. */
function peerOfUrl(url: unknown): Peer | undefined {
  try {
    const target = url == null || url === '' || url === false ? 'amqp://localhost' : url;
    if (typeof target === 'string') {
      const u = new URL(target);
      const port = Number(u.port) || (u.protocol === 'amqps:' ? 5671 : 5672);
      return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port };
    }
    if (typeof target === 'object') {
      // Data properties only: amqplib reads these itself, and a getter of the app's runs once, as untraced.
      const hostname = ownDataValue(target, 'hostname');
      if (typeof hostname !== 'string') return undefined;
      return { hostname, port: Number(ownDataValue(target, 'port')) || (ownDataValue(target, 'protocol') === 'amqps' ? 5671 : 5672) };
    }
  } catch {
    // A URL amqplib may still accept: the socket tells the peer.
  }
  return undefined;
}

function peerOf(channel: ChannelLike): Peer | undefined {
  const connection = channel.connection;
  if (connection == null || typeof connection !== 'object') return undefined;
  let peer = peers.get(connection);
  if (peer === undefined) {
    const stream = connection.stream;
    const address = stream?.remoteAddress;
    // Not connected (yet, or any more): nothing to keep.
    if (typeof address !== 'string') return undefined;
    const port = stream?.remotePort;
    peer = { address, port: typeof port === 'number' ? port : undefined };
    peers.set(connection, peer);
  }
  return peer;
}

function addPeerTags(tags: TagMap, channel: ChannelLike, peerService?: CommonHookOptions['peerService']): void {
  const peer = peerOf(channel);
  if (peer === undefined) return;
  if (peer.hostname !== undefined) tags[Tags.PEER_HOSTNAME] = peer.hostname;
  if (peer.address !== undefined) {
    tags['peer.address'] = peer.address;
    // A peer known only from the socket has no hostname for peerService to match: its address stands for it.
    const service = peerService === undefined ? undefined : peerServiceOf(peerService, peer.address, peer.port);
    if (service !== undefined) tags[Tags.PEER_SERVICE] = service;
  }
  if (peer.port !== undefined) tags[Tags.PEER_PORT] = peer.port;
}

/**
 * A queue or routing key as it may stand in a span name: server-named queues (`amq.gen-…`) and direct
 * reply-to addresses are one name per connection or per call, so each kind has one name.
 */
function stableName(name: string): string {
  if (name.startsWith('amq.gen-')) return 'amq.gen-*';
  if (name.startsWith('amq.rabbitmq.reply-to')) return 'amq.rabbitmq.reply-to';
  return name;
}

// ---- producer -------------------------------------------------------------------------------------

/**
 * The channel whose traced `publish` is running: a ConfirmChannel's publish calls Channel's, which then
 * passes through (one span per message). `publish` is synchronous, so a variable is enough.
 */
let publishingOn: object | undefined;

function startPublish(hook: ActiveHook, channel: ChannelLike, parent: Span | null, exchangeArg: unknown, routingKeyArg: unknown): DbCall | undefined {
  // Only strings are named: amqplib converts neither (it throws on anything else), and an app's toString stays unrun.
  const exchange = typeof exchangeArg === 'string' ? exchangeArg : '';
  const routingKey = typeof routingKeyArg === 'string' ? routingKeyArg : '';
  const tags: TagMap = { 'amqp.exchange': exchange, 'amqp.routing_key': routingKey };
  if (exchange === '') tags['amqp.queue'] = routingKey;
  addPeerTags(tags, channel, (hook.options as CommonHookOptions).peerService);
  const spec: MessageSpanSpec = {
    component: COMPONENT,
    system: SYSTEM,
    // Routing keys of a named exchange are often per entity ("order.123.created"): never in the name.
    operationName: exchange === '' ? `amqp.publish <default>:${stableName(routingKey)}` : `amqp.publish ${exchange}`,
    // On the default exchange the routing key is the queue.
    destination: exchange === '' ? routingKey : exchange,
    tags,
  };
  return startProducer(hook, spec, { parent: parent ?? undefined });
}

/**
 * The trace headers beside a copy of the caller's (own and inherited enumerable ones, each read once, as
 * amqplib's codec would read them: it then reads our copy, never theirs); a header they set wins, in any
 * case. The caller's as they are when they are no object amqplib can take, or when there is none and the
 * tracer failed.
 */
function headersWithTrace(hook: ActiveHook, span: Span, callerHeaders: unknown): unknown {
  if (callerHeaders != null && typeof callerHeaders !== 'object' && typeof callerHeaders !== 'function') return callerHeaders;
  const headers = Object.create(null) as Record<string, unknown>;
  const names = new Set<string>();
  if (callerHeaders != null) {
    for (const key in callerHeaders as object) {
      headers[key] = (callerHeaders as Record<string, unknown>)[key];
      names.add(key.toLowerCase());
    }
  }
  const injected = injectMessageContext(hook, span, (key, value) => (headers[key] = value), (lower) => names.has(lower));
  return injected || callerHeaders != null ? headers : callerHeaders;
}

/**
 * The options to publish with: the caller's, seen through a Proxy that answers `headers` with
 * `headersWithTrace`, built when amqplib reads them (so a getter of theirs that throws throws there, as
 * untraced, after a confirm channel has pushed the message's callback). Every other read and any write goes to the
 * caller's object, with it as `this` (a getter over private fields works); a write of `headers` (another
 * instrumentation's below us) is kept by the Proxy. The Proxy's target is an empty object, so that a frozen
 * `headers` of theirs does not bind what it answers.
 */
function tracedOptions(hook: ActiveHook, span: Span, options: unknown): unknown {
  // Nothing to inject: the caller's options go as they are, not read here.
  if ((options != null && typeof options !== 'object') || (hook.options as CommonHookOptions).propagate === false) return options;
  if (options == null) {
    const headers = headersWithTrace(hook, span, undefined);
    return headers === undefined ? options : { headers };
  }
  const caller = options as object;
  let headers: unknown;
  let read = false;
  return new Proxy(Object.create(null) as object, {
    get(_target, key) {
      if (key !== 'headers') return Reflect.get(caller, key);
      if (!read) {
        headers = headersWithTrace(hook, span, Reflect.get(caller, key));
        read = true;
      }
      return headers;
    },
    set(_target, key, value) {
      if (key !== 'headers') return Reflect.set(caller, key, value);
      headers = value;
      read = true;
      return true;
    },
    has: (_target, key) => Reflect.has(caller, key),
  });
}

function publishTraced(hook: ActiveHook, confirm: boolean, original: AnyFunction, channel: ChannelLike, args: IArguments, parent: Span | null): unknown {
  const call = startPublish(hook, channel, parent, args[0], args[1]);
  if (call === undefined) return applyArgs(original, channel, args);
  const traced: unknown[] = Array.prototype.slice.call(args);
  traced[3] = tracedOptions(hook, call.span, args[3]);
  const callback = args[4];
  if (confirm && typeof callback === 'function') {
    // Pushed as the message's confirm callback (amqplib calls it with null on ack, an error on nack or
    // close); waitForConfirms wraps it like any other.
    traced[4] = call.callback(callback as AnyFunction);
    return call.invoke(original, channel, traced);
  }
  // No callback of the app's: amqplib keeps `false` for the message in its list of unconfirmed ones, and
  // a callback of ours there would change what close() and waitForConfirms() do. The span ends at publish.
  const result = call.invoke(original, channel, traced);
  call.succeed();
  return result;
}

function wrapPublish(hook: ActiveHook<AmqplibOptions>, confirm: boolean) {
  return (original: AnyFunction) =>
    function publish(this: ChannelLike): unknown {
      if (publishingOn === this) return applyArgs(original, this, arguments);
      const parent = clientParent(hook);
      if (parent === undefined) {
        // No span: the confirm callback still runs in its caller's context, not in the socket's.
        if (!confirm || tracingOff(hook)) return applyArgs(original, this, arguments);
        return applyWithCallerCallback(original, this, arguments, 4);
      }
      const outer = publishingOn;
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the channel publishing now, for the calls it makes inside
      publishingOn = this;
      try {
        return publishTraced(hook, confirm, original, this, arguments, parent);
      } finally {
        publishingOn = outer;
      }
    };
}

// ---- consumer -------------------------------------------------------------------------------------

/** On the consumer function registered for a queue through a traced `consume`: that queue's name. */
const kQueue = Symbol('opentracing-client-hooks.amqplibQueue');

type QueueConsumer = AnyFunction & { [kQueue]?: string };

/** The callback as registered: it only forwards, and carries the queue that deliveries do not name. */
function consumerFor(callback: AnyFunction, queue: string): QueueConsumer {
  const consumer: QueueConsumer = asWrapperOf(callback, function (this: unknown) {
    return applyArgs(callback, this, arguments);
  });
  Object.defineProperty(consumer, kQueue, { value: queue });
  return consumer;
}

function wrapConsume(hook: ActiveHook<AmqplibOptions>) {
  return (original: AnyFunction) =>
    function consume(this: unknown, queue: unknown, callback: unknown): unknown {
      if (!hook.enabled || typeof queue !== 'string' || queue === '' || typeof callback !== 'function') {
        return applyArgs(original, this, arguments);
      }
      const args: unknown[] = Array.prototype.slice.call(arguments);
      args[1] = consumerFor(callback as AnyFunction, queue);
      return original.apply(this, args);
    };
}

function queueOf(channel: ChannelLike, consumerTag: unknown): string | undefined {
  const consumers = channel.consumers;
  if (!(consumers instanceof Map)) return undefined;
  const consumer = consumers.get(consumerTag) as QueueConsumer | undefined;
  return consumer?.[kQueue];
}

/** `given`: the queue a `get` named, else (a delivery) the one given to `consume`. */
function consumeSpec(channel: ChannelLike, fields: DeliveryFields, given = queueOf(channel, fields.consumerTag)): MessageSpanSpec {
  const exchange = typeof fields.exchange === 'string' ? fields.exchange : '';
  const routingKey = typeof fields.routingKey === 'string' ? fields.routingKey : '';
  // A message names no queue: the one known, else on the default exchange the routing key.
  const queue = given ?? (exchange === '' ? routingKey : undefined);
  const tags: TagMap = { 'amqp.exchange': exchange, 'amqp.routing_key': routingKey };
  if (queue !== undefined) tags['amqp.queue'] = queue;
  if (fields.redelivered === true) tags['amqp.redelivered'] = true;
  addPeerTags(tags, channel);
  return { component: COMPONENT, system: SYSTEM, operationName: `amqp.consume ${stableName(queue ?? exchange)}`, destination: queue ?? exchange, tags };
}

function wrapDispatch(hook: ActiveHook<AmqplibOptions>) {
  return (original: AnyFunction) =>
    function dispatchMessage(this: ChannelLike, fields: DeliveryFields | null, message: Delivery | null): unknown {
      // No tracer: nothing of the delivery is read. A null message is a consumer-cancel notification, not a delivery.
      if (tracingOff(hook) || message == null || fields == null || isSuppressed(storage.getStore())) {
        return applyArgs(original, this, arguments);
      }
      // The consumer and all it starts run in its span's context, not in the context that opened the connection.
      const context = extractMessageContext(hook, message.properties?.headers, objectHeaders);
      return traceHandler(hook, consumeSpec(this, fields), context, original, this, arguments, 'ignored');
    };
}

// ---- get (basic.get) --------------------------------------------------------------------------------

/**
 * The consumer span of a message that `get` hands over (`false`, an empty queue, makes none), as a
 * delivery's: it refers to the producer's context in the headers, else starts a new trace. Started in
 * the context of the code that called `get`, so that `suppressTracing` there makes none.
 */
function startGet(hook: ActiveHook<AmqplibOptions>, channel: ChannelLike, queue: unknown, message: unknown): DbCall | undefined {
  if (message === null || typeof message !== 'object') return undefined;
  const { fields, properties } = message as Delivery & { fields?: DeliveryFields | null };
  const named = typeof queue === 'string' && queue !== '' ? queue : undefined;
  const spec = consumeSpec(channel, fields != null && typeof fields === 'object' ? fields : {}, named);
  return startConsumer(hook, spec, extractMessageContext(hook, properties?.headers, objectHeaders));
}

/**
 * The promise API's `get`: its span is the hand-over, started and finished as the message reaches the
 * caller (whose continuation, in its own context, no span can wrap), through the chained promise handed
 * back; a rejection passes through as it is.
 */
function wrapGet(hook: ActiveHook<AmqplibOptions>) {
  return (original: AnyFunction) =>
    function get(this: ChannelLike, queue: unknown): unknown {
      if (tracingOff(hook)) return applyArgs(original, this, arguments);
      const result: unknown = applyArgs(original, this, arguments);
      if (!isPromise(result) || isSuppressed(storage.getStore())) return result;
      // eslint-disable-next-line @typescript-eslint/no-this-alias -- the channel, for the span's tags when the message comes
      const channel = this;
      return result.then((message) => {
        startGet(hook, channel, queue, message)?.succeed();
        return message;
      });
    };
}

/** The callback API's `get`: the callback runs in its caller's context, inside the message's span (as a consume callback does). */
function wrapCallbackGet(hook: ActiveHook<AmqplibOptions>) {
  return (original: AnyFunction) =>
    function get(this: ChannelLike, queue: unknown, _options: unknown, callback: unknown): unknown {
      if (tracingOff(hook) || typeof callback !== 'function') return applyArgs(original, this, arguments);
      const store = storage.getStore();
      const args: unknown[] = Array.prototype.slice.call(arguments);
      args[2] = callbackWrapper(callback as AnyFunction, (self, cbArgs) => runInContext(store, handOver, undefined, [hook, this, queue, callback, self, cbArgs]));
      return Reflect.apply(original, this, args);
    };
}

function handOver(hook: ActiveHook<AmqplibOptions>, channel: ChannelLike, queue: unknown, callback: AnyFunction, self: unknown, args: IArguments): unknown {
  const call = args[0] == null ? startGet(hook, channel, queue, args[1]) : undefined;
  return call === undefined ? Reflect.apply(callback, self, args) : runConsumer(call, callback, self, args, 'ignored');
}

// ---- context --------------------------------------------------------------------------------------


/** On a connection's socket whose events run outside any request. */
const kOutside = Symbol('opentracing-client-hooks.amqplibOutside');

/**
 * `Connection#open(fields, openCallback)`, called with the socket just connected: the socket was made in
 * the context of whoever connected, and would run all the connection's work there. Its events (and so the
 * handshake, the heartbeat timers it starts, every frame) run outside any request from now on; only
 * `openCallback` runs in the caller's context.
 */
function wrapOpen(hook: ActiveHook<AmqplibOptions>) {
  return (original: AnyFunction) =>
    function open(this: ConnectionLike): unknown {
      if (tracingOff(hook)) return applyArgs(original, this, arguments);
      const stream = this.stream as (Record<PropertyKey, unknown> & { emit?: unknown }) | undefined;
      if (stream != null && typeof stream === 'object' && typeof stream.emit === 'function' && stream[kOutside] !== true) {
        Object.defineProperty(stream, 'emit', { value: outsideRequests(hook)(stream.emit as AnyFunction), writable: true, configurable: true });
        Object.defineProperty(stream, kOutside, { value: true });
      }
      return applyWithCallerCallback(original, this, arguments, 1);
    };
}

export function patchConnection(exports: any, { hook, wrap }: PatchContext<AmqplibOptions, undefined>): void {
  const proto = exports.Connection.prototype;
  wrap(proto, 'open', wrapOpen(hook));
  // The app's callbacks, called when the server answers: close(cb), and updateSecret's through _updateSecret.
  wrap(proto, 'close', callbackInCallerContext(hook, 0));
  if (typeof proto._updateSecret === 'function') wrap(proto, '_updateSecret', callbackInCallerContext(hook, 2));
}

// ---- connect --------------------------------------------------------------------------------------

function wrapConnect(hook: ActiveHook<AmqplibOptions>) {
  return (original: AnyFunction) =>
    function connect(this: unknown, url: unknown, socketOptions: unknown, openCallback: unknown): unknown {
      if (!hook.enabled || typeof openCallback !== 'function') return applyArgs(original, this, arguments);
      const peer = peerOfUrl(url);
      if (peer === undefined) return applyArgs(original, this, arguments);
      const args: unknown[] = Array.prototype.slice.call(arguments);
      args[2] = asWrapperOf(openCallback as AnyFunction, function (this: unknown, _err: unknown, connection: unknown): unknown {
        if (connection !== null && typeof connection === 'object') peers.set(connection, peer);
        return applyArgs(openCallback as AnyFunction, this, arguments);
      });
      return original.apply(this, args);
    };
}

/** What both models have alike: publish and consume. */
function patchChannels(exports: any, { hook, wrap }: PatchContext<AmqplibOptions, undefined>): void {
  wrap(exports.Channel.prototype, 'publish', wrapPublish(hook, false));
  wrap(exports.ConfirmChannel.prototype, 'publish', wrapPublish(hook, true));
  wrap(exports.Channel.prototype, 'consume', wrapConsume(hook));
}

export function patchModel(exports: any, context: PatchContext<AmqplibOptions, undefined>): void {
  patchChannels(exports, context);
  context.wrap(exports.Channel.prototype, 'get', wrapGet(context.hook));
}

/** The callback API's methods whose callback is not an RPC's (those go through `_rpc`): get's message, close's end. */
export function patchCallbackModel(exports: any, context: PatchContext<AmqplibOptions, undefined>): void {
  patchChannels(exports, context);
  const { hook, wrap } = context;
  wrap(exports.Channel.prototype, 'get', wrapCallbackGet(hook));
  wrap(exports.Channel.prototype, 'close', callbackInCallerContext(hook, 0));
}

export function patchChannel(exports: any, { hook, wrap }: PatchContext<AmqplibOptions, undefined>): void {
  const proto = exports.Channel.prototype;
  wrap(exports.BaseChannel.prototype, 'dispatchMessage', wrapDispatch(hook));
  // An RPC's reply comes from the socket: its callback (the callback API's, or what settles the promise API's) runs in its caller's context.
  wrap(proto, '_rpc', callbackInCallerContext(hook, 3));
  // Emitted from the write multiplexer, in the context of whichever publish scheduled its read.
  wrap(proto, 'onBufferDrain', outsideRequests(hook));
}

export function patchConnect(exports: any, { hook, wrap }: PatchContext<AmqplibOptions, undefined>): void {
  wrap(exports, 'connect', wrapConnect(hook));
}
