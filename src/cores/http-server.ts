/**
 * The inbound request: the one server span per request that the `httpServer` hook opens, and what the
 * framework hooks (express, koa, fastify, hapi) do with it. They never open a span of their own: they find
 * this record on the request (`inboundRequest(req)`) and name the span after the route, record the errors
 * the framework catches, run code in the request's context, and add middleware spans when asked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Tags } from 'opentracing';
import type { Span, SpanContext } from 'opentracing';
import { applyArgs } from '../apply-args';
import { storage } from '../context';
import { tracerOf } from '../hook-tracer';
import { warnOnce } from '../logger';
import type { ActiveHook } from '../registry/define';
import { finishSpan, markError, runUserHook, setTag, startServerSpan, TagMap } from '../spans';
import type { IncomingMatcher } from '../matchers';
import { markAppError } from './db-call';

/** Options of the `httpServer` hook that may also be given once at the top level (see config.ts). */
export interface HttpServerOptions {
  /**
   * Incoming requests not to trace: strings and RegExps match the path (no query string); a function
   * is called with the request (an `Http2ServerRequest` for an HTTP/2 one; for a stream of HTTP/2's core
   * API, an object with its `stream`, `headers`, `method`, `url`, `httpVersion` and `socket`).
   */
  ignoreIncoming?: IncomingMatcher | IncomingMatcher[];
}

/** Options of the `httpServer` hook (`hooks: { httpServer: { ... } }`). */
export interface HttpServerHookOptions extends HttpServerOptions {
  /**
   * Request attributes recorded as tags named as listed: `method`, `url` (without credentials or query),
   * `path`, `httpVersion`, `remoteAddress`, `remotePort`, `headers.<name>`. Never the body, and never
   * the `authorization`, `proxy-authorization` or `cookie` header, even if listed.
   */
  tracedAttributes?: string[];
  /**
   * `false`: only requests that pass through `traced()` get a span; the others make none but still hand
   * the incoming trace context on to their outbound calls. Default `true`.
   */
  traceAllRequests?: boolean;
  /**
   * Called with the server span and the request when the span starts (Flask-OpenTracing's `start_span_cb`);
   * for HTTP/2, the `Http2ServerRequest` (and `Http2ServerResponse` in `responseHook`); for a stream of the
   * core API, the object `ignoreIncoming` gets (and the `ServerHttp2Stream`).
   */
  requestHook?: (span: Span, req: IncomingMessage) => void;
  /** Called with the server span and the response just before the span finishes. */
  responseHook?: (span: Span, res: ServerResponse) => void;
  /** Name a request that matched no route and answered 404 `<METHOD> 404` instead of `HTTP <METHOD>`. */
  notFoundAs404?: boolean;
}

/** Options every framework hook takes. */
export interface FrameworkHookOptions {
  /** One child span of the server span per middleware and route handler, named after the function. */
  middlewareSpans?: boolean;
}

type Peer = { address?: unknown; port?: unknown };
type Attribute = (req: IncomingMessage, url: string, path: string, peer: () => Peer) => unknown;

const NEVER_RECORDED = new Set(['authorization', 'proxy-authorization', 'cookie']);

const ATTRIBUTES: Record<string, Attribute> = {
  method: (req) => req.method,
  url: (_req, url) => url,
  path: (_req, _url, path) => path,
  httpVersion: (req) => req.httpVersion,
  remoteAddress: (_req, _url, _path, peer) => peer().address,
  remotePort: (_req, _url, _path, peer) => peer().port,
};

/**
 * The client's address and port, read so that Node's own view stays as it was: `socket.remoteAddress`
 * caches what it reads (`_peername`) on first use, and an app that reads it only after the client went
 * away (hapi's `request.info.remoteAddress`) must still find nothing there. So: Node's cache when it is
 * filled already, else the handle's `getpeername` into an object of our own (what Node 20, 22 and 24 do,
 * without the caching); a socket that is not a net.Socket (a stand-in) is asked directly.
 */
