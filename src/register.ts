/**
 * Preload entry: `node -r opentracing-client-hooks/register app.js`.
 * Sets up a tracer when OT_TRACER asks for one, then installs the hooks the environment enables.
 */
import { installAllPatches } from './index';
import { log } from './logger';

try {
  installAllPatches();
} catch (err) {
  // A preload must never stop the app from starting.
  process.stderr.write(`opentracing-client-hooks: not installed: ${(err as Error).message}\n`);
  log('register failed: %O', err);
}
