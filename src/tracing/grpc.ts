/**
 * @grpc/grpc-js 1.x span logic (declared in ../hooks/grpc), client and server, every call type (unary,
 * client-, server- and bidi-streaming).
 *
 * Client: `getInterceptingCall` of `build/src/client-interceptors`, which `Client.prototype.make*Request`
 * calls once per call through the module object (so a patch made after grpc-js loaded is seen). Not the
 * `make*Request` methods themselves: `make-client.js` keeps its own copies of them when it loads and every
 * generated stub calls those copies, so a patch of the prototype misses every stub when grpc-js was loaded
 * before install, and again after an uninstall and reinstall. The call it returns (the outermost of the
 * call's interceptor chain) gets its own `start` and `cancelWithStatus`, which see the status the app
 * sees. The chain is given a channel of the call's own (`CallChannel`), whose `createCall` makes the
 * bottom call, below every interceptor. Its `start` injects into a copy of the metadata the interceptors
 * pass down (so that they get the caller's own Metadata object, as untraced), and its listener delivers
 * the call's events in the caller's context, to the app's interceptors and through them to the app (the
 * unary callback, stream events). grpc-js delivers the status in the context of whoever opened the
 * connection; every call of an installed hook gets this, traced or not (ignored, suppressed,
 * `requireParent` without a parent). No layer of grpc-js's `InterceptingCall` of ours: one cost a
 * requester, three bound listener methods and a closure per message, for every call.
 *
 * Server: `Server.prototype._runHandlerForCall`, which the server looks up per call. `register` would only
 * see handlers registered after install. The span starts there, from the metadata as it arrived (the base
 * call's, before any server interceptor saw it), and the innermost call of the interceptor chain gets its
 * own `start` and `sendStatus`: the interceptors' listeners, the handler and its events run with the span
 * active, and it finishes at the status sent on the wire (by any layer) or at the end of the call.
 */
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { isSuppressed, RequestContext, storage } from '../context';
import { appErrorText, databaseErrorCopy, runInContext } from '../cores/db-call';
import { compileMatcher } from '../matchers';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, extractContext, finishSpan, injectHeaders, markError, setTag, startClientSpanUnder, startServerSpan, TagMap, tracingOff } from '../spans';
import type { GrpcOptions } from '../options/grpc';
import { applyArgs } from '../apply-args';
import { redactSqlMessage } from '../sql';
import { headersToAdd } from '../trace-headers';

export interface GrpcState {
  hook: ActiveHook<GrpcOptions>;
  ignore: ((path: string) => boolean) | undefined;
  /** grpc-js's `SingleSubchannelChannel` (of each copy loaded): the channel of one subchannel, which grpc-js makes calls of its own on. */
  subchannelChannels: Set<abstract new (...args: any[]) => unknown>;
}

/** The parts of grpc-js this hook touches, as they are in 1.10 to 1.14. */
interface StatusObject {
  code: number;
  details?: string;
}
interface GrpcMetadata {
  get(key: string): unknown[];
  set(key: string, value: string): void;
  clone(): GrpcMetadata;
  getMap(): Record<string, unknown>;
}
interface ClientListener {
  onReceiveMetadata?(metadata: unknown): void;
  onReceiveMessage?(message: unknown): void;
  onReceiveStatus?(status: StatusObject): void;
}
/** The call `getInterceptingCall` returns (an `InterceptingCall`): the parts the hook gives one call of its own. */
interface ClientCallObject {
  start(metadata: GrpcMetadata, listener: ClientListener): void;
  cancelWithStatus(status: number, details: string): void;
}
/** A client's channel, as the bottom of a call's interceptor chain uses it. */
interface GrpcChannel {
  createCall(...args: unknown[]): unknown;
}
/** The call `createCall` makes (a grpc-js `Call`): the bottom of the chain, below every interceptor. */
interface BottomCall {
  start(metadata: GrpcMetadata, listener: ClientListener): void;
}
interface ServerListener {
  onReceiveMetadata?(metadata: GrpcMetadata): void;
  onReceiveMessage?(message: unknown): void;
  onReceiveHalfClose?(): void;
  onCancel?(): void;
}
interface ServerCall {
  start(listener: ServerListener): void;
  sendStatus(status: StatusObject): void;
  getPeer?(): string;
  getDeadline?(): unknown;
}
/** grpc-js's `BaseServerInterceptingCall` (1.10 to 1.14), the innermost call: the private parts the hook reads. */
interface BaseServerCall extends ServerCall {
  /** The metadata as it arrived, the innermost listener gets it first. */
  metadata?: unknown;
  /** The call is over (status sent, stream closed, or found closed): tells its listener `onCancel`, if it has one yet, on the next tick. */
  notifyOnCancel?(): void;
}

