/**
 * How a hook is declared: its name, options type, span-logic loader, the modules it patches and its
 * docs, in its own file. Everything the registry hands a hook at install goes through one
 * `PatchContext`, so no hook keeps its own record of what it wrapped or subscribed to.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Tracer } from 'opentracing';
import type { Wrapper } from './wrap';
import { reportOnce } from '../logger';

/** One install of one hook: its options, whether it is still installed, and the tracer given at install. */
export class ActiveHook<O extends object = object> {
  /** Cleared at uninstall: a layer that has to stay (someone wrapped over it) then passes through. */
  enabled = true;

  constructor(
    readonly name: string,
    readonly options: O,
    /** The tracer given at install, if any; the span side resolves the one to use (../hook-tracer). */
    readonly explicitTracer: Tracer | undefined,
  ) {}
}

export interface PatchContext<O extends object, S, T = unknown> {
  readonly hook: ActiveHook<O>;
  /** What the span logic's `makeState(hook)` returned for this install (see `StateOf`); made when this is first read. */
  readonly state: S;
  /** The hook's span logic (what its `tracing` loader returns), loaded when this or `state` is first read. */
  readonly tracing: T;
  /** The patched package's version (Node's for builtins); undefined in `enable`. */
  readonly version: string | undefined;
  /** The patched package's directory; undefined for builtins and in `enable`. */
  readonly basedir: string | undefined;
  /** Wraps `target[name]` with one layer that uninstall takes out again (see registry/wrap.ts). */
  wrap: Wrapper['wrap'];
  /** Subscribes to a diagnostics channel until uninstall. */
  subscribe(channel: string, handler: (message: unknown, name: string | symbol) => void): void;
  /** Runs `fn` at uninstall (for what is not a wrap or a subscription, such as an axios interceptor). */
  onUninstall(fn: () => void): void;
  /**
   * The current install of this hook, if any (this one, or a later one after uninstall and install): for
   * what a patch leaves behind for good (a server's extensions, a client's middlewares), which must
   * answer to whichever install is current.
   */
  current(): ActiveHook<O> | undefined;
}

/**
 * The class that a package entry exports as a whole: the exports themselves (a require(), or a CommonJS
 * entry that an ES module imports), or the `default` of the namespace that the ES-module loader hands over
 * for an ES-module entry (koa's and pg-pool's re-export their CommonJS class as their default).
 */
export function entryClass(exports: unknown): { prototype?: any } | undefined {
  const value = exports !== null && typeof exports === 'object' ? (exports as { default?: unknown }).default : exports;
  return typeof value === 'function' ? value : undefined;
}

/** What a target runs on the exports of its module when it loads, with the hook's context. */
export type Patch<O extends object, S, T> = (exports: any, ctx: PatchContext<O, S, T>) => void;

/**
 * The names of the span logic's exports that take a target's exports and the context, `(exports, ctx)`:
 * a target's `patch: 'patchClient'` runs `ctx.tracing.patchClient(exports, ctx)`.
 */
export type PatchName<O extends object, S, T> = string & { [K in keyof T]: T[K] extends Patch<O, S, T> ? (T[K] extends (exports: any) => unknown ? never : K) : never }[keyof T];

/**
 * A hook's per-install state: what its span logic's `makeState(hook)` returns, if it exports one, else
 * undefined. The registry calls `makeState` once per install, when a patch or a handler first reads
 * `ctx.state`.
 */
export type StateOf<T> = T extends { makeState(hook: any): infer S } ? S : undefined;

/** One module, or an internal file of it, that a hook patches when it loads (or at install when loaded). */
export interface HookTarget<O extends object, S, T = unknown> {
  /** Package name, or a builtin such as `http`. */
  readonly module: string;
  /** Path inside the package without `.js` (e.g. `lib/client`), when the patch is on an internal file. */
  readonly file?: string;
  /** Supported versions of the package (ignored for builtins). */
  readonly versions?: string;
  /** The span logic's export that patches, by name (`'patchClient'`); or a function, for a patch that takes more. */
  readonly patch: PatchName<O, S, T> | Patch<O, S, T>;
  /**
   * A builtin that the hooks never load themselves (http2): patched when the app first requires or imports
   * it, or at install when it is loaded already. Other builtins are patched at install, or before the main
   * module runs (see registry/index.ts).
   */
  readonly onDemand?: boolean;
}

export interface HookSpec<N extends string, O extends object, S, T> {
  readonly name: N;
  /** What it traces, for the debug log and the docs. */
  readonly summary: string;
  /**
   * Loads the hook's span logic (`() => require('../tracing/<name>')`). The registry calls it once, when
   * a patch or a handler first reads `ctx.tracing` or `ctx.state`: installing hooks loads no span logic
   * until the library it traces loads (start-up pays for declarations only).
   */
  readonly tracing: () => T;
  readonly targets: readonly HookTarget<O, S, T>[];
  /** Work not tied to a module load: diagnostics channels, globals. Runs at install: read `ctx.tracing` only in what runs later. */
  enable?(ctx: PatchContext<O, S, T>): void;
}

/**
 * Targets on files of one package, all of one version range: `{ [file]: patch }`, where a file is a path
 * inside the package (as in `HookTarget.file`) or `'.'` for the package entry.
 */
export function fileTargets<O extends object, S, T>(module: string, versions: string, patches: Record<string, HookTarget<O, S, T>['patch']>): HookTarget<O, S, T>[] {
  return Object.entries(patches).map(([file, patch]) => (file === '.' ? { module, versions, patch } : { module, file, versions, patch }));
}

/** A declaration's targets: single targets and groups of them (`fileTargets(...)`), in order. */
export type TargetList<O extends object, S, T> = readonly (HookTarget<O, S, T> | readonly HookTarget<O, S, T>[])[];

/**
 * Declares a hook; the registry does the rest. `T` is the type of its span logic,
 * `typeof import('../tracing/<name>')`, whose `makeState` gives the hook's state (`StateOf<T>`).
 * `targets` may list `fileTargets(...)` groups beside single targets; the declaration holds them flat.
 */
export function defineHook<N extends string, O extends object, T>(
  spec: Omit<HookSpec<N, O, StateOf<T>, T>, 'targets'> & { readonly targets: TargetList<O, StateOf<T>, T> },
): HookSpec<N, O, any, any> {
  return { ...spec, targets: spec.targets.flat() };
}

/** Any hook, whatever its options, state and span logic. */
export type AnyHookSpec = HookSpec<string, any, any, any>;

/** The options type a hook declares. */
export type OptionsOf<H> = H extends HookSpec<string, infer O, any, any> ? O : never;

export type Subscription = { channel: string; handler: (message: unknown, name: string | symbol) => void };

/** Subscribes `handler`, which never throws into the library publishing (Node would make that an uncaught exception). */
export function subscribeChannel(subscriptions: Subscription[], channel: string, handler: Subscription['handler']): void {
  const guarded: Subscription['handler'] = (message, name) => {
    try {
      handler(message, name);
    } catch (err) {
      reportOnce(`${channel} subscriber`, err);
    }
  };
  diagnostics.subscribe(channel, guarded);
  subscriptions.push({ channel, handler: guarded });
}

export function unsubscribeAll(subscriptions: Subscription[]): void {
  for (const { channel, handler } of subscriptions) diagnostics.unsubscribe(channel, handler);
  subscriptions.length = 0;
}
