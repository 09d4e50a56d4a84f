/**
 * Inbound `http`/`https`/`http2` request span logic (declared in ../hooks/httpServer): a server span from
 * the request's headers, active for the handler and everything asynchronous it starts and for the
 * request's and response's own events, finished when the response is done or the connection (an HTTP/2
 * stream) closes. HTTP/2's core API (`'stream'` events) gets the same span per stream.
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import { otelTracingSuppressed, outsideOtelSuppression } from '../context';
import { beginInbound, compileInbound, emitOf, HTTP1_RESPONSE, inboundRequest, messageEmitWrapper } from '../cores/http-server';
import type { HttpServerHookOptions, HttpServerOptions, InboundConfig, InboundRequest, InboundStore, ResponseReader } from '../cores/http-server';
import { isGrpc } from '../grpc-content-type';
import { compileMatcher } from '../matchers';
import type { Matcher } from '../matchers';
import type { ActiveHook, PatchContext } from '../registry/define';
import { extractContext, tracingOff } from '../spans';
import { isAbsoluteUrl, pathOf, stripQuery, urlForSpan } from '../url';
import { applyArgs } from '../apply-args';
import { runInContext } from '../cores/db-call';
import { log } from '../logger';

type RequestUrl = { url: string; path: string };

export interface ServerState {
  inbound: InboundConfig;
  ignore: ((req: IncomingMessage, path: string) => boolean) | undefined;
}

function compileIgnore(option: HttpServerOptions['ignoreIncoming']): ServerState['ignore'] {
  if (option === undefined) return undefined;
  const list = Array.isArray(option) ? option : [option];
  // A function is a predicate on the request; strings and RegExps match the path.
  const predicates = list.filter((m): m is (req: IncomingMessage) => boolean => typeof m === 'function');
  const pathMatch = compileMatcher(list.filter((m): m is Exclude<Matcher, (...args: any[]) => unknown> => typeof m !== 'function'));
  return (req, path) => {
    if (pathMatch !== undefined && pathMatch(path)) return true;
    for (const predicate of predicates) {
      try {
        if (predicate(req)) return true;
      } catch {
        // A throwing predicate means "trace it".
      }
    }
    return false;
  };
}

/**
 * `http.url` and the path of a request. An absolute-form target (`GET http://user:pw@host/p`, as sent to a
 * forward proxy) is the URL itself; either way credentials and the query string are left out.
 */
