import type { ClientRequest, IncomingMessage } from 'node:http';
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { compileMatcher, HttpClientOptions } from '../config';
import { OutboundCall, storage } from '../context';
import { wrap, unwrap } from '../patch';
import type { HookDefinition, ModuleTarget } from '../registry';
import { ActiveHook, finishSpan, injectHeaders, logEvent, markError, setTag, startClientSpan } from '../spans';
import { splitHostPort, stripCredentials, stripQuery } from '../url';

const kCall = Symbol('opentracing-client-hooks.httpCall');

interface HttpHookState {
  hook: ActiveHook<HttpClientOptions>;
  ignore: ((url: string) => boolean) | undefined;
  blockPropagation: ((host: string) => boolean) | undefined;
}

/** Per-request state, kept on the request under a symbol so that one shared emit wrapper serves all. */
interface HttpCall {
  span: Span | undefined;
  /** Set when this request runs inside an outer client span (axios) that it adds to. */
  outbound: OutboundCall | undefined;
  emit: (...args: any[]) => boolean;
  res: IncomingMessage | undefined;
  error: unknown;
  timedOut: boolean;
  done: boolean;
}

type TracedRequest = ClientRequest & { [kCall]?: HttpCall };

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

function hostHeader(req: ClientRequest): string {
  const header = req.getHeader('host');
  return typeof header === 'string' ? header : req.host;
}

/** The URL of a request as Node already resolved it: no second parse, no credentials. */
function requestUrl(req: ClientRequest, keepQuery: boolean): string {
  const path = req.path;
  if (path.startsWith('http://') || path.startsWith('https://')) {
    // Absolute-form request target (through a forward proxy).
    return stripQuery(stripCredentials(path), keepQuery);
  }
  return `${req.protocol}//${hostHeader(req)}${stripQuery(path, keepQuery)}`;
}

/** Sets the trace headers on the request unless it already has them (a user's own, or an outer hook's). */
function injectInto(state: HttpHookState, req: ClientRequest, span: Span): boolean {
  if (req.headersSent || (req as { _header?: unknown })._header) return false;
  if (state.blockPropagation !== undefined && (state.blockPropagation(req.host) || state.blockPropagation(hostHeader(req)))) {
    return false;
  }
  const headers = injectHeaders(state.hook, span);
  if (headers === undefined) return false;
  for (const name of Object.keys(headers)) {
    if (req.hasHeader(name)) continue;
    try {
      req.setHeader(name, headers[name]);
    } catch {
      // A value the tracer produced that Node rejects: lose the header, never the request.
    }
  }
  return true;
}

function onResponse(call: HttpCall, res: IncomingMessage): void {
  call.res = res;
  const status = res.statusCode;
  if (call.span !== undefined && status !== undefined) setTag(call.span, Tags.HTTP_STATUS_CODE, status);
  if (call.outbound !== undefined && call.outbound.onStatus !== undefined && status !== undefined) {
    call.outbound.onStatus(status);
  }
}

function finishCall(call: HttpCall): void {
  if (call.done) return;
  call.done = true;
  const span = call.span;
  if (span === undefined) return;
  const res = call.res;
  if (call.error !== undefined) {
    markError(span, call.error);
  } else if (res === undefined) {
    markError(span, new Error(call.timedOut ? 'request timed out' : 'request aborted'), call.timedOut ? 'timeout' : 'abort');
  } else if (!res.complete && res.readableDidRead) {
    markError(span, new Error('response aborted'), 'abort');
  } else if (res.statusCode !== undefined && res.statusCode >= 500) {
    setTag(span, Tags.ERROR, true);
  }
  finishSpan(span);
}

/** Shared emit wrapper: observes the request's events, then emits exactly as before. */
function tracedEmit(this: TracedRequest, event: string | symbol, arg?: unknown): boolean {
  const call = this[kCall];
  if (call !== undefined) {
    switch (event) {
      case 'response':
        onResponse(call, arg as IncomingMessage);
        break;
      case 'error':
        if (call.error === undefined) call.error = arg;
        break;
      case 'timeout':
        call.timedOut = true;
        if (call.span !== undefined) logEvent(call.span, { event: 'timeout' });
        break;
      case 'close':
        finishCall(call);
        break;
    }
    return call.emit.apply(this, arguments as unknown as any[]);
  }
  return false;
}

function traceRequest(state: HttpHookState, req: TracedRequest): void {
  if (req[kCall] !== undefined) return;
  const store = storage.getStore();
  let parent: Span | undefined;
  let outbound: OutboundCall | undefined;
  if (store !== undefined) {
    if (store.suppressed === true) return;
    outbound = store.outbound;
    if (outbound !== undefined) {
      if (state.hook.options.nestedClientSpans !== true) {
        // One logical call, one span: add to the outer client span instead of making another.
        if (outbound.injected !== true && injectInto(state, req, outbound.span)) outbound.injected = true;
        req[kCall] = { span: undefined, outbound, emit: req.emit, res: undefined, error: undefined, timedOut: false, done: false };
        req.emit = tracedEmit;
        return;
      }
      parent = outbound.span;
      outbound = undefined;
    }
  }
  const keepQuery = state.hook.options.captureQueryString === true;
  const url = requestUrl(req, keepQuery);
  if (state.ignore !== undefined && state.ignore(keepQuery ? url : requestUrl(req, true))) return;
  const { hostname, port } = splitHostPort(hostHeader(req), defaultPort(req.protocol));
  const span = startClientSpan(
    state.hook,
    `HTTP ${req.method}`,
    {
      [Tags.COMPONENT]: 'http',
      [Tags.HTTP_METHOD]: req.method,
      [Tags.HTTP_URL]: url,
      [Tags.PEER_HOSTNAME]: hostname,
      [Tags.PEER_PORT]: port,
    },
    parent,
  );
  if (span === undefined) return;
  injectInto(state, req, span);
  req[kCall] = { span, outbound: undefined, emit: req.emit, res: undefined, error: undefined, timedOut: false, done: false };
  req.emit = tracedEmit;
}

function wrapRequest(state: HttpHookState) {
  return (original: (...args: any[]) => ClientRequest) =>
    function request(this: unknown): ClientRequest {
      const req = original.apply(this, arguments as unknown as any[]);
      try {
        traceRequest(state, req);
      } catch {
        // Tracing must never cost the request.
      }
      return req;
    };
}

/** `get` is `request` + `end()` in Node; going through the traced request lets headers be set first. */
function wrapGet(state: HttpHookState, exports: { request: (...args: any[]) => ClientRequest }) {
  return (_original: (...args: any[]) => ClientRequest) =>
    function get(this: unknown): ClientRequest {
      const req = exports.request.apply(this, arguments as unknown as any[]);
      req.end();
      return req;
    };
}

function target(module: 'http' | 'https'): ModuleTarget {
  return {
    module,
    patch(exports, hook: ActiveHook<HttpClientOptions>) {
      const state: HttpHookState = {
        hook,
        ignore: compileMatcher(hook.options.ignoreOutgoing),
        blockPropagation: compileMatcher(hook.options.propagationBlocklist),
      };
      wrap(exports, 'request', wrapRequest(state));
      wrap(exports, 'get', wrapGet(state, exports));
    },
    unpatch(exports) {
      unwrap(exports, 'request');
      unwrap(exports, 'get');
    },
  };
}

export const httpHook: HookDefinition = {
  name: 'http',
  targets: [target('http'), target('https')],
};
