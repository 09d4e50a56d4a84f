/**
 * Installs hooks: patches the modules they target when they load (one require-in-the-middle hook for
 * all) or in place when they are loaded already, and undoes exactly that at uninstall.
 */
import Module from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import type { Hook as RequireHook } from 'require-in-the-middle';
import type { Tracer } from 'opentracing';
import { log, reportOnce, warnOnce } from '../logger';
import { ActiveHook, AnyHookSpec, HookTarget, Patch, PatchContext, subscribeChannel, Subscription, unsubscribeAll } from './define';
import { Wrapper } from './wrap';
import { SeenRequiresLayer, skipSeenRequires } from './seen-requires';
import { applyArgs } from '../apply-args';

export interface InstallOptions {
  tracer?: Tracer;
  /**
   * Patch builtins (http, https) when the app first requires them rather than now, unless they are
   * loaded already: for `register`, which usually runs before the app has loaded anything (see
   * `patchDeferredBuiltins` for ES-module apps).
   */
  deferBuiltins?: boolean;
  /** npm aliases: installed package name -> the package it is. */
  aliases?: Record<string, string>;
  /** The options of each hook, by name. */
  optionsFor(name: string): object;
  /**
   * Told whether opentracing's global tracer is known to be its default no-op: `true` when the watch starts
   * before opentracing loaded (nothing can have been set), `false` when it loaded earlier (unknown), and
   * at every initGlobalTracer the app makes, whether it set a bare `new Tracer()`.
   */
  onGlobalTracer?: (isDefaultNoop: boolean) => void;
}

interface InstalledHook {
  spec: AnyHookSpec;
  active: ActiveHook<any>;
  /**
   * What the span logic's `makeState` returned, or what it threw: made when a patch first needs it, so
   * that install loads no span logic.
   */
  state?: { value: unknown } | { error: unknown };
  /** The span logic, once `spec.tracing` has loaded it. */
  tracing?: { value: unknown };
  wrapper: Wrapper;
  subscriptions: Subscription[];
  cleanups: Array<() => void>;
  /** Exports objects already patched, so that a module reached twice is patched once. */
  seen: WeakSet<object>;
}

const installed = new Map<string, InstalledHook>();
let requireHook: RequireHook | undefined;
/** Over `requireHook`: requires it has seen go past it (see seen-requires). */
let seenRequires: SeenRequiresLayer | undefined;
/** import-in-the-middle's hook, when `register.mjs` set up its loader (`node --import`). */
let importHook: { unhook(): void } | undefined;
let esmLoaderActive = false;
/** Our layer on opentracing's initGlobalTracer, which tells `onGlobalTracer` (the span side's no-op window). */
let tracerWatch: Wrapper | undefined;
let onGlobalTracer: ((isDefaultNoop: boolean) => void) | undefined;

/**
 * At install: watches initGlobalTracer, wrapping opentracing now if the app loaded it already (it is not
 * loaded for this); every copy that loads later is wrapped through the module hooks (onRequire).
 */
function watchGlobalTracer(): void {
  const first = tracerWatch === undefined;
  tracerWatch ??= new Wrapper('initGlobalTracer');
  const cached = cachedOpentracing();
  if (cached === null) return;
  // Loaded already at the first look: the app may have set a tracer that we cannot see.
  if (first) onGlobalTracer?.(cached === undefined);
  // Again after patching: span logic that an enable() loaded may have loaded opentracing (wrapping is idempotent).
  if (cached !== undefined && cached.loaded) wrapInitGlobalTracer(cached.exports);
}

/** opentracing as this package resolves it, if it is loaded (null: it cannot be resolved). */
function cachedOpentracing(): NodeJS.Module | undefined | null {
  try {
    return require.cache[require.resolve('opentracing')];
  } catch {
    return null;
  }
}

/**
 * At uninstall: the watch stays on a loaded opentracing (its layer passes every call through), so that the
 * next install still knows whether the global tracer is the default no-op; without it, that install would
 * find opentracing loaded and take the tracer for one the app may have set unseen.
 */
