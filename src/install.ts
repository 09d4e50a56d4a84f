import { hookOptions, HookName, HooksConfig } from './config';
import { HOOKS } from './hooks';
import { onGlobalTracer, setInstallTracer } from './hook-tracer';
import { install } from './registry';

/**
 * Installs the named hooks with their options from `config`; the preload defers builtins (see registry).
 * A tracer the app sets later ends the span side's no-op window (see hook-tracer).
 */
export function installNamed(names: readonly HookName[], config: HooksConfig, deferBuiltins = false): void {
  setInstallTracer(config.tracer);
  install(HOOKS, names, {
    tracer: config.tracer,
    aliases: config.aliases,
    deferBuiltins,
    optionsFor: (name) => hookOptions(name as HookName, config),
    onGlobalTracer,
  });
}