const STATUS_OK = 0;
const STATUS_CANCELLED = 1;
const STATUS_DEADLINE_EXCEEDED = 4;
const STATUS_UNIMPLEMENTED = 12;
const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/**
 * The error logged for a non-OK status, worded as grpc-js words the ServiceError the app gets, with the
 * values a server echoes in its details (`card number 4111… was declined`, `user 'x' not found`) taken
 * out as the SQL hooks take them out of a database's error text: each quoted run and number becomes `?`;
 * and first, as a server span logs an app's error, the text of a recent database error of this process
 * that it quotes (`'db: ' + err.detail`: `Key (email)=(…)`, unquoted) as that error's span logged it, and
 * URL credentials. The code and its name stay; the app's own error is not this one, and keeps its details.
 */
function statusError(code: number, details: string | undefined): Error {
  const redacted = typeof details === 'string' ? redactSqlMessage(appErrorText(details)) : details;
  const err = new Error(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${redacted ?? ''}`) as Error & { code?: number; details?: string };
  err.code = code;
  err.details = redacted;
  return err;
}

/** Records the status on `span` and finishes it: a non-OK status is an error, logged as `event`. */
function finishWithStatus(span: Span, code: number, details: string | undefined, event: string): void {
  setTag(span, 'grpc.status_code', code);
  if (code !== STATUS_OK) markError(span, statusError(code, details), event);
  finishSpan(span);
}

function eventOf(code: number, cancelled: boolean): string {
  if (code === STATUS_DEADLINE_EXCEEDED) return 'timeout';
  return cancelled && code === STATUS_CANCELLED ? 'cancel' : 'error';
}

/** `grpc package.Service/Method`, for a path `/package.Service/Method`. */
function operationName(path: string): string {
  return `grpc ${path.charCodeAt(0) === 47 ? path.slice(1) : path}`;
}

function methodTags(path: string): TagMap {
  const tags: TagMap = { [Tags.COMPONENT]: 'grpc', 'grpc.method': path, 'rpc.system': 'grpc' };
  const slash = path.lastIndexOf('/');
  if (slash > 0) {
    tags['rpc.service'] = path.slice(path.charCodeAt(0) === 47 ? 1 : 0, slash);
    tags['rpc.method'] = path.slice(slash + 1);
  }
  return tags;
}

// ---------------------------------------------------------------------------------------------------
// Client

interface Peer {
  hostname?: string;
  port?: number;
  address?: string;
}

const PEER_SCHEMES = new Set(['dns', 'ipv4', 'ipv6']);

/** Where a channel target (`dns:127.0.0.1:50051`, `dns:///host:443`, `ipv6:[::1]:50051`, `unix:/s`) points. */
export function parseTarget(target: string): Peer | null {
  let rest = target;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(target);
  if (scheme !== null) {
    const name = scheme[1].toLowerCase();
    if (name === 'unix' || name === 'unix-abstract') return { address: target };
    if (PEER_SCHEMES.has(name)) rest = target.slice(scheme[0].length);
    else if (!/^\d+$/.test(target.slice(scheme[0].length))) return null; // xds: and the like: no fixed peer
  }
  if (rest.startsWith('//')) {
    // `dns://resolver/host:port`: the authority is the resolver, not the peer.
    const slash = rest.indexOf('/', 2);
    rest = slash === -1 ? '' : rest.slice(slash + 1);
  }
  if (rest === '') return null;
  if (rest.includes(',')) return { address: rest };
  let host = rest;
  let port: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end === -1) return null;
    host = rest.slice(1, end);
    if (rest.charAt(end + 1) === ':') port = rest.slice(end + 2);
  } else {
    const colon = rest.indexOf(':');
    // More than one colon and no brackets: a bare IPv6 address without a port.
    if (colon !== -1 && colon === rest.lastIndexOf(':')) {
      host = rest.slice(0, colon);
      port = rest.slice(colon + 1);
    }
  }
  const peer: Peer = { hostname: host };
  if (port !== undefined && /^\d{1,5}$/.test(port)) peer.port = Number(port);
  return peer;
}

