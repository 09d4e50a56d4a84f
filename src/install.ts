import { hookOptions, HookName, HooksConfig } from './config';
import { HOOKS } from './hooks';
import { install } from './registry';

/** Installs the named hooks with their options from `config`; the preload defers builtins (see registry). */
export function installNamed(names: readonly HookName[], config: HooksConfig, deferBuiltins = false): void {
  install(HOOKS, names, {
    tracer: config.tracer,
    aliases: config.aliases,
    deferBuiltins,
    optionsFor: (name) => hookOptions(name as HookName, config),
  });
}
