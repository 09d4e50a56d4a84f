/** What the preloads need to set up the ES-module loader for the hooks: `register.mjs` (`--import`), and `register.js` (`-r`) for an ES-module main. */
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HOOKS } from './hooks';
import { sdkDisabled } from './otel-env';
import { esmLoaderModules, patchDeferredBuiltins } from './registry';
import { log } from './logger';

/** Set on globalThis by the first preload that registers the loader: `-r` and `--import` together register it once. */
const kLoaderRegistered = Symbol.for('opentracing-client-hooks.esmLoader');

/** The package entries the loader must intercept (none with OTEL_SDK_DISABLED=true); marks the loader as active for the registry. */
export function loaderModules(): string[] {
  if (sdkDisabled(process.env)) return [];
  return esmLoaderModules(HOOKS);
}

/** Whether a preload registered the loader already (then the other one does not). */
export function claimLoader(): boolean {
  const registry = globalThis as { [kLoaderRegistered]?: boolean };
  if (registry[kLoaderRegistered] === true) return false;
  registry[kLoaderRegistered] = true;
  return true;
}

/**
 * Patches the builtins (http, https) now. Under `--import` the main module is already on its way when
 * the preload runs (Node entered Module.runMain before it, so register's wrap of runMain never fires),
 * and an ES-module main imports them without require(): without this, an app whose first use of
 * node:http comes before any CommonJS code requires it would go untraced.
 */
export function patchBuiltinsNow(): void {
  patchDeferredBuiltins();
}

/** The nearest package.json's `type`, looking up from `dir`. */
function packageType(dir: string): unknown {
  for (let at = dir; ; at = path.dirname(at)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(at, 'package.json'), 'utf8')).type;
    } catch {
      // none here (or unreadable): look further up, as Node does
    }
    if (path.dirname(at) === at) return undefined;
  }
}

/** ES-module syntax at the start of a line: what Node's module detection runs a typeless `.js` file as an ES module for. */
const ESM_SYNTAX = /^[ \t]*(?:import[ \t]*[\w{*'"]|export[ \t]+|export[ \t]*[{*])/m;

/**
 * Whether `main` (the script Node is about to run, `process.argv[1]`) is an ES module: `.mjs`/`.mts`, a
 * `.js` (or extensionless) file under a package.json whose `type` is `module`, or, with no `type`, one
 * whose source has import/export statements (Node runs such a file as an ES module).
 */
export function isEsModuleMain(main: string | undefined): boolean {
  if (main === undefined || main === '') return false;
  let file: string;
  try {
    file = require.resolve(path.resolve(main));
  } catch {
    return false;
  }
  const ext = path.extname(file);
  if (ext === '.mjs' || ext === '.mts') return true;
  if (ext !== '.js' && ext !== '') return false;
  const type = packageType(path.dirname(file));
  if (type === 'module') return true;
  if (type === 'commonjs') return false;
  try {
    return ESM_SYNTAX.test(fs.readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * For `-r`: when the main module is an ES module, registers the loader that `--import` registers
 * (import-in-the-middle's, for the hooked packages' entries only), so that `-r` alone hooks what it
 * imports too. A CommonJS app gets no loader (nothing to intercept, and no start-up cost).
 */
export function registerLoaderForEsModuleMain(): void {
  if (!isEsModuleMain(process.argv[1])) return;
  const register = (Module as { register?: (specifier: string, parentURL?: string, options?: object) => void }).register;
  if (typeof register !== 'function') return log('this Node has no module.register: an ES-module main under -r is hooked through require() only');
  const include = loaderModules();
  if (include.length === 0 || !claimLoader()) return;
  register.call(Module, pathToFileURL(require.resolve('import-in-the-middle/hook.mjs')).href, undefined, { data: { include } });
}
