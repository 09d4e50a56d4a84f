/**
 * node-redis span logic (declared in ../hooks/redis), for `redis` 4 to 6, i.e. `@redis/client` 1, 5 and
 * 6. Every command of every major passes through `RedisCommandsQueue.prototype.addCommand`, which gets
 * the arguments and returns the reply promise. The client's entry points mark, for the synchronous part
 * of their call, which client is sending and whether a MULTI/pipeline span covers its commands. What the
 * client sends past them (handshake, QUIT, 1.x's `pingInterval` PINGs) is not traced, nor 5+'s
 * `pingInterval` PINGs, which go through `sendCommand` from a timer outside any context (its socket was
 * made outside one, cores/redis.ts). A cluster's discovery, a sentinel's topology work and 5+'s
 * re-authentication when a streaming credentials provider rotates them are the client's own work too: no span.
 * 5+'s client pool runs each task in the context of the code that gave it (`patchPool`).
 */
import path from 'node:path';
import type { ActiveHook, PatchContext } from '../registry/define';
import { callbackInCallerContext, connectOutside, ownWork, ownWorkMethods, runInContext } from '../cores/db-call';
import type { DbCall, DbConnection } from '../cores/db-call';
import { BatchCommand, connectDetached, redisConnection, RedisOptions, startRedisBatch, startRedisCommand } from '../cores/redis';
import { storage } from '../context';
import { clientParent } from '../spans';
import { applyArgs } from '../apply-args';

interface RedisClientLike {
  options?: { url?: string; database?: number; socket?: { host?: string; port?: number; path?: string }; pingInterval?: number };
}

/** The client sending now, for the synchronous part of one of its entry points. */
let sendingClient: RedisClientLike | undefined;
/** Whether a MULTI/pipeline span covers what `sendingClient` sends now. */
let sendingBatch = false;
/**
 * @redis/client 1.x legacy mode sends through private methods; the one public step on its way is
 * `transformLegacyCommandArguments`, whose result is what `addCommand` gets next.
 */
let legacyArgs: unknown[] | undefined;

/** The client itself: @redis/client 5+ runs commands on proxies that point to it through `_self`. */
function selfOf(client: RedisClientLike): RedisClientLike {
  return (client as { _self?: RedisClientLike })._self ?? client;
}

const connections = new WeakMap<object, DbConnection>();
/** 1.x: which client a command queue belongs to, learnt from the commands it sends (for legacy mode). */
const queueConnections = new WeakMap<object, DbConnection>();

function connectionOf(client: RedisClientLike): DbConnection {
  let connection = connections.get(client);
  if (connection === undefined) {
    const options = client.options ?? {};
    const socket = options.socket ?? {};
    connection = redisConnection({ url: options.url, host: socket.host, port: socket.port, path: socket.path, db: options.database });
    connections.set(client, connection);
  }
  return connection;
}

/** Calls `original` with `client` marked as the sender for its synchronous part. */
function asSender<R>(client: RedisClientLike, batch: boolean, run: () => R): R {
  const previousClient = sendingClient;
  const previousBatch = sendingBatch;
  sendingClient = client;
  sendingBatch = batch;
  try {
    return run();
  } finally {
    sendingClient = previousClient;
    sendingBatch = previousBatch;
  }
}

/** The connection facts of a command: its client's, or for 1.x legacy mode what its queue is known by. */
function commandConnection(queue: object, client: RedisClientLike | undefined, learnQueues: boolean): DbConnection {
  if (client === undefined) return queueConnections.get(queue) ?? {};
  const connection = connectionOf(client);
  if (learnQueues) queueConnections.set(queue, connection);
  return connection;
}

function wrapAddCommand(hook: ActiveHook<RedisOptions>, learnQueues: boolean) {
  return (original: (...args: any[]) => any) =>
    function addCommand(this: object, args: unknown[]): any {
      const client = sendingClient;
      if (client === undefined) {
        // The client's own commands (handshake, QUIT, 1.x pings); 1.x legacy mode's come unmarked too.
        if (args !== legacyArgs || args === undefined) return applyArgs(original, this, arguments);
        legacyArgs = undefined;
      } else if (sendingBatch) {
        // A MULTI/pipeline span covers it.
        return applyArgs(original, this, arguments);
      }
      const parent = clientParent(hook);
      if (parent === undefined || !Array.isArray(args) || args.length === 0) return applyArgs(original, this, arguments);
      const call = startRedisCommand(hook, parent, 'redis', args[0], args, 1, () => commandConnection(this, client, learnQueues));
      if (call === undefined) return applyArgs(original, this, arguments);
      return call.invokeAndChain(original, this, arguments);
    };
}

