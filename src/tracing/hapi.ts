/**
 * @hapi/hapi 21 span logic (declared in ../hooks/hapi): every server made with `Hapi.server()` / `new
 * Hapi.Server()` while the hook is installed gets an `onPreAuth` extension that names the server span
 * that httpServer opened after the route (`request.route.path`, plugin prefixes included) as soon as
 * the route is known (and an `onPreResponse` one for a request that fails before that). Every Boom that
 * becomes a request's response (what hapi makes of a thrown error, a handler's or an extension's,
 * the app's `onPreResponse` ones included, which run after ours) is recorded as it is set, so the error
 * logged is the one hapi answers with. With `middlewareSpans`, a child span named after the route
 * handler runs while it does (made in the toolkit that runs it: the route keeps the app's own
 * function). A server keeps its extensions for good and they answer to whichever install is current,
 * so a server made under one install is traced again after uninstall and install; a server made before
 * any install is not instrumented (its requests keep the httpServer span, named `HTTP <METHOD>`).
 */
import { inboundRequest } from '../cores/http-server';
import type { InboundRequest } from '../cores/http-server';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { HapiOptions } from '../options/hapi';
import { applyArgs } from '../apply-args';

type Toolkit = { continue: symbol };
type Handler = (this: unknown, request: any, h: unknown) => unknown;

const instrumented = new WeakSet<object>();

/** The registry's lookup of the hook's current install (`ctx.current`), kept from the latest patch: what hapi keeps of ours answers to it. */
let current: () => ActiveHook<HapiOptions> | undefined = () => undefined;

function inboundOf(request: any): InboundRequest | undefined {
  return current()?.enabled === true ? inboundRequest(request?.raw?.req) : undefined;
}

function nameRoute(inbound: InboundRequest, request: any): void {
  const route = request.route;
  // `_special` is hapi's own not-found and bad-request route.
  if (route != null && route.method !== '_special' && typeof route.path === 'string' && inbound.route !== route.path) inbound.setRoute(route.path);
}

/** `onPreAuth`, and `onPreResponse` for a request that failed before it (the route may be known by then). */
function onRouteKnown(request: any, h: Toolkit): symbol {
  const inbound = inboundOf(request);
  if (inbound !== undefined) nameRoute(inbound, request);
  return h.continue;
}

/**
 * A request's `_setResponse(response)`, through which every response that a lifecycle step, an
 * extension (the app's `onPreResponse` ones, which run after ours, included) or the transmit of a
 * response that failed to marshal gives hapi passes: a Boom that becomes the response of a request to
 * an instrumented server (`_core.root` is the server `Hapi.server()` made) is recorded then. Not the
 * Boom hapi answers a client that left with (`_eventContext.request` is cleared first): the span
 * records the abort itself.
 */
function wrapSetResponse(hook: ActiveHook<HapiOptions>) {
  return (original: (...args: any[]) => unknown) =>
    function _setResponse(this: any, response: any): unknown {
      const result = applyArgs(original, this, arguments);
      if (hook.enabled && response?.isBoom === true && this?.response === response && this._eventContext?.request === this && instrumented.has(this._core?.root)) {
        inboundOf(this)?.recordError(response);
      }
      return result;
    };
}

/**
 * The toolkit's `execute(method, request, options)`, which runs every lifecycle method: the route's own
 * handler (the very function the route keeps, which the app sees as it registered it in
 * `server.table()` and in hapi's errors) runs, with `middlewareSpans`, under a child span named after it.
 */
function wrapExecute(hook: ActiveHook<HapiOptions>) {
  return (original: (...args: any[]) => Promise<unknown>) =>
    function execute(this: unknown, method: unknown, request: any): Promise<unknown> {
      const inbound = hook.enabled && hook.options.middlewareSpans === true ? inboundOf(request) : undefined;
      const isHandler = inbound !== undefined && typeof method === 'function' && method === request.route?.settings?.handler;
      const child = isHandler && inbound!.span !== undefined ? inbound!.startChild((method as Handler).name || '<anonymous>', 'hapi') : undefined;
      if (child === undefined) return applyArgs(original, this, arguments);
      let result: Promise<unknown>;
      try {
        result = inbound!.runWith(child, original, this, arguments);
      } catch (err) {
        inbound!.finishChild(child);
        throw err;
      }
      return inbound!.finishChildAfter(child, result) as Promise<unknown>;
    };
}

function instrument(server: any): void {
  if (server === null || typeof server !== 'object' || typeof server.ext !== 'function' || instrumented.has(server)) return;
  instrumented.add(server);
  try {
    server.ext('onPreAuth', onRouteKnown);
    server.ext('onPreResponse', onRouteKnown);
  } catch {
    // A server that refuses the extensions is left untraced.
  }
}

function wrapFactory(hook: ActiveHook<HapiOptions>) {
  return (original: (...args: any[]) => any) =>
    function server(this: unknown): any {
      const made = applyArgs(original, this, arguments);
      if (hook.enabled) instrument(made);
      return made;
    };
}

export function patchHapi(exports: any, { hook, wrap, current: lookup }: PatchContext<HapiOptions, undefined>): void {
  current = lookup;
  wrap(exports, 'server', wrapFactory(hook));
  wrap(exports, 'Server', wrapFactory(hook));
}

export function patchRequest(exports: any, { hook, wrap, current: lookup }: PatchContext<HapiOptions, undefined>): void {
  current = lookup;
  wrap(exports?.prototype, '_setResponse', wrapSetResponse(hook));
}

export function patchToolkit(exports: any, { hook, wrap, current: lookup }: PatchContext<HapiOptions, undefined>): void {
  current = lookup;
  wrap(exports.Manager?.prototype, 'execute', wrapExecute(hook));
}
