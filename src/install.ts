import { claimInstall } from './active-copy';
import { hookOptions, HookName, HooksConfig } from './config';
import { HOOKS } from './hooks';
import { onGlobalTracer, ownAppTracer, setInstallTracer } from './hook-tracer';
import { install } from './registry';
import type * as HttpServerCore from './cores/http-server';

/** What this copy shares with other copies of the package once it has installed (see active-copy). */
const SHARED = {
  appTracer: ownAppTracer,
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the span side loads on first use, not with the package
  traced: () => (require('./cores/http-server') as typeof HttpServerCore).traced(),
};

/**
 * Installs the named hooks with their options from `config`; the preload defers builtins (see registry).
 * A tracer the app sets later ends the span side's no-op window (see hook-tracer). Nothing, but one
 * warning, when another copy of the package installed the hooks in this process.
 */
export function installNamed(names: readonly HookName[], config: HooksConfig, deferBuiltins = false): void {
  if (!claimInstall(SHARED, names.length > 0)) return;
  setInstallTracer(config.tracer);
  install(HOOKS, names, {
    tracer: config.tracer,
    aliases: config.aliases,
    deferBuiltins,
    optionsFor: (name) => hookOptions(name as HookName, config),
    onGlobalTracer,
  });
}
