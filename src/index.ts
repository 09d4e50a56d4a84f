import { assertHookNames, enabledHooks, HookName, HooksConfig } from './config';
import { HOOKS } from './hooks';
import { install, installedHooks, uninstall } from './registry';

export { currentSpan, withSpan, suppressTracing } from './context';
export type {
  HookName,
  HooksConfig,
  HttpClientOptions,
  HttpServerOptions,
  FetchOptions,
  AxiosOptions,
  PgOptions,
  PgQueryInfo,
  RedisOptions,
  RedisCommandInfo,
  Matcher,
  IncomingMatcher,
  CommonHookOptions,
} from './config';
export { HOOK_NAMES } from './config';

/** Installs every enabled hook (config, else OT_HOOKS / OT_HOOKS_DISABLED), for modules loaded now or later. */
export function installAllPatches(config: HooksConfig = {}): void {
  install(HOOKS, enabledHooks(config), config);
}

/** Installs only the named hooks (unless `config.hooks` switches one off). */
export function installPatches(names: HookName[], config: HooksConfig = {}): void {
  assertHookNames(names, 'installPatches');
  if (config.hooks !== undefined) assertHookNames(Object.keys(config.hooks), 'config.hooks');
  install(HOOKS, names.filter((name) => config.hooks?.[name] !== false), config);
}

/** Restores every patched function and stops hooking module loads. Install works again afterwards. */
export function uninstallAllPatches(): void {
  uninstall();
}

/** Names of the hooks installed now. */
export function installedPatches(): HookName[] {
  return installedHooks();
}
