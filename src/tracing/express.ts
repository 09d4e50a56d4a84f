/**
 * express 4 and 5 span logic (declared in ../hooks/express; express 5 routes through the `router` package
 * 2.x): names the server span that httpServer opened after the route template, with the paths of mounted
 * routers and sub-apps joined (`GET /api/v1/users/:id`), records the errors passed to `next(err)` (thrown,
 * rejected, or handed to error middleware), keeps the request's context for every middleware (also when a
 * body parser calls `next` from a stream event), and, with `middlewareSpans`, adds a child span per
 * middleware and handler.
 */
import type { IncomingMessage } from 'node:http';
import type { Span } from 'opentracing';
import { inboundRequest, joinPaths, templateOf } from '../cores/http-server';
import type { InboundRequest } from '../cores/http-server';
import type { ActiveHook, PatchContext } from '../registry/define';
import type { ExpressOptions } from '../options/express';
import { applyArgs } from '../apply-args';

/** The mount path a `use()` layer was registered with (`''` for `/`). */
const kMount = Symbol('opentracing-client-hooks.express.mount');
/** The joined mount paths of the routers the request is inside now. */
const kPrefix = Symbol('opentracing-client-hooks.express.prefix');

interface Layer {
  route?: { path?: unknown };
  /** The part of the URL the layer matched (set by `match`, just before it is handled). */
  path?: unknown;
  params?: Record<string, unknown>;
  /** router 2.x: the path as registered. */
  rawPath?: unknown;
  /** The pattern the layer matches with (express 4: the app's RegExp itself for a RegExp mount). */
  regexp?: unknown;
  handle?: { stack?: unknown; name?: string; length?: number };
  name?: string;
  [kMount]?: string;
}
type Req = IncomingMessage & { [kPrefix]?: string };
type Next = (err?: unknown) => void;

/** The path a `use(path?, ...fns)` call registers under, as express and router work it out. */
function usePath(first: unknown): unknown {
  if (typeof first === 'function') return '/';
  let arg = first;
  while (Array.isArray(arg) && arg.length !== 0) arg = arg[0];
  return typeof arg === 'function' ? '/' : first;
}

function wrapUse(original: (...args: any[]) => unknown) {
  return function use(this: { stack?: Layer[] }, first: unknown): unknown {
    const stack = this.stack;
    const before = Array.isArray(stack) ? stack.length : -1;
    const result = applyArgs(original, this, arguments);
    if (before !== -1 && Array.isArray(this.stack)) {
      const mount = templateOf(usePath(first));
      const prefix = mount === undefined || mount === '/' ? '' : mount;
      for (let i = before; i < this.stack.length; i++) this.stack[i][kMount] = prefix;
    }
    return result;
  };
}

/**
 * The mount template of a `use()` layer: as registered when the hook saw the registration; else (an app
 * built before install) the matched part of the URL with each parameter value put back as `:name`, when
 * every other segment is a literal of the layer's pattern; else (a RegExp or wildcard mount, where the
 * URL's text may be a token) the pattern itself.
 */
function mountOf(layer: Layer): string {
  const tagged = layer[kMount];
  if (tagged !== undefined) return tagged;
  if (layer.rawPath !== undefined) {
    // router 2.x keeps the path it was registered with.
    const raw = templateOf(layer.rawPath);
    return raw === undefined || raw === '/' ? '' : raw;
  }
  const path = layer.path;
  if (typeof path !== 'string' || path === '/') return '';
  const params = layer.params ?? {};
  const names = new Map<string, string>();
  for (const key of Object.keys(params)) {
    const value = params[key];
    if (typeof value === 'string' && value !== '') names.set(value, key);
  }
  const segments = path.split('/').map((segment) => (names.has(segment) ? `:${names.get(segment)}` : segment));
  return segments.every((segment) => segment === '' || segment.startsWith(':') || literalOf(layer.regexp, segment)) ? segments.join('/') : templateOf(layer.regexp) ?? '';
}