function requestUrl(req: IncomingMessage): RequestUrl {
  const protocol = (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http';
  return targetUrl(req.url, protocol, req.headers.host);
}

/**
 * The same for an HTTP/2 request of the compatibility API, from its pseudo-headers (its `socket` is a
 * proxy of the session's: not read for this). `:authority` stands for Host, which a client may send instead.
 */
function http2RequestUrl(req: IncomingMessage): RequestUrl {
  const headers = req.headers as Record<string, string | undefined>;
  const scheme = headers[':scheme'] === 'https' ? 'https' : 'http';
  return targetUrl(headers[':path'], scheme, headers[':authority'] ?? headers.host);
}

function targetUrl(requestTarget: string | null | undefined, protocol: string, host: unknown): RequestUrl {
  const target = requestTarget ?? '/';
  if (isAbsoluteUrl(target)) {
    const url = urlForSpan(target, false);
    return { url, path: pathOf(url) };
  }
  const path = stripQuery(target, false);
  // The Host header is the client's to write: it goes through the same redaction.
  return { url: urlForSpan(`${protocol}://${typeof host === 'string' ? host : 'localhost'}${path}`, false), path };
}

type Http2Response = ServerResponse & { stream?: Http2ServerResponse['stream'] | null };

/** The status a stream sent (`respond()`, `respondWithFile()`, `respondWithFD()`), if it sent its head. */
function sentStatus(stream: ServerHttp2Stream | null | undefined): number | undefined {
  const sent: unknown = stream?.sentHeaders?.[':status'];
  return typeof sent === 'number' ? sent : undefined;
}

/**
 * Whether a stream closed with no error code, its writable side ended before (its `writableFinished` is true
 * after a reset too; Node ends it when it closes, and says `aborted` when it was not ended yet: a session
 * destroyed closes its streams with no error code).
 */
function streamWhole(stream: ServerHttp2Stream | null | undefined, ended: boolean): boolean {
  return stream != null && stream.rstCode === 0 && !stream.aborted && (ended || stream.writableEnded);
}

/**
 * An HTTP/2 response of the compatibility API, which a handler may also answer through its stream
 * (`req.stream.respond()`, `respondWithFile()`): the status its stream sent, else the response's; whole
 * when the stream was ended (by either) and closed with no error code.
 */
const HTTP2_RESPONSE: ResponseReader = {
  status: (res) => sentStatus((res as Http2Response).stream) ?? (res.headersSent ? res.statusCode : undefined),
  whole: (res) => streamWhole((res as Http2Response).stream, res.writableEnded),
};

/** A stream of the core API, its own response: as the compatibility API's, from the stream alone. */
const STREAM_RESPONSE: ResponseReader = {
  status: (res) => sentStatus(res as unknown as ServerHttp2Stream),
  whole: (res) => streamWhole(res as unknown as ServerHttp2Stream, false),
};

/** How a request of a kind is read: its URL, and its response at the end. */
interface RequestKind {
  url(req: IncomingMessage): RequestUrl;
  response: ResponseReader;
}

const HTTP1: RequestKind = { url: requestUrl, response: HTTP1_RESPONSE };
const HTTP2: RequestKind = { url: http2RequestUrl, response: HTTP2_RESPONSE };
const STREAM: RequestKind = { url: http2RequestUrl, response: STREAM_RESPONSE };

/**
 * A request is judged by itself: the context here is its connection's, which is the one the server's
 * `listen()` ran in (a suppressed one, a span's), never the request's; so it is not read. `store`: the
 * context its first listeners run in already (an HTTP/2 stream's), which becomes the request's.
 */
function startInbound(state: ServerState, req: IncomingMessage, res: ServerResponse, kind: RequestKind, store?: InboundStore): InboundRequest | undefined {
  const { url, path } = kind.url(req);
  if (state.ignore !== undefined && state.ignore(req, path)) return undefined;
  return beginInbound(state.inbound, req, res, extractContext(state.inbound.hook, req.headers), url, path, kind.response, store);
}

/** Runs a request's listeners: in its context, or, untraced (ignored), outside the connection's; outside OpenTelemetry's suppression. */
function runRequest(inbound: InboundRequest | undefined, store: InboundStore | undefined, original: (...args: any[]) => boolean, self: unknown, args: IArguments): boolean {
  const handle = (): boolean => (inbound === undefined ? runInContext(store, original, self, args) : inbound.run(original, self, args));
  return otelTracingSuppressed() ? outsideOtelSuppression(handle, undefined, []) : handle();
}

/**
 * The events Node delivers a request with: 'request', and instead of it 'checkContinue' (`Expect:
 * 100-continue`, when the app listens for it) and 'checkExpectation' (any other `Expect`).
 */
function isRequestEvent(event: string | symbol): boolean {
  return event === 'request' || event === 'checkContinue' || event === 'checkExpectation';
}

/** What an HTTP/2 server's `emit` does besides its requests: its 'stream' and 'session' events. */
interface Http2Events {
  stream(original: (...args: any[]) => boolean, server: unknown, args: IArguments): boolean;
  session(session: unknown): unknown;
}

/**
 * `emit` of a server class: a request gets its span; `kindOf` tells an HTTP/2 server's own requests from its
 * HTTP/1.1 ones, and `http2` handles the other events of an HTTP/2 server.
 */
function wrapEmit(state: ServerState, kindOf: (req: IncomingMessage) => RequestKind = () => HTTP1, http2?: Http2Events) {
  return (original: (...args: any[]) => boolean) =>
    function emit(this: unknown, event: string | symbol, req: IncomingMessage, res: ServerResponse): boolean {
      if (http2 !== undefined && !isRequestEvent(event)) {
        if (event === 'stream') return http2.stream(original, this, arguments);
        if (event === 'session') http2.session(req);
      }
      // With no tracer (the no-op window) nothing is read of the request: no URL, headers or peer for a span that cannot be.
      if (!isRequestEvent(event) || tracingOff(state.inbound.hook)) return applyArgs(original, this, arguments);
      // The same request dispatched on to another server (`inner.emit('request', req, res)`, or 'request' from a
      // 'checkContinue' listener): it has its span already, and runs in the context it is dispatched in.
      if (inboundRequest(req) !== undefined) return applyArgs(original, this, arguments);
      const kind = kindOf(req);
      let stream: unknown;
      let store: InboundStore | undefined;
      if (kind === HTTP2) {
        // An HTTP/2 request is its stream's: one span for both, whichever event came first.
        stream = (req as unknown as { stream?: unknown }).stream;
        const ofStream = inboundRequest(stream);
        if (ofStream !== undefined) {
          ofStream.attach(req);
          ofStream.attach(res);
          return ofStream.run(original, this, arguments);
        }
        const pending = pendingOf(stream);
        // Its stream, being emitted, was judged untraced (ignored): so is the request, not judged again.
        if (pending !== undefined && pending.store === undefined) return runRequest(undefined, undefined, original, this, arguments);
        store = pending?.store;
      }
      let inbound: InboundRequest | undefined;
      try {
        inbound = startInbound(state, req, res, kind, store);
        if (inbound !== undefined && stream !== null && typeof stream === 'object') inbound.attach(stream);
      } catch {
        inbound = undefined;
      }
      // Untraced (ignored): still outside the connection's context. Traced, or untraced until `traced()`:
      // the request's store, with the span or the incoming context, for everything the handler starts.
      return runRequest(inbound, undefined, original, this, arguments);
    };
}

/**
 * A stream whose 'stream' event is being emitted with no span yet. On a server whose compatibility layer
 * listens (it turns the stream into a 'request' from inside that event): the store its listeners run in,
 * which the request's span fills, and whether the compatibility layer took it (delivered it, or ignored
 * it). Else the stream was judged untraced (`store` undefined: ignored, or a tracer that failed): its
 * other 'stream' events (the server's inside the session's) and its request are not judged again.
 */
interface PendingStream {
  readonly stream: object;
  readonly store: InboundStore | undefined;
  taken: boolean;
}

/** The stream being emitted now, if it has no span yet: events are synchronous, so one at a time. */
let pendingStream: PendingStream | undefined;

function pendingOf(stream: unknown): PendingStream | undefined {
  const pending = pendingStream;
  if (pending === undefined || pending.stream !== stream) return undefined;
  pending.taken = true;
  return pending;
}

/**
 * What `ignoreIncoming`'s predicates, `tracedAttributes` and `requestHook` see of a stream of the core API,
 * as of a request: its `stream`, `headers` (Node's object), `method` and `url` (`:method`, `:path`),
 * `httpVersion` and `socket` (its session's).
 */
class Http2StreamRequest {
  readonly method: unknown;
  readonly url: unknown;
  readonly httpVersion = '2.0';

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
  ) {
    this.method = headers[':method'];
    this.url = headers[':path'];
  }

  get socket(): unknown {
    return this.stream.session?.socket;
  }
}

