/** What the preloads need to set up the ES-module loader for the hooks: `register.mjs` (`--import`), and `register.js` (`-r`) for an ES-module main. */
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
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

/** What may be an import or export statement at the start of a line (confirmed by compiling, see isEsModuleMain). */
const ESM_SYNTAX = /^[ \t]*(?:import(?:[ \t]+[\w{*]|[ \t]*[{*'"])|export(?:[ \t]+[\w{*]|[ \t]*[{*]))/m;
/** The start of a typeless main read for that check: import statements come first. */
const SCANNED_BYTES = 64 * 1024;

/** The first `SCANNED_BYTES` of `file` as text. */
function head(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(SCANNED_BYTES);
    return bytes.toString('utf8', 0, fs.readSync(fd, bytes, 0, SCANNED_BYTES, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Whether a typeless file is run by Node as an ES module: it has what looks like an import or export
 * statement near its start, and does not compile as CommonJS (Node's module detection: a line such as
 * `importUsers();` compiles, and the file stays CommonJS).
 */
function detectedEsModule(file: string): boolean {
  if (!ESM_SYNTAX.test(head(file))) return false;
  try {
    // As the CommonJS loader compiles a module: a function body (a top-level `return` is fine there).
    vm.compileFunction(fs.readFileSync(file, 'utf8'), ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
    return false;
  } catch (err) {
    return err instanceof SyntaxError;
  }
}

/**
 * Whether `main` (the script Node is about to run, `process.argv[1]`) is an ES module: `.mjs`/`.mts`, a
 * `.js`/`.ts` (or extensionless) file under a package.json whose `type` is `module`, or a typeless `.js`
 * that has import/export statements and is no CommonJS (Node runs it as an ES module).
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
  if (ext !== '.js' && ext !== '.ts' && ext !== '') return false;
  const type = packageType(path.dirname(file));
  if (type === 'module') return true;
  // A typeless .ts is left to its loader (ts-node's register compiles it to CommonJS); types never compile as CommonJS.
  if (type === 'commonjs' || ext === '.ts') return false;
  try {
    return detectedEsModule(file);
  } catch {
    return false;
  }
}

/** `node -e`/`-p` (their code is the program; a file named after it is only an argument). */
export function evaluating(execArgv: readonly string[] = process.execArgv): boolean {
  // Short options may be combined (`-pe`).
  return execArgv.some((arg) => /^-[a-zA-Z]*[ep][a-zA-Z]*$/.test(arg) || arg === '--eval' || arg === '--print' || arg.startsWith('--eval=') || arg.startsWith('--print='));
}

/**
 * For `-r`: when the main module is an ES module, registers the loader that `--import` registers
 * (import-in-the-middle's, for the hooked packages' entries only), so that `-r` alone hooks what it
 * imports too. A CommonJS app gets no loader (nothing to intercept, and no start-up cost).
 */
export function registerLoaderForEsModuleMain(): void {
  if (evaluating() || !isEsModuleMain(process.argv[1])) return;
  registerLoader();
}

/**
 * Registers import-in-the-middle's loader for the hooked packages' entries (both preloads): in-thread
 * hooks where this Node runs them correctly, else the loader thread; none with OTEL_SDK_DISABLED=true,
 * and once when both preloads are given.
 */
export function registerLoader(): void {
  const register = (Module as { register?: (specifier: string, parentURL?: string, options?: object) => void }).register;
  if (typeof register !== 'function') return log('this Node has no module.register: ES-module imports are hooked through require() only');
  const include = loaderModules();
  if (include.length === 0 || !claimLoader()) return;
  let hooks: { supportsSyncHooks(): boolean; register(options: object): void } | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an ES module, required only when the loader is wanted
    hooks = require('import-in-the-middle/register-hooks.mjs');
  } catch {
    hooks = undefined; // a Node that cannot require an ES module: the loader thread
  }
  if (hooks?.supportsSyncHooks() === true) hooks.register({ include });
  else register.call(Module, pathToFileURL(require.resolve('import-in-the-middle/hook.mjs')).href, undefined, { data: { include } });
}