function endTracerWatch(): void {
  if (cachedOpentracing() != null) return;
  tracerWatch?.unwrapAll();
  tracerWatch = undefined;
  onGlobalTracer = undefined;
}

function wrapInitGlobalTracer(opentracing: { Tracer?: unknown }): void {
  tracerWatch?.wrap(opentracing, 'initGlobalTracer', (original) =>
    function initGlobalTracer(this: unknown, tracer: unknown): unknown {
      onGlobalTracer?.(isBareTracer(tracer, opentracing.Tracer));
      return applyArgs(original, this, arguments);
    },
  );
}

/** A plain `new opentracing.Tracer()`, which makes only no-op spans (no subclass, no own overrides). */
function isBareTracer(tracer: unknown, base: unknown): boolean {
  if (tracer === null || typeof tracer !== 'object' || typeof base !== 'function') return false;
  return Object.getPrototypeOf(tracer) === base.prototype && Object.keys(tracer).length === 0;
}

/**
 * require-in-the-middle, loaded without the `debug` it requires (unless DEBUG is set): debug, with tty
 * and supports-color, would be most of our start-up, only to log require-in-the-middle's own
 * diagnostics. While require-in-the-middle loads, its own require('debug') gets a silent logger; nothing
 * is cached, so whoever requires debug gets the real one.
 */
function requireHookClass(): typeof RequireHook {
  type Load = (request: string, parent: { filename?: string } | undefined, isMain: boolean) => unknown;
  const loader = Module as unknown as { _load: Load };
  const load = loader._load;
  const silent = (): unknown => Object.assign(() => undefined, { enabled: false });
  if (!process.env.DEBUG && typeof load === 'function') {
    loader._load = function (this: unknown, request, parent): unknown {
      if (request === 'debug' && parent?.filename?.includes(`${path.sep}require-in-the-middle${path.sep}`)) return silent;
      return applyArgs(load, this, arguments);
    };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded at the first install, with the silent debug above
    return (require('require-in-the-middle') as typeof import('require-in-the-middle')).Hook;
  } finally {
    loader._load = load;
  }
}
let aliases: Record<string, string> = {};

function targetId(target: HookTarget<any, any, any>, moduleName = target.module): string {
  return target.file === undefined ? moduleName : `${moduleName}/${target.file}`;
}