/** The name Node gives the 'stream' listener of its compatibility layer (`onServerStream.bind(…)`), added with the first 'request' listener. */
const COMPAT_LISTENER = 'bound onServerStream';

function compatListens(server: unknown): boolean {
  if (!(server instanceof EventEmitter)) return false;
  for (const listener of EventEmitter.prototype.listeners.call(server, 'stream')) if (listener.name === COMPAT_LISTENER) return true;
  return false;
}

/**
 * A 'stream' event of a server or a session (the outermost one opens the span: a session's 'stream' emits the
 * server's): a server span per stream, active for every 'stream' listener and the stream's own events,
 * finished when the stream closes. Where the compatibility layer listens, the span is the 'request' it
 * makes of the stream (its `requestHook` gets the `Http2ServerRequest`), in the store the stream's listeners
 * share; a stream it does not make a request of ('connect', an expectation it answers itself) gets its span
 * once they ran. gRPC's streams are the grpc hook's.
 */
function emitStream(state: ServerState, learnStream: (stream: object) => void, original: (...args: any[]) => boolean, self: unknown, args: IArguments, server: () => unknown): boolean {
  const stream = args[1] as ServerHttp2Stream | null | undefined;
  const headers = args[2] as IncomingHttpHeaders | null | undefined;
  if (tracingOff(state.inbound.hook) || stream == null || typeof stream !== 'object' || headers == null || typeof headers !== 'object') return applyArgs(original, self, args);
  // Emitted again (the server's inside the session's, or dispatched on): in the stream's context already, or entered now.
  const known = inboundRequest(stream);
  if (known !== undefined) return known.run(original, self, args);
  if (pendingStream?.stream === stream || isGrpc(headers['content-type'])) return applyArgs(original, self, args);
  let inbound: InboundRequest | undefined;
  let pending: PendingStream | undefined;
  try {
    learnStream(stream);
    if (compatListens(server())) pending = { stream, store: { span: undefined }, taken: false };
    else inbound = startInbound(state, new Http2StreamRequest(stream, headers) as unknown as IncomingMessage, stream as unknown as ServerResponse, STREAM);
  } catch {
    inbound = undefined;
  }
  if (inbound !== undefined) return runRequest(inbound, undefined, original, self, args);
  pending ??= { stream, store: undefined, taken: true };
  const outer = pendingStream;
  pendingStream = pending;
  try {
    return runRequest(undefined, pending.store, original, self, args);
  } finally {
    pendingStream = outer;
    if (!pending.taken && pending.store !== undefined) startLate(state, stream, headers, pending.store);
  }
}

