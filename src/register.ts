/**
 * Preload entry: `node -r opentracing-client-hooks/register app.js` (and, through register.mjs,
 * `node --import opentracing-client-hooks/register app.mjs`). Sets up a tracer when OT_TRACER asks for
 * one, then installs the hooks the environment enables. It loads little: the hooks' declarations and
 * the registry; each hook's span logic loads with the library it traces, the tracer only when asked for.
 */
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import { enabledHooks } from './config';
import { installNamed } from './install';
import { debugEnabled, log } from './logger';
import { patchDeferredBuiltins } from './registry';
import { Wrapper } from './registry/wrap';

/* eslint-disable @typescript-eslint/no-require-imports */

if (process.env.OT_TRACER?.trim()) {
  try {
    const { createTracerFromEnv, flushOnExit } = require('./tracer') as typeof import('./tracer');
    const defaultTracer = createTracerFromEnv(process.env);
    if (defaultTracer !== undefined) {
      (require('opentracing') as typeof import('opentracing')).initGlobalTracer(defaultTracer.tracer);
      flushOnExit(defaultTracer);
    }
  } catch (err) {
    process.stderr.write(`opentracing-client-hooks: no tracer set up: ${(err as Error).message}\n`);
    log('tracer setup failed: %O', err);
  }
}

/** The nearest package.json's "type" above `file`, if any. */
function packageType(file: string): unknown {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).type;
    } catch {
      // none here, or unreadable: look further up
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Whether Node will run `main` as CommonJS for certain: .cjs, or .js in a package of "type": "commonjs". */
function isCommonJsMain(main: string | undefined): boolean {
  if (typeof main !== 'string' || main === '') return false;
  const file = path.resolve(main);
  const ext = path.extname(file);
  // A .js (or extensionless) file without "type": "commonjs" may run as a module (Node's syntax detection).
  return ext === '.cjs' || ((ext === '.js' || ext === '') && packageType(file) === 'commonjs');
}

/**
 * Builtins (http, https) are patched when the app first requires them, so that start-up loads none it
 * does not use. An ES-module app imports them without require(): unless the main module is certainly
 * CommonJS, they are patched just before it runs.
 */
function patchBuiltinsBeforeModuleMain(): void {
  new Wrapper('register').wrap(Module, 'runMain', (runMain) =>
    function (this: unknown, main?: string): unknown {
      try {
        if (!isCommonJsMain(main ?? process.argv[1])) patchDeferredBuiltins();
      } catch (err) {
        log('patching builtins before the main module failed: %O', err);
      }
      return runMain.apply(this, arguments as unknown as unknown[]);
    },
  );
}

try {
  installNamed(enabledHooks({}), {}, true);
  patchBuiltinsBeforeModuleMain();
} catch (err) {
  // A preload must never stop the app from starting.
  process.stderr.write(`opentracing-client-hooks: not installed: ${(err as Error).message}\n`);
  log('register failed: %O', err);
}

if (debugEnabled()) {
  const { HOOKS } = require('./hooks') as typeof import('./hooks');
  const packages = [...new Set(HOOKS.flatMap((hook) => hook.targets.map((t) => t.module)).filter((m) => !Module.isBuiltin(m)))];
  (require('./bundled') as typeof import('./bundled')).reportBundledLibraries(process.argv[1], packages);
}