/** Peer of each channel, worked out once per channel. */
const channelPeers = new WeakMap<object, Peer | null>();

function peerOfChannel(channel: unknown): Peer | null {
  if (channel === null || typeof channel !== 'object') return null;
  let peer = channelPeers.get(channel);
  if (peer === undefined) {
    const getTarget = (channel as { getTarget?: unknown }).getTarget;
    let target: unknown;
    try {
      target = typeof getTarget === 'function' ? getTarget.call(channel) : undefined;
    } catch {
      target = undefined;
    }
    peer = typeof target === 'string' ? parseTarget(target) : null;
    channelPeers.set(channel, peer);
  }
  return peer;
}

/** One traced client call; finishes its span once, whichever way the call ends. */
class ClientCall {
  private done = false;
  /** The app cancelled the call (`call.cancel()`). */
  cancelled = false;
  /** A call without a response stream whose (last) message is none yet, or null. */
  private noMessage: boolean;

  constructor(
    readonly span: Span,
    /** The caller's context: listener events (callback, stream events) run in it. */
    readonly store: RequestContext | undefined,
    readonly hook: ActiveHook<GrpcOptions>,
    /** The method answers with one message (unary, client-streaming), not a stream. */
    private readonly unaryResponse: boolean,
  ) {
    this.noMessage = unaryResponse;
  }

  message(message: unknown): void {
    if (this.unaryResponse) this.noMessage = message === null;
  }

  status(status: StatusObject | null | undefined): void {
    if (this.done) return;
    this.done = true;
    let code = typeof status?.code === 'number' ? status.code : undefined;
    let details = status?.details;
    if (code === STATUS_OK && this.noMessage) {
      // What grpc-js's Client answers the app with, for an OK without the one message.
      code = STATUS_UNIMPLEMENTED;
      details = 'No message received';
    }
    if (code === undefined) finishSpan(this.span);
    else finishWithStatus(this.span, code, details, eventOf(code, this.cancelled));
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    finishSpan(this.span, err);
  }
}

/** Whether the caller's metadata holds `key` already (a key Metadata refuses, it cannot hold). */
function has(metadata: GrpcMetadata, key: string): boolean {
  try {
    return metadata.get(key).length > 0;
  } catch {
    return false;
  }
}

/**
 * `metadata` with the trace headers added, as a copy: the caller's Metadata (which an app may reuse for
 * every call) is never changed. A trace key the caller (or an interceptor of the app's) set wins, with
 * the rest of its format (headersToAdd): a mix of two contexts' headers would be neither.
 */