function startLate(state: ServerState, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, store: InboundStore): void {
  try {
    startInbound(state, new Http2StreamRequest(stream, headers) as unknown as IncomingMessage, stream as unknown as ServerResponse, STREAM, store);
  } catch {
    // A tracer that throws costs only the span.
  }
}

export function makeState(hook: ActiveHook<HttpServerHookOptions>): ServerState {
  return { inbound: compileInbound(hook), ignore: compileIgnore(hook.options.ignoreIncoming) };
}

type Wrap = PatchContext<HttpServerOptions, ServerState>['wrap'];

/** `emit` of the request and response classes: their events run in the request's context. */
function wrapMessages(wrap: Wrap, request: { prototype: object }, response: { prototype: object }): void {
  wrap(request.prototype, 'emit', messageEmitWrapper(request.prototype));
  wrap(response.prototype, 'emit', messageEmitWrapper(response.prototype));
}

/** http's messages, which https serves, and an HTTP/2 server with `allowHTTP1` for its HTTP/1.1 requests. */
function wrapHttpMessages(wrap: Wrap, exports: any): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- http loads with https and http2; patched then as if the app required it
  const http = (exports.IncomingMessage === undefined ? require('node:http') : exports) as typeof import('node:http');
  wrapMessages(wrap, http.IncomingMessage, http.ServerResponse);
}

export function patchServer(exports: any, { state, wrap }: PatchContext<HttpServerOptions, ServerState>): void {
  wrap(exports.Server.prototype, 'emit', wrapEmit(state));
  // https serves http's IncomingMessage and ServerResponse (an https-only app may never require http itself).
  wrapHttpMessages(wrap, exports);
}

/**
 * http2's servers, those `createServer` and `createSecureServer` return: the 'request' event of the
 * compatibility API, the 'stream' event of the core API (theirs and their sessions'). Their classes are not
 * exported: their prototypes are those of one server of each made here, never listened on (no socket; the
 * secure one makes a TLS context without a certificate); those of a server's session and stream, of the
 * first ones seen ('session' event, 'stream' event).
 */
