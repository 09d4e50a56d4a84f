/**
 * fastify 4 and 5 span logic (declared in ../hooks/fastify). Nothing an app can see is added to its
 * instances: no hooks (printPlugins, printRoutes({ includeHooks }) and hook counts stay as they are) and
 * no replaced handler (an app's onRoute sees its own). Instead:
 * - `Reply#send` (every reply goes through it) names the server span that httpServer opened after the
 *   route (`routeOptions.url`, prefixes included), records the error an error reply carries, from a
 *   handler or from any hook, as fastify's own `onError` hooks would see it, and, sent where a handler's
 *   child span is active (`middlewareSpans`), replies with the request's span active;
 * - fastify 5: the `tracing:fastify.request.handler` channels name the route as the handler starts, run
 *   the handler in the request's context (a bound store on `start`) and, with `middlewareSpans`, under a
 *   child span, and record what it throws or rejects;
 * - fastify 4 publishes no such channel: the route's `Context` (made after the onRoute hooks ran) keeps a
 *   wrapper of the function fastify made of the handler (`handler.bind(instance)`, which only
 *   `request.routeOptions.handler` hands back), with that function's name and length;
 * - the hook runners of lib/hooks and the body parser's `run` name the route before the route's hooks and
 *   the body's reading (a request the client leaves there is named too), and the onTimeout runner runs
 *   its hooks in the request's context: fastify calls each only when there is such a hook (or a body).
 */
import diagnostics from 'node:diagnostics_channel';
import path from 'node:path';
import { storage } from '../context';
import type { RequestContext } from '../context';
import { inboundRequest } from '../cores/http-server';
import type { InboundRequest } from '../cores/http-server';
import type { ActiveHook, PatchContext } from '../registry/define';
import { asWrapperOf } from '../registry/wrap';
import type { FastifyOptions } from '../options/fastify';
import type { Span } from 'opentracing';
import { applyArgs } from '../apply-args';

type Handler = (this: unknown, request: any, reply: any) => unknown;

/** The matched route's template; `routerPath` only before fastify 4.10 (fastify 4 warns on reading it). */
function routeOf(request: any): string | undefined {
  const options = request.routeOptions;
  const url = options !== undefined ? options.url : request.routerPath;
  return typeof url === 'string' ? url : undefined;
}

/** Names the span once (fastify 5's `routeOptions` getter builds an object per read). */
function nameRoute(inbound: InboundRequest, request: any, known?: unknown): void {
  if (inbound.route !== undefined) return;
  const route = typeof known === 'string' ? known : routeOf(request);
  if (route !== undefined) inbound.setRoute(route);
}

/** The name of the app's handler in what fastify keeps of it (`bound getUser`). */
function handlerName(handler: unknown): string {
  const name = typeof handler === 'function' ? handler.name : '';
  const own = name.startsWith('bound ') ? name.slice('bound '.length) : name;
  return own || '<anonymous>';
}

function inboundOf(hook: ActiveHook<FastifyOptions>, request: any): InboundRequest | undefined {
  return hook.enabled ? inboundRequest(request?.raw) : undefined;
}

/** The stores that a handler runs in under its child span (`middlewareSpans`). */
const handlerStores = new WeakSet<RequestContext>();

/** A store in which `span`, a handler's child span, is the active one. */
function handlerStoreOf(span: Span): RequestContext {
  const store = { span };
  handlerStores.add(store);
  return store;
}

/**
 * Reply#send: the route, and the error of an error reply (what fastify hands its onError hooks). The
 * reply it starts (serialization, the error handler, the onError, preSerialization, onSend and
 * onResponse hooks) runs with the request's span active, not the handler's, which ends with the
 * handler: fastify 5 sends what the handler returned inside the handler's channel, which binds its span.
 */
function wrapSend(hook: ActiveHook<FastifyOptions>, kReplyIsError: symbol | undefined) {
  return (original: (...args: any[]) => unknown) =>
    function send(this: any, payload: unknown): unknown {
      const inbound = inboundOf(hook, this?.request);
      if (inbound === undefined) return applyArgs(original, this, arguments);
      nameRoute(inbound, this.request);
      const isError = payload instanceof Error || (kReplyIsError !== undefined && this[kReplyIsError] === true);
      if (isError && this.sent !== true) inbound.recordError(payload);
      const store = storage.getStore();
      return store !== undefined && handlerStores.has(store) ? inbound.run(original, this, arguments) : applyArgs(original, this, arguments);
    };
}