function peerOf(req: IncomingMessage): Peer {
  const socket = req.socket as (Socket & { _peername?: Peer; _handle?: { getpeername?: (out: Peer) => number } | null }) | null | undefined;
  if (socket == null) return {};
  try {
    if (socket._peername != null) return socket._peername;
    const handle = socket._handle;
    if (handle != null && typeof handle.getpeername === 'function') {
      const out: Peer = {};
      return handle.getpeername(out) === 0 ? out : {};
    }
    if (!(socket instanceof Socket)) {
      const other = socket as { remoteAddress?: unknown; remotePort?: unknown };
      return { address: other.remoteAddress, port: other.remotePort };
    }
  } catch {
    // A socket that cannot tell costs only the tag.
  }
  return {};
}

/** What the httpServer hook compiled from its options at install. */
export interface InboundConfig {
  readonly hook: ActiveHook<HttpServerHookOptions>;
  readonly attributes: ReadonlyArray<readonly [string, Attribute]>;
  readonly traceAll: boolean;
  readonly notFoundAs404: boolean;
}

export function compileInbound(hook: ActiveHook<HttpServerHookOptions>): InboundConfig {
  const attributes: Array<[string, Attribute]> = [];
  for (const name of hook.options.tracedAttributes ?? []) {
    if (typeof name !== 'string') continue;
    if (name.startsWith('headers.')) {
      const header = name.slice('headers.'.length).toLowerCase();
      if (NEVER_RECORDED.has(header)) {
        warnOnce(`httpServer: tracedAttributes never records the ${header} header (ignored)`);
        continue;
      }
      attributes.push([name, (req) => req.headers[header]]);
    } else if (Object.prototype.hasOwnProperty.call(ATTRIBUTES, name)) {
      attributes.push([name, ATTRIBUTES[name]]);
    } else {
      warnOnce(`httpServer: tracedAttributes has no attribute "${name}" (ignored; the body is never recorded)`);
    }
  }
  return { hook, attributes, traceAll: hook.options.traceAllRequests !== false, notFoundAs404: hook.options.notFoundAs404 === true };
}

/** The request context that httpServer runs the handler in; `span` is set later by `trace()` when untraced so far. */
export interface InboundStore {
  span: Span | undefined;
  parentContext?: SpanContext;
}

const kInbound = Symbol('opentracing-client-hooks.inbound');
type Carrier = { [kInbound]?: InboundRequest };

/** Whether a framework error carries a 4xx status (the client's fault); an unreadable error counts as none. */
function isClientError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  try {
    const e = err as { status?: unknown; statusCode?: unknown; output?: { statusCode?: unknown } };
    const status = e.output?.statusCode ?? e.statusCode ?? e.status;
    return typeof status === 'number' && status >= 400 && status < 500;
  } catch {
    return false;
  }
}

/** One inbound request: its server span (when traced), its route and its request context. */
export class InboundRequest {
  span: Span | undefined = undefined;
  route: string | undefined = undefined;
  /** The request context: entering it (`run`) makes this request's span the active one. */
  readonly store: InboundStore;
  private children: Span[] | undefined = undefined;
  /** The error the framework last caught: recorded at the end, if the response says the request failed. */
  private lastError: unknown = undefined;
  /** The response is done: no server span starts any more (nothing would finish it). */
  private ended = false;
  /** How to read the route should the request end before the framework named it (`routeAtEnd`). */
  private lateRoute: ((source: any) => string | undefined) | undefined = undefined;
  private lateRouteSource: unknown = undefined;
  /** Other objects that lead to this record (an HTTP/2 stream and its compatibility request): cleared at the end. */
  private attached: Carrier[] | undefined = undefined;

  constructor(
    private readonly config: InboundConfig,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly parent: SpanContext | null,
    private readonly url: string,
    private readonly path: string,
    private readonly response: ResponseReader,
    store?: InboundStore,
  ) {
    // A store given is the one the request's first listeners already run in (an HTTP/2 stream's): it becomes this request's.
    this.store = store ?? { span: undefined };
    if (parent !== null) this.store.parentContext = parent;
  }

  /** `target` (an object of the same request) finds this record too, until the request ends. */
  attach(target: object): void {
    (target as Carrier)[kInbound] = this;
    (this.attached ??= []).push(target as Carrier);
  }

