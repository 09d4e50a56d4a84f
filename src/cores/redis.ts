/**
 * Redis on the database core, shared by the redis (node-redis) and ioredis hooks: `db.statement` with
 * values redacted, command, MULTI/pipeline and connect spans, connection facts that never carry a
 * password, and the settle hook through which ioredis commands finish their spans.
 */
import type { Span } from 'opentracing';
import type { ActiveHook } from '../registry/define';
import { runUserHook, setTag } from '../spans';
import { redactRedisCommand } from '../redis-statement';
import { DbCall, DbConnection, DbHookOptions, DbSpanSpec, connectOutside, detached, inOwnWork, redactedErrorCopy, redactErrorText, runInContext, startDbCallUnder, statementLimit } from './db-call';
import { applyArgs } from '../apply-args';
import { MIN_ECHOED_LENGTH, withoutValues } from './echoed-arguments';

export interface RedisCommandInfo {
  command: string;
  args: unknown[];
}

export interface RedisOptions extends DbHookOptions {
  /** Replaces the default statement (command plus keys, values redacted). */
  dbStatementSerializer?: (command: string, args: unknown[]) => string;
  requestHook?: (span: Span, info: RedisCommandInfo) => void;
  responseHook?: (span: Span, info: RedisCommandInfo, reply: unknown) => void;
  /** Make a span for connecting (default true). */
  traceConnect?: boolean;
}

/** Longest `db.statement` of the Redis hooks, unless their `maxStatementLength` says otherwise. */
const DEFAULT_MAX_STATEMENT = 1024;

function statementFor(options: RedisOptions, name: string, args: readonly unknown[], from: number): string {
  const serializer = options.dbStatementSerializer;
  if (serializer === undefined) return redactRedisCommand(name, args, from);
  try {
    return String(serializer(name, args.slice(from)));
  } catch {
    return name;
  }
}

/** Commands that run a script: their error text is the script's own words, which may hold any value it was given. */
const SCRIPT_COMMANDS = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO']);
/** A Lua `error()`'s text as Redis frames it: `user_script:1: <text> script: <sha>, on …` (7.x), `…: user_script:1: <text>` (6.x). */
const LUA_ERROR_TEXT = /(user_(?:script|function):\d+: ).*?(?= script: [0-9a-f]{40}|$)/gm;

/**
 * What a failed script call logs: the redacted copy any redis error gets, with a Lua `error()`'s text and the
 * call's arguments (ARGV; keys are kept, as in statements) taken out too: `redis.error_reply(ARGV[1])`
 * answers with the argument as it is. Read here, as the statement is: `args` is not read once the command is sent.
 */
function scriptErrorLog(values: readonly string[]): (err: unknown) => unknown {
  const redact = (text: string): string => redactErrorText(withoutValues(text, values)).replace(LUA_ERROR_TEXT, '$1?');
  return (err) => redactedErrorCopy(err, redact);
}

/** Adds to `values` a script call's arguments: those after the script (or its SHA, or the function's name), the key count and the keys. */
function scriptArguments(values: string[], args: readonly unknown[], from: number): string[] {
  const count = args[from + 1];
  const keys = typeof count === 'number' || typeof count === 'string' ? Number(count) : 0;
  for (let i = from + 2 + (Number.isInteger(keys) && keys > 0 ? keys : 0); i < args.length; i++) {
    const arg = args[i];
    const text = typeof arg === 'string' ? arg : Buffer.isBuffer(arg) ? arg.toString() : undefined;
    if (text !== undefined && text.length >= MIN_ECHOED_LENGTH) values.push(text);
  }
  return values;
}

/** Where a client connects; a URL is read for host, port and database only, never its credentials. */
export interface RedisEndpoint {
  url?: string;
  host?: string;
  port?: number;
  /** A Unix socket, recorded as the host. */
  path?: string;
  db?: number | string;
}

export function redisConnection(endpoint: RedisEndpoint): DbConnection {
  let host = endpoint.path ?? endpoint.host;
  let port = endpoint.path === undefined ? endpoint.port : undefined;
  let db = endpoint.db;
  if (endpoint.url !== undefined && endpoint.path === undefined) {
    try {
      const url = new URL(endpoint.url);
      if (url.hostname !== '') host = url.hostname;
      if (url.port !== '') port = Number(url.port);
      const path = url.pathname.slice(1);
      if (path !== '' && db === undefined) db = Number(path);
    } catch {
      // An unparsable URL: keep what the other options say.
    }
  }
  if (endpoint.path === undefined) {
    host ??= 'localhost';
    port ??= 6379;
  }
  return { instance: db ?? 0, host, port };
}

/** Span starts never throw into the app (a Symbol as a command name, an options getter that throws). */
function safely<T>(fn: () => T | undefined): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function runRequestHook(hook: ActiveHook<RedisOptions>, call: DbCall | undefined, info: () => RedisCommandInfo): DbCall | undefined {
  const requestHook = hook.options.requestHook;
  if (call !== undefined && requestHook !== undefined) runUserHook(`${hook.name} requestHook`, () => requestHook(call.span, info()));
  return call;
}