/** One of fastify's internal symbols (lib/symbols), or undefined when it cannot be read. */
function symbolOf(basedir: string | undefined, name: string): symbol | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const value: unknown = basedir !== undefined ? require(path.join(basedir, 'lib', 'symbols.js'))[name] : undefined;
    return typeof value === 'symbol' ? value : undefined;
  } catch {
    return undefined;
  }
}

export function patchReply(exports: any, ctx: PatchContext<FastifyOptions, undefined>): void {
  const { hook, wrap, basedir, version } = ctx;
  if (version !== undefined && Number.parseInt(version, 10) >= 5) subscribeHandlerChannel(ctx);
  // Without kReplyIsError, only errors that are Error instances are recorded.
  wrap(exports.prototype, 'send', wrapSend(hook, symbolOf(basedir, 'kReplyIsError')));
}

// The hook runners of lib/hooks and the body parser: fastify has matched the route before any of them runs.

type Current = () => ActiveHook<FastifyOptions> | undefined;
type Wrap = (original: (...args: any[]) => unknown) => (...args: any[]) => unknown;

/**
 * The record of a fastify request under the current install: fastify's route module keeps, for good, the
 * hook runners it took from lib/hooks when it loaded (ours, from whichever install was then current).
 */
function currentInbound(current: Current, request: any): InboundRequest | undefined {
  const hook = current();
  return hook !== undefined ? inboundOf(hook, request) : undefined;
}

/**
 * The onRequest, preParsing, preValidation and preHandler hook runners (fastify runs one only for a route
 * with such hooks) and the body parser (only for a request with a body), given the request as argument
 * `at`: they name the span after the route, read from its route context (`routeOptions.url` builds an
 * object per read on fastify 5), so that a request the client leaves there is named too. The handler
 * then finds it named.
 */
function wrapNaming(current: Current, kRouteContext: symbol | undefined, at: number): Wrap {
  return (original) =>
    function (this: unknown): unknown {
      const request = arguments[at];
      const inbound = currentInbound(current, request);
      if (inbound !== undefined && inbound.route === undefined) {
        try {
          nameRoute(inbound, request, kRouteContext !== undefined ? request[kRouteContext]?.config?.url : undefined);
        } catch {
          // A route that cannot be read here is named as the handler starts.
        }
      }
      return applyArgs(original, this, arguments);
    };
}

/**
 * The onTimeout hook runner: fastify calls it from the socket's 'timeout' listener, outside any request,
 * with the request it noted last on that connection, and its hooks run in that request's context. It
 * runs no hook for a request already answered (a keep-alive connection's earlier one): the hooks that
 * run are the in-flight request's.
 */
function wrapTimeoutRunner(current: Current): Wrap {
  return (original) =>
    function (this: unknown, _hooks: unknown, request: any): unknown {
      const inbound = currentInbound(current, request);
      return inbound === undefined ? applyArgs(original, this, arguments) : inbound.run(original, this, arguments);
    };
}

const NAMING_RUNNERS = ['onRequestHookRunner', 'preParsingHookRunner', 'preValidationHookRunner', 'preHandlerHookRunner'];

/** lib/hooks: the runners that fastify's route and handler modules take when they load (fastify 4 and 5). */
export function patchHooks(exports: any, { wrap, current, basedir }: PatchContext<FastifyOptions, undefined>): void {
  const naming = wrapNaming(current, symbolOf(basedir, 'kRouteContext'), 1);
  for (const name of NAMING_RUNNERS) wrap(exports, name, naming);
  wrap(exports, 'onTimeoutHookRunner', wrapTimeoutRunner(current));
}

/** The content-type parser's `run(contentType, handler, request, reply)`: where a request's body is read. */
export function patchBodyParser(exports: any, { wrap, current, basedir }: PatchContext<FastifyOptions, undefined>): void {
  if (typeof exports === 'function') wrap(exports.prototype, 'run', wrapNaming(current, symbolOf(basedir, 'kRouteContext'), 2));
}

// fastify 5: the handler's tracing channel. Its message is `{ request, reply, route, async, error? }`.

interface HandlerMessage {
  request?: any;
  route?: { url?: unknown };
  reply?: any;
  async?: boolean;
  error?: unknown;
  [kChild]?: { inbound: InboundRequest; span: Span };
}
const kChild = Symbol('opentracing-client-hooks.fastify.child');
const HANDLER = 'tracing:fastify.request.handler';