/** Whether `segment` is written in the pattern (path-to-regexp escapes `/` and `.`). */
function literalOf(regexp: unknown, segment: string): boolean {
  if (!(regexp instanceof RegExp)) return false;
  const source = regexp.source;
  return source.includes(segment) || source.includes(segment.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
}

/** A layer that is itself a router or a mounted app: no middleware span of its own. */
function isContainer(layer: Layer): boolean {
  const handle = layer.handle;
  return layer.route !== undefined || handle === undefined || handle.stack !== undefined || handle.name === 'mounted_app';
}

/**
 * Whether express calls the layer's function: the request variant skips a function of more than three
 * parameters (an error middleware), the error variant one of other than four (as express's Layer reads `handle.length`).
 */
function runsHandle(layer: Layer, offset: 0 | 1): boolean {
  const length = layer.handle?.length as number;
  return offset === 0 ? !(length > 3) : length === 4;
}

/** The middleware span of the layer the request is in now (`middlewareSpans`): it ends when the request moves on. */
const kChild = Symbol('opentracing-client-hooks.express.child');
type TracedReq = Req & { [kChild]?: Span };

/** The request leaves the layer it was in (it reached another layer or left a router): its middleware span ends. */
function leaveLayer(inbound: InboundRequest, req: TracedReq): void {
  const child = req[kChild];
  if (child === undefined) return;
  req[kChild] = undefined;
  inbound.finishChild(child);
}

/**
 * Layer#handle_request (express 4) / handleRequest (router 2): `offset` is where `req` is among the
 * arguments (1 for the error variants, whose first argument is the error). The `next` that app code gets
 * is the router's own (`req.next === next`, which res.format relies on): errors passed to it are recorded
 * where they arrive (an error handler, or the router's exit, see wrapHandle), and only a container layer
 * (a router, a mounted app, a route: library code) gets a `next` of ours, which leaves its mount path.
 * A layer whose function express skips (see runsHandle) gets no middleware span.
 */
function wrapHandle(hook: ActiveHook<ExpressOptions>, offset: 0 | 1) {
  return (original: (...args: any[]) => unknown) =>
    function handle(this: Layer): unknown {
      const req = arguments[offset] as TracedReq;
      const inbound = hook.enabled ? inboundRequest(req) : undefined;
      if (inbound === undefined) return applyArgs(original, this, arguments);
      leaveLayer(inbound, req);
      if (offset === 1) inbound.recordError(arguments[0]);
      if (this.route !== undefined) {
        const path = templateOf(this.route.path);
        if (path !== undefined) inbound.setRoute(joinPaths(req[kPrefix] ?? '', path));
      }
      if (isContainer(this)) {
        const args = Array.prototype.slice.call(arguments);
        const prev = req[kPrefix];
        const mount = this.route === undefined ? mountOf(this) : '';
        if (mount !== '') req[kPrefix] = joinPaths(prev ?? '', mount);
        args[offset + 2] = exitNext(inbound, req, prev, args[offset + 2] as Next);
        return inbound.run(original, this, args);
      }
      const child =
        hook.options.middlewareSpans === true && inbound.span !== undefined && runsHandle(this, offset) ? inbound.startChild(this.name ?? '<anonymous>', 'express') : undefined;
      if (child === undefined) return inbound.run(original, this, arguments);
      req[kChild] = child;
      return inbound.runWith(child, original, this, arguments);
    };
}

/**
 * The `next` of a container layer (what its router or route calls when it is done with the request): leaves
 * the mount path, records the error it passes on, and goes on in the request's context.
 */
function exitNext(inbound: InboundRequest, req: TracedReq, prev: string | undefined, next: Next): Next {
  return function next_(this: unknown, err?: unknown): void {
    req[kPrefix] = prev;
    leaveLayer(inbound, req);
    if (err !== undefined && err !== null && err !== 'route' && err !== 'router') inbound.recordError(err);
    inbound.run(next, this, arguments);
  };
}

/**
 * Router#handle: `out`, called when the request leaves this router, records the error it carries (an
 * error no handler took, on its way to the final handler). `out` is the caller's (express's app.handle,
 * or a container layer's next), never app code's to compare.
 */
function wrapRouterHandle(hook: ActiveHook<ExpressOptions>) {
  return (original: (...args: any[]) => unknown) =>
    function handle(this: unknown, req: TracedReq, res: unknown, out: unknown): unknown {
      const inbound = hook.enabled && typeof out === 'function' ? inboundRequest(req) : undefined;
      if (inbound === undefined) return applyArgs(original, this, arguments);
      const args = Array.prototype.slice.call(arguments);
      args[2] = function out_(this: unknown, err?: unknown): unknown {
        leaveLayer(inbound, req);
        if (err !== undefined && err !== null && err !== 'route' && err !== 'router') inbound.recordError(err);
        return inbound.run(out as Next, this, arguments);
      };
      return original.apply(this, args);
    };
}

/** A router (express 4's `lib/router/index`, router 2's prototype): the mount path of each `use()` layer. */
export function patchRouter(router: any, { hook, wrap }: PatchContext<ExpressOptions, undefined>): void {
  wrap(router, 'use', wrapUse);
  wrap(router, 'handle', wrapRouterHandle(hook));
}

/** A Layer class: its request and error handlers, by their names in that version. */
export function patchLayer(exports: any, { hook, wrap }: PatchContext<ExpressOptions, undefined>, names: [string, string]): void {
  wrap(exports.prototype, names[0], wrapHandle(hook, 0));
  wrap(exports.prototype, names[1], wrapHandle(hook, 1));
}