function responseHookFor(hook: ActiveHook<RedisOptions>, info: () => RedisCommandInfo, reply?: (raw: unknown) => unknown) {
  const responseHook = hook.options.responseHook;
  if (responseHook === undefined) return undefined;
  return (span: Span, raw: unknown): void => responseHook(span, info(), reply === undefined ? raw : reply(raw));
}

/**
 * A command span, `redis.<COMMAND>`, for the arguments `args[from..]` (node-redis passes the command
 * name as `args[0]`). `parent` is what `clientParent` decided. `reply` turns the value the command
 * settles with into the reply the app sees, for the responseHook only.
 */
export function startRedisCommand(
  hook: ActiveHook<RedisOptions>,
  parent: Span | null,
  component: string,
  command: unknown,
  args: readonly unknown[],
  from: number,
  connection: () => DbConnection,
  reply?: (raw: unknown) => unknown,
): DbCall | undefined {
  // No closure per command: this runs for every traced command.
  try {
    const name = String(command).toUpperCase();
    const options = hook.options;
    const spec: DbSpanSpec = {
      component,
      dbType: 'redis',
      operationName: `redis.${name}`,
      connection: connection(),
      statement: statementFor(options, name, args, from),
      maxStatementLength: DEFAULT_MAX_STATEMENT,
      loggedError: SCRIPT_COMMANDS.has(name) ? scriptErrorLog(scriptArguments([], args, from)) : undefined,
    };
    if (options.requestHook === undefined && options.responseHook === undefined) return startDbCallUnder(hook, parent, spec);
    let info: RedisCommandInfo | undefined;
    const infoOf = (): RedisCommandInfo => (info ??= { command: name, args: args.slice(from) });
    return runRequestHook(hook, startDbCallUnder(hook, parent, spec, responseHookFor(hook, infoOf, reply)), infoOf);
  } catch {
    return undefined;
  }
}

export interface BatchCommand {
  name: unknown;
  args: readonly unknown[];
  /** Where the arguments start in `args`. */
  from: number;
}

/** One span for a MULTI or a pipeline, with the count and names of its commands. */
export function startRedisBatch(
  hook: ActiveHook<RedisOptions>,
  parent: Span | null,
  component: string,
  kind: 'MULTI' | 'PIPELINE',
  commands: () => readonly BatchCommand[],
  connection: () => DbConnection,
): DbCall | undefined {
  return safely(() => {
    const list = commands();
    const names = list.map((c) => String(c.name).toUpperCase());
    const limit = statementLimit(hook.options.maxStatementLength, DEFAULT_MAX_STATEMENT);
    let statement = '';
    // The core cuts the statement to its limit: build no more than that of a long pipeline.
    for (let i = 0; i < list.length && statement.length <= limit; i++) {
      statement += (i === 0 ? '' : '\n') + statementFor(hook.options, names[i], list[i].args, list[i].from);
    }
    const info: RedisCommandInfo = { command: kind, args: names };
    // The error logged is the first failed command's: a script's keeps its arguments out too.
    let scripts: string[] | undefined;
    for (let i = 0; i < list.length; i++) if (SCRIPT_COMMANDS.has(names[i])) scripts = scriptArguments(scripts ?? [], list[i].args, list[i].from);
    const call = startDbCallUnder(
      hook,
      parent,
      {
        component,
        dbType: 'redis',
        operationName: `redis.${kind}`,
        connection: connection(),
        statement,
        maxStatementLength: DEFAULT_MAX_STATEMENT,
        loggedError: scripts === undefined ? undefined : scriptErrorLog(scripts),
      },
      responseHookFor(hook, () => info),
    );
    if (call !== undefined) {
      setTag(call.span, 'db.redis.command_count', list.length);
      setTag(call.span, 'db.redis.commands', names.join(' '));
    }
    return runRequestHook(hook, call, () => info);
  });
}

/**
 * Calls `original` outside the library's own work when it runs inside it (`ownWork`), else as it is. For
 * events the work emits to the app's listeners.
 */
export function outsideOwnWork(hook: ActiveHook, original: (...args: any[]) => any, thisArg: unknown, args: ArrayLike<unknown>): any {
  return inOwnWork(hook) ? runInContext(undefined, original, thisArg, args) : Reflect.apply(original, thisArg, args);
}

/**
 * Runs a client's `connect` (`original`) with a `redis.connect` span under `parent` (unless
 * `traceConnect` is false), and the connection itself outside any request: the socket, its timers and
 * what they do later (reconnects, re-sends, pings) never become children of the request that
 * happened to connect.
 */
