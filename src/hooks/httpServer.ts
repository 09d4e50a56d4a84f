import type { IncomingMessage, ServerResponse } from 'node:http';
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { compileMatcher, HttpServerOptions, Matcher } from '../config';
import { storage } from '../context';
import { wrap, unwrap } from '../patch';
import type { HookDefinition, ModuleTarget } from '../registry';
import { ActiveHook, extractContext, finishSpan, logEvent, setTag, startServerSpan } from '../spans';

const kServerSpan = Symbol('opentracing-client-hooks.serverSpan');
type TracedResponse = ServerResponse & { [kServerSpan]?: Span };

function compileIgnore(option: HttpServerOptions['ignoreIncoming']): ((req: IncomingMessage, path: string) => boolean) | undefined {
  if (option === undefined) return undefined;
  const list = Array.isArray(option) ? option : [option];
  // A one-argument function is a predicate on the request; strings and RegExps match the path.
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

function onResponseClose(this: TracedResponse): void {
  const span = this[kServerSpan];
  if (span === undefined) return;
  this[kServerSpan] = undefined;
  setTag(span, Tags.HTTP_STATUS_CODE, this.statusCode);
  if (!this.writableFinished) {
    setTag(span, Tags.ERROR, true);
    logEvent(span, { event: 'abort', message: 'connection closed before the response was sent' });
  } else if (this.statusCode >= 500) {
    setTag(span, Tags.ERROR, true);
  }
  finishSpan(span);
}

function wrapEmit(hook: ActiveHook<HttpServerOptions>) {
  const ignore = compileIgnore(hook.options.ignoreIncoming);
  return (original: (...args: any[]) => boolean) =>
    function emit(this: unknown, event: string | symbol, req: IncomingMessage, res: TracedResponse): boolean {
      if (event !== 'request') return original.apply(this, arguments as unknown as any[]);
      let span: Span | undefined;
      try {
        const store = storage.getStore();
        const rawUrl = req.url ?? '/';
        const q = rawUrl.indexOf('?');
        const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
        if ((store === undefined || store.suppressed !== true) && (ignore === undefined || !ignore(req, path))) {
          const protocol = (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http';
          span = startServerSpan(hook, `HTTP ${req.method}`, {
            [Tags.COMPONENT]: 'http',
            [Tags.HTTP_METHOD]: req.method,
            [Tags.HTTP_URL]: `${protocol}://${req.headers.host ?? 'localhost'}${path}`,
            'peer.address': req.socket?.remoteAddress,
          }, extractContext(hook, req.headers));
          if (span !== undefined) {
            res[kServerSpan] = span;
            res.on('close', onResponseClose);
          }
        }
      } catch {
        span = undefined;
      }
      if (span === undefined) return original.apply(this, arguments as unknown as any[]);
      // storage.run passes the extra arguments on: no closure per request.
      return storage.run({ span }, Reflect.apply, original, this, arguments) as boolean;
    };
}

function target(module: 'http' | 'https'): ModuleTarget {
  return {
    module,
    patch(exports, hook: ActiveHook<HttpServerOptions>) {
      wrap(exports.Server.prototype, 'emit', wrapEmit(hook));
    },
    unpatch(exports) {
      unwrap(exports.Server.prototype, 'emit');
    },
  };
}

export const httpServerHook: HookDefinition = {
  name: 'httpServer',
  targets: [target('http'), target('https')],
};
