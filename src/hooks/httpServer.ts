/**
 * Inbound `http`/`https` requests: a server span from the request's headers, active for the handler and
 * everything asynchronous it starts, finished when the response is done or the connection closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { storage } from '../context';
import { compileMatcher } from '../matchers';
import type { IncomingMatcher, Matcher } from '../matchers';
import { defineHook } from '../registry/define';
import type { ActiveHook, HookTarget } from '../registry/define';
import { extractContext, finishSpan, markError, setTag, startServerSpan } from '../spans';
import { isAbsoluteUrl, pathOf, stripQuery, urlForSpan } from '../url';

export interface HttpServerOptions {
  /**
   * Incoming requests not to trace: strings and RegExps match the path (no query string); a function
   * is called with the request.
   */
  ignoreIncoming?: IncomingMatcher | IncomingMatcher[];
}

interface ServerState {
  hook: ActiveHook<HttpServerOptions>;
  ignore: ((req: IncomingMessage, path: string) => boolean) | undefined;
}

const kServerSpan = Symbol('opentracing-client-hooks.serverSpan');
type TracedResponse = ServerResponse & { [kServerSpan]?: Span };

function compileIgnore(option: HttpServerOptions['ignoreIncoming']): ServerState['ignore'] {
  if (option === undefined) return undefined;
  const list = Array.isArray(option) ? option : [option];
  // A function is a predicate on the request; strings and RegExps match the path.
  const predicates = list.filter((m): m is (req: IncomingMessage) => boolean => typeof m === 'function');
  const pathMatch = compileMatcher(list.filter((m): m is Exclude<Matcher, Function> => typeof m !== 'function'));
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

function onResponseClose(this: TracedResponse): void {
  const span = this[kServerSpan];
  if (span === undefined) return;
  this[kServerSpan] = undefined;
  setTag(span, Tags.HTTP_STATUS_CODE, this.statusCode);
  if (!this.writableFinished) markError(span, new Error('connection closed before the response was sent'), 'abort');
  else if (this.statusCode >= 500) setTag(span, Tags.ERROR, true);
  finishSpan(span);
}

function startSpan(state: ServerState, req: IncomingMessage, res: TracedResponse): Span | undefined {
  if (storage.getStore()?.suppressed === true) return undefined;
  const { url, path } = requestUrl(req);
  if (state.ignore !== undefined && state.ignore(req, path)) return undefined;
  const tags = { [Tags.COMPONENT]: 'http', [Tags.HTTP_METHOD]: req.method, [Tags.HTTP_URL]: url, 'peer.address': req.socket?.remoteAddress };
  const span = startServerSpan(state.hook, `HTTP ${req.method}`, tags, extractContext(state.hook, req.headers));
  if (span !== undefined) {
    res[kServerSpan] = span;
    res.on('close', onResponseClose);
  }
  return span;
}

function wrapEmit(state: ServerState) {
  return (original: (...args: any[]) => boolean) =>
    function emit(this: unknown, event: string | symbol, req: IncomingMessage, res: TracedResponse): boolean {
      if (event !== 'request' || !state.hook.enabled) return original.apply(this, arguments as unknown as any[]);
      let span: Span | undefined;
      try {
        span = startSpan(state, req, res);
      } catch {
        span = undefined;
      }
      if (span === undefined) return original.apply(this, arguments as unknown as any[]);
      // storage.run passes the extra arguments on: no closure per request.
      return storage.run({ span }, Reflect.apply, original, this, arguments) as boolean;
    };
}

function target(module: 'http' | 'https'): HookTarget<HttpServerOptions, ServerState> {
  return {
    module,
    patch(exports, { state, wrap }) {
      wrap(exports.Server.prototype, 'emit', wrapEmit(state));
    },
  };
}

export const httpServerHook = defineHook<'httpServer', HttpServerOptions, ServerState>({
  name: 'httpServer',
  summary: 'inbound http/https requests (server spans, parent from the request headers)',
  setup: (hook) => ({ hook, ignore: compileIgnore(hook.options.ignoreIncoming) }),
  targets: [target('http'), target('https')],
});
