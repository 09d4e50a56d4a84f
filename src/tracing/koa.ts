/**
 * koa span logic (declared in ../hooks/koa): names the server span that httpServer opened after the
 * matched route (`ctx._matchedRoute`, the router's prefixes included), records the errors thrown or
 * rejected in any middleware (those koa turns into its 500 page, and, for apps whose `callback()` (or
 * `listen()`) ran while installed, those an error middleware catches and answers itself), and, with `middlewareSpans`, adds a child span
 * per middleware and router handler.
 */
import { inboundRequest, templateOf } from '../cores/http-server';
import { entryClass } from '../registry/define';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { KoaOptions } from '../options/koa';
import { asWrapperOf } from '../registry/wrap';
import { applyArgs } from '../apply-args';

type Middleware = (ctx: any, next: () => Promise<unknown>) => unknown;

/**
 * The wrappers traceMiddleware made, by the install that made them. A router registers an array of paths
 * by registering each path again (through our wrapRegister): what it hands on is already ours.
 */
const ours = new WeakMap<Middleware, ActiveHook<KoaOptions>>();

/**
 * Routers (`router.routes()` carries `.router`), generator functions (koa 2 converts them) and this
 * install's own wrappers stay as they are.
 */
function wrappable(hook: ActiveHook<KoaOptions>, fn: unknown): fn is Middleware {
  return (
    typeof fn === 'function' &&
    (fn as { router?: unknown }).router === undefined &&
    fn.constructor?.name !== 'GeneratorFunction' &&
    ours.get(fn as Middleware) !== hook
  );
}

/**
 * A middleware that records what its downstream throws (on the way up, before this middleware may catch
 * it and answer a 500 page itself) and, with `middlewareSpans`, runs under its own child span.
 */
function traceMiddleware(hook: ActiveHook<KoaOptions>, fn: Middleware): Middleware {
  const name = fn.name || '<anonymous>';
  const wrapper = asWrapperOf(fn, function (this: unknown, ctx: any, next: () => Promise<unknown>): unknown {
    const inbound = hook.enabled && typeof next === 'function' ? inboundRequest(ctx?.req) : undefined;
    if (inbound === undefined) return fn.apply(this, arguments as unknown as [any, any]);
    // Downstream middleware runs beside this one, under the server span, not inside this one's span.
    const downstream = function (this: unknown): Promise<unknown> {
      const result = inbound.run(next, this, arguments);
      if (result === null || typeof result !== 'object' || typeof result.then !== 'function') return result;
      return result.then(undefined, (err: unknown) => {
        inbound.recordError(err);
        throw err;
      });
    };
    const child = hook.options.middlewareSpans === true && inbound.span !== undefined ? inbound.startChild(name, 'koa') : undefined;
    if (child === undefined) return fn.call(this, ctx, downstream);
    let result: unknown;
    try {
      result = inbound.runWith(child, fn, this, [ctx, downstream]);
    } catch (err) {
      inbound.finishChild(child);
      throw err;
    }
    return inbound.finishChildAfter(child, result);
  });
  ours.set(wrapper, hook);
  return wrapper;
}

/**
 * Application#callback, where koa composes the app's middleware: traced while it composes them, and
 * `app.middleware` keeps the very functions the app added (routers and generators stay as they are).
 */
function wrapCallback(hook: ActiveHook<KoaOptions>) {
  return (original: (...args: any[]) => unknown) =>
    function callback(this: { middleware?: unknown }): unknown {
      const middleware = this.middleware;
      if (!hook.enabled || !Array.isArray(middleware)) return applyArgs(original, this, arguments);
      this.middleware = middleware.map((fn) => (wrappable(hook, fn) ? traceMiddleware(hook, fn) : fn));
      try {
        return applyArgs(original, this, arguments);
      } finally {
        this.middleware = middleware;
      }
    };
}

/** The route template the router matched, its prefixes included (`ctx._matchedRoute`, set as it dispatches). */
function matchedRoute(ctx: any): string | undefined {
  return templateOf(ctx._matchedRoute);
}

/** Application#handleRequest(ctx, fnMiddleware): the route once the middleware is done, and its error. */
function wrapHandleRequest(hook: ActiveHook<KoaOptions>) {
  return (original: (ctx: any, fnMiddleware: (ctx: any) => Promise<unknown>) => unknown) =>
    function handleRequest(this: unknown, ctx: any, fnMiddleware: (ctx: any) => Promise<unknown>): unknown {
      const inbound = hook.enabled ? inboundRequest(ctx?.req) : undefined;
      if (inbound === undefined || typeof fnMiddleware !== 'function') return original.apply(this, arguments as unknown as [any, any]);
      // A request that ends before its middleware (the client left) is named after the route matched so far.
      inbound.routeAtEnd(matchedRoute, ctx);
      const settle = (): void => {
        const route = matchedRoute(ctx);
        if (route !== undefined) inbound.setRoute(route);
      };
      const traced = (c: any): Promise<unknown> =>
        fnMiddleware(c).then(
          (value) => {
            settle();
            return value;
          },
          (err) => {
            settle();
            inbound.recordError(err);
            throw err;
          },
        );
      return original.call(this, ctx, traced);
    };
}

/** Router#register(path, methods, middleware, opts): each handler gets its middleware span, once (see `ours`). */
function wrapRegister(hook: ActiveHook<KoaOptions>) {
  return (original: (...args: any[]) => unknown) =>
    function register(this: unknown, path: unknown, methods: unknown, middleware: unknown): unknown {
      if (!hook.enabled || hook.options.middlewareSpans !== true) return applyArgs(original, this, arguments);
      const args = Array.prototype.slice.call(arguments);
      if (Array.isArray(middleware)) args[2] = middleware.map((fn) => (wrappable(hook, fn) ? traceMiddleware(hook, fn) : fn));
      else if (wrappable(hook, middleware)) args[2] = traceMiddleware(hook, middleware);
      return original.apply(this, args);
    };
}

export function patchKoa(exports: any, { hook, wrap }: PatchContext<KoaOptions, undefined>): void {
  const proto = entryClass(exports)?.prototype;
  wrap(proto, 'handleRequest', wrapHandleRequest(hook));
  wrap(proto, 'callback', wrapCallback(hook));
}

export function patchRouter(exports: any, { hook, wrap }: PatchContext<KoaOptions, undefined>): void {
  const Router = entryClass(exports) ?? exports?.Router;
  if (typeof Router === 'function') wrap(Router.prototype, 'register', wrapRegister(hook));
}
