/**
 * The `http2` client's span logic (declared in ../hooks/http, on the http hook's state): `connect` records
 * each session's origin on it, and `request` of `ClientHttp2Session` (a class http2 does not export: its
 * prototype is that of the first session `connect` returns) makes the span. The trace headers go into a
 * copy of the caller's headers, which Node copies again. The stream's events run in the context of the
 * code that called `request`, for every request made with a tracer on, traced or not: Node delivers most
 * of them there, but the 'error' and 'close' of a session that fails (refused, destroyed) in the context
 * of whatever failed it. A gRPC request (grpc-js runs every call over this client)
 * is the grpc hook's, and a request of a session undici opened (`allowH2`) the fetch hook's: both are left
 * as they are.
 */
import type { EventEmitter } from 'node:events';
import { promisify, types } from 'node:util';
import { RequestContext, storage } from '../context';
import { callParent, HeaderCopy, headerValue, HttpClientCall, HttpClientState, HttpTarget, startCallUnder } from '../cores/http-client';
import type { HttpClientOptions } from '../cores/http-client';
import { runInContext } from '../cores/db-call';
import { ownDataValue } from '../own-copy';
import type { PatchContext } from '../registry/define';
import { tracingOff } from '../spans';
import { hostHeader } from '../url';
import { applyArgs } from '../apply-args';
import { isGrpc } from '../grpc-content-type';

/** Where a session connects: the scheme, the authority as `http.url` shows it (no credentials), host and port. */
interface Origin {
  readonly scheme: string;
  readonly authority: string;
  readonly hostname: string;
  readonly port: number;
  /** The session is undici's (allowH2), told at its first request: its requests are the fetch hook's. */
  undici?: boolean;
}

/** Whether `session` is one undici opened for its own requests: undici puts its client on it under its `Symbol('client')`. */
function isUndiciSession(session: object): boolean {
  for (const symbol of Object.getOwnPropertySymbols(session)) if (symbol.description === 'client') return true;
  return false;
}

const kOrigin = Symbol('opentracing-client-hooks.http2Origin');
const kTracked = Symbol('opentracing-client-hooks.http2Call');

type Session = { [kOrigin]?: Origin };

/** A request's call (undefined when it is not traced) and the context its stream's events run in. */
interface Tracked {
  readonly call: HttpClientCall | undefined;
  readonly store: RequestContext | undefined;
  readonly emit: (...args: any[]) => boolean;
  error: unknown;
}

type TrackedStream = { [kTracked]?: Tracked; emit: (...args: any[]) => boolean; readonly rstCode?: number };

/**
 * A field of `connect`'s authority as Node reads it: any field of a string (parsed as Node parses it) or of
 * a `URL`; of another object only an own data property, so that no getter of the caller's runs again.
 */
type Field = (name: 'protocol' | 'hostname' | 'host' | 'port') => unknown;

function fieldsOf(authority: unknown): Field | undefined {
  if (typeof authority === 'string') {
    const url = new URL(authority);
    return (name) => url[name];
  }
  if (authority === null || typeof authority !== 'object' || types.isProxy(authority)) return undefined;
  if (authority instanceof URL) return (name) => authority[name];
  return (name) => ownDataValue(authority, name);
}

/** The origin Node connects to for `connect(authority, options)` (its defaults: `https:`, port 443 unless `http:`). */
function originOf(authority: unknown, options: unknown): Origin | undefined {
  const field = fieldsOf(authority);
  if (field === undefined) return undefined;
  const given = field('protocol');
  const fallback = options !== null && typeof options === 'object' && !types.isProxy(options) ? ownDataValue(options, 'protocol') : undefined;
  const scheme = String(given || fallback || 'https:');
  const portField = field('port');
  const port = portField !== '' && portField != null ? Number(portField) : given === 'http:' ? 80 : 443;
  let hostname = String(field('hostname') || field('host') || 'localhost');
  if (hostname.startsWith('[')) hostname = hostname.slice(1, -1);
  if (!Number.isInteger(port) || port <= 0) return undefined;
  return { scheme, authority: hostHeader(hostname, port, scheme === 'http:' ? 80 : 443), hostname, port, undici: undefined };
}

/** A header of the copy Node gets, read by its exact name as Node reads an object's (a Node that takes a raw array: by its name). */
function pseudo(headers: HeaderCopy, name: string): string | undefined {
  const value = Array.isArray(headers.value) ? headerValue(headers.value, name) : headers.value[name];
  return value === undefined || value === null ? undefined : String(value);
}

/** The target of a request on `origin` from its (copied) headers: Node's defaults for what they leave out. */
function targetOf(origin: Origin, headers: HeaderCopy): HttpTarget {
  const method = (pseudo(headers, ':method') ?? 'GET').toUpperCase();
  const scheme = pseudo(headers, ':scheme') ?? origin.scheme.slice(0, -1);
  const authority = pseudo(headers, ':authority') ?? pseudo(headers, 'host') ?? origin.authority;
  const path = pseudo(headers, ':path') ?? '/';
  return { method, url: `${scheme}://${authority}${path}`, hostname: origin.hostname, port: origin.port };
}

/** Shared emit wrapper of a stream made here: observes its events, then emits them in the caller's context. */
function trackedEmit(this: TrackedStream, event: string | symbol, arg?: any): boolean {
  const tracked = this[kTracked] as Tracked;
  const call = tracked.call;
  if (call !== undefined) {
    switch (event) {
      case 'response':
        if (arg !== null && typeof arg === 'object') call.status(Number(arg[':status']), arg);
        break;
      case 'error':
        if (tracked.error === undefined) tracked.error = arg;
        break;
      case 'close': {
        const code = this.rstCode;
        if (tracked.error !== undefined) call.finish(tracked.error);
        // Reset without an error (NGHTTP2_CANCEL: by the peer, or the app's `stream.close(code)`): an abort, as http's.
        else if (typeof code === 'number' && code !== 0) call.finish(new Error(`stream reset with code ${code}`), 'abort');
        else call.finish();
        break;
      }
    }
  }
  return runInContext(tracked.store, tracked.emit, this, arguments);
}