/**
 * 5+'s `pingInterval` heartbeat: `sendCommand(['PING'])`, one argument, from the client's own timer, which
 * runs outside any context (the client's socket is made outside one). The app's `ping()` passes its
 * command options too, and an app's own `sendCommand(['PING'])` in a request is traced.
 */
function isHeartbeat(client: RedisClientLike, args: IArguments): boolean {
  const command = args[0];
  if (args.length !== 1 || !Array.isArray(command) || command.length !== 1 || command[0] !== 'PING' || storage.getStore() !== undefined) return false;
  const interval = client.options?.pingInterval;
  return typeof interval === 'number' && interval > 0;
}

/**
 * The client's own AUTH (5+): `reAuthenticate`, run when a streaming credentials provider rotates them,
 * sends `sendCommand(parseArgs(AUTH, …))`. It is an instance field, out of reach of a prototype wrap;
 * the arguments `parseArgs` (the client's own helper) builds for AUTH are marked instead.
 */
const ownAuthArgs = new WeakSet<object>();
let ownAuthArgsMade = false;

function wrapSender(hook: ActiveHook<RedisOptions>, name: string) {
  return (original: (...args: any[]) => any) =>
    function sender(this: RedisClientLike): any {
      if (clientParent(hook) === undefined || (name === 'sendCommand' && isHeartbeat(selfOf(this), arguments))) return applyArgs(original, this, arguments);
      if (ownAuthArgsMade && name === 'sendCommand' && ownAuthArgs.has(arguments[0])) return ownWork(hook, original, this, arguments);
      return asSender(selfOf(this), false, () => applyArgs(original, this, arguments));
    };
}

/** The command a script call sends first (EVALSHA): 1.x's `executeScript(script, args, options)`. */
function v1ScriptArgs(args: IArguments): unknown[] {
  const script = args[0] as { SHA1?: unknown; NUMBER_OF_KEYS?: unknown };
  const keys = script.NUMBER_OF_KEYS;
  return ['EVALSHA', script.SHA1, ...(keys === undefined ? [] : [String(keys)]), ...(args[1] as unknown[])];
}

/** 5+'s `_executeScript(script, parser, …)`: a copy, as the client turns the same array into its EVAL. */
function scriptArgs(args: IArguments): unknown[] {
  return (args[1] as { redisArgs: unknown[] }).redisArgs.slice();
}

/**
 * A script call (`executeScript`, 5+'s `_executeScript`): one span, named for its EVALSHA, that ends with
 * the reply the app gets. On NOSCRIPT the client sends EVAL by itself: that, and the EVALSHA, are covered
 * by this span, and a NOSCRIPT it recovers from is no error.
 */
function wrapScript(hook: ActiveHook<RedisOptions>, argsOf: (args: IArguments) => unknown[]) {
  return (original: (...args: any[]) => any) =>
    function executeScript(this: RedisClientLike): any {
      const parent = clientParent(hook);
      if (parent === undefined) return applyArgs(original, this, arguments);
      const client = selfOf(this);
      let call: DbCall | undefined;
      try {
        const args = argsOf(arguments);
        call = startRedisCommand(hook, parent, 'redis', args[0], args, 1, () => connectionOf(client));
      } catch {
        call = undefined; // arguments of a shape this major does not give: no span
      }
      if (call === undefined) return applyArgs(original, this, arguments);
      return call.invokeAndChain(coveredSends, undefined, [hook, original, this, arguments]);
    };
}

/**
 * Runs `original` (a script call) with what the client sends in it covered by our span: the redis hook
 * makes no span there, while the rest (the script's `transformReply`) keeps the caller's context.
 */
function coveredSends(hook: ActiveHook, original: (...args: any[]) => any, thisArg: unknown, args: IArguments): unknown {
  const store = storage.getStore();
  return runInContext({ span: store?.span, parentContext: store?.parentContext, ownWorkOf: hook.name }, original, thisArg, args);
}

/** Where a MULTI's executor puts EXEC's reply, from which its `exec()` makes what the app gets. */
interface ExecReply {
  /** EXEC's reply in what the executor resolves with. */
  of(resolved: unknown): unknown;
  /** 1.x: the error `exec()` throws for a null EXEC reply, a WATCHed key changed (5+'s executor throws it itself). */
  watchError?(): unknown;
}

/** 5+: `_executeMulti` resolves with EXEC's reply. */
const EXEC_REPLY: ExecReply = { of: (resolved) => resolved };

