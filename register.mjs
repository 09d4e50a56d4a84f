// ES-module preload: `node --import opentracing-client-hooks/register app.mjs`.
// Registers import-in-the-middle's loader for the hooked packages only (an ES-module build such as
// axios's never goes through require()), then does what `-r register` does.
import { createRequire, register } from 'node:module';

const require = createRequire(import.meta.url);
try {
  const esm = require('./dist/esm.js');
  const include = esm.loaderModules();
  // None (OTEL_SDK_DISABLED=true): no loader at all. Registered already by `-r` (both preloads given): once.
  if (include.length > 0 && esm.claimLoader()) {
    const hooks = await import('import-in-the-middle/register-hooks.mjs');
    // In-thread hooks where this Node runs them correctly, else the loader thread.
    if (hooks.supportsSyncHooks()) hooks.register({ include });
    else register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include } });
  }
} catch (err) {
  process.stderr.write(`opentracing-client-hooks: ES-module imports are not hooked: ${err?.message ?? err}\n`);
}
require('./dist/register.js');
try {
  require('./dist/esm.js').patchBuiltinsNow();
} catch (err) {
  process.stderr.write(`opentracing-client-hooks: http and https are not hooked for ES-module imports: ${err?.message ?? err}\n`);
}
