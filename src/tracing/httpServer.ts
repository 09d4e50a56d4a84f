/**
 * Inbound `http`/`https` request span logic (declared in ../hooks/httpServer): a server span from the
 * request's headers, active for the handler and everything asynchronous it starts and for the request's
 * and response's own events, finished when the response is done or the connection closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSuppressed, storage } from '../context';
import { beginInbound, compileInbound, inboundRequest, messageEmitWrapper } from '../cores/http-server';
import type { HttpServerHookOptions, HttpServerOptions, InboundConfig, InboundRequest } from '../cores/http-server';
import { compileMatcher } from '../matchers';
import type { Matcher } from '../matchers';
import type { ActiveHook, PatchContext } from '../registry/define';
import { extractContext, tracingOff } from '../spans';
import { isAbsoluteUrl, pathOf, stripQuery, urlForSpan } from '../url';
import { applyArgs } from '../apply-args';

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
function requestUrl(req: IncomingMessage): { url: string; path: string } {
  const target = req.url ?? '/';
  if (isAbsoluteUrl(target)) {
    const url = urlForSpan(target, false);
    return { url, path: pathOf(url) };
  }
  const path = stripQuery(target, false);
  const protocol = (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http';
  // The Host header is the client's to write: it goes through the same redaction.
  return { url: urlForSpan(`${protocol}://${req.headers.host ?? 'localhost'}${path}`, false), path };
}

function startInbound(state: ServerState, req: IncomingMessage, res: ServerResponse): InboundRequest | undefined {
  if (isSuppressed(storage.getStore())) return undefined;
  const { url, path } = requestUrl(req);
  if (state.ignore !== undefined && state.ignore(req, path)) return undefined;
  return beginInbound(state.inbound, req, res, extractContext(state.inbound.hook, req.headers), url, path);
}

function wrapEmit(state: ServerState) {
  return (original: (...args: any[]) => boolean) =>
    function emit(this: unknown, event: string | symbol, req: IncomingMessage, res: ServerResponse): boolean {
      // With no tracer (the no-op window) nothing is read of the request: no URL, headers or peer for a span that cannot be.
      if (event !== 'request' || tracingOff(state.inbound.hook)) return applyArgs(original, this, arguments);
      // The same request dispatched on to another server (`inner.emit('request', req, res)`): it has its span already.
      if (inboundRequest(req) !== undefined) return applyArgs(original, this, arguments);
      let inbound: InboundRequest | undefined;
      try {
        inbound = startInbound(state, req, res);
      } catch {
        inbound = undefined;
      }
      if (inbound === undefined) return applyArgs(original, this, arguments);
      // The request's store: the span (or, untraced, the incoming context) for everything the handler starts.
      return inbound.run(original, this, arguments);
    };
}

export function makeState(hook: ActiveHook<HttpServerHookOptions>): ServerState {
  return { inbound: compileInbound(hook), ignore: compileIgnore(hook.options.ignoreIncoming) };
}

export function patchServer(exports: any, { state, wrap }: PatchContext<HttpServerOptions, ServerState>): void {
  wrap(exports.Server.prototype, 'emit', wrapEmit(state));
  // https serves http's IncomingMessage and ServerResponse (an https-only app may never require http itself).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- http loads with https; patched then as if the app required it
  const http = (exports.IncomingMessage === undefined ? require('node:http') : exports) as typeof import('node:http');
  wrap(http.IncomingMessage.prototype, 'emit', messageEmitWrapper(http.IncomingMessage.prototype));
  wrap(http.ServerResponse.prototype, 'emit', messageEmitWrapper(http.ServerResponse.prototype));
}
