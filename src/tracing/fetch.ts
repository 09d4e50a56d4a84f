/**
 * Global `fetch` and `undici` span logic (declared in ../hooks/fetch), through undici's diagnostics
 * channels (the same named channels serve Node's bundled undici and the package). The `fetch`/`request`
 * entry points are wrapped too, so that a retried or redirected call stays one logical span.
 *
 * No async context is entered per call (that would switch on the promise hooks for every promise of
 * undici's web streams): an entry point's first request is created synchronously inside the call, and a
 * follow-up (redirect, retry) is tied to its call by the URL it was told to go to, in the same context.
 */
import type { Span } from 'opentracing';
import { OutboundCall, RequestContext, storage } from '../context';
import { callParent, chained, HeaderCarrier, headerValue, HttpClientCall, httpClientState, HttpClientState, HttpTarget, startCallUnder, startHttpClientCall, targetOfUrl } from '../cores/http-client';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { FetchOptions } from '../options/fetch';
import { applyArgs } from '../apply-args';
import { isAbsoluteUrl } from '../url';
import { ownDataValue } from '../own-copy';

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
  const path = request.path ?? '/';
  // An absolute-form path (a forward proxy, no tunnel) is the URL itself; the host is the proxy, where it connects (as http's).
  return { method: (request.method ?? 'GET').toUpperCase(), url: isAbsoluteUrl(path) ? path : base.url + path, hostname: base.hostname, port: base.port };
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
 * One call as undici's requests see it. An entry point's call (`fetch()`, `request()`) starts its span
 * at its first request and keeps it through retries and redirects: errors before the call settles may be
 * followed by another attempt, so its own outcome decides. Other requests (Client#stream, dispatch) are
 * settled from the start. It is also the outer call for whatever runs beneath it.
 */
class FetchCall implements OutboundCall {
  readonly injected = true;
  private ended = false;
  /** The last request attached, and the URL a follow-up of it would go to (set when one may come). */
  private current: UndiciRequest | undefined;
  private currentDone = false;
  next: string | undefined;
  /** A fetch's AbortSignal, while the request it expects first waits in a pool's queue. */
  private signal: AbortSignal | undefined;

  constructor(
    readonly state: FetchState,
    readonly component: string,
    private readonly parent: Span | null,
    private settled: boolean,
    private call?: HttpClientCall,
    /** The caller's context: a follow-up is created in it. */
    readonly context?: RequestContext,
  ) {}

  get span(): Span {
    return this.call?.span as Span;
  }

  attach(request: UndiciRequest): void {
    if (this.ended) {
      // The request of a fetch abandoned in a pool's queue: undici aborts it at once, and it goes untraced.
      if (this.state.abandoned.delete(this)) this.state.followUps.delete(this);
      return;
    }
    this.signal = undefined;
    this.call ??= startCallUnder(this.state, this.component, this.parent, targetOf(request));
    if (this.call === undefined) {
      // Not traced (an ignored URL, the tracer's export): nothing waits for a follow-up of it either.
      this.ended = true;
      this.next = undefined;
      this.state.followUps.delete(this);
      return;
    }
    if (this.call.span !== undefined) this.state.inFlight.add(this);
    this.call.inject(carrierOf(request));
    this.call.started(() => request.headers);
    request[kCall] = this;
    this.current = request;
    this.currentDone = false;
    if (this.next !== undefined) {
      this.next = undefined;
      this.state.followUps.delete(this);
    }
  }

  onStatus(status: number, headers?: unknown): void {
    this.call?.status(status, headers);
    if (this.state.hook.options.finishOnHeaders === true) this.finish();
    else if (!this.settled && status >= 300) this.expectFollowUp(status < 400 ? headerValue(headers, 'location') : undefined);
  }

  onError(err: unknown): void {
    if (!this.settled) {
      this.currentDone = true;
      return this.expectFollowUp(undefined);
    }
    // undici aborts a response that was dropped unread; the call itself succeeded.
    if (isCollectedResponse(err)) this.finishUnread();
    else this.finish(err);
  }

  finishUnread(): void {
    if (!this.ended) this.call?.log('body not consumed');
    this.finish();
  }

  get attached(): boolean {
    return this.current !== undefined || this.ended;
  }

  /**
   * The entry point returned before undici created its first request (queued): it goes to `url`. A fetch
   * gives its `signal`: aborted before its request exists, it rejects at once, and the request still comes.
   */
  expectRequest(url: string | undefined, signal?: AbortSignal): void {
    if (url === undefined || this.ended) return;
    this.next = url;
    if (signal?.aborted === false) this.signal = signal;
    this.state.followUps.add(this);
  }

  /** The last request's response is complete: the call ends, unless undici is about to follow up. */
  requestDone(): void {
    this.currentDone = true;
    if (this.next === undefined) this.finish();
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

  /** The entry point's promise resolved: later errors are the body's. */
  resolved(response: unknown): void {
    this.settled = true;
    if (this.next !== undefined) {
      // No follow-up came (redirect: 'manual', a final 4xx/5xx): the last request is the response.
      this.next = undefined;
      this.signal = undefined;
      this.state.followUps.delete(this);
      if (this.currentDone) return this.finish();
    }
    if (!this.state.hook.enabled) return this.finish();
    // fetch's Response, or undici.request's body: whichever the caller may drop unread.
    const holder = (response as { body?: unknown } | null)?.body ?? response;
    if (!this.ended && holder !== null && typeof holder === 'object') unreadBodies.register(holder, this, this);
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
    this.next = undefined;
    this.signal = undefined;
    this.state.inFlight.delete(this);
    this.state.followUps.delete(this);
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

/** Finishes the span of a response that is garbage-collected with its body never read. */
const unreadBodies = new FinalizationRegistry<FetchCall>((call) => call.finishUnread());

export function onCreate(state: FetchState, message: unknown): void {
  const request = (message as { request?: UndiciRequest }).request;
  if (!state.hook.enabled || request === undefined || request[kCall] !== undefined) return;
  if (entering !== undefined && entering.state === state) return entering.attach(request);
  if (state.followUps.size !== 0) {
    const call = followUpOf(state, request);
    if (call !== undefined) return call.attach(request);
  }
  // No entry point owns it, or it adds to an outer client call (axios).
  let target: HttpTarget | undefined;
  const call = startHttpClientCall(state, 'undici', () => (target ??= targetOf(request)));
  if (call !== undefined) new FetchCall(state, 'undici', null, true, call).attach(request);
}

/**
 * The URL an entry point was called with: `fetch(input)` (a string, URL or Request), `request(url)`, or
 * `Dispatcher#request({ origin, path })`. Read only when undici queued the request, and never through a
 * getter of the caller's (a URL's `href` and a Request's `url` are the platform's own).
 */
function entryUrl(args: ArrayLike<unknown>): string | undefined {
  const first = args[0];
  try {
    if (typeof first === 'string') return new URL(first).href.replace(/#.*$/, '');
    if (first === null || typeof first !== 'object') return undefined;
    if (first instanceof URL) return first.href.replace(/#.*$/, '');
    if (isRequest(first)) return new URL((first as { url: string }).url).href.replace(/#.*$/, '');
    // Read without running a getter: undici may never read them.
    const origin = ownDataValue(first, 'origin');
    const path = ownDataValue(first, 'path');
    if (origin !== undefined) return new URL(String(path ?? '/'), String(origin)).href.replace(/#.*$/, '');
  } catch {
    // not a URL undici would take either
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

/** The call that expects this request as its follow-up: same URL, preferably the same caller's context. */
function followUpOf(state: FetchState, request: UndiciRequest): FetchCall | undefined {
  const url = urlOf(request);
  if (url === undefined) return undefined;
  const context = storage.getStore();
  let candidate: FetchCall | undefined;
  for (const call of state.followUps) {
    if (call.next !== url) continue;
    if (call.context === context) return call;
    candidate ??= call;
  }
  return candidate;
}

/** Wraps an entry point (`fetch`, `request`): its requests share one logical span. */
export function wrapEntry(state: FetchState, component: string) {
  return (original: (...args: any[]) => any) =>
    function entry(this: unknown): any {
      if (!state.hook.enabled) return applyArgs(original, this, arguments);
      // Nested entry points (undici.request calls Dispatcher#request) belong to the outer one.
      const parent = entering !== undefined ? undefined : callParent(state);
      if (parent === undefined || parent instanceof HttpClientCall) return applyArgs(original, this, arguments);
      const call = new FetchCall(state, component, parent, false, undefined, storage.getStore());
      let result;
      entering = call;
      try {
        result = applyArgs(original, this, arguments);
      } finally {
        entering = undefined;
      }
      // A busy pool queues the request and creates it later, in another context: it is matched by URL.
      if (!call.attached) call.expectRequest(entryUrl(arguments), component === 'fetch' ? signalOf(arguments) : undefined);
      return chained(result, (response) => call.resolved(response), (err) => call.finish(err), () => call.resolved(undefined));
    };
}

export function makeState(hook: ActiveHook<FetchOptions>): FetchState {
  return { ...httpClientState(hook), inFlight: new Set(), followUps: new Set(), abandoned: new Set() };
}

export function patchUndici(exports: any, { state, wrap }: PatchContext<FetchOptions, FetchState>): void {
  wrap(exports, 'fetch', wrapEntry(state, 'fetch'));
  wrap(exports, 'request', wrapEntry(state, 'undici'));
  if (exports.Dispatcher?.prototype) wrap(exports.Dispatcher.prototype, 'request', wrapEntry(state, 'undici'));
}

type Message = { request?: UndiciRequest; response?: { statusCode?: unknown; headers?: unknown }; error?: unknown };

export function onHeaders(message: unknown): void {
  const { request, response } = message as Message;
  if (typeof response?.statusCode === 'number') request?.[kCall]?.onStatus(response.statusCode, response.headers);
}

export function onTrailers(message: unknown): void {
  (message as Message).request?.[kCall]?.requestDone();
}

export function onError(message: unknown): void {
  (message as Message).request?.[kCall]?.onError((message as Message).error);
}

/** At uninstall: no channel will report the end of the calls in flight any more. */
export function detachAll(state: FetchState): void {
  state.inFlight.forEach((call) => call.detach());
  originTargets.clear();
}
