/**
 * Inbound `http`/`https`/`http2` (compatibility API) request span logic (declared in ../hooks/httpServer):
 * a server span from the request's headers, active for the handler and everything asynchronous it starts
 * and for the request's and response's own events, finished when the response is done or the connection
 * (an HTTP/2 stream) closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import { otelTracingSuppressed, outsideOtelSuppression } from '../context';
import { beginInbound, compileInbound, HTTP1_RESPONSE, inboundRequest, messageEmitWrapper } from '../cores/http-server';
import type { HttpServerHookOptions, HttpServerOptions, InboundConfig, InboundRequest, ResponseReader } from '../cores/http-server';
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

/**
 * An HTTP/2 response of the compatibility API, which a handler may also answer through its stream
 * (`req.stream.respond()`, `respondWithFile()`): the status its stream sent, else the response's; whole
 * when the stream was ended before it closed with no error code (its `writableFinished` is true after a
 * reset too; Node ends it when it closes, and says `aborted` when it was not ended yet: a session
 * destroyed closes its streams with no error code).
 */
const HTTP2_RESPONSE: ResponseReader = {
  status(res) {
    const sent: unknown = (res as Http2Response).stream?.sentHeaders?.[':status'];
    if (typeof sent === 'number') return sent;
    return res.headersSent ? res.statusCode : undefined;
  },
  whole(res) {
    const stream = (res as Http2Response).stream;
    return stream != null && stream.rstCode === 0 && !stream.aborted && (stream.writableEnded || res.writableEnded);
  },
};

/** How a request of a kind is read: its URL, and its response at the end. */
interface RequestKind {
  url(req: IncomingMessage): RequestUrl;
  response: ResponseReader;
}

const HTTP1: RequestKind = { url: requestUrl, response: HTTP1_RESPONSE };
const HTTP2: RequestKind = { url: http2RequestUrl, response: HTTP2_RESPONSE };

/**
 * A request is judged by itself: the context here is its connection's, which is the one the server's
 * `listen()` ran in (a suppressed one, a span's), never the request's; so it is not read.
 */
function startInbound(state: ServerState, req: IncomingMessage, res: ServerResponse, kind: RequestKind): InboundRequest | undefined {
  const { url, path } = kind.url(req);
  if (state.ignore !== undefined && state.ignore(req, path)) return undefined;
  return beginInbound(state.inbound, req, res, extractContext(state.inbound.hook, req.headers), url, path, kind.response);
}

/**
 * The events Node delivers a request with: 'request', and instead of it 'checkContinue' (`Expect:
 * 100-continue`, when the app listens for it) and 'checkExpectation' (any other `Expect`).
 */
function isRequestEvent(event: string | symbol): boolean {
  return event === 'request' || event === 'checkContinue' || event === 'checkExpectation';
}

/** `emit` of a server class: a request gets its span; `kindOf` tells an HTTP/2 server's own requests from its HTTP/1.1 ones. */
function wrapEmit(state: ServerState, kindOf: (req: IncomingMessage) => RequestKind = () => HTTP1) {
  return (original: (...args: any[]) => boolean) =>
    function emit(this: unknown, event: string | symbol, req: IncomingMessage, res: ServerResponse): boolean {
      // With no tracer (the no-op window) nothing is read of the request: no URL, headers or peer for a span that cannot be.
      if (!isRequestEvent(event) || tracingOff(state.inbound.hook)) return applyArgs(original, this, arguments);
      // The same request dispatched on to another server (`inner.emit('request', req, res)`, or 'request' from a
      // 'checkContinue' listener): it has its span already, and runs in the context it is dispatched in.
      if (inboundRequest(req) !== undefined) return applyArgs(original, this, arguments);
      let inbound: InboundRequest | undefined;
      try {
        inbound = startInbound(state, req, res, kindOf(req));
      } catch {
        inbound = undefined;
      }
      // Untraced (ignored): still outside the connection's context. Traced, or untraced until `traced()`:
      // the request's store, with the span or the incoming context, for everything the handler starts.
      const args = arguments;
      const handle = (): boolean => (inbound === undefined ? runInContext(undefined, original, this, args) : inbound.run(original, this, args));
      return otelTracingSuppressed() ? outsideOtelSuppression(handle, undefined, []) : handle();
    };
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
 * http2's compatibility API: the 'request' event of the servers that `createServer` and
 * `createSecureServer` return. Their classes are not exported: their prototypes are those of one server
 * of each made here, never listened on (no socket; the secure one makes a TLS context without a
 * certificate). The core API (`'stream'` events) is not traced.
 */
export function patchHttp2Server(exports: any, { state, wrap }: PatchContext<HttpServerOptions, ServerState>): void {
  const Request = exports.Http2ServerRequest as { prototype: object };
  // allowHTTP1: an HTTP/1.1 request comes as http's IncomingMessage and ServerResponse.
  const kindOf = (req: IncomingMessage): RequestKind => (req instanceof (Request as new () => IncomingMessage) ? HTTP2 : HTTP1);
  wrapMessages(wrap, Request, exports.Http2ServerResponse);
  wrapHttpMessages(wrap, {});
  http2ServerPrototypes ??= serverPrototypes(exports);
  for (const proto of http2ServerPrototypes) wrap(proto, 'emit', wrapEmit(state, kindOf));
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
