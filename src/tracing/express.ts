/**
 * express 4 and 5 span logic (declared in ../hooks/express; express 5 routes through the `router` package
 * 2.x): names the server span that httpServer opened after the route template, with the paths of mounted
 * routers and sub-apps joined (`GET /api/v1/users/:id`), records the errors passed to `next(err)` (thrown,
 * rejected, or handed to error middleware), keeps the request's context for every middleware (also when a
 * body parser calls `next` from a stream event), and, with `middlewareSpans`, adds a child span per
 * middleware and handler.
 */
import type { IncomingMessage } from 'node:http';
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
  handle?: { stack?: unknown; name?: string };
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
 * built before install) the matched part of the URL with each parameter value put back as `:name`.
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
  const params = layer.params;
  if (params == null || Object.keys(params).length === 0) return path;
  const names = new Map<string, string>();
  for (const key of Object.keys(params)) {
    const value = params[key];
    if (typeof value === 'string' && value !== '') names.set(value, key);
  }
  return path
    .split('/')
    .map((segment) => (names.has(segment) ? `:${names.get(segment)}` : segment))
    .join('/');
}

/** A layer that is itself a router or a mounted app: no middleware span of its own. */
function isContainer(layer: Layer): boolean {
  const handle = layer.handle;
  return layer.route !== undefined || handle === undefined || handle.stack !== undefined || handle.name === 'mounted_app';
}

/**
 * Layer#handle_request (express 4) / handleRequest (router 2): `offset` is where `req` is among the
 * arguments (1 for the error variants, whose first argument is the error).
 */
function wrapHandle(hook: ActiveHook<ExpressOptions>, offset: 0 | 1) {
  return (original: (...args: any[]) => unknown) =>
    function handle(this: Layer): unknown {
      const req = arguments[offset] as Req;
      const inbound = hook.enabled ? inboundRequest(req) : undefined;
      if (inbound === undefined) return applyArgs(original, this, arguments);
      const args = Array.prototype.slice.call(arguments);
      if (offset === 1) inbound.recordError(args[0]);
      const prev = req[kPrefix];
      if (this.route !== undefined) {
        const path = templateOf(this.route.path);
        if (path !== undefined) inbound.setRoute(joinPaths(prev ?? '', path));
      } else {
        const mount = mountOf(this);
        if (mount !== '') req[kPrefix] = joinPaths(prev ?? '', mount);
      }
      const child = hook.options.middlewareSpans === true && inbound.span !== undefined && !isContainer(this) ? inbound.startChild(this.name ?? '<anonymous>', 'express') : undefined;
      const next = args[offset + 2] as Next;
      args[offset + 2] = wrapNext(inbound, req, prev, next, child);
      return child === undefined ? original.apply(this, args) : inbound.runWith(child, original, this, args);
    };
}

/** `next` for one layer: leaves the layer's mount path, records an error, and goes on in the request's context. */
function wrapNext(inbound: InboundRequest, req: Req, prev: string | undefined, next: Next, child: ReturnType<InboundRequest['startChild']>): Next {
  return function next_(this: unknown, err?: unknown): void {
    req[kPrefix] = prev;
    if (err !== undefined && err !== null && err !== 'route' && err !== 'router') inbound.recordError(err);
    if (child !== undefined) inbound.finishChild(child);
    inbound.run(next, this, arguments);
  };
}

/** A router (express 4's `lib/router/index`, router 2's prototype): the mount path of each `use()` layer. */
export function patchRouter(router: any, { wrap }: PatchContext<ExpressOptions, undefined>): void {
  wrap(router, 'use', wrapUse);
}

/** A Layer class: its request and error handlers, by their names in that version. */
export function patchLayer(exports: any, { hook, wrap }: PatchContext<ExpressOptions, undefined>, names: [string, string]): void {
  wrap(exports.prototype, names[0], wrapHandle(hook, 0));
  wrap(exports.prototype, names[1], wrapHandle(hook, 1));
}
