/**
 * Global `fetch` and `undici` span logic (declared in ../hooks/fetch), through undici's diagnostics
 * channels (the same named channels serve Node's bundled undici and the package). The `fetch`, `request`,
 * `stream` and `pipeline` entry points are wrapped too, so that a retried or redirected call stays one
 * logical span.
 *
 * No async context is entered per call (that would switch on the promise hooks for every promise of
 * undici's web streams): an entry point's first request is created synchronously inside the call (or,
 * queued by a busy pool, later: then matched by its URL and method), and a follow-up (redirect, retry)
 * is tied to its call by the URL it was told to go to, preferably in the same context. What undici
 * pushes from the socket into the caller's stream (`request`'s and `pipeline`'s body, `stream`'s writable)
 * enters the caller's context only when it comes from another (`patchHandlers`).
 */
import { isErrored, isReadable, Readable } from 'node:stream';
import type { Span } from 'opentracing';
import { OutboundCall, outboundOf, RequestContext, storage } from '../context';
import { callParent, chained, HeaderCarrier, headerValue, HttpClientCall, httpClientState, HttpClientState, HttpTarget, startCallUnder, startHttpClientCall, targetOfUrl } from '../cores/http-client';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { FetchOptions } from '../options/fetch';
import { applyArgs } from '../apply-args';
import { requestUrl } from '../url';
import { ownDataValue } from '../own-copy';
import { runInContext } from '../cores/db-call';
import { tracingOff } from '../spans';
import { reportOnce } from '../logger';

export interface FetchState extends HttpClientState<FetchOptions> {
  /** Calls with a span not yet finished: at uninstall no channel reports their end any more. */
  readonly inFlight: Set<FetchCall>;
  /** Entry-point calls not yet settled whose last request was redirected or failed: undici may follow up. */
  readonly followUps: Set<FetchCall>;
  /**
   * Fetches aborted while their request waited in a busy pool's queue (they are in `followUps` too): undici
   * still creates that request when the pool gets to it, only to abort it, and it is theirs. At most
   * MAX_ABANDONED, the oldest dropped (a pool destroyed with them queued never creates theirs).
   */
  readonly abandoned: Set<FetchCall>;
}

const MAX_ABANDONED = 64;

/** The entry-point call whose original runs now (undici creates its first request synchronously). */
let entering: FetchCall | undefined;
/** The call whose request was attached last: the tunnel (CONNECT) a ProxyAgent opens for that request is part of it. */
let lastAttached: FetchCall | undefined;
/** The callback-form call whose 3xx's response ends now: an API handler completing now is its (`requestDone`). */
let completing: FetchCall | undefined;

const kCall = Symbol('opentracing-client-hooks.undiciCall');

interface UndiciRequest {
  origin?: string | URL;
  method?: string;
  path?: string;
  headers?: string | unknown[];
  addHeader?(name: string, value: string): unknown;
  [kCall]?: FetchCall;
}

/** The origins requested (one per server called, so few), each parsed once: its URL (no trailing slash), host and port. */
const originTargets = new Map<string, HttpTarget>();
const MAX_ORIGINS = 256;

/** The target of `origin`, from the cache; an origin with credentials is parsed each time, never kept. */
function originTarget(origin: string): HttpTarget {
  let target = originTargets.get(origin);
  if (target !== undefined) return target;
  target = targetOfUrl('GET', origin.endsWith('/') ? origin.slice(0, -1) : origin);
  if (origin.includes('@')) return target;
  if (originTargets.size >= MAX_ORIGINS) originTargets.clear();
  originTargets.set(origin, target);
  return target;
}

function targetOf(request: UndiciRequest): HttpTarget {
  const base = originTarget(String(request.origin ?? ''));
  const method = (request.method ?? 'GET').toUpperCase();
  // An absolute-form path (a forward proxy, no tunnel) is the URL itself, a CONNECT's `host:port` the tunnel's
  // end; the host is the proxy, where it connects (as http's).
  return { method, url: requestUrl(base.url, method, request.path ?? '/'), hostname: base.hostname, port: base.port };
}

/** undici's request headers: a flat array (undici 6+) or a raw header block (undici 5). */
function carrierOf(request: UndiciRequest): HeaderCarrier {
  return { has: (name) => headerValue(request.headers, name) !== undefined, set: (name, value) => request.addHeader?.(name, value) };
}