function withTraceHeaders(call: ClientCall, metadata: GrpcMetadata): GrpcMetadata {
  if (metadata === null || typeof metadata !== 'object' || typeof metadata.clone !== 'function') return metadata;
  const carrier = injectHeaders(call.hook, call.span);
  if (carrier === undefined) return metadata;
  let copy: GrpcMetadata | undefined;
  for (const key of headersToAdd(Object.keys(carrier), (name) => has(metadata, name))) {
    const value = carrier[key];
    if (typeof value !== 'string') continue;
    try {
      copy ??= metadata.clone();
      copy.set(key, value);
    } catch {
      // A key or value that Metadata refuses: that header is not sent.
    }
  }
  return copy ?? metadata;
}

/**
 * A listener that delivers each event to `next` in `store`, the caller's context (a method `next` lacks is
 * skipped, as grpc-js skips it): grpc-js delivers a call's events in the context of whoever opened the
 * connection.
 */
class CallerContextListener implements ClientListener {
  constructor(
    private readonly store: RequestContext | undefined,
    protected readonly next: ClientListener,
  ) {}

  private deliver(fn: ((arg: any) => void) | undefined, arg: unknown): void {
    if (typeof fn === 'function') runInContext(this.store, fn, this.next, [arg]);
  }

  onReceiveMetadata(metadata: unknown): void {
    this.deliver(this.next.onReceiveMetadata, metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.deliver(this.next.onReceiveMessage, message);
  }

  onReceiveStatus(status: StatusObject): void {
    this.deliver(this.next.onReceiveStatus, status);
  }
}

/**
 * The listener the outermost call gets instead of the app's: finishes the span at the status the app sees
 * (grpc-js's Client turns an OK without the one message of a unary response into UNIMPLEMENTED).
 */
class TracedClientListener extends CallerContextListener {
  constructor(
    private readonly call: ClientCall,
    next: ClientListener,
  ) {
    super(call.store, next);
  }

  override onReceiveMessage(message: unknown): void {
    this.call.message(message);
    super.onReceiveMessage(message);
  }

  override onReceiveStatus(status: StatusObject): void {
    this.call.status(status);
    super.onReceiveStatus(status);
  }
}

/**
 * Gives this one call (not its class) a `start` that takes our listener (the trace headers are added at the
 * bottom of the chain, by `CallChannel`), and a `cancelWithStatus` that notes a cancellation (the app's, or
 * grpc-js's own on a protocol error).
 */
function traceClientCall(call: ClientCall, outer: ClientCallObject): void {
  const start = outer.start;
  const cancelWithStatus = outer.cancelWithStatus;
  if (typeof start !== 'function' || typeof cancelWithStatus !== 'function') throw new TypeError('not a grpc-js call');
  outer.start = function (this: ClientCallObject, metadata: GrpcMetadata, listener: ClientListener): void {
    // Always ours, so that the status is seen: without an app listener grpc-js calls no method of one either.
    const traced = new TracedClientListener(call, listener !== null && typeof listener === 'object' ? listener : {});
    try {
      return start.call(this, metadata, traced);
    } catch (err) {
      call.fail(err);
      throw err;
    }
  };
  outer.cancelWithStatus = function (this: ClientCallObject): void {
    call.cancelled = true;
    return applyArgs(cancelWithStatus, this, arguments);
  };
}

/** OTLP exports (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`, ...): a tracer's own traffic, never traced. */
const COLLECTOR_SERVICES = '/opentelemetry.proto.collector.';

function startClientCall(state: GrpcState, parent: Span | null, methodDefinition: unknown, channel: unknown): ClientCall | undefined {
  const path = (methodDefinition as { path?: unknown } | null | undefined)?.path;
  if (typeof path !== 'string' || path.startsWith(COLLECTOR_SERVICES)) return undefined;
  if (state.ignore !== undefined && state.ignore(path)) return undefined;
  const tags = methodTags(path);
  const peer = peerOfChannel(channel);
  if (peer !== null) {
    if (peer.hostname !== undefined) tags[Tags.PEER_HOSTNAME] = peer.hostname;
    if (peer.port !== undefined) tags[Tags.PEER_PORT] = peer.port;
    if (peer.address !== undefined) tags['peer.address'] = peer.address;
  }
  const span = startClientSpanUnder(state.hook, parent, operationName(path), tags);
  const unaryResponse = !(methodDefinition as { responseStream?: unknown }).responseStream;
  return span === undefined ? undefined : new ClientCall(span, storage.getStore(), state.hook, unaryResponse);
}

/**
 * The channel one call's interceptor chain gets in place of the client's. The call its `createCall` makes is
 * the bottom of the chain, below every interceptor: its listener delivers the call's events in the caller's
 * context, so that the app's interceptors run there too, and the app's listener under them.
 */
class CallChannel {
  constructor(
    private readonly channel: GrpcChannel,
    private readonly store: RequestContext | undefined,
    /** The traced call, whose trace headers go into the metadata that reaches the bottom. */
    private readonly call: ClientCall | undefined,
  ) {}

