// CommonJS preload: `node -r opentracing-client-hooks/register app.js`. For an ES-module main
// (app.mjs, "type": "module", import/export syntax), it first registers the ES-module loader that
// `--import` (register.mjs) registers, so that -r alone hooks what such an app imports too.
try {
  require('./dist/esm.js').registerLoaderForEsModuleMain();
} catch (err) {
  process.stderr.write(`opentracing-client-hooks: ES-module imports are hooked through require() only: ${(err && err.message) || err}\n`);
}
require('./dist/register');
