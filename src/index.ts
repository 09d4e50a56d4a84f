import { assertHookNames, enabledHooks, HookName, HooksConfig } from './config';
import { installNamed } from './install';
import { setInstallTracer } from './hook-tracer';
import { installedHooks, uninstall } from './registry';
import { applyArgs } from './apply-args';
import { releaseInstall, sharingCopy } from './active-copy';
import type * as LocalSpans from './local-spans';
import type * as HttpServerCore from './cores/http-server';

/*
 * The span side (and opentracing with it) loads on first use, not with the package: the registry can tell
 * that opentracing's global tracer is its default no-op only if opentracing loads after install (see
 * src/hook-tracer.ts), and with no tracer every hook then costs a wrapper and one check.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use (see above) */
const localSpans = (): typeof LocalSpans => require('./local-spans');
const httpServerCore = (): typeof HttpServerCore => require('./cores/http-server');
/* eslint-enable @typescript-eslint/no-require-imports */

export const traceFunction: typeof LocalSpans.traceFunction = function traceFunction(this: unknown) {
  return applyArgs(localSpans().traceFunction, this, arguments);
} as typeof LocalSpans.traceFunction;
export const startActiveSpan: typeof LocalSpans.startActiveSpan = function startActiveSpan(this: unknown) {
  return applyArgs(localSpans().startActiveSpan, this, arguments);
} as typeof LocalSpans.startActiveSpan;
/** The copy of the package that installed the hooks makes `traced()` work: this one, or another (see active-copy). */
export const traced: typeof HttpServerCore.traced = () => {
  const active = sharingCopy();
  return active === undefined ? httpServerCore().traced() : active.traced();
};

export { currentSpan, withSpan, suppressTracing } from './context';
export { currentSpan as activeSpan } from './context';
export type { TraceFunctionOptions, ActiveSpanOptions } from './local-spans';
export { currentTraceIds } from './cores/log-correlation';
export type { LogHookOptions, LogKeys, TraceIds } from './cores/log-correlation';
export type { HookName, HooksConfig, HookOptionsByName, SharedHookOptions } from './config';
export type { HttpClientOptions, HttpClientRequestInfo, HttpClientResponseInfo } from './cores/http-client';
export type { DbHookOptions } from './cores/db-call';
export type { SqlHookOptions, SqlQueryInfo } from './cores/sql-call';
export type { MysqlOptions } from './options/mysql';
export type { CommonHookOptions } from './spans';
export type { Matcher, IncomingMatcher } from './matchers';
export type { HttpServerOptions, HttpServerHookOptions } from './options/httpServer';
export type { FrameworkHookOptions } from './cores/http-server';
export type { FetchOptions } from './options/fetch';
export type { AxiosOptions } from './options/axios';
export type { PgOptions, PgQueryInfo } from './options/pg';
export type { Mysql2Options, Mysql2QueryInfo } from './options/mysql2';
export type { KnexOptions, KnexQueryInfo } from './options/knex';
export type { RedisOptions, RedisCommandInfo } from './cores/redis';
export type { AmqplibOptions } from './options/amqplib';
export type { GrpcOptions } from './options/grpc';
export type { AwsSdkOptions } from './options/aws-sdk';
export type { BullmqOptions } from './options/bullmq';
export type { SocketIoOptions } from './options/socket.io';
export type { MessagingHookOptions } from './cores/messaging';
export type { KafkajsOptions } from './options/kafkajs';
export type { NatsOptions } from './options/nats';
export type { MongodbOptions } from './options/mongodb';
export type { GraphqlOptions } from './options/graphql';

export { HOOK_NAMES } from './config';

/** Installs every enabled hook (config, else OT_HOOKS / OT_HOOKS_DISABLED or OTEL_NODE_*_INSTRUMENTATIONS), for modules loaded now or later. */
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
  setInstallTracer(undefined);
  releaseInstall();
}

/** Names of the hooks installed now. */
export function installedPatches(): HookName[] {
  return installedHooks() as HookName[];
}
