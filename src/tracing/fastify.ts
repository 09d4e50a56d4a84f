/**
 * fastify 4 and 5 span logic (declared in ../hooks/fastify): every instance (announced on the
 * `fastify.initialization` diagnostics channel) gets an `onRequest` hook that names the server span
 * that httpServer opened after the route (`routeOptions.url`, prefixes included), an `onError` hook
 * that records the error fastify turns into an error reply, and, through `onRoute`, route handlers that
 * run in the request's context (fastify calls them from the body parser's stream events) and, with
 * `middlewareSpans`, under a child span. An instance keeps its hooks for good and they answer to
 * whichever install is current, so an app built under one install is traced again after uninstall and
 * install; an app built before any install is not instrumented (its requests keep the httpServer span,
 * named `HTTP <METHOD>`).
 */
import { inboundRequest } from '../cores/http-server';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { FastifyOptions } from '../options/fastify';
import { applyArgs } from '../apply-args';

type Handler = (this: unknown, request: any, reply: any) => unknown;

const kWrapped = Symbol('opentracing-client-hooks.fastify.handler');

const instrumented = new WeakSet<object>();

/** The hook's current install (from the registry, through the context of the install that saw an instance). */
let currentInstall: PatchContext<FastifyOptions, undefined>['current'] = () => undefined;

/** The install the instance's hooks answer to now, if the hook is installed. */
function active(): ActiveHook<FastifyOptions> | undefined {
  const current = currentInstall();
  return current?.enabled === true ? current : undefined;
}

/** The matched route's template; `routerPath` only before fastify 4.10 (fastify 4 warns on reading it). */
function routeOf(request: any): string | undefined {
  const options = request.routeOptions;
  const url = options !== undefined ? options.url : request.routerPath;
  return typeof url === 'string' ? url : undefined;
}

function wrapHandler(handler: Handler): Handler {
  const name = handler.name || '<anonymous>';
  const wrapped: Handler = function (this: unknown, request: any): unknown {
    const hook = active();
    const inbound = hook !== undefined ? inboundRequest(request?.raw) : undefined;
    if (inbound === undefined) return applyArgs(handler, this, arguments);
    const child = hook!.options.middlewareSpans === true && inbound.span !== undefined ? inbound.startChild(name, 'fastify') : undefined;
    if (child === undefined) return inbound.run(handler, this, arguments);
    // An async handler's child ends when it settles; a reply.send() one with the request at the latest.
    const result = inbound.runWith(child, handler, this, arguments);
    return result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function' ? inbound.finishChildAfter(child, result) : result;
  };
  (wrapped as any)[kWrapped] = true;
  return wrapped;
}

function instrument(app: any): void {
  if (app === null || typeof app !== 'object' || typeof app.addHook !== 'function' || instrumented.has(app)) return;
  instrumented.add(app);
  app.addHook('onRequest', function (request: any, _reply: unknown, done: () => void): void {
    const inbound = active() !== undefined ? inboundRequest(request?.raw) : undefined;
    const route = inbound === undefined ? undefined : routeOf(request);
    if (route !== undefined) inbound!.setRoute(route);
    done();
  });
  app.addHook('onError', function (request: any, _reply: unknown, error: unknown, done: () => void): void {
    if (active() !== undefined) inboundRequest(request?.raw)?.recordError(error);
    done();
  });
  // Every handler is wrapped (also those registered while uninstalled): the wrapper asks for the install per call.
  app.addHook('onRoute', (routeOptions: { handler?: Handler }) => {
    const handler = routeOptions.handler;
    if (typeof handler === 'function' && (handler as any)[kWrapped] !== true) routeOptions.handler = wrapHandler(handler);
  });
}

/** A `fastify.initialization` message: its instance is instrumented while the hook of `ctx` is installed. */
export function onInitialization({ hook, current }: PatchContext<FastifyOptions, undefined>, message: unknown): void {
  currentInstall = current;
  if (hook.enabled) instrument((message as { fastify?: unknown } | null)?.fastify);
}
