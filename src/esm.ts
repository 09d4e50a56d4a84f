/** What `register.mjs` (`node --import`) needs to set up the ES-module loader for the hooks. */
import { HOOKS } from './hooks';
import { sdkDisabled } from './otel-env';
import { esmLoaderModules, patchDeferredBuiltins } from './registry';

/** The package entries the loader must intercept (none with OTEL_SDK_DISABLED=true); marks the loader as active for the registry. */
export function loaderModules(): string[] {
  if (sdkDisabled(process.env)) return [];
  return esmLoaderModules(HOOKS);
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