/** 1.x: `multiExecutor` resolves with the replies to MULTI, the commands and EXEC; a null EXEC is its WatchError. */
function v1ExecReply(basedir: string | undefined): ExecReply {
  return {
    of: (resolved) => (Array.isArray(resolved) ? resolved[resolved.length - 1] : undefined),
    watchError: () => {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the error class of the very copy of @redis/client being patched
        return new (require(path.join(basedir ?? '', 'dist', 'lib', 'errors')).WatchError)();
      } catch {
        return new Error('EXEC aborted: a WATCHed key changed');
      }
    },
  };
}

/**
 * The error a MULTI's `exec()` rejects with although its executor resolved, or undefined. For a command
 * that failed inside it, `exec()` throws a MultiErrorReply listing them: the span logs the first one's own error.
 */
function execFailure(exec: ExecReply, resolved: unknown): unknown {
  const reply = exec.of(resolved);
  if (reply === null) return exec.watchError?.();
  return Array.isArray(reply) ? reply.find((r) => r instanceof Error) : undefined;
}

function wrapBatch(hook: ActiveHook<RedisOptions>, kindOf: (args: IArguments) => 'MULTI' | 'PIPELINE', exec?: ExecReply) {
  return (original: (...args: any[]) => any) =>
    function batch(this: RedisClientLike): any {
      const result = tracedBatch(hook, kindOf, exec, original, this, arguments);
      // Every major's executor takes the database a MULTI or pipeline selects second.
      const selectedDB = arguments[1];
      return selectedDB === undefined || !hook.enabled ? result : selecting(selfOf(this), selectedDB, result);
    };
}

function tracedBatch(
  hook: ActiveHook<RedisOptions>,
  kindOf: (args: IArguments) => 'MULTI' | 'PIPELINE',
  exec: ExecReply | undefined,
  original: (...args: any[]) => any,
  self: RedisClientLike,
  args: IArguments,
): any {
  const parent = clientParent(hook);
  if (parent === undefined) return applyArgs(original, self, args);
  const client = selfOf(self);
  const kind = kindOf(args);
  const commands = args[0] as Array<{ args: unknown[] }>;
  const list = (): BatchCommand[] => (Array.isArray(commands) ? commands.map((c) => ({ name: c.args[0], args: c.args, from: 1 })) : []);
  const call = startRedisBatch(hook, parent, 'redis', kind, list, () => connectionOf(client));
  if (call === undefined) return applyArgs(original, self, args);
  // A pipeline's executor rejects with a failed command's error; a MULTI's resolves, and exec() throws.
  const failed =
    kind === 'MULTI' && exec !== undefined
      ? (resolved: unknown): void => {
          const err = execFailure(exec, resolved);
          if (err !== undefined) call.fail(err);
        }
      : undefined;
  return asSender(client, true, () => call.chainOrSucceed(call.invoke(original, self, args), failed));
}

/** `result`, or when it is a promise, one that settles as it does, `done` run first on its success. */
function afterSuccess(result: any, done: () => void): any {
  if (result === null || typeof result !== 'object' || typeof result.then !== 'function') return result;
  return result.then((value: unknown) => {
    try {
      done();
    } catch {
      // The app's reply is not the tags' to lose.
    }
    return value;
  });
}

/**
 * What a call that selects database `db` returns (`select()`, a MULTI or pipeline with `select`): once
 * it succeeds, the client's spans carry `db`, which the client keeps (and selects again on reconnect).
 */
function selecting(client: RedisClientLike, db: unknown, result: unknown): unknown {
  if (typeof db !== 'number' && typeof db !== 'string') return result;
  return afterSuccess(result, () => {
    connectionOf(client).instance = db;
  });
}

/** `select([options,] db)`: 1.x sends it through a private method, so it is marked as the sender here. */
function wrapSelect(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function SELECT(this: RedisClientLike): any {
      if (!hook.enabled) return applyArgs(original, this, arguments);
      const client = selfOf(this);
      const result = clientParent(hook) === undefined ? applyArgs(original, this, arguments) : asSender(client, false, () => applyArgs(original, this, arguments));
      return selecting(client, arguments[arguments.length - 1], result);
    };
}

/** 5+'s `reset()`: once it succeeds, the client is back on the database of its options. */
function wrapReset(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function reset(this: RedisClientLike): any {
      const result = applyArgs(original, this, arguments);
      if (!hook.enabled) return result;
      const client = selfOf(this);
      return afterSuccess(result, () => connections.delete(client));
    };
}

function wrapConnect(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function connect(this: RedisClientLike): any {
      // Reconnects go through the socket's private method, not here: they make no span.
      const parent = clientParent(hook);
      if (parent === undefined) return connectOutside(original, this, arguments);
      const client = selfOf(this);
      return connectDetached(hook, parent, 'redis', () => connectionOf(client), original, this, arguments);
    };
}