  /** Whether the hooks are still installed (a framework hook checks this before doing anything). */
  get enabled(): boolean {
    return this.config.hook.enabled;
  }

  /** Starts the server span if this request has none yet (`traced()`), and makes it active for the request. */
  trace(): Span | undefined {
    if (this.span !== undefined || this.ended || !this.config.hook.enabled) return this.span;
    const req = this.req;
    let peer: Peer | undefined;
    const peerOnce = (): Peer => (peer ??= peerOf(req));
    const tags: TagMap = { [Tags.COMPONENT]: 'http', [Tags.HTTP_METHOD]: req.method, [Tags.HTTP_URL]: this.url, 'peer.address': peerOnce().address };
    for (const [name, read] of this.config.attributes) {
      const value = read(req, this.url, this.path, peerOnce);
      if (value !== undefined) tags[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (this.route !== undefined) tags['http.route'] = this.route;
    const name = this.route !== undefined ? `${req.method} ${this.route}` : `HTTP ${req.method}`;
    const span = startServerSpan(this.config.hook, name, tags, this.parent);
    if (span === undefined) return undefined;
    this.span = span;
    // Every continuation of this request shares the store: from here on the span is the active one.
    this.store.span = span;
    const { requestHook } = this.config.hook.options;
    if (requestHook !== undefined) runUserHook('httpServer.requestHook', () => requestHook(span, req));
    return span;
  }

  /** The route template that matched (`/users/:id`): the span becomes `<METHOD> <template>` with `http.route`. */
  setRoute(template: string): void {
    this.route = template;
    const span = this.span;
    if (span === undefined) return;
    try {
      span.setOperationName(`${this.req.method} ${template}`);
    } catch {
      // A tracer that cannot rename costs only the name.
    }
    setTag(span, 'http.route', template);
  }

  /**
   * For a framework that names the route once its middleware is done (koa): `read(source)` gives the route
   * matched so far, read when the request ends first (the client left, a response ended by hand).
   */
  routeAtEnd<T>(read: (source: T) => string | undefined, source: T): void {
    this.lateRoute = read;
    this.lateRouteSource = source;
  }

  /**
   * An error the framework caught: error=true with the error log once the response shows the request
   * failed (a 5xx, or no response at all). The app's error handler may still answer it with a 4xx (a
   * "not found" of its own), which is no server error. An error carrying a 4xx status does not replace
   * one without, so the log shows the server's fault; it is logged itself if it alone was answered 5xx.
   */
  recordError(err: unknown): void {
    if (err === undefined) return;
    if (this.lastError !== undefined && isClientError(err) && !isClientError(this.lastError)) return;
    this.lastError = err;
  }

  /** A child span of the server span (middleware spans); finished at the latest with the request. */
  startChild(name: string, component: string): Span | undefined {
    const span = this.span;
    if (span === undefined) return undefined;
    let child: Span | undefined;
    try {
      child = tracerOf(this.config.hook).startSpan(name, { childOf: span, tags: { [Tags.COMPONENT]: component } });
    } catch {
      return undefined;
    }
    (this.children ??= []).push(child);
    return child;
  }

  /** Finishes a child span once (middleware that calls `next` and later ends the response). */
  finishChild(child: Span): void {
    const list = this.children;
    if (list === undefined) return;
    const at = list.indexOf(child);
    if (at === -1) return;
    list.splice(at, 1);
    finishSpan(child);
  }

  /** Finishes `child` when `result` (a middleware's return) settles, passing the outcome on unchanged. */
  finishChildAfter(child: Span, result: unknown): unknown {
    if (result === null || typeof result !== 'object' || typeof (result as Promise<unknown>).then !== 'function') {
      this.finishChild(child);
      return result;
    }
    return (result as Promise<unknown>).then(
      (value) => {
        this.finishChild(child);
        return value;
      },
      (err) => {
        this.finishChild(child);
        throw err;
      },
    );
  }

  private setLateRoute(read: (source: unknown) => string | undefined): void {
    const source = this.lateRouteSource;
    this.lateRouteSource = undefined;
    let route: string | undefined;
    try {
      route = read(source);
    } catch {
      return;
    }
    if (route !== undefined) this.setRoute(route);
  }

  /** Runs `fn` in this request's context (callbacks the framework calls from elsewhere, such as body parsers). */
  run<T>(fn: (...args: any[]) => T, thisArg: unknown, args: ArrayLike<unknown>): T {
    if (storage.getStore() === this.store) return Reflect.apply(fn, thisArg, args as unknown[]);
    return storage.run(this.store, Reflect.apply, fn, thisArg, args) as T;
  }

  /** Runs `fn` with `span` (a child) active. */
  runWith<T>(span: Span, fn: (...args: any[]) => T, thisArg: unknown, args: ArrayLike<unknown>): T {
    return storage.run({ span }, Reflect.apply, fn, thisArg, args) as T;
  }

  /** The response is done or the connection closed: tag the status, finish children and the span. */
  end(): void {
    const read = this.lateRoute;
    if (read !== undefined) {
      this.lateRoute = undefined;
      if (this.route === undefined && this.span !== undefined) this.setLateRoute(read);
    }
    const span = this.span;
    this.span = undefined;
    this.ended = true;
    if (this.attached !== undefined) {
      for (const target of this.attached) if (target[kInbound] === this) target[kInbound] = undefined;
      this.attached = undefined;
    }
    // The store keeps the span: what the request goes on to do after its response is still its child.
    if (span === undefined) return;
    const res = this.res;
    if (this.children !== undefined) {
      for (const child of this.children) finishSpan(child);
      this.children = undefined;
    }
    // No head sent (the client left, Node answered 408 itself on the socket): no status was answered.
    const status = this.response.status(res);
    const whole = this.response.whole(res);
    if (status !== undefined) setTag(span, Tags.HTTP_STATUS_CODE, status);
    if (status === 404 && this.route === undefined && this.config.notFoundAs404) {
      try {
        span.setOperationName(`${this.req.method} 404`);
      } catch {
        // as in setRoute
      }
    }
    const failed = status !== undefined && status >= 500;
    // As a database span logged it if one did (a rethrown pg error), never with URL credentials.
    if (this.lastError !== undefined && (failed || !whole)) markAppError(span, this.lastError);
    if (!whole) markError(span, new Error('connection closed before the response was sent'), 'abort');
    else if (failed) setTag(span, Tags.ERROR, true);
    const { responseHook } = this.config.hook.options;
    if (responseHook !== undefined) runUserHook('httpServer.responseHook', () => responseHook(span, res));
    finishSpan(span);
  }
}

/** How the end of a kind of request reads its response. */
export interface ResponseReader {
  /** The status answered, or undefined when no head was sent. */
  status(res: ServerResponse): number | undefined;
  /** Whether the response went out whole. */
  whole(res: ServerResponse): boolean;
}

/** An http response: all of it handed to the connection before it closed. */
export const HTTP1_RESPONSE: ResponseReader = {
  status: (res) => (res.headersSent ? res.statusCode : undefined),
  whole: (res) => res.writableFinished,
};

function onResponseClose(this: ServerResponse & Carrier): void {
  const inbound = this[kInbound];
  if (inbound === undefined) return;
  this[kInbound] = undefined;
  inbound.end();
}

/**
 * Opens the inbound record of a request (httpServer, in `emit('request')`): with the span at once, or
 * without one until `traced()` asks when `traceAllRequests` is false. `response` reads, at the end, the
 * status answered and whether the response went out whole (`HTTP1_RESPONSE` for http's).
 */
export function beginInbound(
  config: InboundConfig,
  req: IncomingMessage,
  res: ServerResponse,
  parent: SpanContext | null,
  url: string,
  path: string,
  response: ResponseReader = HTTP1_RESPONSE,
  store?: InboundStore,
): InboundRequest | undefined {
  const inbound = new InboundRequest(config, req, res, parent, url, path, response, store);
  if (config.traceAll && inbound.trace() === undefined) return undefined;
  (req as IncomingMessage & Carrier)[kInbound] = inbound;
  (res as ServerResponse & Carrier)[kInbound] = inbound;
  res.on('close', onResponseClose);
  return inbound;
}

/**
 * `emit` of IncomingMessage and ServerResponse (`proto`): the events of an inbound request and its response
 * ('data', 'end', 'close', 'finish', and the frameworks' abort hooks built on them) run in the request's
 * context, as its handler does; Node delivers them from the connection's parser, made when the connection
 * came. A client's response (and any message without a live record) passes straight through. Where `proto`
 * only inherits `emit`, the inherited one is looked up at each call, as it is untraced: a later replacement
 * of EventEmitter's (the `domain` module's, another instrumentation's) still gets every event.
 */
export function messageEmitWrapper(proto: object): (original: (...args: any[]) => boolean) => (...args: any[]) => boolean {
  return (original) => {
    const emitNow = emitOf(proto, original);
    return function emit(this: Carrier | null | undefined): boolean {
      const inbound = this == null ? undefined : this[kInbound];
      if (inbound === undefined || !inbound.enabled) return applyArgs(emitNow(), this, arguments);
      return inbound.run(emitNow(), this, arguments);
    };
  };
}

type Emit = (...args: any[]) => boolean;

/**
 * The `emit` a wrapper of `proto.emit` (`original`, as found at wrap time) runs: where `proto` only inherits
 * it, the inherited one as it is at each call, as it is untraced.
 */
export function emitOf(proto: object, original: Emit): () => Emit {
  if (Object.prototype.hasOwnProperty.call(proto, 'emit')) return () => original;
  const parent = Object.getPrototypeOf(proto) as { emit: Emit };
  return () => parent.emit;
}

/** The inbound record of a request that httpServer is tracing (or passing the context of), if any. */
export function inboundRequest(req: unknown): InboundRequest | undefined {
  if (req === null || typeof req !== 'object') return undefined;
  const inbound = (req as Carrier)[kInbound];
  return inbound !== undefined && inbound.enabled ? inbound : undefined;
}

/** The inbound record behind what a framework hands its middleware: express `req`, koa `ctx`, fastify `request`, hapi `request`. */
function inboundOf(x: any): InboundRequest | undefined {
  if (x == null || typeof x !== 'object') return undefined;
  const found: InboundRequest | undefined = x[kInbound] ?? x.req?.[kInbound] ?? x.raw?.[kInbound] ?? x.raw?.req?.[kInbound];
  return found !== undefined && found.enabled ? found : undefined;
}

/**
 * Traces the request that passes through it when `httpServer: { traceAllRequests: false }` (a no-op
 * otherwise). One function for every framework: express/koa middleware (`app.use(traced())`,
 * `router.get('/x', traced(), handler)`), a fastify `onRequest` hook (route option
 * `{ onRequest: traced() }` or `app.addHook('onRequest', traced())`), a hapi route extension
 * (`options: { ext: { onPreHandler: { method: traced() } } }`).
 */
export function traced(): (a: any, b?: any, c?: any) => any {
  return function traced(a: any, b?: any, c?: any): any {
    inboundOf(a)?.trace();
    if (typeof c === 'function') return c(); // express next, fastify done
    if (typeof b === 'function') return b(); // koa next
    if (b != null && typeof b === 'object' && 'continue' in b) return b.continue; // hapi h.continue
    return undefined;
  };
}

/** A route template as a string: RegExps as their source form, arrays joined with a comma. */
export function templateOf(path: unknown): string | undefined {
  if (typeof path === 'string') return path;
  if (path instanceof RegExp) return String(path);
  if (Array.isArray(path)) {
    const parts = path.map(templateOf).filter((p): p is string => p !== undefined);
    return parts.length === 0 ? undefined : parts.join(',');
  }
  return undefined;
}

/** Joins mount prefixes and route paths: `/api` + `/users/:id`, without doubled or trailing slashes from `/`. */
export function joinPaths(prefix: string, path: string): string {
  if (prefix === '' || prefix === '/') return path;
  if (path === '' || path === '/') return prefix;
  return prefix.endsWith('/') && path.startsWith('/') ? prefix + path.slice(1) : prefix + path;
}