  createCall(): unknown {
    const { store, call } = this;
    const made: unknown = runInContext(store, this.channel.createCall, this.channel, arguments);
    const start = (made as Partial<BottomCall> | null | undefined)?.start;
    if (typeof start !== 'function') return made;
    (made as BottomCall).start = function (this: BottomCall, metadata: GrpcMetadata, listener: ClientListener): void {
      let sent = metadata;
      if (call !== undefined) {
        try {
          sent = withTraceHeaders(call, metadata);
        } catch {
          sent = metadata;
        }
      }
      return runInContext(store, start, this, [sent, listener !== null && typeof listener === 'object' ? new CallerContextListener(store, listener) : listener]);
    };
    return made;
  }
}

// The rest of a channel, as the client's own (grpc-js asks the chain's channel for `createCall` alone).
for (const name of ['close', 'getTarget', 'getConnectivityState', 'watchConnectivityState', 'getChannelzRef']) {
  Object.defineProperty(CallChannel.prototype, name, {
    configurable: true,
    writable: true,
    value(this: { channel: Record<string, (...args: any[]) => unknown> }) {
      return applyArgs(this.channel[name], this.channel, arguments);
    },
  });
}

/** `channel` as the chain of one call made in `store` (traced as `call`) gets it; the very channel when it makes no calls. */
function channelOfCall(channel: unknown, store: RequestContext | undefined, call: ClientCall | undefined): unknown {
  return channel !== null && typeof channel === 'object' && typeof (channel as Partial<GrpcChannel>).createCall === 'function' ? new CallChannel(channel as GrpcChannel, store, call) : channel;
}

/** Whether `channel` is the channel of one subchannel, which only grpc-js (or a load-balancing policy) makes calls on. */
function isSubchannelChannel(state: GrpcState, channel: unknown): boolean {
  if (state.subchannelChannels.size === 0 || channel === null || typeof channel !== 'object') return false;
  for (const type of state.subchannelChannels) if (channel instanceof type) return true;
  return false;
}

function wrapGetInterceptingCall(state: GrpcState) {
  return (original: (...args: any[]) => any) =>
    function getInterceptingCall(this: unknown, interceptorArgs: unknown, methodDefinition: unknown, options: unknown, channel: unknown): any {
      if (tracingOff(state.hook)) return applyArgs(original, this, arguments);
      // Every call of an installed hook, traced or not (ignored, suppressed, `requireParent`), gets its events in its caller's context.
      let store = storage.getStore();
      let call: ClientCall | undefined;
      let chainChannel = channel;
      try {
        if (isSubchannelChannel(state, channel)) {
          // grpc-js's own call on one subchannel (ORCA load reports): no span, and outside any request's context.
          store = undefined;
        } else {
          const parent = clientParent(state.hook);
          call = parent === undefined ? undefined : startClientCall(state, parent, methodDefinition, channel);
        }
        chainChannel = channelOfCall(channel, store, call);
      } catch {
        // What failed is left out: the call untraced, or its chain on the client's own channel.
      }
      let outer: ClientCallObject;
      try {
        // Interceptor configuration errors are thrown here, to the app, as untraced.
        outer = original.call(this, interceptorArgs, methodDefinition, options, chainChannel);
      } catch (err) {
        call?.fail(err);
        throw err;
      }
      if (call === undefined) return outer;
      try {
        traceClientCall(call, outer);
      } catch {
        call.status(undefined);
      }
      return outer;
    };
}

// ---------------------------------------------------------------------------------------------------
// Server

/** One server call: its span, from the metadata as it arrived until the status or the cancellation. */
class ServerCallTrace {
  span: Span | undefined;
  store: RequestContext | undefined;
  /** The span is finished. */
  done = false;