/** The store the handler runs in: the request's, or its child span's; the current one for a request not traced. */
function handlerStore(hook: ActiveHook<FastifyOptions>, message: HandlerMessage): RequestContext | undefined {
  const request = message?.request;
  const inbound = inboundOf(hook, request);
  if (inbound === undefined) return storage.getStore();
  nameRoute(inbound, request, message.route?.url);
  if (hook.options.middlewareSpans !== true || inbound.span === undefined) return inbound.store;
  const span = inbound.startChild(handlerName(request.routeOptions?.handler), 'fastify');
  if (span === undefined) return inbound.store;
  message[kChild] = { inbound, span };
  return handlerStoreOf(span);
}

/** A handler that returned (or threw): its span ends now, when its promise settles, or, if it replies later, with the request. */
function onHandlerEnd(message: HandlerMessage, settled: boolean): void {
  const child = message?.[kChild];
  if (child === undefined || (!settled && (message.async === true || message.reply?.sent !== true))) return;
  message[kChild] = undefined;
  child.inbound.finishChild(child.span);
}

/** Installs that subscribed already (a second copy of fastify 5 shares the channels). */
const subscribed = new WeakSet<object>();

function subscribeHandlerChannel({ hook, subscribe, onUninstall }: PatchContext<FastifyOptions, undefined>): void {
  if (subscribed.has(hook)) return;
  subscribed.add(hook);
  const start = diagnostics.channel(`${HANDLER}:start`);
  if (typeof (start as { bindStore?: unknown }).bindStore !== 'function') return;
  // Node turns what a store transform throws into an uncaught exception: never throw.
  const transform = (message: unknown): RequestContext | undefined => {
    try {
      return handlerStore(hook, message as HandlerMessage);
    } catch {
      return storage.getStore();
    }
  };
  start.bindStore(storage, transform);
  onUninstall(() => start.unbindStore(storage));
  subscribe(`${HANDLER}:error`, (message) => {
    const m = message as HandlerMessage;
    inboundOf(hook, m?.request)?.recordError(m.error);
  });
  subscribe(`${HANDLER}:end`, (message) => onHandlerEnd(message as HandlerMessage, false));
  subscribe(`${HANDLER}:asyncEnd`, (message) => onHandlerEnd(message as HandlerMessage, true));
}

// fastify 4: the route's Context.

/**
 * The install that fastify 4's handler wrappers answer to: a route keeps its wrapper for good, and it
 * traces under whichever install patched fastify last, while that one is installed.
 */
let contextHook: ActiveHook<FastifyOptions> | undefined;

/** The handler as the route's Context keeps it: in the request's context, with the route named. */
function wrapHandler(handler: Handler): Handler {
  const name = handlerName(handler);
  return asWrapperOf(handler, function (this: unknown, request: any): unknown {
    const hook = contextHook;
    const inbound = hook !== undefined ? inboundOf(hook, request) : undefined;
    if (inbound === undefined) return handler.apply(this, arguments as unknown as [any, any]);
    nameRoute(inbound, request);
    const child = hook!.options.middlewareSpans === true && inbound.span !== undefined ? inbound.startChild(name, 'fastify') : undefined;
    if (child === undefined) return inbound.run(handler, this, arguments);
    // An async handler's child ends when it settles; a reply.send() one with the request at the latest.
    let result: unknown;
    try {
      result = storage.run(handlerStoreOf(child), Reflect.apply, handler, this, arguments);
    } catch (err) {
      inbound.finishChild(child);
      throw err;
    }
    return result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function' ? inbound.finishChildAfter(child, result) : result;
  });
}

/**
 * fastify 4's Context sets `this.handler = handler` once, after the onRoute hooks ran: a setter on its
 * prototype (while installed) takes that assignment and keeps the handler wrapped as an ordinary own property.
 */
export function patchContext(exports: any, { hook, onUninstall }: PatchContext<FastifyOptions, undefined>): void {
  contextHook = hook;
  const proto = typeof exports === 'function' ? exports.prototype : undefined;
  if (proto == null || Object.getOwnPropertyDescriptor(proto, 'handler') !== undefined) return;
  const set = function (this: object, handler: unknown): void {
    const value = typeof handler === 'function' ? wrapHandler(handler as Handler) : handler;
    Object.defineProperty(this, 'handler', { value, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(proto, 'handler', { set, get: () => undefined, enumerable: false, configurable: true });
  onUninstall(() => {
    if (Object.getOwnPropertyDescriptor(proto, 'handler')?.set === set) delete proto.handler;
  });
}
