/**
 * How a hook is declared: its name, options type, the modules it patches and its docs, in its own file.
 * Everything the registry hands a hook at install goes through one `PatchContext`, so no hook keeps
 * its own record of what it wrapped or subscribed to.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Tracer } from 'opentracing';
import type { Wrapper } from './wrap';
import { reportOnce } from '../logger';

/** One install of one hook: its options, whether it is still installed, and the tracer to use. */
export class ActiveHook<O extends object = object> {
  /** Cleared at uninstall: a layer that has to stay (someone wrapped over it) then passes through. */
  enabled = true;
  /**
   * Until when (Date.now()) the tracer is known to be a no-op (opentracing's default before
   * initGlobalTracer): calls are then not traced at all, before any tag is built. 0: not known.
   */
  noopUntil = 0;

  constructor(
    readonly name: string,
    readonly options: O,
    private readonly explicitTracer: Tracer | undefined,
  ) {}

  /**
   * Whether a no-op span from this hook's tracer may open the no-op window: only for opentracing's default
   * global no-op (no tracer passed in, and the global one known to be unset or a bare opentracing Tracer).
   * A tracer of the app's that answers some spans with the no-op span (a sampler) is asked every time.
   */
  get tracerIsDefaultNoop(): boolean {
    return this.explicitTracer === undefined && globalTracerIsDefaultNoop;
  }

  /** Resolved per span, so that a tracer set after install still gets every span. */
  get tracer(): Tracer {
    return this.explicitTracer ?? (globalTracer ??= loadGlobalTracer())();
  }
}

/**
 * Whether opentracing's global tracer is known to be its default no-op: the registry sets it when it starts
 * watching initGlobalTracer before opentracing loaded (nothing can have been set), and at every
 * initGlobalTracer it sees. Unknown (opentracing was loaded before the hooks) counts as a real tracer.
 */
let globalTracerIsDefaultNoop = false;
export function setGlobalTracerIsDefaultNoop(value: boolean): void {
  globalTracerIsDefaultNoop = value;
}

/** opentracing's globalTracer, loaded with the first span rather than at install. */
let globalTracer: (() => Tracer) | undefined;
function loadGlobalTracer(): () => Tracer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('opentracing') as typeof import('opentracing')).globalTracer;
}

export interface PatchContext<O extends object, S> {
  readonly hook: ActiveHook<O>;
  /** What `setup` returned for this install; `setup` runs when this is first read. */
  readonly state: S;
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
}

/** One module, or an internal file of it, that a hook patches when it loads (or at install when loaded). */
export interface HookTarget<O extends object, S> {
  /** Package name, or a builtin such as `http`. */
  readonly module: string;
  /** Path inside the package without `.js` (e.g. `lib/client`), when the patch is on an internal file. */
  readonly file?: string;
  /** Supported versions of the package (ignored for builtins). */
  readonly versions?: string;
  patch(exports: any, ctx: PatchContext<O, S>): void;
}

export interface HookSpec<N extends string, O extends object, S> {
  readonly name: N;
  /** What it traces, for the debug log and the docs. */
  readonly summary: string;
  readonly targets: readonly HookTarget<O, S>[];
  /** Per-install state shared by the targets (compiled matchers and the like), made on first use. */
  setup?(hook: ActiveHook<O>): S;
  /** Work not tied to a module load: diagnostics channels, globals. */
  enable?(ctx: PatchContext<O, S>): void;
}

/**
 * A module loaded on first use: a hook's declaration names its span logic this way, so that installing
 * hooks loads none of it until the library it traces loads (start-up pays for declarations only).
 */
export function lazyModule<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}

/** Targets on internal files of one package, all of one version range: `{ [file]: patch }`. */
export function fileTargets<O extends object, S>(module: string, versions: string, patches: Record<string, HookTarget<O, S>['patch']>): HookTarget<O, S>[] {
  return Object.entries(patches).map(([file, patch]) => ({ module, file, versions, patch }));
}

/** Declares a hook; the registry does the rest. Its state type stays private to its file. */
export function defineHook<N extends string, O extends object, S = undefined>(spec: HookSpec<N, O, S>): HookSpec<N, O, any> {
  return spec;
}

/** Any hook, whatever its options and state. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyHookSpec = HookSpec<string, any, any>;

/** The options type a hook declares. */
export type OptionsOf<H> = H extends HookSpec<string, infer O, any> ? O : never;

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
