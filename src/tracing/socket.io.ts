/**
 * socket.io span logic (declared in ../hooks/socket.io), for socket.io 4 servers.
 *
 * Receive: a Socket hands each incoming event to its listeners through `emitUntyped` (after its
 * middlewares, on a later tick); there a `socket.io receive <event>` server span starts, is active while
 * the listeners run, and finishes when they return (a listener that throws marks it, and the error goes on
 * unchanged). An async listener's later work stays in the span's context, after the span finished: socket.io
 * does not wait for it, and neither does the span. Events dropped by a middleware or after a disconnect
 * make no span. An event carries no trace context (socket.io has no per-event headers, and the payload is
 * the app's), so each receive span starts a trace; the connection's handshake is an HTTP request of its own.
 * An event no listener listens to makes no span: its name is the client's to choose, and nothing ran.
 * `onAny` listeners and `socket.use` middlewares run before `emitUntyped`, outside the span.
 *
 * What the connection hands to socket.io (a packet, its close, its error) is handled outside any context
 * (`patchClient`): over long-polling it comes from the HTTP poll that carried it, whose span would otherwise
 * parent the namespace's middlewares and `connection` listeners, `onAny`, `socket.use`, the listeners of an
 * event that makes no span, and `disconnecting`/`disconnect` listeners. Over a websocket that is no request.
 *
 * Emit: `Socket.prototype.emit` (one socket) and `BroadcastOperator.prototype.emit` (`io.emit`,
 * `io.to(room).emit`, `socket.broadcast.emit`, `socket.to(room).emit`, a namespace's emit) make a
 * `socket.io emit <event>` producer span under the active span, finished when emit returns: socket.io only
 * queues the packet, and acknowledgements may come late or never. An acknowledgement callback runs in
 * the emitter's context, as its timeout does (socket.io calls it from the connection's packet handling).
 */
import { Tags } from 'opentracing';
import { isSuppressed, storage } from '../context';
import { startProducer } from '../cores/messaging';
import { DbCall, inCallerContext, outsideRequests } from '../cores/db-call';
import { inboundRequest } from '../cores/http-server';
import type { ActiveHook, PatchContext } from '../registry/define';
import { startServerSpan, TagMap, tracingOff } from '../spans';
import type { SocketIoOptions } from '../options/socket.io';
import { applyArgs } from '../apply-args';

type AnyFunction = (...args: any[]) => any;

const COMPONENT = 'socket.io';
export const NAMESPACE = 'socket.io.namespace';
export const EVENT = 'socket.io.event';
export const ROOM_COUNT = 'socket.io.rooms';

interface SocketLike {
  nsp?: { name?: unknown } | null;
  rooms?: { size?: unknown } | null;
  listenerCount?(event: string): number;
}

interface BroadcastLike {
  adapter?: { nsp?: { name?: unknown } | null } | null;
  rooms?: { size?: unknown } | null;
}

/** Per install: the events that make no span (`ignoreEvents`). */
export interface SocketIoState {
  readonly ignored: ReadonlySet<string>;
}

/** Checks `ignoreEvents`: not a list of event names, it turns the hook off (the registry reports it once). */
export function makeState(hook: ActiveHook<SocketIoOptions>): SocketIoState {
  const events: unknown = hook.options.ignoreEvents;
  if (events === undefined) return { ignored: new Set() };
  if (!Array.isArray(events) || !events.every((e) => typeof e === 'string')) throw new Error('socket.io: ignoreEvents must be an array of event names');
  return { ignored: new Set(events as string[]) };
}

function traces(state: SocketIoState, event: unknown): event is string {
  return typeof event === 'string' && !state.ignored.has(event);
}

