import type { IncomingMessage } from 'node:http';
import type { Span, Tracer } from 'opentracing';
import { warnOnce } from './logger';

export const HOOK_NAMES = ['http', 'httpServer', 'fetch', 'axios', 'pg', 'redis', 'ioredis'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** A URL or host pattern: exact string, substring-free RegExp test, or predicate. */
export type Matcher = string | RegExp | ((value: string) => boolean);

export type IncomingMatcher = string | RegExp | ((req: IncomingMessage) => boolean);

export interface CommonHookOptions {
  /** Make no span when no span is active (default false: a root span is made). */
  requireParent?: boolean;
}

export interface HttpClientOptions extends CommonHookOptions {
  /** Keep the query string in `http.url` (default false). */
  captureQueryString?: boolean;
  /** Outgoing requests whose URL (without credentials) matches are not traced at all. */
  ignoreOutgoing?: Matcher | Matcher[];
  /** Hosts (hostname or hostname:port) that get a span but no trace headers. */
  propagationBlocklist?: Matcher | Matcher[];
  /**
   * When a traced client (axios) runs over a traced transport (http, fetch), keep a span for
   * each level (default false: the transport adds to the outer span and makes none of its own).
   */
  nestedClientSpans?: boolean;
}

export interface HttpServerOptions {
  /**
   * Incoming requests not to trace: strings and RegExps match the path (no query string); a function
   * is called with the request.
   */
  ignoreIncoming?: IncomingMatcher | IncomingMatcher[];
}

export interface FetchOptions extends HttpClientOptions {
  /**
   * Finish the span when the response headers arrive instead of when the body is done
   * (default false). Useful when response bodies are often left unread.
   */
  finishOnHeaders?: boolean;
}

export type AxiosOptions = HttpClientOptions;

export interface PgQueryInfo {
  text: string;
  name?: string;
  values?: unknown[];
  database?: string;
}

export interface PgOptions extends CommonHookOptions {
  /** Longest `db.statement` recorded (default 2048 characters). */
  maxStatementLength?: number;
  /** Record query values as `db.params` (default false). */
  captureParameters?: boolean;
  /** Replace SQL literals by `?` (default true). */
  sanitizeStatement?: boolean;
  requestHook?: (span: Span, query: PgQueryInfo) => void;
  responseHook?: (span: Span, result: unknown) => void;
}

export interface RedisCommandInfo {
  command: string;
  args: unknown[];
}

export interface RedisOptions extends CommonHookOptions {
  /** Longest `db.statement` recorded (default 1024 characters). */
  maxStatementLength?: number;
  /** Replaces the default statement (command plus keys, values redacted). */
  dbStatementSerializer?: (command: string, args: unknown[]) => string;
  requestHook?: (span: Span, info: RedisCommandInfo) => void;
  responseHook?: (span: Span, info: RedisCommandInfo, reply: unknown) => void;
  /** Make a span for connecting (default true). */
  traceConnect?: boolean;
}

export interface HookOptionsByName {
  http: HttpClientOptions;
  httpServer: HttpServerOptions;
  fetch: FetchOptions;
  axios: AxiosOptions;
  pg: PgOptions;
  redis: RedisOptions;
  ioredis: RedisOptions;
}

export interface HooksConfig extends HttpClientOptions, HttpServerOptions {
  /** Tracer for every span; else `opentracing.globalTracer()`, looked up when each span starts. */
  tracer?: Tracer;
  /** Switch hooks on (`true` or options) or off (`false`). Explicit entries win over the environment. */
  hooks?: { [K in HookName]?: boolean | HookOptionsByName[K] };
  /** npm aliases: installed package name -> the package it is, e.g. `{ ioredis5: 'ioredis' }`. */
  aliases?: Record<string, string>;
  /** Longest `db.statement` for the database hooks, unless a hook sets its own. */
  maxStatementLength?: number;
}

const SHARED_KEYS = [
  'requireParent',
  'captureQueryString',
  'ignoreOutgoing',
  'propagationBlocklist',
  'nestedClientSpans',
  'ignoreIncoming',
  'maxStatementLength',
] as const;

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

/** The hooks that installAllPatches turns on: explicit config, else OT_HOOKS / OT_HOOKS_DISABLED, else all. */
export function enabledHooks(config: HooksConfig, env: NodeJS.ProcessEnv = process.env): HookName[] {
  const explicit = config.hooks ?? {};
  assertHookNames(Object.keys(explicit), 'config.hooks');
  const only = envList(env.OT_HOOKS, 'OT_HOOKS');
  const disabled = envList(env.OT_HOOKS_DISABLED, 'OT_HOOKS_DISABLED');
  return HOOK_NAMES.filter((name) => {
    const setting = explicit[name];
    if (setting !== undefined) return setting !== false;
    if (only !== undefined && !only.includes(name)) return false;
    if (disabled !== undefined && disabled.includes(name)) return false;
    return true;
  });
}

/** Options for one hook: the shared top-level options, overridden by `hooks[name]` when it is an object. */
export function hookOptions<K extends HookName>(name: K, config: HooksConfig): HookOptionsByName[K] {
  const options: Record<string, unknown> = {};
  for (const key of SHARED_KEYS) {
    if (config[key] !== undefined) options[key] = config[key];
  }
  const own = config.hooks?.[name];
  if (own !== null && typeof own === 'object') Object.assign(options, own);
  return options as HookOptionsByName[K];
}

/** Compiles matchers once, so that matching on the hot path is a loop of cheap tests. */
export function compileMatcher(input: Matcher | Matcher[] | undefined): ((value: string) => boolean) | undefined {
  if (input === undefined) return undefined;
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) return undefined;
  const tests = list.map((m): ((value: string) => boolean) => {
    if (typeof m === 'string') return (value) => value === m;
    if (m instanceof RegExp) return (value) => { m.lastIndex = 0; return m.test(value); };
    if (typeof m === 'function') return m;
    throw new TypeError(`opentracing-client-hooks: a matcher must be a string, RegExp or function, got ${typeof m}`);
  });
  return (value) => {
    for (const test of tests) {
      try {
        if (test(value)) return true;
      } catch {
        // A throwing user predicate means "no match"; it must not break the call.
      }
    }
    return false;
  };
}