export function connectDetached(
  hook: ActiveHook<RedisOptions>,
  parent: Span | null,
  component: string,
  connection: () => DbConnection,
  original: (...args: any[]) => any,
  thisArg: unknown,
  args: ArrayLike<unknown>,
): any {
  const start = (): DbCall | undefined =>
    startDbCallUnder(
      hook,
      parent,
      { component, dbType: 'redis', operationName: 'redis.connect', connection: connection(), maxStatementLength: DEFAULT_MAX_STATEMENT },
    );
  // A root span (`parent` null) is started outside any context, as the connection then runs (a
  // `requestHook` of the app's sees no request's context there).
  const call = hook.options.traceConnect === false ? undefined : safely(parent === null ? () => detached(start) : start);
  if (call === undefined) return connectOutside(original, thisArg, args);
  const last = args.length > 0 ? args[args.length - 1] : undefined;
  if (typeof last === 'function') {
    // connect(callback): the callback finishes the span and runs in its caller's context.
    const copy = Array.prototype.slice.call(args);
    copy[copy.length - 1] = call.callback(last as (...a: unknown[]) => unknown);
    return detached(() => call.invoke(original, thisArg, copy));
  }
  return detached(() => call.invokeAndChain(original, thisArg, args));
}

/** An object that a library settles through its own `resolve`/`reject` (an ioredis Command or Pipeline). */
export interface Settleable {
  resolve: (...args: any[]) => unknown;
  reject: (...args: any[]) => unknown;
  /** ioredis 6 sets it when the command's promise really settled (see below). */
  isSettled?: boolean;
}

/** Marks the `resolve` that `settleThrough` puts on a target: the target's call has its span already. */
const kSettledThroughUs = Symbol('opentracing-client-hooks.settledThroughUs');

/**
 * Whether `target` settles through a call of ours (a library that sends the same object again, ioredis's
 * re-send from its offline queue, gets no second span). A mark on our own function: no table entry per call.
 */
export function settlesThroughUs(target: object): boolean {
  const resolve = (target as Partial<Settleable>).resolve as { [kSettledThroughUs]?: true } | undefined;
  return typeof resolve === 'function' && resolve[kSettledThroughUs] === true;
}

/** What `settleThrough` finishes: a call, or a stand-in that decides what an outcome means for it (ioredis's script re-send). */
export type Outcome = Pick<DbCall, 'succeed' | 'fail'>;

/** Targets whose own `reject` a library wraps with retries (`beforeRetries`), and their call once they have one. */
const retried = new WeakMap<object, Outcome | null>();

/**
 * Wraps `target`'s own `reject` before the library puts its retries around it (ioredis 5 and 6's Cluster
 * re-sends on MOVED, ASK, TRYAGAIN, CLUSTERDOWN, and rejects only with the final error): the span of
 * `settleThrough` fails only when this one runs, with what the app gets.
 */
export function beforeRetries(target: object): void {
  const t = target as Partial<Settleable>;
  const reject = t.reject;
  if (typeof reject !== 'function' || retried.has(target)) return;
  retried.set(target, null);
  t.reject = function (this: unknown, err: unknown): unknown {
    const result = applyArgs(reject, this, arguments);
    retried.get(target)?.fail(err);
    return result;
  };
}

/**
 * Finishes `call` from inside `target`'s own `resolve`/`reject`, which the library calls for every
 * outcome (reply, error reply, flush on close, timeout). Unlike a `.then` on its promise, this adds no
 * reaction to a promise the app awaits or observes; unlike handing the app a chained promise instead,
 * it cannot turn a rejection that the app handles elsewhere (a callback, its own `.then` on the
 * command) into an unhandled one. `failure` picks an error out of a resolved value (a pipeline's
 * `[err, reply]` pairs). False, and nothing changed, when `target` has no such functions.
 */
export function settleThrough(target: object, call: Outcome, failure?: (value: unknown) => unknown): boolean {
  const t = target as Settleable;
  // Each read once here (an object the app made itself may have getters).
  const resolve = t.resolve;
  const reject = t.reject;
  if (typeof resolve !== 'function' || typeof reject !== 'function') return false;
  const settle = function (this: unknown, value: unknown): unknown {
    const result = applyArgs(resolve, this, arguments);
    const err = failure === undefined ? undefined : failure(value);
    if (err != null) call.fail(err);
    else call.succeed(value);
    return result;
  };
  (settle as { [kSettledThroughUs]?: true })[kSettledThroughUs] = true;
  t.resolve = settle;
  // A reject below ours that may retry instead (ioredis's Cluster): `beforeRetries` fails the call.
  const retries = retried.has(target);
  if (retries) retried.set(target, call);
  t.reject = function (this: unknown, err: unknown): unknown {
    const result = applyArgs(reject, this, arguments);
    // ioredis 6's `isSettled` tells a retry from a rejection when the Cluster wrapped reject before us.
    if (!retries && t.isSettled !== false) call.fail(err);
    return result;
  };
  return true;
}