/** The parts of a call made before the request goes out: its call, if traced, and the copy of the headers. */
function start(state: HttpClientState, origin: Origin, headers: unknown): { call: HttpClientCall | undefined; copy: HeaderCopy | undefined } {
  let copy: HeaderCopy | undefined;
  const prepared = (): HeaderCopy => (copy ??= new HeaderCopy(headers));
  const under = callParent(state, () => targetOf(origin, prepared()));
  if (under === undefined) return { call: undefined, copy };
  // The same check on the copy, whatever case the caller wrote the name in.
  if (isGrpc(headerValue(prepared().value, 'content-type'))) return { call: undefined, copy };
  const call = under instanceof HttpClientCall ? under : startCallUnder(state, 'http2', under, targetOf(origin, prepared()));
  if (call === undefined) return { call, copy };
  // The copy exists by now (the gRPC check read it): `inject` adds nothing where the call does not inject.
  call.inject(prepared());
  call.started(() => prepared().value);
  return { call, copy };
}

/** `ClientHttp2Session.prototype.request`: a span for a request of a session `connect` made since install. */
function wrapRequest(state: HttpClientState) {
  return (original: (...args: any[]) => unknown) =>
    function request(this: Session | null | undefined, headers?: unknown): unknown {
      const origin = this == null ? undefined : this[kOrigin];
      // One check with no tracer; a session from before install, odd headers (Node throws), gRPC requests and undici's pass as they are.
      if (tracingOff(state.hook) || origin === undefined || (headers !== undefined && (headers === null || typeof headers !== 'object'))) return applyArgs(original, this, arguments);
      if (headers !== undefined && !types.isProxy(headers) && isGrpc(ownDataValue(headers, 'content-type'))) return applyArgs(original, this, arguments);
      if ((origin.undici ??= isUndiciSession(this as object)) === true) return applyArgs(original, this, arguments);
      let call: HttpClientCall | undefined;
      let copy: HeaderCopy | undefined;
      try {
        ({ call, copy } = start(state, origin, headers));
      } catch {
        // Headers that cannot be copied or read (Node says so below), before any span started: untraced.
      }
      // Once copied, the copy goes out: the caller's headers are not read again.
      let args: ArrayLike<unknown> = arguments;
      if (copy !== undefined) {
        args = Array.prototype.slice.call(arguments);
        (args as unknown[])[0] = copy.value;
      }
      let stream: TrackedStream;
      try {
        stream = Reflect.apply(original, this, args) as TrackedStream;
      } catch (err) {
        call?.finish(err);
        throw err;
      }
      if (stream !== null && typeof stream === 'object') {
        stream[kTracked] = { call, store: storage.getStore(), emit: stream.emit, error: undefined };
        stream.emit = trackedEmit;
      }
      return stream;
    };
}

/** `ClientHttp2Session.prototype`, once a session showed it: a later install wraps it at once. */
let sessionPrototype: object | undefined;

/**
 * `connect` of http2 (the module's exports, `exports`): each session it returns keeps its origin, and the
 * first one gives the prototype whose `request` is wrapped (at once when a previous install found it, so
 * that the sessions of that install are traced again). A session made before any install has no origin:
 * its requests are not traced.
 */
export function patchHttp2Client(exports: any, { state, wrap }: PatchContext<HttpClientOptions, HttpClientState>): void {
  let wrapped = false;
  const wrapRequestOf = (proto: object): void => {
    wrapped = true;
    wrap(proto, 'request', wrapRequest(state));
  };
  if (sessionPrototype !== undefined) wrapRequestOf(sessionPrototype);
  wrap(exports, 'connect', (original) => {
    const wrapper = function connect(this: unknown, authority: unknown, options?: unknown): unknown {
      const session = applyArgs(original, this, arguments) as Session;
      if (!state.hook.enabled || session === null || typeof session !== 'object') return session;
      try {
        const origin = originOf(authority, typeof options === 'function' ? undefined : options);
        if (origin !== undefined) Object.defineProperty(session, kOrigin, { value: origin, configurable: true });
        if (!wrapped) wrapRequestOf((sessionPrototype ??= Object.getPrototypeOf(session) as object));
      } catch {
        // An authority we cannot read: that session's requests go out untraced.
      }
      return session;
    };
    return withPromisifyOf(original, wrapper);
  });
}

/**
 * `util.promisify(http2.connect)` resolves with the session, through Node's own `promisify.custom` on
 * `connect` (without it, promisify would take the session its `'connect'` listener gets for an error).
 * The wrapper gets one doing as Node's (resolved at `'connect'`, rejected by an `'error'` before it),
 * through the wrapper, so that its sessions are traced.
 */
function withPromisifyOf(original: (...args: any[]) => any, wrapper: (...args: any[]) => any): (...args: any[]) => any {
  if (!Object.prototype.hasOwnProperty.call(original, promisify.custom)) return wrapper;
  Object.defineProperty(wrapper, promisify.custom, {
    configurable: true,
    value: (authority: unknown, options?: unknown) =>
      new Promise((resolve, reject) => {
        const session = wrapper(authority, options, () => {
          session.removeListener('error', reject);
          resolve(session);
        }) as EventEmitter;
        session.once('error', reject);
      }),
  });
  return wrapper;
}
