/**
 * `http`/`https` client span logic (declared in ../hooks/http): `request` and `get`, every call form. The
 * trace headers go into a copy of the caller's options before Node builds the request: headers given as an
 * array are written out at once, so a header set on the request afterwards would throw or be lost.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import { urlToHttpOptions } from 'node:url';
import type { PatchContext } from '../registry/define';
import { HeaderCopy, headerValue, HttpClientCall, HttpClientOptions, HttpClientState, HttpTarget, startHttpClientCall } from '../cores/http-client';
import { hostHeader, requestUrl } from '../url';
import { applyArgs } from '../apply-args';

export { httpClientState as makeState } from '../cores/http-client';

const kTracked = Symbol('opentracing-client-hooks.httpCall');

/** A traced request's call and what its events said, kept on the request for the one shared emit wrapper. */
interface Tracked {
  call: HttpClientCall;
  emit: (...args: any[]) => boolean;
  res: IncomingMessage | undefined;
  error: unknown;
  timedOut: boolean;
}

type TrackedRequest = ClientRequest & { [kTracked]?: Tracked };

/** A call ready to go out: the caller's arguments with a copy of their options, and where it goes. */
interface Prepared {
  args: unknown[];
  target: HttpTarget;
  headers: HeaderCopy;
}

/** Node's own test for a WHATWG URL where options may be (same reads, so the caller's count is unchanged). */
function isUrl(input: any): input is URL {
  return Boolean(input?.href && input.protocol && input.auth === undefined && input.path === undefined);
}

function targetOf(defaultProtocol: string, opts: Record<string, any>, headers: HeaderCopy): HttpTarget {
  const protocol = String(opts.protocol || defaultProtocol);
  const defaultPort = Number(opts.defaultPort || opts.agent?.defaultPort) || (protocol === 'https:' ? 443 : 80);
  const port = Number(opts.port || defaultPort);
  const hostname = String(opts.hostname || opts.host || 'localhost');
  const path = String(opts.path || '/');
  const method = typeof opts.method === 'string' && opts.method !== '' ? opts.method.toUpperCase() : 'GET';
  const host = headerValue(headers.value, 'host');
  // An absolute-form target (through a forward proxy) is the URL itself; a CONNECT's `host:port`, the tunnel's end.
  const url = requestUrl(`${protocol}//${typeof host === 'string' ? host : hostHeader(hostname, port, defaultPort)}`, method, path);
  return { method, url, hostname, port };
}

/**
 * Reads `(url | URL | options, [options], [callback])` as Node's ClientRequest does. What goes out keeps
 * the caller's shape with a copy of their options in it (wrappers such as nock tell the forms apart).
 */
function prepare(defaultProtocol: string, args: IArguments): Prepared {
  const input = args[0];
  const url = typeof input === 'string' ? new URL(input) : isUrl(input) ? input : undefined;
  let options = url === undefined ? input : args[1];
  let callback = url === undefined ? args[1] : args[2];
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  const opts: Record<string, any> = Object.assign({}, options);
  const headers = new HeaderCopy(opts.headers);
  opts.headers = headers.value;
  const merged = url === undefined ? opts : Object.assign(urlToHttpOptions(url), opts);
  const out = url === undefined ? [opts] : [input, opts];
  if (callback !== undefined) out.push(callback);
  return { args: out, target: targetOf(defaultProtocol, merged, headers), headers };
}

function settle(tracked: Tracked): void {
  const { call, res } = tracked;
  if (tracked.error !== undefined) call.finish(tracked.error);
  else if (res === undefined) {
    call.finish(new Error(tracked.timedOut ? 'request timed out' : 'request aborted'), tracked.timedOut ? 'timeout' : 'abort');
  } else if (!res.complete && res.readableDidRead) call.finish(new Error('response aborted'), 'abort');
  else call.finish();
}

/** Shared emit wrapper: observes the request's events, then emits exactly as before. */
function tracedEmit(this: TrackedRequest, event: string | symbol, arg?: any): boolean {
  const tracked = this[kTracked] as Tracked;
  switch (event) {
    case 'response':
    // A 101 to an upgrade request (WebSocket), and the answer to CONNECT: the call's response, the socket the app's.
    case 'upgrade':
    case 'connect':
      tracked.res = arg;
      if (typeof arg?.statusCode === 'number') tracked.call.status(arg.statusCode, arg.headers);
      break;
    case 'error':
      if (tracked.error === undefined) tracked.error = arg;
      break;
    case 'timeout':
      tracked.timedOut = true;
      tracked.call.log('timeout');
      break;
    case 'close':
      settle(tracked);
      break;
  }
  return applyArgs(tracked.emit, this, arguments);
}

/**
 * Whether one of our layers is making a traced request right now. A `get` replaced by one that calls the
 * exported `request` (agent-base 4's patch-core, older shims), once both are ours, reaches a layer of ours
 * inside another: the inner one passes the call through, and the outer one's span and header stand for it.
 */
let making = false;

/** Wraps `request` or `get` (Node's `get` does not go through the exported `request`). */
function wrapClient(state: HttpClientState, defaultProtocol: string) {
  return (original: (...args: any[]) => ClientRequest) =>
    function request(this: unknown): ClientRequest {
      if (!state.hook.enabled || making) return applyArgs(original, this, arguments);
      let prepared: Prepared | undefined;
      let call: HttpClientCall | undefined;
      try {
        const args = arguments;
        call = startHttpClientCall(state, 'http', () => (prepared ??= prepare(defaultProtocol, args)).target, args[args.length - 1]);
        if (call !== undefined && call.injects) call.inject((prepared ??= prepare(defaultProtocol, args)).headers);
        call?.started(() => (prepared ??= prepare(defaultProtocol, args)).headers.value);
      } catch {
        // Arguments Node itself rejects (it says so below), or a broken tracer: the request goes out untraced.
        call?.finish();
        call = undefined;
      }
      // Once prepared, the copy goes out: the caller's options are not read again.
      const args = prepared === undefined ? arguments : prepared.args;
      if (call === undefined) return original.apply(this, args as any[]);
      let req: TrackedRequest;
      making = true;
      try {
        req = original.apply(this, args as any[]);
      } catch (err) {
        call.finish(err);
        throw err;
      } finally {
        making = false;
      }
      req[kTracked] = { call, emit: req.emit, res: undefined, error: undefined, timedOut: false };
      req.emit = tracedEmit;
      return req;
    };
}

export function patchModule(exports: any, { state, wrap }: PatchContext<HttpClientOptions, HttpClientState>, module: 'http' | 'https'): void {
  wrap(exports, 'request', wrapClient(state, `${module}:`));
  wrap(exports, 'get', wrapClient(state, `${module}:`));
}
