/** What `register.mjs` (`node --import`) needs to set up the ES-module loader for the hooks. */
import { HOOKS } from './hooks';
import { esmLoaderModules } from './registry';

/** The package entries the loader must intercept; marks the loader as active for the registry. */
export function loaderModules(): string[] {
  return esmLoaderModules(HOOKS);
}