  constructor(
    private readonly hook: ActiveHook<GrpcOptions>,
    private readonly path: string,
    private readonly call: ServerCall,
  ) {}

  begin(metadata: unknown): void {
    if (this.span !== undefined || this.done) return;
    let carrier: object = {};
    try {
      if (isMetadata(metadata)) carrier = metadata.getMap();
    } catch {
      carrier = {};
    }
    const tags = methodTags(this.path);
    const peer = this.peer();
    if (peer !== undefined) tags['peer.address'] = peer;
    // A malformed trace header is a new root (extractContext contains whatever the tracer throws).
    this.span = startServerSpan(this.hook, operationName(this.path), tags, extractContext(this.hook, carrier));
    if (this.span !== undefined) this.store = { span: this.span };
  }

  private peer(): string | undefined {
    try {
      const peer = typeof this.call.getPeer === 'function' ? this.call.getPeer() : undefined;
      return typeof peer === 'string' && peer !== 'unknown' ? peer : undefined;
    } catch {
      return undefined;
    }
  }

  status(status: StatusObject | null | undefined): void {
    if (this.done || this.span === undefined) return;
    this.done = true;
    const code = typeof status?.code === 'number' ? status.code : STATUS_OK;
    const noted = code !== STATUS_OK && status !== null && typeof status === 'object' ? databaseDetails.get(status) : undefined;
    // An interceptor that rewrote the details sent its own text: the span logs what went on the wire.
    finishWithStatus(this.span, code, noted !== undefined && noted.sent === status?.details ? noted.logged : status?.details, eventOf(code, false));
  }

  /** The call ended without a status sent (grpc-js reports the end of every call this way). Bound: given to `process.nextTick`. */
  readonly cancelled = (): void => {
    if (this.done || this.span === undefined) return;
    this.done = true;
    let deadline: unknown;
    try {
      deadline = typeof this.call.getDeadline === 'function' ? this.call.getDeadline() : undefined;
    } catch {
      deadline = undefined;
    }
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    if (typeof ms === 'number' && ms <= Date.now()) finishWithStatus(this.span, STATUS_DEADLINE_EXCEEDED, 'Deadline exceeded', 'timeout');
    else finishWithStatus(this.span, STATUS_CANCELLED, 'Cancelled before the status was sent', 'cancel');
  };
}

/**
 * A status grpc-js made of a handler's database error (`callback(pgErr)` of a unary or client-streaming
 * handler): the details it carried then, and those of the copy the database span logged, which the server
 * span logs (the error may echo a value unquoted, in a text no longer among the latest ones `appErrorText`
 * knows). Any other error's details are taken from the status as sent. Set on failure only; weak.
 */
const databaseDetails = new WeakMap<object, { readonly sent: unknown; readonly logged: string | undefined }>();

/** The details grpc-js's `serverErrorToStatus` takes of an error, of a database span's copy: its `details` with a numeric `code`, else its `message`. */
function detailsOf(copy: unknown): string | undefined {
  if (copy === null || typeof copy !== 'object') return undefined;
  const { code, details, message } = copy as { code?: unknown; details?: unknown; message?: unknown };
  if (Number.isInteger(code) && typeof details === 'string') return details;
  return 'message' in copy ? String(message) : 'Unknown Error';
}

function isMetadata(metadata: unknown): metadata is GrpcMetadata {
  return metadata !== null && typeof metadata === 'object' && typeof (metadata as Partial<GrpcMetadata>).getMap === 'function';
}

/** A listener of the call (the innermost interceptor's, or the handler's), run with the server span active. */
class TracedServerListener implements ServerListener {
  constructor(
    private readonly trace: ServerCallTrace,
    private readonly next: ServerListener,
  ) {}

