/**
 * @hapi/hapi 21 span logic (declared in ../hooks/hapi): every server made with `Hapi.server()` / `new
 * Hapi.Server()` while the hook is installed gets an `onPreAuth` extension that names the server span
 * that httpServer opened after the route (`request.route.path`, plugin prefixes included) as soon as
 * the route is known, an `onPreResponse` one that records a server error (a Boom with a 5xx status,
 * which is what hapi makes of a thrown error), and route handlers that, with `middlewareSpans`, run
 * under a child span named after the function. A server keeps its extensions for good and they answer
 * to whichever install is current, so a server made under one install is traced again after uninstall
 * and install; a server made before any install is not instrumented (its requests keep the httpServer
 * span, named `HTTP <METHOD>`).
 */
import { inboundRequest } from '../cores/http-server';
import type { InboundRequest } from '../cores/http-server';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { HapiOptions } from '../options/hapi';
import { applyArgs } from '../apply-args';

type Toolkit = { continue: symbol };
type Handler = (this: unknown, request: any, h: unknown) => unknown;

const instrumented = new WeakSet<object>();
const kWrapped = Symbol('opentracing-client-hooks.hapi.handler');

/** The install the extensions answer to now, if the hook is installed (set from the patch's context). */
let current: PatchContext<HapiOptions, undefined>['current'] = () => undefined;

function inboundOf(request: any): InboundRequest | undefined {
  return current()?.enabled === true ? inboundRequest(request?.raw?.req) : undefined;
}

function nameRoute(inbound: InboundRequest, request: any): void {
  const route = request.route;
  // `_special` is hapi's own not-found and bad-request route.
  if (route != null && route.method !== '_special' && typeof route.path === 'string' && inbound.route !== route.path) inbound.setRoute(route.path);
}

function onPreAuth(request: any, h: Toolkit): symbol {
  const inbound = inboundOf(request);
  if (inbound !== undefined) nameRoute(inbound, request);
  return h.continue;
}

function onPreResponse(request: any, h: Toolkit): symbol {
  const inbound = inboundOf(request);
  if (inbound !== undefined) {
    nameRoute(inbound, request);
    const response = request.response;
    if (response != null && response.isBoom === true) inbound.recordError(response);
  }
  return h.continue;
}

/** A route handler that, with `middlewareSpans`, runs under its own child span of the server span. */
function wrapHandler(handler: Handler): Handler {
  const name = handler.name || '<anonymous>';
  const wrapped: Handler = function (this: unknown, request: any): unknown {
    const inbound = current()?.options.middlewareSpans === true ? inboundOf(request) : undefined;
    const child = inbound?.span !== undefined ? inbound.startChild(name, 'hapi') : undefined;
    if (child === undefined) return applyArgs(handler, this, arguments);
    let result: unknown;
    try {
      result = inbound!.runWith(child, handler, this, arguments);
    } catch (err) {
      inbound!.finishChild(child);
      throw err;
    }
    return inbound!.finishChildAfter(child, result);
  };
  (wrapped as any)[kWrapped] = true;
  return wrapped;
}

function onRoute(route: { settings?: { handler?: unknown } }): void {
  const settings = route?.settings;
  const handler = settings?.handler;
  if (typeof handler === 'function' && (handler as any)[kWrapped] !== true) settings!.handler = wrapHandler(handler as Handler);
}

function instrument(server: any): void {
  if (server === null || typeof server !== 'object' || typeof server.ext !== 'function' || instrumented.has(server)) return;
  instrumented.add(server);
  try {
    server.ext('onPreAuth', onPreAuth);
    server.ext('onPreResponse', onPreResponse);
    server.events?.on('route', onRoute);
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

export function patchHapi(exports: any, { hook, wrap, current: currentInstall }: PatchContext<HapiOptions, undefined>): void {
  current = currentInstall;
  wrap(exports, 'server', wrapFactory(hook));
  wrap(exports, 'Server', wrapFactory(hook));
}
