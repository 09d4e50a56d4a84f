// ES-module preload: `node --import opentracing-client-hooks/register app.mjs`.
// Registers import-in-the-middle's loader for the hooked packages only (an ES-module build such as
// axios's never goes through require()), then does what `-r register` does.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
try {
  // The same registration as `-r` makes for an ES-module main (none with OTEL_SDK_DISABLED=true; once with both preloads).
  require('./dist/esm.js').registerLoader();
} catch (err) {
  process.stderr.write(`opentracing-client-hooks: ES-module imports are not hooked: ${err?.message ?? err}\n`);
}
require('./dist/register.js');
try {
  require('./dist/esm.js').patchBuiltinsNow();
} catch (err) {
  process.stderr.write(`opentracing-client-hooks: http and https are not hooked for ES-module imports: ${err?.message ?? err}\n`);
}
