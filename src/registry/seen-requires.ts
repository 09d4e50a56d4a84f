/**
 * A layer over require-in-the-middle's `Module.prototype.require` that sends a require the hook has
 * already seen straight to the function below it. require-in-the-middle resolves the filename of every
 * require, of a loaded module too (`Module._resolveFilename`, which reads package.json scopes): a few µs
 * each, paid on every call by libraries that require in their hot path (kafkajs requires its protocol
 * encoders per request: +119 µs a consumed message with no tracer). What the hook does for a module it
 * has seen is nothing (it returns the exports it patched, which are the module's own), so skipping it
 * changes no result.
 */
import Module from 'node:module';
import { applyArgs } from '../apply-args';

type RequireFunction = (this: unknown, id: string) => unknown;

interface ModuleLike {
  path?: unknown;
}

interface ModuleInternals {
  _cache: Record<string, { loaded?: boolean } | undefined>;
  _resolveFilename(request: string, parent: unknown): string;
}

export interface SeenRequiresLayer {
  /** Takes the layer out: off the prototype when it is on top, else left to pass everything through. */
  remove(): void;
}

/**
 * Puts the layer on `Module.prototype.require`, over `hookRequire` (the hook's function, on top now),
 * with `below` (what the hook calls) as the way past it. Undefined when the hook is not on top.
 */
export function skipSeenRequires(hookRequire: RequireFunction, below: RequireFunction): SeenRequiresLayer | undefined {
  const proto = Module.prototype as unknown as { require: RequireFunction };
  if (proto.require !== hookRequire || hookRequire === below) return undefined;
  const internals = Module as unknown as ModuleInternals;
  /**
   * Parent directory -> id -> filename: one entry per require site, as Node keys its own cache of relative
   * resolutions, in two levels so that a lookup builds no key string (the directory is the same string
   * each time, and so is a literal id: V8 keeps their hashes). A site's filename is resolved at its second
   * require, so the many sites an app requires once at start-up cost no resolution more; null until then.
   */
  const seen = new Map<string, Map<string, string | null>>();
  let active = true;
  const layer = function require(this: unknown, id: string): unknown {
    const dir = active && typeof id === 'string' ? (this as ModuleLike | null | undefined)?.path : undefined;
    if (typeof dir !== 'string') return applyArgs(hookRequire, this, arguments);
    let sites = seen.get(dir);
    const filename = sites?.get(id);
    // Loaded, and still in the cache: the hook saw it and would return these very exports.
    if (typeof filename === 'string' && internals._cache[filename]?.loaded === true) return applyArgs(below, this, arguments);
    const exports = applyArgs(hookRequire, this, arguments);
    // The module's own requires from the same directory may have made the directory's map meanwhile.
    sites ??= seen.get(dir);
    if (sites === undefined) seen.set(dir, (sites = new Map()));
    if (filename === undefined) sites.set(id, null);
    else if (filename === null && !Module.isBuiltin(id)) {
      try {
        sites.set(id, internals._resolveFilename(id, this));
      } catch {
        // resolved by someone below (a loader of its own): always through the hook
      }
    }
    return exports;
  };
  proto.require = layer;
  return {
    remove(): void {
      active = false;
      seen.clear();
      if (proto.require === layer) proto.require = hookRequire;
    },
  };
}
