/** Configuration: which hooks run and with what options. Names and option types come from the hooks. */
import type { Tracer } from 'opentracing';
import { HOOKS } from './hooks';
import type { OptionsOf } from './registry/define';
import type { HttpClientOptions } from './cores/http-client';
import type { HttpServerOptions } from './options/httpServer';
import type { FrameworkHookOptions } from './cores/http-server';
import type { LogHookOptions } from './cores/log-correlation';
import type { MessagingHookOptions } from './cores/messaging';
import type { RedisOptions } from './cores/redis';
import type { SqlHookOptions } from './cores/sql-call';
import { warnOnce } from './logger';
import { eitherEnv, hooksOfInstrumentations } from './otel-env';

type AnyHook = (typeof HOOKS)[number];
export type HookName = AnyHook['name'];
export type HookOptionsByName = { [H in AnyHook as H['name']]: OptionsOf<H> };

export const HOOK_NAMES: readonly HookName[] = HOOKS.map((hook) => hook.name);

/** Options that may be given once at the top level for every hook that reads them. */
export interface SharedHookOptions
  extends Omit<HttpClientOptions, 'requestHook' | 'responseHook'>,
    HttpServerOptions,
    LogHookOptions,
    FrameworkHookOptions,
    Pick<SqlHookOptions, 'captureParameters' | 'sanitizeStatement'>,
    Pick<RedisOptions, 'traceConnect'>,
    Pick<MessagingHookOptions, 'consumerParent'> {
  /** Longest `db.statement` for the database hooks, unless a hook sets its own. */
  maxStatementLength?: number;
}

export interface HooksConfig extends SharedHookOptions {
  /** Tracer for every span; else `opentracing.globalTracer()`, looked up when each span starts. */
  tracer?: Tracer;
  /** Switch hooks on (`true` or options) or off (`false`). Explicit entries win over the environment. */
  hooks?: { [K in HookName]?: boolean | HookOptionsByName[K] };
  /** npm aliases: installed package name -> the package it is, e.g. `{ ioredis5: 'ioredis' }`. */
  aliases?: Record<string, string>;
}

const SHARED_KEYS: ReadonlyArray<keyof SharedHookOptions> = [
  'requireParent',
  'captureQueryString',
  'ignoreOutgoing',
  'propagationBlocklist',
  'nestedClientSpans',
  'ignoreIncoming',
  'maxStatementLength',
  'propagate',
  'peerService',
  'peerServiceHeader',
  'logKeys',
  'middlewareSpans',
  'captureParameters',
  'sanitizeStatement',
  'traceConnect',
  'consumerParent',
];

export function isHookName(name: string): name is HookName {
  return (HOOK_NAMES as readonly string[]).includes(name);
}

export function assertHookNames(names: readonly string[], where: string): asserts names is HookName[] {
  for (const name of names) {
    if (!isHookName(name)) {
      throw new TypeError(`opentracing-client-hooks: unknown hook "${name}" in ${where}; valid hooks are: ${HOOK_NAMES.join(', ')}`);
    }
  }
}

function envList(value: string | undefined, variable: string): HookName[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const names: HookName[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    if (isHookName(name)) names.push(name);
    else warnOnce(`${variable} names unknown hook "${name}" (ignored); valid hooks are: ${HOOK_NAMES.join(', ')}`);
  }
  return names;
}

/**
 * A hook list from our variable, else from OpenTelemetry's instrumentation names in `theirs` (each pair
 * on its own: ours replaces theirs when both are set, as the debug log says).
 */
function hookList(env: NodeJS.ProcessEnv, ours: string, theirs: string): HookName[] | undefined {
  const value = eitherEnv(env, ours, theirs);
  if (value === undefined) return undefined;
  return value === env[ours] ? envList(value, ours) : hooksOfInstrumentations(value, theirs)?.filter(isHookName);
}

/**
 * The hooks that installAllPatches turns on: explicit config, else OT_HOOKS / OT_HOOKS_DISABLED (or
 * OTEL_NODE_ENABLED_INSTRUMENTATIONS / OTEL_NODE_DISABLED_INSTRUMENTATIONS), else all.
 */
export function enabledHooks(config: HooksConfig, env: NodeJS.ProcessEnv = process.env): HookName[] {
  const explicit = config.hooks ?? {};
  assertHookNames(Object.keys(explicit), 'config.hooks');
  const only = hookList(env, 'OT_HOOKS', 'OTEL_NODE_ENABLED_INSTRUMENTATIONS');
  const disabled = hookList(env, 'OT_HOOKS_DISABLED', 'OTEL_NODE_DISABLED_INSTRUMENTATIONS');
  return HOOK_NAMES.filter((name) => {
    const setting = explicit[name];
    if (setting !== undefined) return setting !== false;
    if (only !== undefined && !only.includes(name)) return false;
    if (disabled !== undefined && disabled.includes(name)) return false;
    return true;
  });
}

/** Options for one hook: the shared top-level options, overridden by `hooks[name]` when it is an object. */
export function hookOptions<K extends HookName>(name: K, config: HooksConfig, env: NodeJS.ProcessEnv = process.env): HookOptionsByName[K] {
  const options: Record<string, unknown> = {};
  for (const key of SHARED_KEYS) {
    if (config[key] !== undefined) options[key] = config[key];
  }
  const own = config.hooks?.[name];
  if (own !== null && typeof own === 'object') Object.assign(options, own);
  // Static tags merge key by key: OT_SPAN_TAGS, then the top level, then the hook's own.
  const ownTags = own !== null && typeof own === 'object' ? (own as { spanTags?: SpanTags }).spanTags : undefined;
  const envTags = spanTagsFromEnv(env.OT_SPAN_TAGS);
  if (envTags !== undefined || config.spanTags !== undefined || ownTags !== undefined) options.spanTags = { ...envTags, ...config.spanTags, ...ownTags };
  return options as HookOptionsByName[K];
}

type SpanTags = NonNullable<SharedHookOptions['spanTags']>;

/** `OT_SPAN_TAGS=key=value,key2=value2` (values are strings; a pair without `=` is ignored, with a warning). */
export function spanTagsFromEnv(value: string | undefined): SpanTags | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const tags: SpanTags = {};
  for (const pair of value.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at === -1 ? '' : pair.slice(0, at).trim();
    if (key === '') {
      warnOnce(`OT_SPAN_TAGS: "${pair.trim()}" is not key=value (ignored)`);
      continue;
    }
    tags[key] = pair.slice(at + 1).trim();
  }
  return tags;
}
