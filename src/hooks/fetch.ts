import diagnostics from 'node:diagnostics_channel';
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { compileMatcher, FetchOptions } from '../config';
import { OutboundCall, storage } from '../context';
import { wrap, unwrap } from '../patch';
import type { HookDefinition } from '../registry';
import { ActiveHook, finishSpan, injectHeaders, logEvent, markError, setTag, startClientSpan } from '../spans';
import { splitHostPort, stripQuery } from '../url';
import { reportOnce } from '../logger';

/**
 * Global `fetch` and the `undici` package, through undici's diagnostics channels (the same named
 * channels serve Node's bundled undici and the package). `fetch`/`request` entry points are wrapped
 * too, so that a retried or redirected call stays one logical span.
 */

interface UndiciRequest {
  origin?: string | URL;
  method?: string;
  path?: string;
  headers?: string | string[];
  addHeader?(name: string, value: string): unknown;
  [kCall]?: CallState;
}

const kCall = Symbol('opentracing-client-hooks.undiciCall');

interface CallState {
  onHeaders(status: number): void;
  onBodyDone(): void;
  onError(err: unknown): void;
}

interface HookState {
  hook: ActiveHook<FetchOptions>;
  ignore: ((url: string) => boolean) | undefined;
  blockPropagation: ((host: string) => boolean) | undefined;
}

let state: HookState | undefined;

function hasHeader(request: UndiciRequest, name: string): boolean {
  const headers = request.headers;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === name) return true;
    }
    return false;
  }
  if (typeof headers === 'string') return headers.toLowerCase().includes(`${name}:`);
  return false;
}

function originParts(request: UndiciRequest): { origin: string; authority: string; defaultPort: number } {
  const origin = String(request.origin ?? '');
  const scheme = origin.indexOf('://');
  const authority = scheme === -1 ? origin : origin.slice(scheme + 3).replace(/\/$/, '');
  return { origin: origin.replace(/\/$/, ''), authority, defaultPort: origin.startsWith('https:') ? 443 : 80 };
}

/** Adds the trace headers unless the request has them already (never a second copy). */
function inject(s: HookState, request: UndiciRequest, span: Span, authority: string): void {
  if (typeof request.addHeader !== 'function') return;
  if (s.blockPropagation !== undefined) {
    const { hostname } = splitHostPort(authority, 0);
    if (s.blockPropagation(hostname) || s.blockPropagation(authority)) return;
  }
  const headers = injectHeaders(s.hook, span);
  if (headers === undefined) return;
  for (const name of Object.keys(headers)) {
    if (hasHeader(request, name.toLowerCase())) continue;
    try {
      request.addHeader(name, headers[name]);
    } catch (err) {
      reportOnce('fetch: addHeader', err);
    }
  }
}

function startRequestSpan(s: HookState, request: UndiciRequest, component: string, parent: Span | undefined): { span: Span; authority: string } | undefined {
  const keepQuery = s.hook.options.captureQueryString === true;
  const { origin, authority, defaultPort } = originParts(request);
  const path = request.path ?? '/';
  if (s.ignore !== undefined && s.ignore(origin + path)) return undefined;
  const { hostname, port } = splitHostPort(authority, defaultPort);
  const method = (request.method ?? 'GET').toUpperCase();
  const span = startClientSpan(
    s.hook,
    `HTTP ${method}`,
    {
      [Tags.COMPONENT]: component,
      [Tags.HTTP_METHOD]: method,
      [Tags.HTTP_URL]: origin + stripQuery(path, keepQuery),
      [Tags.PEER_HOSTNAME]: hostname,
      [Tags.PEER_PORT]: port,
    },
    parent,
  );
  return span === undefined ? undefined : { span, authority };
}

/** A span for one undici request that no wrapped entry point owns (Client#stream, dispatch, …). */
class RequestCall implements CallState {
  private done = false;
  constructor(private readonly span: Span, private readonly finishOnHeaders: boolean) {}
  onHeaders(status: number): void {
    setTag(this.span, Tags.HTTP_STATUS_CODE, status);
    if (status >= 500) setTag(this.span, Tags.ERROR, true);
    if (this.finishOnHeaders) this.finish(undefined);
  }
  onBodyDone(): void {
    this.finish(undefined);
  }
  onError(err: unknown): void {
    this.finish(err);
  }
  finish(err: unknown): void {
    if (this.done) return;
    this.done = true;
    finishSpan(this.span, err);
  }
}

/** A whole `fetch()`/`request()` call: retries and redirects share its one span. */
class LogicalCall implements CallState, OutboundCall {
  span!: Span;
  started = false;
  resolved = false;
  done = false;
  readonly component: string;
  constructor(readonly s: HookState, component: string, readonly parent: Span | undefined) {
    this.component = component;
  }
  onHeaders(status: number): void {
    setTag(this.span, Tags.HTTP_STATUS_CODE, status);
    if (status >= 500) setTag(this.span, Tags.ERROR, true);
    if (this.s.hook.options.finishOnHeaders === true) this.finish(undefined);
  }
  onBodyDone(): void {
    this.finish(undefined);
  }
  onError(err: unknown): void {
    // Before the call settles, an error may be followed by a retry: the call's own rejection decides.
    if (!this.resolved) return;
    if (isCollectedResponse(err)) {
      // undici aborts a response that was dropped unread; the call itself succeeded.
      this.finishUnread();
      return;
    }
    this.finish(err);
  }
  finishUnread(): void {
    if (this.done || !this.started) return;
    logEvent(this.span, { event: 'body not consumed' });
    this.finish(undefined);
  }
  onResolved(): void {
    this.resolved = true;
  }
  onRejected(err: unknown): void {
    this.finish(err);
  }
  finish(err: unknown): void {
    if (this.done || !this.started) return;
    this.done = true;
    if (err !== undefined && (err as { name?: string })?.name === 'AbortError') {
      markError(this.span, err, 'abort');
      finishSpan(this.span);
      return;
    }
    finishSpan(this.span, err);
  }
}