function readVersion(basedir: string | undefined): string | undefined {
  if (basedir === undefined) return undefined;
  try {
    return JSON.parse(fs.readFileSync(path.join(basedir, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/**
 * The hook's state, made once by its span logic's `makeState(hook)` (undefined when it exports none).
 * A `makeState` that throws (an option it cannot take) is reported once and turns the hook off, as if
 * it had not been installed: every wrapper then passes through, and whatever reads the state gets the
 * same error again.
 */
function stateOf(hook: InstalledHook): unknown {
  if (hook.state === undefined) {
    try {
      const tracing = tracingOf(hook) as { makeState?: unknown } | null | undefined;
      hook.state = { value: typeof tracing?.makeState === 'function' ? tracing.makeState(hook.active) : undefined };
    } catch (err) {
      hook.active.enabled = false;
      hook.state = { error: err };
      reportOnce(`setting up ${hook.spec.name}`, err);
    }
  }
  if ('error' in hook.state) throw hook.state.error;
  return hook.state.value;
}

/** The hook's span logic, loaded at the first read (a load that throws is tried again at the next). */
function tracingOf(hook: InstalledHook): unknown {
  return (hook.tracing ??= { value: hook.spec.tracing() }).value;
}

function contextFor(hook: InstalledHook, version: string | undefined, basedir: string | undefined): PatchContext<any, any, any> {
  return {
    hook: hook.active,
    get state() {
      return stateOf(hook);
    },
    get tracing() {
      return tracingOf(hook);
    },
    version,
    basedir,
    wrap: (target, name, makeWrapper) => hook.wrapper.wrap(target, name, makeWrapper),
    subscribe: (channel, handler) => subscribeChannel(hook.subscriptions, channel, handler),
    onUninstall: (fn) => hook.cleanups.push(fn),
    current: () => installed.get(hook.spec.name)?.active,
  };
}

/** Patches `exports` for `target` unless it was already; true when the target's patch ran now. */
function applyPatch(hook: InstalledHook, target: HookTarget<any, any, any>, exports: any, basedir: string | undefined): boolean {
  if (exports == null || (typeof exports !== 'object' && typeof exports !== 'function')) return false;
  if (hook.seen.has(exports)) return false;
  const builtin = Module.isBuiltin(target.module);
  const version = builtin ? process.versions.node : readVersion(basedir);
  if (!builtin && target.versions !== undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- semver loads with the first hooked package, not at start-up
    const satisfies = require('semver/functions/satisfies') as typeof import('semver/functions/satisfies');
    if (version === undefined || !satisfies(version, target.versions, { includePrerelease: true })) {
      log('%s: skipping %s@%s (supported: %s)', hook.spec.name, target.module, version, target.versions);
      return false;
    }
  }
  hook.seen.add(exports);
  try {
    const ctx = contextFor(hook, version, basedir);
    if (typeof target.patch === 'string') (ctx.tracing as Record<string, Patch<any, any, any>>)[target.patch](exports, ctx);
    else target.patch(exports, ctx);
    log('%s: patched %s@%s', hook.spec.name, targetId(target), version);
  } catch (err) {
    reportOnce(`patching ${targetId(target)}`, err);
  }
  return true;
}

function onRequire(exports: any, name: string, basedir: string | undefined): any {
  if (name === 'opentracing') {
    if (exports !== null && typeof exports === 'object') wrapInitGlobalTracer(exports);
    return exports;
  }
  let builtinPatched = false;
  for (const hook of installed.values()) {
    for (const target of hook.spec.targets) {
      if (targetId(target) === name || targetId(target, aliasOf(name, target)) === name) {
        if (applyPatch(hook, target, exports, basedir) && Module.isBuiltin(target.module)) builtinPatched = true;
      }
    }
  }
  if (builtinPatched) Module.syncBuiltinESMExports();
  return exports;
}

/** The alias under which `target` may be installed, if `name` starts with one. */
function aliasOf(name: string, target: HookTarget<any, any, any>): string {
  for (const alias of Object.keys(aliases)) {
    if (aliases[alias] === target.module && (name === alias || name.startsWith(alias + '/'))) return alias;
  }
  return target.module;
}

/** This package's own directory: its own files in require.cache are never a hooked library. */
const OWN_ROOT = path.join(__dirname, '..', '..') + path.sep;

/** The files of packages (other than this one) that are loaded now: none when the preload runs. */
function loadedPackageFiles(): string[] {
  const marker = `${path.sep}node_modules${path.sep}`;
  const ours = (filename: string): boolean => filename.startsWith(OWN_ROOT) && !filename.includes(marker, OWN_ROOT.length - 1);
  return Object.keys(require.cache).filter((filename) => filename.includes(marker) && !ours(filename));
}

/**
 * Whether Node has loaded the builtin `name` (for the app, for one of its dependencies, or for itself):
 * `process.moduleLoadList` names every builtin loaded so far (`NativeModule http`) on Node 20 to 24,
 * whoever required or imported it. A deferred install patches those at once: no first require is coming.
 */
function builtinLoaded(name: string): boolean {
  const list = (process as { moduleLoadList?: unknown }).moduleLoadList;
  return Array.isArray(list) && list.includes(`NativeModule ${name.replace(/^node:/, '')}`);
}

/**
 * Patches the builtin targets of `hook` now (requiring them), or with `loadedOnly` those already loaded
 * (always so for those patched on demand).
 * True when one was patched now: ESM `import { request } from 'node:http'` reads bindings that then need
 * Module.syncBuiltinESMExports().
 */
function patchBuiltins(hook: InstalledHook, loadedOnly = false): boolean {
  let patched = false;
  for (const target of hook.spec.targets) {
    if (!Module.isBuiltin(target.module) || ((loadedOnly || target.onDemand === true) && !builtinLoaded(target.module))) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a builtin, by the name its target gives
    if (applyPatch(hook, target, require(target.module), undefined)) patched = true;
  }
  return patched;
}

/** Packages that are already loaded (`loaded`): patch them in place (their prototypes are shared with the app). */
function patchLoaded(hook: InstalledHook, loaded: readonly string[]): void {
  for (const target of hook.spec.targets) {
    if (Module.isBuiltin(target.module)) continue;
    const names = [target.module, ...Object.keys(aliases).filter((a) => aliases[a] === target.module)];
    const markers = names.map((name) => `${path.sep}node_modules${path.sep}${name.split('/').join(path.sep)}${path.sep}`);
    for (const filename of loaded) {
      for (let i = 0; i < names.length; i++) {
        const name = names[i];
        const marker = markers[i];
        const at = filename.lastIndexOf(marker);
        if (at === -1) continue;
        const basedir = filename.slice(0, at + marker.length - 1);
        let entry: string;
        try {
          entry = target.file === undefined ? require.resolve(basedir) : require.resolve(path.join(basedir, target.file));
        } catch {
          continue;
        }
        if (entry !== filename) continue;
        const cached = require.cache[filename];
        if (cached === undefined || !cached.loaded) {
          warnOnce(`${name} was being loaded when the hooks were installed and is not traced; install the hooks first`);
          continue;
        }
        applyPatch(hook, target, cached.exports, basedir);
      }
    }
  }
}

/**
 * Module ids (with aliases) of the targets of `hooks`, and opentracing (see watchGlobalTracer); package
 * entries only, and no builtins but those patched on demand (the others are patched at install or at
 * their first require), when `entriesOnly`.
 */
function targetModules(hooks: Iterable<{ spec: AnyHookSpec }>, entriesOnly: boolean): string[] {
  const modules = new Set<string>(['opentracing']);
  for (const hook of hooks) {
    for (const target of hook.spec.targets) {
      // A builtin loaded on demand is only seen when loaded: an ES-module import of it, by the loader.
      if (Module.isBuiltin(target.module) ? entriesOnly && target.onDemand !== true : entriesOnly && target.file !== undefined) continue;
      modules.add(targetId(target));
      for (const alias of Object.keys(aliases)) {
        if (aliases[alias] === target.module) modules.add(targetId(target, alias));
      }
    }
  }
  return [...modules];
}

function refreshModuleHooks(): void {
  seenRequires?.remove();
  seenRequires = undefined;
  requireHook?.unhook();
  requireHook = undefined;
  importHook?.unhook();
  importHook = undefined;
  if (installed.size === 0) return;
  const Hook = requireHookClass();
  const proto = Module.prototype as unknown as { require: (this: unknown, id: string) => unknown };
  const below = proto.require;
  requireHook = new Hook(targetModules(installed.values(), false), { internals: true }, onRequire);
  seenRequires = skipSeenRequires(proto.require, below);
  // An ES-module build (axios's) never goes through require(): only the loader sees it. Nor does a
  // CommonJS entry imported from ESM (Node loads it without require()): the loader sees that too.
  if (esmLoaderActive) {
    const entries = targetModules(installed.values(), true);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when the ES-module loader is active
    const { Hook } = require('import-in-the-middle') as typeof import('import-in-the-middle');
    importHook = new Hook(entries, (namespace, name, basedir, format) => {
      onImport(namespace, name, basedir || undefined, format);
    });
  }
}

/**
 * A hooked entry that an ES module imports, as import-in-the-middle hands it over: the module's namespace,
 * whose bindings the app imports. An ES module is patched as its namespace. A CommonJS one, or a builtin
 * (http2), is patched as its `module.exports` (the namespace's `default`, which `import Hapi from
 * '@hapi/hapi'` and `import http2 from 'node:http2'` get), as a require() of it would be, and so once
 * whichever comes first; its named bindings (`import { server }`), copies of those exports, then get the
 * same layers.
 */
function onImport(namespace: Record<string, unknown>, name: string, basedir: string | undefined, format: string | undefined): void {
  const exports = format === 'commonjs' || format === 'builtin' ? namespace.default : undefined;
  if (exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) {
    onRequire(namespace, name, basedir);
    return;
  }
  onRequire(exports, name, basedir);
  tracerWatch?.share(exports, namespace);
  for (const hook of installed.values()) hook.wrapper.share(exports, namespace);
}

/**
 * The package entries that the ES-module loader must intercept for `hooks`: called by `register.mjs`
 * before it registers import-in-the-middle's loader, which then sees only these.
 */
export function esmLoaderModules(specs: readonly AnyHookSpec[]): string[] {
  esmLoaderActive = true;
  return targetModules(specs.map((spec) => ({ spec })), true);
}

/** Installs the named hooks; hooks that are already installed are left as they are. */
export function install(specs: readonly AnyHookSpec[], names: readonly string[], options: InstallOptions): void {
  aliases = { ...aliases, ...(options.aliases ?? {}) };
  onGlobalTracer = options.onGlobalTracer ?? onGlobalTracer;
  // Before any patch or enable() can load span logic (and opentracing with it): whether opentracing was
  // loaded before install is what tells the span side that the global tracer may be the default no-op.
  if (names.length > 0) watchGlobalTracer();
  let added = false;
  let builtinPatched = false;
  let loaded: string[] | undefined;
  for (const name of names) {
    if (installed.has(name)) {
      log('%s: already installed', name);
      continue;
    }
    const spec = specs.find((s) => s.name === name);
    if (spec === undefined) continue;
    const active = new ActiveHook(name, options.optionsFor(name), options.tracer);
    const hook: InstalledHook = { spec, active, wrapper: new Wrapper(name), subscriptions: [], cleanups: [], seen: new WeakSet() };
    installed.set(name, hook);
    added = true;
    // Builtins load on demand: when deferred, they are patched at their first require instead, unless
    // loaded already (`register` required by code that has http loaded, `node -e`).
    if (patchBuiltins(hook, options.deferBuiltins === true)) builtinPatched = true;
    patchLoaded(hook, (loaded ??= loadedPackageFiles()));
    if (spec.enable !== undefined) {
      try {
        spec.enable(contextFor(hook, undefined, undefined));
      } catch (err) {
        reportOnce(`enabling ${name}`, err);
      }
    }
  }
  if (added) {
    watchGlobalTracer();
    refreshModuleHooks();
    if (builtinPatched) Module.syncBuiltinESMExports();
  }
}

/**
 * Patches the builtins that wait for their first require now: an ES-module app imports them without
 * require(), so the preload calls this before such an app's main module runs.
 */
export function patchDeferredBuiltins(): void {
  let patched = false;
  for (const hook of installed.values()) {
    if (patchBuiltins(hook)) patched = true;
  }
  if (patched) Module.syncBuiltinESMExports();
}

function uninstallHook(hook: InstalledHook): void {
  hook.active.enabled = false;
  unsubscribeAll(hook.subscriptions);
  for (const cleanup of hook.cleanups.reverse()) {
    try {
      cleanup();
    } catch (err) {
      reportOnce(`uninstalling ${hook.spec.name}`, err);
    }
  }
  hook.wrapper.unwrapAll();
}


/** Takes out every layer the hooks put in, and the module-load hook (the watch on opentracing may stay: endTracerWatch). */
export function uninstall(): void {
  for (const hook of [...installed.values()].reverse()) uninstallHook(hook);
  installed.clear();
  endTracerWatch();
  aliases = {};
  refreshModuleHooks();
  Module.syncBuiltinESMExports();
}

export function installedHooks(): string[] {
  return [...installed.keys()];
}