function eventTags(event: string, namespace: string | undefined, rooms: { size?: unknown } | null | undefined): TagMap {
  const tags: TagMap = { [EVENT]: event };
  if (namespace !== undefined) tags[NAMESPACE] = namespace;
  if (rooms != null && typeof rooms.size === 'number') tags[ROOM_COUNT] = rooms.size;
  return tags;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Whether `event` has a listener on `socket` (an unreadable count counts as one: socket.io will call what is there). */
function listened(socket: SocketLike, event: string): boolean {
  try {
    return typeof socket.listenerCount !== 'function' || socket.listenerCount(event) > 0;
  } catch {
    return true;
  }
}

// ---- receive --------------------------------------------------------------------------------------

function wrapEmitUntyped(hook: ActiveHook<SocketIoOptions>, state: SocketIoState) {
  return (original: AnyFunction) =>
    function emitUntyped(this: SocketLike, event: unknown): unknown {
      // Only a Socket's incoming events (a Namespace uses it for other servers' events).
      const nsp = this.nsp;
      if (tracingOff(hook) || nsp == null || typeof nsp !== 'object' || !traces(state, event) || isSuppressed(storage.getStore()) || !listened(this, event)) {
        return applyArgs(original, this, arguments);
      }
      const namespace = text(nsp.name);
      const tags = eventTags(event, namespace, this.rooms);
      tags[Tags.COMPONENT] = COMPONENT;
      if (namespace !== undefined) tags[Tags.MESSAGE_BUS_DESTINATION] = namespace;
      const span = startServerSpan(hook, `socket.io receive ${event}`, tags, null);
      if (span === undefined) return applyArgs(original, this, arguments);
      // Listeners' return values are not socket.io's to wait for: the span ends when emit returns.
      const call = new DbCall(span, undefined, hook.name);
      return storage.run({ span }, () => {
        const listened = call.invoke(original, this, arguments);
        call.succeed();
        return listened;
      });
    };
}

// ---- emit -----------------------------------------------------------------------------------------

function wrapEmit(hook: ActiveHook<SocketIoOptions>, state: SocketIoState, target: (self: any) => { namespace: unknown; rooms?: { size?: unknown } | null }) {
  return (original: AnyFunction) =>
    function emit(this: unknown, event: unknown): unknown {
      if (tracingOff(hook)) return applyArgs(original, this, arguments);
      if (!traces(state, event)) return Reflect.apply(original, this, ackInContext(arguments));
      const { namespace, rooms } = target(this);
      const name = text(namespace);
      const tags = eventTags(event, name, rooms);
      const call = startProducer(hook, { component: COMPONENT, system: COMPONENT, operationName: `socket.io emit ${event}`, destination: name, tags });
      if (call === undefined) return Reflect.apply(original, this, ackInContext(arguments));
      const result = call.invoke(original, this, ackInContext(arguments));
      call.succeed();
      return result;
    };
}

/**
 * The emit's arguments with its acknowledgement callback (the last, when a function) bound to the emitter's
 * context, none included: socket.io calls it from the packet that carried the reply, which over
 * long-polling is an HTTP request of its own, with its span.
 */
function ackInContext(args: IArguments): ArrayLike<unknown> {
  const ack: unknown = args[args.length - 1];
  if (typeof ack !== 'function') return args;
  const bound = Array.prototype.slice.call(args);
  bound[bound.length - 1] = inCallerContext(ack as AnyFunction);
  return bound;
}

// ---- what the connection delivers -----------------------------------------------------------------

/**
 * A Client's handlers of its engine.io connection's `data`, `close` and `error` (bound when the Client is
 * made: one made before install keeps the untraced ones). With engine.io 6 they are called outside any
 * request already (`patchPolling`, `patchEngineSocket`), one made before install too; this covers
 * engine.io 5 (socket.io 4.0, 4.1).
 */
export function patchClient(exports: any, { hook, wrap }: PatchContext<SocketIoOptions, SocketIoState>): void {
  for (const method of ['ondata', 'onclose', 'onerror']) wrap(exports.Client?.prototype, method, outsideRequests(hook));
}

/**
 * engine.io's Socket (the connection): its close, whatever called it (an error, a timer, the transport),
 * and a drain of its transport (bound in `setTransport`: a Socket made before install keeps the untraced
 * one) run outside any request, and so do its `close` event and socket.io's handling of it. `onOpen` too,
 * as the handshake request makes the Socket: the heartbeat timers it sets (a ping, with its `packetCreate`,
 * `flush`, `drain`; a ping timeout's close) would keep that request's context.
 */
export function patchEngineSocket(exports: any, { hook, wrap }: PatchContext<SocketIoOptions, SocketIoState>): void {
  for (const method of ['onOpen', 'onDrain', 'onClose']) wrap(exports.Socket?.prototype, method, outsideRequests(hook));
}

/**
 * engine.io's long-polling transport, whose methods are looked up at each poll (so a connection made before
 * install is reached too): a poll is handled outside its request (a GET poll flushes the packets queued for
 * whichever poll comes next: the Socket's `flush` and `drain` events), and so is a POST's body (its packets:
 * the Socket's `packet`, `data`, `message`, `heartbeat`, and socket.io's handling of them). The `headers` of
 * a response (the engine's `headers` and `initial_headers`) are emitted in the request it answers, whatever
 * wrote the response: the request's own event.
 */
export function patchPolling(exports: any, { hook, wrap }: PatchContext<SocketIoOptions, SocketIoState>): void {
  const proto = exports.Polling?.prototype;
  wrap(proto, 'onRequest', outsideRequests(hook));
  wrap(proto, 'onData', outsideRequests(hook));
  wrap(proto, 'headers', (original: AnyFunction) =>
    function (this: unknown, req: unknown): unknown {
      const inbound = tracingOff(hook) ? undefined : inboundRequest(req);
      return inbound === undefined ? applyArgs(original, this, arguments) : inbound.run(original, this, arguments);
    },
  );
}

export function patchEmitter(exports: any, { hook, wrap, state }: PatchContext<SocketIoOptions, SocketIoState>): void {
  wrap(exports.StrictEventEmitter?.prototype, 'emitUntyped', wrapEmitUntyped(hook, state));
}

export function patchSocket(exports: any, { hook, wrap, state }: PatchContext<SocketIoOptions, SocketIoState>): void {
  wrap(exports.Socket?.prototype, 'emit', wrapEmit(hook, state, (socket: SocketLike) => ({ namespace: socket.nsp?.name })));
}

export function patchBroadcast(exports: any, { hook, wrap, state }: PatchContext<SocketIoOptions, SocketIoState>): void {
  wrap(
    exports.BroadcastOperator?.prototype,
    'emit',
    wrapEmit(hook, state, (operator: BroadcastLike) => ({ namespace: operator.adapter?.nsp?.name, rooms: operator.rooms })),
  );
}