/** A request's absolute URL (no fragment), for matching a follow-up with the URL its call expects. */
function urlOf(request: UndiciRequest): string | undefined {
  try {
    return new URL(request.path ?? '/', String(request.origin ?? '')).href.replace(/#.*$/, '');
  } catch {
    return undefined;
  }
}

function isCollectedResponse(err: unknown): boolean {
  // Node's bundled undici reports it as a bare string.
  const message = typeof err === 'string' ? err : (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message.includes('garbage collected');
}

/**
 * One call as undici's requests see it. An entry point's call (`fetch()`, `request()`, `stream()`,
 * `pipeline()`) starts its span at its first request and keeps it through retries and redirects: errors
 * before the call settles may be followed by another attempt, so its own outcome decides, and one after
 * it (its body cut off) by a retry that resumes the body. Other requests (`dispatch`, `connect`,
 * `upgrade`) are settled from the start, each its own span. It is also the outer call for whatever runs
 * beneath it.
 */
class FetchCall implements OutboundCall {
  readonly injected = true;
  private ended = false;
  /** The last request attached, and the URL a follow-up of it would go to (set when one may come). */
  private current: UndiciRequest | undefined;
  private currentDone = false;
  /** The current request's response head has come. */
  private answered = false;
  next: string | undefined;
  /** The method of the request expected next, when known (a queued first request; upper case). */
  nextMethod: string | undefined;
  /** A fetch's AbortSignal, while the request it expects first waits in a pool's queue. */
  private signal: AbortSignal | undefined;
  /** What the settled call handed the caller to read (a response body, a pipeline's stream), held weakly. */
  private body: WeakRef<object> | undefined;
  /** A settled entry call's request failed: its error, while a follow-up may resume the body. */
  private failure: { readonly error: unknown } | undefined;
  /** An entry point's call (settled when its promise is), not a request of its own. */
  private readonly entry: boolean;
  /**
   * While its first request, or a redirect, waits in a pool's queue: what undici's handler of the call holds
   * (the callback, in `queuedCallbacks` too, or pipeline's stream), which tells that handler's failure (`failedInQueue`).
   */
  private queued: WeakRef<object> | undefined;
  /** The form with a callback: settled from the start, yet a redirect of its is still expected (see `requestDone`). */
  private callbackForm = false;
  /**
   * A callback-form call's callback, while a request of its is in flight, when its undici's handlers tell
   * their completion (`completing`): a redirect that a busy pool queues is then awaited with it.
   */
  private callback: object | undefined;
  /** undici's handler of the call tells its completion (`patchHandlers`): `callback` is kept. */
  private seesCompletion = false;
  /** The response of the call's 3xx reached undici's handler of the call: no redirect follows it. */
  private delivered = false;

  constructor(
    readonly state: FetchState,
    readonly component: string,
    private readonly parent: Span | null,
    private settled: boolean,
    private call?: HttpClientCall,
    /** The caller's context: a follow-up is created in it. */
    readonly context?: RequestContext,
  ) {
    this.entry = !settled;
  }

  get span(): Span {
    return this.call?.span as Span;
  }

  /** Takes `request` as the call's current one; false when the call has ended (or is not traced). */
  attach(request: UndiciRequest): boolean {
    if (this.ended) {
      // The request of a fetch abandoned in a pool's queue: undici aborts it at once, and it goes untraced.
      if (this.state.abandoned.delete(this)) this.state.followUps.delete(this);
      return false;
    }
    this.unexpect();
    if (this.queued !== undefined) {
      if (this.seesCompletion) this.callback = this.queued.deref();
      this.queued = undefined;
      queuedCallbacks.unregister(this);
    }
    if (this.call !== undefined) this.call.retarget(() => targetOf(request));
    else this.call = startCallUnder(this.state, this.component, this.parent, targetOf(request));
    if (this.call === undefined) {
      // Not traced (an ignored URL, the tracer's export): nothing waits for a follow-up of it either.
      this.ended = true;
      return false;
    }
    if (this.call.span !== undefined) this.state.inFlight.add(this);
    this.call.inject(carrierOf(request));
    this.call.started(() => request.headers);
    request[kCall] = this;
    this.current = request;
    this.currentDone = false;
    this.answered = false;
    this.failure = undefined;
    return true;
  }

  /** Whether the current request still waits for its connection to `authority` (`host:port`), which a proxy's CONNECT opens. */
  awaitsTunnel(authority: string): boolean {
    const request = this.current;
    if (this.ended || this.answered || request === undefined) return false;
    try {
      const { host, port, protocol } = new URL(String(request.origin));
      return (port === '' ? `${host}:${protocol === 'https:' ? 443 : 80}` : host) === authority;
    } catch {
      return false;
    }
  }

  onStatus(status: number, headers?: unknown): void {
    this.answered = true;
    this.call?.status(status, headers);
    const onHeaders = this.state.hook.options.finishOnHeaders === true;
    // An entry call's 3xx to 5xx may be followed up (a redirect, a retry): with finishOnHeaders, it ends when it settles then.
    // A callback-form call's redirect too: undici sends it from the socket's context, maybe another request's.
    const location = status >= 300 && status < 400 ? headerValue(headers, 'location') : undefined;
    if ((!this.settled && status >= 300) || (this.callbackForm && location !== undefined)) this.expectFollowUp(location);
    else if (onHeaders) this.finish();
  }

  onError(err: unknown): void {
    if (this.ended) return;
    if (!this.settled) {
      this.currentDone = true;
      return this.expectFollowUp(undefined);
    }
    // undici aborts a response that was dropped unread, or whose body the caller cancelled, dumped or
    // destroyed before its end (so before its request fails): the call itself succeeded.
    if (isCollectedResponse(err) || this.bodyState() === 'dropped') return this.finishUnread();
    if (!this.entry) return this.finish(err);
    // RetryAgent resumes a body cut off mid-way with a range request to the same URL, after a while: the
    // error is the call's if undici fails the body with it (no retry), or if no follow-up ever comes.
    this.failure = { error: err };
    this.expectFollowUp(undefined);
    const failed = this.current;
    setImmediate(() => this.failedBody(failed));
  }

  /**
   * After undici's handlers took a settled call's failed request: the body failed too (no retry to come),
   * or the caller dropped it (undici 5 and 6 abort the request before they mark the body destroyed), or it
   * waits for a retry.
   */
  private failedBody(failed: UndiciRequest | undefined): void {
    const failure = this.failure;
    if (failure === undefined || this.current !== failed) return;
    const state = this.bodyState();
    if (state === 'readable') return;
    if (state !== 'dropped') return this.finish(failure.error);
    this.failure = undefined;
    this.finishUnread();
  }

  /**
   * How the body the caller was handed stands: still readable, ended by the caller before its end, or
   * failed; undefined when there is none (or it was collected) or it is no stream.
   */
  private bodyState(): 'readable' | 'dropped' | 'failed' | undefined {
    const body = this.body?.deref();
    if (body === undefined) return undefined;
    try {
      // Node's streams and web streams alike.
      const readable = isReadable(body as Readable);
      if (readable !== false) return readable === true ? 'readable' : undefined;
      // fetch's body (a web stream) is errored by the fetch's signal, and closed by cancel().
      if (body instanceof ReadableStream) return isErrored(body as unknown as Readable) ? 'failed' : 'dropped';
      // undici's body (a Node stream) is destroyed with the signal's reason; by destroy() and dump(), with none or undici's own abort.
      const code = ((body as Readable).errored as { code?: unknown } | null)?.code;
      return (body as Readable).errored == null || code === 'UND_ERR_ABORT' || code === 'UND_ERR_ABORTED' ? 'dropped' : 'failed';
    } catch {
      return undefined;
    }
  }

  /** The body went unread (collected, or dropped by the caller): no error, unless its request failed with no follow-up since. */
  finishUnread(): void {
    if (this.failure !== undefined) return this.finish(this.failure.error);
    if (!this.ended) this.call?.log('body not consumed');
    this.finish();
  }

  get attached(): boolean {
    return this.current !== undefined || this.ended;
  }

  /**
   * The entry point returned before undici created its first request (queued): it goes to `expected`. A
   * fetch gives its `signal`: aborted before its request exists, it rejects at once, and the request still comes.
   */
  expectRequest(expected: Expected | undefined, signal?: AbortSignal): void {
    if (expected === undefined || this.ended) return;
    this.next = expected.url;
    this.nextMethod = expected.method;
    if (signal?.aborted === false) this.signal = signal;
    this.state.followUps.add(this);
  }

  /** No request is expected any more. */
  private unexpect(): void {
    if (this.next === undefined) return;
    this.next = undefined;
    this.nextMethod = undefined;
    this.signal = undefined;
    this.state.followUps.delete(this);
  }

  /**
   * The last request's response is complete: the call ends, unless undici is about to follow up. True when
   * undici's handler of the call is to tell whether it takes this response (`completing`, `handedOver`).
   */
  requestDone(): boolean {
    this.currentDone = true;
    if (this.next === undefined) {
      this.finish();
      return false;
    }
    if (!this.callbackForm) return false;
    // Settled from the start, a callback-form call has nothing else to end it: undici's redirect handler
    // dispatches the redirect right after this channel (a failure after it is ended by `failedBody`). Its
    // request is attached by the next turn, or a busy pool queued it: then undici's handler of the call has
    // not seen this response complete (no redirect would hand it on), and it is awaited as a first request
    // is. Without that sign (handlers of a shape not known), one not attached by the next turn never comes.
    const done = this.current;
    const callback = this.callback;
    this.delivered = false;
    setImmediate(() => {
      if (this.current !== done || this.failure !== undefined || this.ended) return;
      if (callback === undefined || this.delivered) return this.finish();
      this.awaitQueued(callback);
    });
    return callback !== undefined;
  }

  /** undici may send another request for this call: to `location` (a redirect) or the same URL again (a retry). */
  private expectFollowUp(location: unknown): void {
    if (this.ended || this.current === undefined) return;
    const from = urlOf(this.current);
    if (from === undefined) return;
    let to = from;
    if (location !== undefined) {
      try {
        to = new URL(String(location), from).href;
      } catch {
        return;
      }
    }
    this.next = to.replace(/#.*$/, '');
    this.state.followUps.add(this);
  }

  /** undici's handler of the call completed a response (`completing`): the app has it, no redirect follows. */
  handedOver(): void {
    this.delivered = true;
  }

  /** The request the call expects waits in a pool's queue, its handler holding `callback`: until it comes, fails or is dropped. */
  private awaitQueued(callback: object): void {
    this.callback = undefined;
    this.queued = new WeakRef(callback);
    queuedCallbacks.register(callback, this, this);
  }

  /** The entry point's promise (or callback) resolved: later errors are the body's. */
  resolved(response: unknown): void {
    this.settled = true;
    if (this.next !== undefined) {
      // No follow-up came (redirect: 'manual', a final 4xx/5xx): the last request is the response.
      this.unexpect();
      if (this.currentDone) return this.finish();
    }
    if (!this.state.hook.enabled || this.state.hook.options.finishOnHeaders === true) return this.finish();
    // fetch's Response (its body stream, if it has one), or undici.request's body: what the caller may drop unread.
    this.holdBody((response as { body?: unknown } | null)?.body ?? response);
  }

  /** What the caller was handed to read: its state tells a failure of the call from the caller dropping it, its collection that it went unread. */
  private holdBody(holder: unknown): void {
    if (this.ended || holder === null || typeof holder !== 'object') return;
    this.body = new WeakRef(holder);
    unreadBodies.register(holder, this, this);
  }

  /**
   * The entry point returned what is neither a promise nor settled by a callback (pipeline's stream): the
   * call is settled, and a request the pool queued is still to come, unless the caller drops that stream first.
   */
  returned(result: unknown): void {
    if (result === null || typeof result !== 'object' || !this.state.hook.enabled) return this.resolved(undefined);
    this.settled = true;
    this.holdBody(result);
    if (this.next !== undefined) this.queued = new WeakRef(result);
  }

  /**
   * The form with a callback, left as the caller gave it (a wrapper would show in the stack of an error
   * thrown in it): the call is settled from the start, and a request the pool queued is expected until
   * undici fails its handler (`failedHandler`) or lets go of the callback (a pool collected with it queued
   * never creates the request, nor fails it). A redirect
   * is still expected after a 3xx; a retry, which undici sends after a timer, is not (no sign tells it
   * from another request to that URL, so it is a span of its own).
   */
  calledBack(callback: object, self: unknown, args: ArrayLike<unknown>, seesCompletion: boolean): void {
    this.settled = true;
    this.callbackForm = true;
    this.seesCompletion = seesCompletion;
    if (this.ended) return;
    if (this.next === undefined) {
      if (seesCompletion) this.callback = callback;
      return;
    }
    // undici calls the callback back with the error, and creates no request: expecting one would match a later request to that URL.
    if (failsAtOnce(self, args)) return this.finish();
    this.awaitQueued(callback);
  }

  /** Whether a request of the call waits in a pool's queue, for a handler that holds `held`. */
  isQueuedAs(held: object): boolean {
    return this.queued?.deref() === held;
  }

  /** undici failed the handler of the call's queued request (the pool destroyed, options refused): no request comes. */
  failedInQueue(err: unknown): void {
    if (this.queued !== undefined) this.finish(err);
  }

  /** The callback of a call whose request never came was collected: it comes no more. */
  lostInQueue(): void {
    if (this.queued !== undefined) this.finish();
  }

  /** At uninstall: no channel will report the end of a settled call any more, so it ends now. */
  detach(): void {
    if (this.settled) this.finish();
  }

  /** Ends the call once: also one rejected before its first request existed, which then expects none any more. */
  finish(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (this.call === undefined && this.next !== undefined && this.signal?.aborted === true) return this.abandon();
    this.unexpect();
    this.callback = undefined;
    if (lastAttached === this) lastAttached = undefined;
    this.state.inFlight.delete(this);
    unreadBodies.unregister(this);
    this.call?.finish(err);
  }

  /** A fetch aborted while its request waited in a pool's queue: it makes no span, and its request, when it comes, none either. */
  private abandon(): void {
    this.signal = undefined;
    const abandoned = this.state.abandoned;
    abandoned.add(this);
    if (abandoned.size <= MAX_ABANDONED) return;
    for (const oldest of abandoned) {
      abandoned.delete(oldest);
      this.state.followUps.delete(oldest);
      return;
    }
  }
}

type Class = abstract new (...args: never[]) => unknown;
/** undici's `Dispatcher` and `Client` classes, of each copy patched. */
const dispatcherClasses = new Set<Class>();
const clientClasses = new Set<Class>();

/** Where undici keeps the global dispatcher. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/** The dispatcher a call goes through: `Dispatcher#request`'s own, else `undici.request`'s `dispatcher` option or the global one. */
function dispatcherOf(self: unknown, args: ArrayLike<unknown>): unknown {
  if (isInstance(self, dispatcherClasses)) return self;
  const options = args[1];
  const given = options !== null && typeof options === 'object' ? ownDataValue(options, 'dispatcher') : undefined;
  return given ?? (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER];
}

function isInstance(value: unknown, classes: Set<Class>): boolean {
  for (const Class of classes) if (value instanceof Class) return true;
  return false;
}

/**
 * Whether a callback-form call (`self`, `args`) that created no request inside the call failed: a Client
 * creates its request inside the call or fails, and undici fails every call of a closed or destroyed dispatcher.
 */
function failsAtOnce(self: unknown, args: ArrayLike<unknown>): boolean {
  try {
    const dispatcher = dispatcherOf(self, args);
    if (isInstance(dispatcher, clientClasses)) return true;
    if (!isInstance(dispatcher, dispatcherClasses)) return false;
    const { closed, destroyed } = dispatcher as { closed?: unknown; destroyed?: unknown };
    return closed === true || destroyed === true;
  } catch {
    // An odd `this` (a Proxy whose traps throw): undici's own matter.
    return false;
  }
}

/** Finishes the span of a response that is garbage-collected with its body never read. */
const unreadBodies = new FinalizationRegistry<FetchCall>((call) => call.finishUnread());
/** Ends a callback-form call whose queued request never came, once undici has let go of its callback. */
const queuedCallbacks = new FinalizationRegistry<FetchCall>((call) => call.lostInQueue());

export function onCreate(state: FetchState, message: unknown): void {
  const request = (message as { request?: UndiciRequest }).request;
  if (!state.hook.enabled || request === undefined || request[kCall] !== undefined || isTunnel(request)) return;
  let call = entering !== undefined && entering.state === state ? entering : state.followUps.size !== 0 ? followUpOf(state, request) : undefined;
  if (call === undefined) {
    // No entry point owns it, or it adds to an outer client call (axios).
    let target: HttpTarget | undefined;
    const started = startHttpClientCall(state, 'undici', () => (target ??= targetOf(request)));
    if (started === undefined) return;
    call = new FetchCall(state, 'undici', null, true, started);
  }
  if (call.attach(request)) lastAttached = call;
}

/** The request a call expects: its URL (no fragment) and, when known, its method (upper case). */
interface Expected {
  readonly url: string;
  readonly method: string | undefined;
}

/**
 * A ProxyAgent's CONNECT for a call's request (made inside the call, under an outer client call, or for
 * the request attached last, which waits for it): the call's transport, with no span or trace header of
 * its own. A CONNECT an app sends by itself (`Client#connect`) is a call of its own.
 */
function isTunnel(request: UndiciRequest): boolean {
  if (request.method !== 'CONNECT') return false;
  if (entering !== undefined || outboundOf(storage.getStore()) !== undefined) return true;
  return typeof request.path === 'string' && lastAttached?.awaitsTunnel(request.path) === true;
}

/**
 * The request an entry point was called for: `fetch(input, init)` (a string, URL or Request),
 * `request(url, options)`, or `Dispatcher#request(options)` (`origin` and `path`; a Pool's or Client's
 * own origin when `options` has none). Read only when undici queued the request, and never through a
 * getter of the caller's (a URL's `href` and a Request's `url` are the platform's own).
 */
function expectedOf(dispatcher: unknown, args: ArrayLike<unknown>, isFetch: boolean): Expected | undefined {
  const first = args[0];
  let options = args[1];
  // fetch sends GET unless told otherwise (a Request's own method is not read); undici takes no default here.
  let method: unknown = isFetch ? 'GET' : undefined;
  try {
    let url: string;
    if (typeof first === 'string') url = new URL(first).href;
    else if (first instanceof URL) url = first.href;
    else if (first === null || typeof first !== 'object') return undefined;
    else if (isRequest(first)) {
      url = new URL((first as { url: string }).url).href;
      method = undefined;
    } else {
      // Read without running a getter: undici may never read them.
      const origin = ownDataValue(first, 'origin') ?? originOf(dispatcher);
      if (origin === undefined) return undefined;
      url = new URL(String(ownDataValue(first, 'path') ?? '/'), String(origin)).href;
      if (options === null || typeof options !== 'object') options = first;
    }
    const given = options !== null && typeof options === 'object' ? ownDataValue(options, 'method') : undefined;
    if (typeof given === 'string') method = given;
    return { url: url.replace(/#.*$/, ''), method: typeof method === 'string' ? method.toUpperCase() : undefined };
  } catch {
    // not a URL undici would take either
  }
  return undefined;
}

/** A Pool's or Client's origin: undici keeps it under a symbol of its own, described `url`. */
function originOf(dispatcher: unknown): string | undefined {
  if (dispatcher === null || typeof dispatcher !== 'object') return undefined;
  for (const key of Object.getOwnPropertySymbols(dispatcher)) {
    if (key.description !== 'url') continue;
    const value = Object.getOwnPropertyDescriptor(dispatcher, key)?.value;
    return value instanceof URL ? value.origin : undefined;
  }
  return undefined;
}

/** fetch's AbortSignal: `init.signal` (read without running a getter), else the Request's own. */
function signalOf(args: ArrayLike<unknown>): AbortSignal | undefined {
  const input = args[0];
  const init = args[1];
  let signal = init !== null && typeof init === 'object' ? ownDataValue(init, 'signal') : undefined;
  if (signal === undefined && input !== null && typeof input === 'object' && isRequest(input)) signal = (input as { signal?: unknown }).signal;
  return signal instanceof AbortSignal ? signal : undefined;
}

/** A fetch Request (the global one, or undici's: its `url` getter is on Request.prototype). */
function isRequest(value: object): boolean {
  for (let proto = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === 'Request' && typeof Object.getOwnPropertyDescriptor(proto, 'url')?.get === 'function') return true;
    if (proto === Object.prototype) return false;
  }
  return false;
}

/** The call that expects this request as its follow-up: same URL (and method, if known), preferably the same caller's context. */
function followUpOf(state: FetchState, request: UndiciRequest): FetchCall | undefined {
  const url = urlOf(request);
  if (url === undefined) return undefined;
  const context = storage.getStore();
  let candidate: FetchCall | undefined;
  for (const call of state.followUps) {
    if (call.next !== url || (call.nextMethod !== undefined && call.nextMethod !== String(request.method).toUpperCase())) continue;
    if (call.context === context) return call;
    candidate ??= call;
  }
  return candidate;
}

/** Where an entry point's callback is among its arguments (-1: none, it returns a promise or a stream). */
type CallbackAt = (args: IArguments) => number;

const atIfFunction = (index: number): CallbackAt => (args) => (typeof args[index] === 'function' ? index : -1);
/** `undici.request(url, [options], [callback])`. */
const urlFormCallback: CallbackAt = (args) => (typeof args[1] === 'function' ? 1 : typeof args[2] === 'function' ? 2 : -1);
const noop = (): void => undefined;

const kStore = Symbol('opentracing-client-hooks.callerStore');
const kEmit = Symbol('opentracing-client-hooks.emit');

interface BoundBody {
  emit: (...args: any[]) => boolean;
  [kStore]?: RequestContext;
  [kEmit]?: (...args: any[]) => boolean;
}

/** The emit of a body bound to its caller's context (`bindBody`). */
function callerEmit(this: BoundBody): boolean {
  return runInContext(this[kStore], this[kEmit]!, this, arguments);
}

/**
 * A response body (a Node stream, which undici pushes into from the socket): its events run in `store`, the
 * caller's context, not in that of the request that opened the connection (as Node's http client does). An
 * emit of its own, which enters a context only when the event comes from another.
 */
function bindReadable(readable: unknown, store: () => RequestContext | undefined | typeof UNKNOWN): void {
  if (!(readable instanceof Readable)) return;
  const body = readable as unknown as BoundBody;
  if (body[kEmit] !== undefined) return;
  const at = store();
  if (at === UNKNOWN) return;
  body[kStore] = at;
  body[kEmit] = body.emit;
  body.emit = callerEmit;
}

/** The body of a promise-form `request`, bound to `store` (when undici's handler could not be patched). */
function bindBody(response: unknown, store: RequestContext | undefined): void {
  bindReadable((response as { body?: unknown } | null | undefined)?.body, () => store);
}

/** The caller's context is not known. */
const UNKNOWN = Symbol('unknown');
/** A handler's caller ran in no context. */
const NO_STORE = Symbol('noStore');
const kCallerStore = Symbol('opentracing-client-hooks.handlerCallerStore');

/** What the hook reads of undici's handler of a `request`, `stream` or `pipeline` call (an AsyncResource made in the caller's context). */
interface ApiHandler {
  /** request's and stream's callback (null once called). */
  callback?: unknown;
  /** pipeline's stream, which the call returned. */
  ret?: unknown;
  /** request's and pipeline's body; stream's writable (the factory's). */
  res?: unknown;
  runInAsyncScope?: (fn: () => unknown) => unknown;
  [kCallerStore]?: RequestContext | typeof NO_STORE;
}

const getStore = (): RequestContext | undefined => storage.getStore();

/** The context the handler's call was made in: undici runs the call's callback and factory in it. */
function callerStoreOf(handler: ApiHandler): RequestContext | undefined | typeof UNKNOWN {
  return typeof handler.runInAsyncScope === 'function' ? (handler.runInAsyncScope(getStore) as RequestContext | undefined) : UNKNOWN;
}

/**
 * The function a shimmer wrapper (OpenTelemetry's, Elastic's) keeps as `__original`, innermost first: the
 * probe calls undici's own, not another tool's wrapper. A wrapper of another kind is called as it is.
 */
function unwrapped(fn: unknown): unknown {
  for (let depth = 0; depth < 8 && typeof fn === 'function'; depth++) {
    const inner: unknown = Object.getOwnPropertyDescriptor(fn, '__original')?.value;
    if (typeof inner !== 'function') return fn;
    fn = inner;
  }
  return fn;
}

/**
 * undici's handlers of `request`, `stream` and `pipeline` (not exported): each API method of `proto`
 * (Dispatcher.prototype, not yet wrapped by us; `unwrapped`) is called once on a stand-in dispatcher that keeps the handler
 * it is given, and sends nothing. Only a class of undici's own is kept (one with an `onError` of its own).
 */
function handlerPrototypes(proto: Record<string, unknown> | undefined): Partial<Record<'request' | 'stream' | 'pipeline', object>> {
  const found: Partial<Record<'request' | 'stream' | 'pipeline', object>> = {};
  const probes: Array<['request' | 'stream' | 'pipeline', unknown[]]> = [
    ['request', [{}, noop]],
    ['stream', [{}, noop, noop]],
    ['pipeline', [{}, noop]],
  ];
  for (const [name, args] of probes) {
    const method = unwrapped(proto?.[name]);
    if (typeof method !== 'function') continue;
    const standIn = {
      dispatch(_options: unknown, handler: unknown): boolean {
        const prototype: unknown = handler !== null && typeof handler === 'object' ? Object.getPrototypeOf(handler) : undefined;
        if (prototype !== Object.prototype && typeof prototype === 'object' && prototype !== null && Object.prototype.hasOwnProperty.call(prototype, 'onError')) found[name] = prototype;
        return true;
      },
      // Some undici 6 releases dispatch through `this.compose(redirect(opts))`.
      compose(): unknown {
        return this;
      },
    };
    try {
      Reflect.apply(method, standIn, args);
    } catch {
      // A shape not known: that handler is left alone.
    }
  }
  return found;
}

/**
 * undici failed a handler: when it is that of a call whose first request still waits in a pool's queue
 * (the pool destroyed, options its Client refuses when it gets to them), no request comes for that call
 * and it expects none from now on, before its callback even runs. Its callback (or pipeline's stream)
 * tells it, and among calls that share a callback, the context it was made in.
 */
function failedHandler(state: FetchState, handler: ApiHandler, err: unknown): void {
  try {
    const held = handler.callback ?? handler.ret;
    if (held === null || (typeof held !== 'object' && typeof held !== 'function')) return;
    let found: FetchCall | undefined;
    let store: RequestContext | undefined | typeof UNKNOWN = UNKNOWN;
    for (const call of state.followUps) {
      if (!call.isQueuedAs(held)) continue;
      if (store === UNKNOWN) store = callerStoreOf(handler);
      if (call.context === store) {
        found = call;
        break;
      }
      found ??= call;
    }
    found?.failedInQueue(err);
  } catch (e) {
    reportOnce('fetch: a failed undici handler', e);
  }
}

/**
 * `original` run in the context `stream`'s call was made in (entered only when it is another), once the
 * handler has the app's writable; that context is asked of the handler once.
 */
function inCallerContext(state: FetchState, original: (...args: any[]) => any, handler: ApiHandler, args: IArguments): any {
  let at = handler[kCallerStore];
  if (at === undefined) {
    if (handler.res == null || tracingOff(state.hook)) return applyArgs(original, handler, args);
    const store = callerStoreOf(handler);
    if (store === UNKNOWN) return applyArgs(original, handler, args);
    at = handler[kCallerStore] = store ?? NO_STORE;
  }
  return runInContext(at === NO_STORE ? undefined : at, original, handler, args);
}

/** The body `request`'s or `pipeline`'s handler gave the caller, bound to the caller's context (once, with a tracer set). */
function bindHandlerBody(state: FetchState, handler: ApiHandler): void {
  if (tracingOff(state.hook)) return;
  const body = handler.res as BoundBody | null | undefined;
  if (body == null || body[kEmit] !== undefined) return;
  bindReadable(body, () => callerStoreOf(handler));
}

/**
 * undici pushes a response into its handler from the socket, in the context of the request that opened
 * the connection. `request`'s and `pipeline`'s handlers hand the caller a body of undici's own: at the
 * first chunk, end or failure it gets an emit bound to the caller's context (`bindReadable`). `stream`'s
 * hands the response to the app's writable: its writes, end and destroy run in the caller's context. Only
 * what comes after the response head is wrapped: the callback, factory or handler undici runs with it
 * has no frame of the hook's in its stack. Every handler's failure may be that of a call a pool queued
 * (`failedHandler`), and a completion tells a callback-form call's 3xx was handed over (`completing`).
 * Returns whether `request`'s body is bound so.
 */
function patchHandlers(state: FetchState, wrap: PatchContext<FetchOptions, FetchState>['wrap'], handlers: ReturnType<typeof handlerPrototypes>): boolean {
  for (const proto of Object.values(handlers)) {
    const writable = proto === handlers.stream;
    for (const name of ['onData', 'onComplete', 'onError']) {
      if (!Object.prototype.hasOwnProperty.call(proto, name)) continue;
      const failure = name === 'onError';
      const completion = name === 'onComplete';
      wrap(proto, name, (original) =>
        function (this: ApiHandler): any {
          if (completion && completing !== undefined) {
            completing.handedOver();
            completing = undefined;
          }
          if (failure && state.followUps.size !== 0) failedHandler(state, this, arguments[0]);
          if (writable) return inCallerContext(state, original, this, arguments);
          bindHandlerBody(state, this);
          return applyArgs(original, this, arguments);
        },
      );
    }
  }
  return handlers.request !== undefined && Object.prototype.hasOwnProperty.call(handlers.request, 'onData');
}

/**
 * Wraps an entry point (`fetch`, `request`, `stream`, `pipeline`): its requests share one logical span.
 * A call with a callback (`callbackAt`) is settled from the start; `seesCompletion` when undici's handler
 * of such a call tells its completion (`patchHandlers`). With `bindsBody` (`request`, when its handler
 * could not be patched), the promise resolves to a body whose events run in the caller's context, for
 * every call made with a tracer set.
 */
export function wrapEntry(state: FetchState, component: string, callbackAt?: CallbackAt, bindsBody = false, seesCompletion = false) {
  return (original: (...args: any[]) => any) =>
    function entry(this: unknown): any {
      if (!state.hook.enabled) return applyArgs(original, this, arguments);
      // Nested entry points (undici.request calls Dispatcher#request) belong to the outer one.
      if (entering !== undefined) return applyArgs(original, this, arguments);
      const parent = callParent(state);
      const store = storage.getStore();
      if (parent === undefined || parent instanceof HttpClientCall) {
        const result = applyArgs(original, this, arguments);
        if (!bindsBody || tracingOff(state.hook) || (callbackAt !== undefined && callbackAt(arguments) !== -1)) return result;
        return chained(result, (response) => bindBody(response, store), noop, noop);
      }
      const call = new FetchCall(state, component, parent, false, undefined, store);
      let result;
      entering = call;
      try {
        result = applyArgs(original, this, arguments);
      } catch (err) {
        call.finish(err);
        throw err;
      } finally {
        entering = undefined;
      }
      // A busy pool queues the request and creates it later, in another context: it is matched by URL.
      if (!call.attached) {
        if (component === 'fetch') call.expectRequest(expectedOf(undefined, arguments, true), signalOf(arguments));
        else call.expectRequest(expectedOf(this, arguments, false));
      }
      const at = callbackAt === undefined ? -1 : callbackAt(arguments);
      if (at === -1) {
        const ok = bindsBody ? (response: unknown) => (bindBody(response, store), call.resolved(response)) : (response: unknown) => call.resolved(response);
        return chained(result, ok, (err) => call.finish(err), () => call.returned(result));
      }
      call.calledBack(arguments[at], this, arguments, seesCompletion);
      return result;
    };
}

/** Whether a handler class of undici's has an `onComplete` of its own, which `patchHandlers` wraps. */
function completes(proto: object | undefined): boolean {
  return proto !== undefined && Object.prototype.hasOwnProperty.call(proto, 'onComplete');
}

export function makeState(hook: ActiveHook<FetchOptions>): FetchState {
  return { ...httpClientState(hook), inFlight: new Set(), followUps: new Set(), abandoned: new Set() };
}

export function patchUndici(exports: any, { state, wrap }: PatchContext<FetchOptions, FetchState>): void {
  const dispatcher = exports.Dispatcher?.prototype;
  const handlers = handlerPrototypes(dispatcher);
  // A request body is bound by its handler; else (a handler of a shape not known) when the promise resolves.
  const bindsBody = !patchHandlers(state, wrap, handlers);
  const requestCompletes = completes(handlers.request);
  wrap(exports, 'fetch', wrapEntry(state, 'fetch'));
  wrap(exports, 'request', wrapEntry(state, 'undici', urlFormCallback, bindsBody, requestCompletes));
  // undici.stream(url, options, factory) and undici.pipeline(url, options, handler) take no callback.
  wrap(exports, 'stream', wrapEntry(state, 'undici'));
  wrap(exports, 'pipeline', wrapEntry(state, 'undici'));
  if (typeof exports.Client === 'function') clientClasses.add(exports.Client);
  if (typeof exports.Dispatcher === 'function') dispatcherClasses.add(exports.Dispatcher);
  if (dispatcher) {
    wrap(dispatcher, 'request', wrapEntry(state, 'undici', atIfFunction(1), bindsBody, requestCompletes));
    wrap(dispatcher, 'stream', wrapEntry(state, 'undici', atIfFunction(2), false, completes(handlers.stream)));
    wrap(dispatcher, 'pipeline', wrapEntry(state, 'undici'));
  }
}

type Message = { request?: UndiciRequest; response?: { statusCode?: unknown; headers?: unknown }; error?: unknown };

export function onHeaders(message: unknown): void {
  const { request, response } = message as Message;
  if (typeof response?.statusCode === 'number') request?.[kCall]?.onStatus(response.statusCode, response.headers);
}

export function onTrailers(message: unknown): void {
  const call = (message as Message).request?.[kCall];
  // undici's handlers of the call run right after this channel, synchronously: a completion among them is its.
  if (call?.requestDone() === true) {
    completing = call;
    queueMicrotask(endCompleting);
  }
}

function endCompleting(): void {
  completing = undefined;
}

export function onError(message: unknown): void {
  (message as Message).request?.[kCall]?.onError((message as Message).error);
}

/** At uninstall: no channel will report the end of the calls in flight any more. */
export function detachAll(state: FetchState): void {
  state.inFlight.forEach((call) => call.detach());
  lastAttached = undefined;
  originTargets.clear();
}