  private run(fn: ((...args: any[]) => unknown) | undefined, args: unknown[]): void {
    if (typeof fn !== 'function') return;
    const store = this.trace.store;
    if (store === undefined) fn.apply(this.next, args);
    else runInContext(store, fn, this.next, args);
  }

  onReceiveMetadata(metadata: GrpcMetadata): void {
    this.trace.begin(metadata);
    this.run(this.next.onReceiveMetadata, [metadata]);
  }

  onReceiveMessage(message: unknown): void {
    this.run(this.next.onReceiveMessage, [message]);
  }

  onReceiveHalfClose(): void {
    this.run(this.next.onReceiveHalfClose, []);
  }

  onCancel(): void {
    this.trace.cancelled();
    this.run(this.next.onCancel, []);
  }
}

/** How many server interceptors deep the call the status goes out on is looked for. */
const MAX_SERVER_INTERCEPTORS = 64;

/**
 * The innermost call of the server's interceptor chain (grpc-js's base call, which writes the status and
 * sends statuses of its own: deadline, bad timeout header, (de)serialization, message size), followed down
 * the `nextCall` of each `ServerInterceptingCall`; `call` itself when there is no chain, or as far as the
 * chain can be followed (an interceptor's own call object without `nextCall`).
 */
function innermostServerCall(call: ServerCall): ServerCall {
  let inner = call;
  for (let depth = 0; depth < MAX_SERVER_INTERCEPTORS; depth++) {
    const next = (inner as { nextCall?: unknown }).nextCall;
    if (next === null || typeof next !== 'object' || typeof (next as Partial<ServerCall>).sendStatus !== 'function') break;
    inner = next as ServerCall;
  }
  return inner;
}

/** Gives this one call (not its class) a `start` of ours: its listener runs with the span of `trace` active. */
function traceListenerOf(call: ServerCall, start: ServerCall['start'], trace: ServerCallTrace): void {
  call.start = function (this: ServerCall, listener: ServerListener): void {
    return start.call(this, listener !== null && typeof listener === 'object' ? new TracedServerListener(trace, listener) : listener);
  };
}

/**
 * Starts the span of this call from the metadata as it arrived (at the innermost listener's metadata when
 * the base call's cannot be read), and gives the innermost call of its chain (not its class) a `start` and
 * a `sendStatus` of ours: what every interceptor does runs in the span, and the status recorded is the one
 * that goes on the wire, sent by any layer (an interceptor that answers the call itself, or rewrites the
 * handler's status), the base call's own included. The outermost call's listener (the handler's) runs in
 * it too, whatever context an interceptor passes the call on in. Returns the span's context, if any.
 */
function traceServerCall(state: GrpcState, call: ServerCall, handler: { path?: unknown }): RequestContext | undefined {
  const path = handler.path;
  if (typeof path !== 'string') return undefined;
  if (state.ignore !== undefined && state.ignore(path)) return undefined;
  const inner: BaseServerCall = innermostServerCall(call);
  const { start: innerStart, sendStatus } = inner;
  const start = call.start;
  if (typeof innerStart !== 'function' || typeof sendStatus !== 'function' || typeof start !== 'function') return undefined;
  const trace = new ServerCallTrace(state.hook, path, call);
  traceListenerOf(inner, innerStart, trace);
  if (inner !== call) traceListenerOf(call, start, trace);
  inner.sendStatus = function (this: ServerCall, status: StatusObject): void {
    trace.status(status);
    return sendStatus.call(this, status);
  };
  const notifyOnCancel = inner.notifyOnCancel;
  if (typeof notifyOnCancel === 'function') {
    // The end of a call whose base got no listener (an interceptor that never passed the call on, the
    // client gone first) reaches no onCancel: after the one the listener would get, then.
    inner.notifyOnCancel = function (this: BaseServerCall): void {
      try {
        return applyArgs(notifyOnCancel, this, arguments);
      } finally {
        if (!trace.done) process.nextTick(trace.cancelled);
      }
    };
  }
  if (isMetadata(inner.metadata)) trace.begin(inner.metadata);
  return trace.store;
}

function wrapRunHandlerForCall(state: GrpcState) {
  return (original: (...args: any[]) => any) =>
    function _runHandlerForCall(this: unknown, call: ServerCall, handler: { path?: unknown }): any {
      if (!state.hook.enabled || call === null || typeof call !== 'object' || handler === null || typeof handler !== 'object') {
        return applyArgs(original, this, arguments);
      }
      let store: RequestContext | undefined;
      // The server of a tracer's own exporter, or one started inside suppressTracing.
      if (!isSuppressed(storage.getStore())) {
        try {
          store = traceServerCall(state, call, handler);
        } catch {
          // Untraced then.
        }
      }
      // The interceptors' `start` runs in the span too.
      return store === undefined ? applyArgs(original, this, arguments) : runInContext(store, original, this, arguments);
    };
}

/**
 * `serverErrorToStatus(error)`: a status made of a database error is noted (see databaseDetails). Only the
 * database span's copy is read, never the app's error again.
 */
function wrapServerErrorToStatus(state: GrpcState) {
  return (original: (...args: any[]) => any) =>
    function serverErrorToStatus(this: unknown, error: unknown): any {
      const status: unknown = applyArgs(original, this, arguments);
      if (!state.hook.enabled || status === null || typeof status !== 'object') return status;
      const copy = databaseErrorCopy(error);
      if (copy !== undefined) databaseDetails.set(status, { sent: (status as StatusObject).details, logged: detailsOf(copy) });
      return status;
    };
}

/** The hook's state for one install (its compiled `ignoreMethods`, the subchannel channel classes noted), made on first use. */
export function makeState(hook: ActiveHook<GrpcOptions>): GrpcState {
  return { hook, ignore: compileMatcher(hook.options.ignoreMethods), subchannelChannels: new Set() };
}

export function patchClientInterceptors(exports: any, { state, wrap }: PatchContext<GrpcOptions, GrpcState>): void {
  if (typeof exports.InterceptingCall !== 'function') return;
  wrap(exports, 'getInterceptingCall', wrapGetInterceptingCall(state));
}

/** Notes grpc-js's `SingleSubchannelChannel` (1.14+), whose calls are the library's own: nothing is wrapped. */
export function noteSubchannelChannel(exports: any, { state }: PatchContext<GrpcOptions, GrpcState>): void {
  if (typeof exports.SingleSubchannelChannel === 'function') state.subchannelChannels.add(exports.SingleSubchannelChannel);
}

export function patchServer(exports: any, { state, wrap }: PatchContext<GrpcOptions, GrpcState>): void {
  wrap(exports.Server?.prototype, '_runHandlerForCall', wrapRunHandlerForCall(state));
}

/** `serverErrorToStatus`, which grpc-js's server calls through this module's exports with a unary or client-streaming handler's error. */
export function patchServerCall(exports: any, { state, wrap }: PatchContext<GrpcOptions, GrpcState>): void {
  if (typeof exports.serverErrorToStatus === 'function') wrap(exports, 'serverErrorToStatus', wrapServerErrorToStatus(state));
}
