import { assertHookNames, enabledHooks, HookName, HooksConfig } from './config';
import { installNamed } from './install';
import { installedHooks, uninstall } from './registry';

export { currentSpan, withSpan, suppressTracing } from './context';
export type { HookName, HooksConfig, HookOptionsByName, SharedHookOptions } from './config';
export type { HttpClientOptions } from './cores/http-client';
export type { DbHookOptions } from './cores/db-call';
export type { CommonHookOptions } from './spans';
export type { Matcher, IncomingMatcher } from './matchers';
export type { HttpServerOptions, HttpServerHookOptions } from './hooks/httpServer';
export { traced } from './cores/http-server';
export type { FrameworkHookOptions } from './cores/http-server';
export type { FetchOptions } from './hooks/fetch';
export type { AxiosOptions } from './hooks/axios';
export type { PgOptions, PgQueryInfo } from './hooks/pg';
export type { Mysql2Options, Mysql2QueryInfo } from './hooks/mysql2';
export type { RedisOptions, RedisCommandInfo } from './cores/redis';
export type { AmqplibOptions } from './hooks/amqplib';
export type { GrpcOptions } from './hooks/grpc';
export type { AwsSdkOptions } from './hooks/aws-sdk';
export type { MongodbOptions } from './options/mongodb';
export type { GraphqlOptions } from './options/graphql';

export { HOOK_NAMES } from './config';

/** Installs every enabled hook (config, else OT_HOOKS / OT_HOOKS_DISABLED), for modules loaded now or later. */
export function installAllPatches(config: HooksConfig = {}): void {
  installNamed(enabledHooks(config), config);
}

/** Installs only the named hooks (unless `config.hooks` switches one off). */
export function installPatches(names: HookName[], config: HooksConfig = {}): void {
  assertHookNames(names, 'installPatches');
  if (config.hooks !== undefined) assertHookNames(Object.keys(config.hooks), 'config.hooks');
  installNamed(names.filter((name) => config.hooks?.[name] !== false), config);
}

/** Takes out every patch the hooks made and stops hooking module loads. Install works again afterwards. */
export function uninstallAllPatches(): void {
  uninstall();
}

/** Names of the hooks installed now. */
export function installedPatches(): HookName[] {
  return installedHooks() as HookName[];
}
