/**
 * Global `fetch` and `undici` span logic (declared in ../hooks/fetch), through undici's diagnostics
 * channels (the same named channels serve Node's bundled undici and the package). The `fetch`/`request`
 * entry points are wrapped too, so that a retried or redirected call stays one logical span.
 */
import type { Span } from 'opentracing';
import { OutboundCall, storage, withOutbound } from '../context';
import { callParent, chained, HeaderCarrier, headerValue, HttpClientCall, httpClientState, HttpClientState, HttpTarget, startCallUnder, startHttpClientCall, targetOfUrl } from '../cores/http-client';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { FetchOptions } from '../options/fetch';
import { applyArgs } from '../apply-args';

export interface FetchState extends HttpClientState<FetchOptions> {
  /** Calls with a span not yet finished: at uninstall no channel reports their end any more. */
  readonly inFlight: Set<FetchCall>;
}

const kCall = Symbol('opentracing-client-hooks.undiciCall');

interface UndiciRequest {
  origin?: string | URL;
  method?: string;
  path?: string;
  headers?: string | unknown[];
  addHeader?(name: string, value: string): unknown;
  [kCall]?: FetchCall;
}

function targetOf(request: UndiciRequest): HttpTarget {
  return targetOfUrl(request.method ?? 'GET', String(request.origin ?? '').replace(/\/$/, '') + (request.path ?? '/'));
}

/** undici's request headers: a flat array (undici 6+) or a raw header block (undici 5). */
function carrierOf(request: UndiciRequest): HeaderCarrier {
  return { has: (name) => headerValue(request.headers, name) !== undefined, set: (name, value) => request.addHeader?.(name, value) };
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

  constructor(
    readonly state: FetchState,
    readonly component: string,
    private readonly parent: Span | null,
    private settled: boolean,
    private call?: HttpClientCall,
  ) {}

  get span(): Span {
    return this.call?.span as Span;
  }

  attach(request: UndiciRequest): void {
    if (this.ended) return;
    this.call ??= startCallUnder(this.state, this.component, this.parent, targetOf(request));
    if (this.call === undefined) {
      this.ended = true;
      return;
    }
    if (this.call.span !== undefined) this.state.inFlight.add(this);
    this.call.inject(carrierOf(request));
    this.call.started(() => request.headers);
    request[kCall] = this;
  }

  onStatus(status: number, headers?: unknown): void {
    this.call?.status(status, headers);
    if (this.state.hook.options.finishOnHeaders === true) this.finish();
  }

  onError(err: unknown): void {
    if (!this.settled) return;
    // undici aborts a response that was dropped unread; the call itself succeeded.
    if (isCollectedResponse(err)) this.finishUnread();
    else this.finish(err);
  }

  finishUnread(): void {
    if (!this.ended) this.call?.log('body not consumed');
    this.finish();
  }

  /** The entry point's promise resolved: later errors are the body's. */
  resolved(response: unknown): void {
    this.settled = true;
    if (!this.state.hook.enabled) return this.finish();
    // fetch's Response, or undici.request's body: whichever the caller may drop unread.
    const holder = (response as { body?: unknown } | null)?.body ?? response;
    if (!this.ended && holder !== null && typeof holder === 'object') unreadBodies.register(holder, this, this);
  }

  /** At uninstall: no channel will report the end of a settled call any more, so it ends now. */
  detach(): void {
    if (this.settled) this.finish();
  }

  finish(err?: unknown): void {
    if (this.ended || this.call === undefined) return;
    this.ended = true;
    this.state.inFlight.delete(this);
    unreadBodies.unregister(this);
    this.call.finish(err);
  }
}

/** Finishes the span of a response that is garbage-collected with its body never read. */
const unreadBodies = new FinalizationRegistry<FetchCall>((call) => call.finishUnread());

export function onCreate(state: FetchState, message: unknown): void {
  const request = (message as { request?: UndiciRequest }).request;
  if (!state.hook.enabled || request === undefined || request[kCall] !== undefined) return;
  const outer = storage.getStore()?.outbound;
  if (outer instanceof FetchCall && outer.state === state) return outer.attach(request);
  // No entry point owns it, or it adds to an outer client call (axios).
  let target: HttpTarget | undefined;
  const call = startHttpClientCall(state, 'undici', () => (target ??= targetOf(request)));
  if (call !== undefined) new FetchCall(state, 'undici', null, true, call).attach(request);
}

/** Wraps an entry point (`fetch`, `request`): its requests share one logical span. */
export function wrapEntry(state: FetchState, component: string) {
  return (original: (...args: any[]) => any) =>
    function entry(this: unknown): any {
      if (!state.hook.enabled) return applyArgs(original, this, arguments);
      const parent = storage.getStore()?.outbound instanceof FetchCall ? undefined : callParent(state);
      if (parent === undefined || parent instanceof HttpClientCall) return applyArgs(original, this, arguments);
      const call = new FetchCall(state, component, parent, false);
      const result = withOutbound(call, () => applyArgs(original, this, arguments));
      return chained(result, (response) => call.resolved(response), (err) => call.finish(err), () => call.resolved(undefined));
    };
}

export function makeState(hook: ActiveHook<FetchOptions>): FetchState {
  return { ...httpClientState(hook), inFlight: new Set() };
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
  (message as Message).request?.[kCall]?.finish();
}

export function onError(message: unknown): void {
  (message as Message).request?.[kCall]?.onError((message as Message).error);
}

/** At uninstall: no channel will report the end of the calls in flight any more. */
export function detachAll(state: FetchState): void {
  state.inFlight.forEach((call) => call.detach());
}
