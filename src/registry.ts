import Module from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { Hook as RequireHook } from 'require-in-the-middle';
import semver from 'semver';
import { assertHookNames, enabledHooks, hookOptions, HookName, HooksConfig } from './config';
import { ActiveHook } from './spans';
import { log, reportOnce, warnOnce } from './logger';

/** One module (or an internal file of it) that a hook patches. */
export interface ModuleTarget {
  /** Package name, or a builtin such as `http`. */
  readonly module: string;
  /** Path inside the package, without `.js` (e.g. `dist/lib/client`), when the patch is on an internal file. */
  readonly file?: string;
  /** Supported versions of the package (ignored for builtins). */
  readonly versions?: string;
  patch(exports: any, hook: ActiveHook<any>, version: string | undefined, basedir: string | undefined): void;
  unpatch(exports: any): void;
}

/** A hook: a name, the modules it patches, and optionally work not tied to a module (diagnostics channels). */
export interface HookDefinition {
  readonly name: HookName;
  readonly targets: readonly ModuleTarget[];
  enable?(hook: ActiveHook<any>): void;
  disable?(): void;
}

interface Patched {
  target: ModuleTarget;
  exports: any;
}

interface InstalledHook {
  definition: HookDefinition;
  active: ActiveHook<any>;
  patched: Patched[];
  seen: WeakSet<object>;
}

const installed = new Map<HookName, InstalledHook>();
let requireHook: RequireHook | undefined;
let aliases: Record<string, string> = {};

function targetId(target: ModuleTarget, moduleName = target.module): string {
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

function applyPatch(hook: InstalledHook, target: ModuleTarget, exports: any, basedir: string | undefined): void {
  if (exports == null || (typeof exports !== 'object' && typeof exports !== 'function')) return;
  if (hook.seen.has(exports)) return;
  const builtin = Module.isBuiltin(target.module);
  const version = builtin ? process.versions.node : readVersion(basedir);
  if (!builtin && target.versions !== undefined) {
    if (version === undefined || !semver.satisfies(version, target.versions, { includePrerelease: true })) {
      log('%s: skipping %s@%s (supported: %s)', hook.definition.name, target.module, version, target.versions);
      return;
    }
  }
  hook.seen.add(exports);
  try {
    target.patch(exports, hook.active, version, basedir);
    hook.patched.push({ target, exports });
    log('%s: patched %s@%s', hook.definition.name, targetId(target), version);
  } catch (err) {
    reportOnce(`patching ${targetId(target)}`, err);
  }
}

function onRequire(exports: any, name: string, basedir: string | undefined): any {
  for (const hook of installed.values()) {
    for (const target of hook.definition.targets) {
      if (targetId(target) === name || targetId(target, aliasOf(name, target)) === name) {
        applyPatch(hook, target, exports, basedir);
      }
    }
  }
  return exports;
}

/** The alias under which `target` may be installed, if `name` starts with one. */
function aliasOf(name: string, target: ModuleTarget): string {
  for (const alias of Object.keys(aliases)) {
    if (aliases[alias] === target.module && (name === alias || name.startsWith(alias + '/'))) return alias;
  }
  return target.module;
}

/** Packages that are already loaded: patch them in place (their prototypes are shared with the app). */
function patchLoaded(hook: InstalledHook): void {
  for (const target of hook.definition.targets) {
    if (Module.isBuiltin(target.module)) {
      applyPatch(hook, target, require(target.module), undefined);
      continue;
    }
    const names = [target.module, ...Object.keys(aliases).filter((a) => aliases[a] === target.module)];
    for (const filename of Object.keys(require.cache)) {
      for (const name of names) {
        const marker = `${path.sep}node_modules${path.sep}${name.split('/').join(path.sep)}${path.sep}`;
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

function refreshRequireHook(): void {
  if (requireHook !== undefined) requireHook.unhook();
  requireHook = undefined;
  const modules = new Set<string>();
  for (const hook of installed.values()) {
    for (const target of hook.definition.targets) {
      if (Module.isBuiltin(target.module)) continue;
      modules.add(targetId(target));
      for (const alias of Object.keys(aliases)) {
        if (aliases[alias] === target.module) modules.add(targetId(target, alias));
      }
    }
  }
  if (modules.size > 0) {
    requireHook = new RequireHook([...modules], { internals: true }, onRequire);
  }
}

/** Installs the named hooks; hooks that are already installed are left as they are. */
export function install(definitions: readonly HookDefinition[], names: readonly HookName[], config: HooksConfig): void {
  aliases = { ...aliases, ...(config.aliases ?? {}) };
  let added = false;
  for (const name of names) {
    if (installed.has(name)) {
      log('%s: already installed', name);
      continue;
    }
    const definition = definitions.find((d) => d.name === name);
    if (definition === undefined) continue;
    const hook: InstalledHook = {
      definition,
      active: new ActiveHook(name, hookOptions(name, config), config.tracer),
      patched: [],
      seen: new WeakSet(),
    };
    installed.set(name, hook);
    added = true;
    patchLoaded(hook);
    if (definition.enable !== undefined) {
      try {
        definition.enable(hook.active);
      } catch (err) {
        reportOnce(`enabling ${name}`, err);
      }
    }
  }
  if (added) {
    refreshRequireHook();
    // ESM `import { request } from 'node:http'` reads live bindings that need this to see the patch.
    Module.syncBuiltinESMExports();
  }
}

/** Restores every patched function and removes the module-load hook. */
export function uninstall(): void {
  for (const hook of installed.values()) {
    for (const { target, exports } of hook.patched.reverse()) {
      try {
        target.unpatch(exports);
      } catch (err) {
        reportOnce(`unpatching ${targetId(target)}`, err);
      }
    }
    if (hook.definition.disable !== undefined) {
      try {
        hook.definition.disable();
      } catch (err) {
        reportOnce(`disabling ${hook.definition.name}`, err);
      }
    }
  }
  installed.clear();
  aliases = {};
  if (requireHook !== undefined) requireHook.unhook();
  requireHook = undefined;
  Module.syncBuiltinESMExports();
}

export function installedHooks(): HookName[] {
  return [...installed.keys()];
}

export { assertHookNames, enabledHooks };