function wrapLegacyArguments(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function transformLegacyCommandArguments(this: unknown): any {
      if (clientParent(hook) === undefined) return applyArgs(original, this, arguments);
      const result = applyArgs(original, this, arguments);
      legacyArgs = result;
      return result;
    };
}

/** 1.x attached its command methods with the executor captured at load: they are marked one by one. */
function v1CommandNames(basedir: string): string[] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the command list of the very copy of @redis/client being patched
    return Object.keys(require(path.join(basedir, 'dist', 'lib', 'client', 'commands')).default);
  } catch {
    return [];
  }
}

const CLIENT_SENDERS = ['sendCommand', 'commandsExecutor', 'functionsExecuter', 'scriptsExecuter', 'executeFunction'];

function isV1(version: string | undefined): boolean {
  return version !== undefined && version.startsWith('1.');
}

export function patchCommandsQueue(exports: any, { hook, version, wrap }: PatchContext<RedisOptions, undefined>): void {
  wrap(exports.default.prototype, 'addCommand', wrapAddCommand(hook, isV1(version)));
}

export function patchClient(exports: any, { hook, version, basedir, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default.prototype;
  // Own methods only: a name this major lacks must not wrap an inherited (EventEmitter) method.
  const wrapOwn = (name: string, makeWrapper: Parameters<typeof wrap>[2]): void => {
    if (Object.prototype.hasOwnProperty.call(proto, name)) wrap(proto, name, makeWrapper);
  };
  for (const name of CLIENT_SENDERS) wrapOwn(name, wrapSender(hook, name));
  if (isV1(version) && basedir !== undefined) {
    for (const name of v1CommandNames(basedir)) wrapOwn(name, wrapSender(hook, name));
  }
  wrapOwn('executeScript', wrapScript(hook, v1ScriptArgs));
  wrapOwn('_executeScript', wrapScript(hook, scriptArgs));
  // 1.x: a chainId means MULTI, none means pipeline.
  wrapOwn('multiExecutor', wrapBatch(hook, (args) => (args[2] ? 'MULTI' : 'PIPELINE'), v1ExecReply(basedir)));
  wrapOwn('_executeMulti', wrapBatch(hook, () => 'MULTI', EXEC_REPLY));
  wrapOwn('_executePipeline', wrapBatch(hook, () => 'PIPELINE'));
  wrapOwn('SELECT', wrapSelect(hook));
  wrapOwn('reset', wrapReset(hook));
  wrapOwn('connect', wrapConnect(hook));
}

/**
 * A cluster's discovery (at connect, after MOVED, when a node is lost) is the client's own work: no span,
 * never in the request. So is the Pub/Sub connection it opens for the app's first (S)SUBSCRIBE, and its
 * re-subscribe after that node is lost.
 */
export function patchClusterSlots(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  ownWorkMethods(exports.default?.prototype, ['connect', 'rediscover', 'getPubSubClient', 'getShardedPubSubClient'], hook, wrap);
}

/**
 * A sentinel's topology work (its queries to the sentinels, at connect and every `scanInterval`, and the
 * clients it opens or replaces) is the client's own. `connect` starts it and arms the scan timer (which
 * keeps that context); 6.x also exports the class that does it, whose rescans after a failover notice
 * run from a sentinel's socket instead.
 */
export function patchSentinel(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  ownWorkMethods(exports.default?.prototype, ['connect'], hook, wrap);
  ownWorkMethods(exports.RedisSentinelInternal?.prototype, ['observe', 'transform'], hook, wrap);
}

/** 5+'s `parseArgs`: the AUTH it builds is the client's own (see `ownAuthArgs`). */
export function patchGenericTransformers(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  if (typeof exports.parseArgs !== 'function') return;
  wrap(exports, 'parseArgs', (original) =>
    function parseArgs(this: unknown): any {
      const args = applyArgs(original, this, arguments);
      if (hook.enabled && Array.isArray(args) && args[0] === 'AUTH') {
        ownAuthArgsMade = true;
        ownAuthArgs.add(args);
      }
      return args;
    },
  );
}

export function patchCommander(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  wrap(exports, 'transformLegacyCommandArguments', wrapLegacyArguments(hook));
}

export function patchPool(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.RedisClientPool?.prototype;
  // 5+'s `RedisClientPool.execute(fn)`: a task waiting for a client runs from the `.finally` of the task that
  // gives one back, in that task's caller's context; `fn` runs in its own caller's instead.
  if (proto != null && typeof proto.execute === 'function') wrap(proto, 'execute', callbackInCallerContext(hook, 0));
}