/** Finishes the span of a response that is garbage-collected with its body never read. */
const unreadBodies = new FinalizationRegistry<LogicalCall>((call) => call.finishUnread());

function isCollectedResponse(err: unknown): boolean {
  // Node's bundled undici reports it as a bare string.
  const message = typeof err === 'string' ? err : (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message.includes('garbage collected');
}

/** Adds to an outer client span (axios) instead of making another. */
class AdoptedCall implements CallState {
  constructor(private readonly outbound: OutboundCall) {}
  onHeaders(status: number): void {
    this.outbound.onStatus?.(status);
  }
  onBodyDone(): void {}
  onError(): void {}
}

function onCreate(message: unknown): void {
  const s = state;
  if (s === undefined) return;
  const request = (message as { request?: UndiciRequest }).request;
  if (request === undefined || request[kCall] !== undefined) return;
  try {
    const store = storage.getStore();
    if (store?.suppressed === true) return;
    const outbound = store?.outbound;
    const { authority } = originParts(request);
    if (outbound instanceof LogicalCall && outbound.s === s) {
      if (!outbound.started) {
        const started = startRequestSpan(s, request, outbound.component, outbound.parent);
        if (started === undefined) return;
        outbound.span = started.span;
        outbound.started = true;
      }
      if (!outbound.done) {
        inject(s, request, outbound.span, authority);
        request[kCall] = outbound;
      }
      return;
    }
    if (outbound !== undefined && !(outbound instanceof LogicalCall) && s.hook.options.nestedClientSpans !== true) {
      if (outbound.injected !== true) inject(s, request, outbound.span, authority);
      request[kCall] = new AdoptedCall(outbound);
      return;
    }
    const parent = outbound !== undefined && !(outbound instanceof LogicalCall) ? outbound.span : store?.span;
    const started = startRequestSpan(s, request, 'undici', parent);
    if (started === undefined) return;
    inject(s, request, started.span, authority);
    request[kCall] = new RequestCall(started.span, s.hook.options.finishOnHeaders === true);
  } catch (err) {
    reportOnce('fetch: request:create', err);
  }
}

function onHeaders(message: unknown): void {
  const m = message as { request?: UndiciRequest; response?: { statusCode?: number } };
  const call = m.request?.[kCall];
  if (call !== undefined && typeof m.response?.statusCode === 'number') call.onHeaders(m.response.statusCode);
}
function onTrailers(message: unknown): void {
  (message as { request?: UndiciRequest }).request?.[kCall]?.onBodyDone();
}
function onError(message: unknown): void {
  const m = message as { request?: UndiciRequest; error?: unknown };
  m.request?.[kCall]?.onError(m.error);
}

const CHANNELS: Array<[string, (message: unknown) => void]> = [
  ['undici:request:create', onCreate],
  ['undici:request:headers', onHeaders],
  ['undici:request:trailers', onTrailers],
  ['undici:request:error', onError],
];

/** Wraps an entry point (`fetch`, `request`) so that its requests share one logical span. */
function wrapEntry(component: string) {
  return (original: (...args: any[]) => any) =>
    function entry(this: unknown): any {
      const s = state;
      const store = storage.getStore();
      if (s === undefined || store?.suppressed === true || (store?.outbound !== undefined && s.hook.options.nestedClientSpans !== true)) {
        return original.apply(this, arguments as unknown as any[]);
      }
      const parent = store?.outbound?.span ?? store?.span;
      const call = new LogicalCall(s, component, parent);
      const result = storage.run({ span: store?.span, outbound: call }, Reflect.apply, original, this, arguments);
      if (result !== undefined && typeof result.then === 'function') {
        result.then(
          (response: object) => {
            call.onResolved();
            // fetch's Response, or undici.request's body: whichever the caller may drop unread.
            const holder = (response as { body?: unknown })?.body ?? response;
            if (!call.done && holder !== null && typeof holder === 'object') unreadBodies.register(holder, call);
          },
          (err: unknown) => call.onRejected(err),
        );
      }
      return result;
    };
}

function subscribe(): void {
  for (const [name, handler] of CHANNELS) diagnostics.subscribe(name, handler);
}
function unsubscribe(): void {
  for (const [name, handler] of CHANNELS) diagnostics.unsubscribe(name, handler);
}

export const fetchHook: HookDefinition = {
  name: 'fetch',
  targets: [
    {
      module: 'undici',
      versions: '>=5.0.0 <9',
      patch(exports) {
        wrap(exports, 'fetch', wrapEntry('fetch'));
        wrap(exports, 'request', wrapEntry('undici'));
        if (exports.Dispatcher?.prototype) wrap(exports.Dispatcher.prototype, 'request', wrapEntry('undici'));
      },
      unpatch(exports) {
        unwrap(exports, 'fetch');
        unwrap(exports, 'request');
        if (exports.Dispatcher?.prototype) unwrap(exports.Dispatcher.prototype, 'request');
      },
    },
  ],
  enable(hook: ActiveHook<FetchOptions>) {
    state = {
      hook,
      ignore: compileMatcher(hook.options.ignoreOutgoing),
      blockPropagation: compileMatcher(hook.options.propagationBlocklist),
    };
    subscribe();
    if (typeof globalThis.fetch === 'function') wrap(globalThis, 'fetch', wrapEntry('fetch'));
  },
  disable() {
    unsubscribe();
    unwrap(globalThis, 'fetch');
    state = undefined;
  },
};
