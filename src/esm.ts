/** What `register.mjs` (`node --import`) needs to set up the ES-module loader for the hooks. */
import { HOOKS } from './hooks';
import { sdkDisabled } from './otel-env';
import { esmLoaderModules } from './registry';

/** The package entries the loader must intercept (none with OTEL_SDK_DISABLED=true); marks the loader as active for the registry. */
export function loaderModules(): string[] {
  if (sdkDisabled(process.env)) return [];
  return esmLoaderModules(HOOKS);
}
