/**
 * Preload entry: `node -r opentracing-client-hooks/register app.js` (and, through register.mjs,
 * `node --import opentracing-client-hooks/register app.mjs`). Sets up a tracer when OT_TRACER (or
 * OTEL_TRACES_EXPORTER) asks for one, then installs the hooks the environment enables; with
 * OTEL_SDK_DISABLED=true it does neither. It loads little: the hooks' declarations and
 * the registry; each hook's span logic loads with the library it traces, the tracer only when asked for.
 */
import Module from 'node:module';
import { otherCopyInstalled } from './active-copy';
import { enabledHooks } from './config';
import { installNamed } from './install';
import { debugEnabled, log } from './logger';
import { sdkDisabled, tracerSpec } from './otel-env';
import { patchDeferredBuiltins } from './registry';
import { Wrapper } from './registry/wrap';
import { applyArgs } from './apply-args';

/* eslint-disable @typescript-eslint/no-require-imports -- the preload loads the tracer, the hook list and the bundle check only when it uses them */

const disabled = sdkDisabled(process.env);
if (disabled) log('OTEL_SDK_DISABLED=true: no hook installed and no tracer set up');
/** Another copy of the package installed the hooks (a second preload): this one sets up nothing (installNamed says so). */
const elsewhere = !disabled && otherCopyInstalled() !== undefined;

if (!disabled && !elsewhere && tracerSpec(process.env) !== undefined) {
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

/**
 * Builtins (http, https) are patched at their first require rather than at install, and before the
 * main module runs at the latest: ES-module code (an ES-module main, or an ES-module dependency of a
 * CommonJS one) imports them without require(), which no require hook sees. So only code that runs with
 * no main module (`node -e`, the REPL) gets them patched on demand alone.
 */
function patchBuiltinsBeforeModuleMain(): void {
  new Wrapper('register').wrap(Module, 'runMain', (runMain) =>
    function (this: unknown): unknown {
      try {
        patchDeferredBuiltins();
      } catch (err) {
        log('patching builtins before the main module failed: %O', err);
      }
      return applyArgs(runMain, this, arguments);
    },
  );
}

try {
  if (!disabled) {
    installNamed(enabledHooks({}), {}, true);
    if (!elsewhere) patchBuiltinsBeforeModuleMain();
  }
} catch (err) {
  // A preload must never stop the app from starting.
  process.stderr.write(`opentracing-client-hooks: not installed: ${(err as Error).message}\n`);
  log('register failed: %O', err);
}

if (!disabled && !elsewhere && debugEnabled()) {
  const { HOOKS } = require('./hooks') as typeof import('./hooks');
  const packages = [...new Set(HOOKS.flatMap((hook) => hook.targets.map((t) => t.module)).filter((m) => !Module.isBuiltin(m)))];
  (require('./bundled') as typeof import('./bundled')).reportBundledLibraries(process.argv[1], packages);
}