export function patchHttp2Server(exports: any, { state, wrap }: PatchContext<HttpServerOptions, ServerState>): void {
  const Request = exports.Http2ServerRequest as { prototype: object };
  // allowHTTP1: an HTTP/1.1 request comes as http's IncomingMessage and ServerResponse.
  const kindOf = (req: IncomingMessage): RequestKind => (req instanceof (Request as new () => IncomingMessage) ? HTTP2 : HTTP1);
  wrapMessages(wrap, Request, exports.Http2ServerResponse);
  wrapHttpMessages(wrap, {});
  const learn = learner(wrap, {
    // The stream's events ('data', 'end', 'close'…) run in its request's context.
    stream: (proto) => messageEmitWrapper(proto),
    session: (proto) => sessionEmitWrapper(proto, (original, session, args) => emitStream(state, learn.stream, original, session, args, () => (session as { server?: unknown }).server)),
  });
  const http2: Http2Events = {
    stream: (original, server, args) => emitStream(state, learn.stream, original, server, args, () => server),
    // Not after uninstall: a layer of ours that stays (another one wrapped over it) must not wrap anything more.
    session: (session) => state.inbound.hook.enabled && learn.session(session),
  };
  http2ServerPrototypes ??= serverPrototypes(exports);
  for (const proto of http2ServerPrototypes) wrap(proto, 'emit', wrapEmit(state, kindOf, http2));
}

type EmitWrapper = (original: (...args: any[]) => boolean) => (...args: any[]) => boolean;

/** `emit` of a server's session: its 'stream' events, through `onStream`. */
function sessionEmitWrapper(proto: object, onStream: (original: (...args: any[]) => boolean, session: unknown, args: IArguments) => boolean): EmitWrapper {
  return (original) => {
    const emitNow = emitOf(proto, original);
    return function emit(this: unknown, event: string | symbol): boolean {
      return event === 'stream' ? onStream(emitNow(), this, arguments) : applyArgs(emitNow(), this, arguments);
    };
  };
}

/** The prototypes of a server's session and stream, of the classes Node names so (found once per process). */
const http2Found: { session?: object; stream?: object } = {};
const HTTP2_CLASSES = { session: 'ServerHttp2Session', stream: 'ServerHttp2Stream' } as const;

/**
 * Wraps `emit` of the session and stream prototypes as an object of theirs shows them (those found by an
 * earlier install at once), once per install.
 */
function learner(wrap: Wrap, wrappers: Record<keyof typeof HTTP2_CLASSES, (proto: object) => EmitWrapper>): Record<keyof typeof HTTP2_CLASSES, (instance: unknown) => void> {
  const done = { session: false, stream: false };
  const learn = (kind: keyof typeof HTTP2_CLASSES, instance: unknown): void => {
    if (done[kind]) return;
    let proto = http2Found[kind];
    if (proto === undefined) {
      if (instance === null || typeof instance !== 'object') return;
      const found = Object.getPrototypeOf(instance) as { constructor?: { name?: unknown } } | null;
      if (found === null || !Object.prototype.hasOwnProperty.call(found, 'constructor') || found.constructor?.name !== HTTP2_CLASSES[kind]) return;
      proto = http2Found[kind] = found;
    }
    done[kind] = true;
    wrap(proto, 'emit', wrappers[kind](proto));
  };
  for (const kind of ['session', 'stream'] as const) if (http2Found[kind] !== undefined) learn(kind, undefined);
  return { session: (s) => learn('session', s), stream: (s) => learn('stream', s) };
}

/** The prototypes of http2's two server classes, found once per process (http2 may be patched again: its ES-module binding, a reinstall). */
let http2ServerPrototypes: object[] | undefined;

function serverPrototypes(exports: any): object[] {
  const found: object[] = [];
  for (const make of [exports.createServer, exports.createSecureServer]) {
    try {
      found.push(Object.getPrototypeOf(Reflect.apply(make, exports, [])));
    } catch (err) {
      // A Node that cannot make one (no TLS) leaves only that kind of server untraced.
      log('httpServer: no %s server to patch: %O', make?.name, err);
    }
  }
  return found;
}
