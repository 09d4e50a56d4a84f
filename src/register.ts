/**
 * Preload entry: `node -r opentracing-client-hooks/register app.js` (and, through register.mjs,
 * `node --import opentracing-client-hooks/register app.mjs`). Sets up a tracer when OT_TRACER asks for
 * one, then installs the hooks the environment enables.
 */
import { initGlobalTracer } from 'opentracing';
import { installAllPatches } from './index';
import Module from 'node:module';
import { reportBundledLibraries } from './bundled';
import { HOOKS } from './hooks';
import { debugEnabled, log } from './logger';
import { createTracerFromEnv, flushOnExit } from './tracer';

try {
  const defaultTracer = createTracerFromEnv(process.env);
  if (defaultTracer !== undefined) {
    initGlobalTracer(defaultTracer.tracer);
    flushOnExit(defaultTracer);
  }
} catch (err) {
  process.stderr.write(`opentracing-client-hooks: no tracer set up: ${(err as Error).message}\n`);
  log('tracer setup failed: %O', err);
}

try {
  installAllPatches();
} catch (err) {
  // A preload must never stop the app from starting.
  process.stderr.write(`opentracing-client-hooks: not installed: ${(err as Error).message}\n`);
  log('register failed: %O', err);
}

if (debugEnabled()) {
  const packages = [...new Set(HOOKS.flatMap((hook) => hook.targets.map((t) => t.module)).filter((m) => !Module.isBuiltin(m)))];
  reportBundledLibraries(process.argv[1], packages);
}
