/**
 * ioredis span logic (declared in ../hooks/ioredis), for ioredis 5 and 6. `Redis.prototype.sendCommand`
 * sees every command (a Cluster's too, on the node it goes to), and sees it again whenever ioredis
 * re-sends it (offline queue flush, `prevCommandQueue` after a reconnect): a command makes one span,
 * counted per Command object; what ioredis sends by itself on a reconnect (the re-subscribe, the
 * re-select) and the reconnect make none. Spans finish through the command's own `resolve`/`reject`
 * (cores/redis.ts `settleThrough`). A pipeline's or MULTI's commands go out through a stream marked
 * `isPipeline`; its exec span covers them. With `enableAutoPipelining`, each command given to an
 * auto-pipeline has its own span, started in its caller's context, and the batch is ioredis's own work.
 * A script's call is one span, its re-send as EVAL after NOSCRIPT included.
 *
 * A Cluster queues the app's commands until it is ready and re-routes them on MOVED/ASK, so a command's
 * parent is taken when the app gives it to the Cluster, and its span ends with the final reply, not a redirect. The Cluster's slot refreshes, ready check and
 * redirects (the ASKING it sends), and a sentinel's queries and connections, are ioredis's own work: no
 * span, never in a request's context.
 */
import type { Span } from 'opentracing';
import type { ActiveHook, PatchContext } from '../registry/define';
import { asOwnWork, callbackInCallerContext, connectOutside, DbCall, DbConnection, inOwnWork, ownWork, ownWorkHasRun, ownWorkMethods, runInContext } from '../cores/db-call';
import { BatchCommand, beforeRetries, connectDetached, Outcome, outsideOwnWork, redisConnection, RedisOptions, settlesThroughUs, settleThrough, startRedisBatch, startRedisCommand } from '../cores/redis';
import { clientParent, tracingOff } from '../spans';
import { applyArgs } from '../apply-args';

interface IoredisClient {
  options?: { host?: string; port?: number; db?: number; path?: string };
  status?: string;
  /** The connection's state: `select` is the database ioredis sends to, which follows SELECT. */
  condition?: { select?: number } | null;
}

interface CommandLike {
  name: unknown;
  args: unknown[];
  transformReply?: (raw: unknown) => unknown;
}

interface PipelineLike {
  _queue?: CommandLike[];
  redis?: IoredisClient;
  /** A Cluster's pipeline: its node is picked when it is sent, by its keys. */
  isCluster?: boolean;
}

/**
 * The symbols with which ioredis's autoPipelining module marks the pipelines it makes itself
 * (`enableAutoPipelining`): `exec` once made, `callbacks` (one per command, each settling the promise the
 * app got) until the batch is sent. One pair per loaded copy of ioredis.
 */
const autoPipelineKeys: { exec: symbol; callbacks: symbol }[] = [];

/** The callbacks of the auto-pipeline `pipeline` is, while it takes commands; undefined for the app's own pipelines. */
function autoPipelineCallbacks(pipeline: object): unknown[] | undefined {
  for (const keys of autoPipelineKeys) {
    const callbacks: unknown = (pipeline as Record<symbol, unknown>)[keys.callbacks];
    if (Array.isArray(callbacks)) return callbacks;
  }
  return undefined;
}

function isAutoPipeline(pipeline: object): boolean {
  for (const keys of autoPipelineKeys) if ((pipeline as Record<symbol, unknown>)[keys.exec] !== undefined) return true;
  return false;
}

/** Commands ioredis sends itself while connecting (HELLO, AUTH, CLIENT SETINFO, INFO, SELECT…). */
const HANDSHAKE = new Set(['auth', 'hello', 'client', 'info', 'select', 'readonly']);

/**
 * Pipelines that have their span, commands that have one but no settle functions of their own to carry
 * the mark (see `hasSpan`), and commands that ioredis's own work sent (no span, re-sends included): a
 * WeakSet, so that ioredis's objects keep their shape.
 */
const traced = new WeakSet<object>();
/** Until something is marked, no command needs looking up. */
let tracedUsed = false;

function mark(target: object): void {
  tracedUsed = true;
  traced.add(target);
}

/** Whether `command` has its span, or is ioredis's own: what ioredis sends again makes no second span. */
function hasSpan(command: object): boolean {
  return settlesThroughUs(command) || (tracedUsed && traced.has(command));
}

/** The parent of each command given to a Cluster (null: a root span), for when a node sends it. */
const clusterParents = new WeakMap<object, Span | null>();
let clusterUsed = false;

/** Connections that belong to ioredis's own work (a sentinel's): they stay out of every request. */
const ownClients = new WeakSet<object>();
let ownClientsMade = false;
/**
 * A Cluster's node and subscriber connections: their connect is ioredis's own work, wherever it starts (the
 * first command a lazy connection gets), while the app's commands on them keep their spans.
 */
const ownConnections = new WeakSet<object>();

function isCommand(command: unknown): command is CommandLike {
  return command !== null && typeof command === 'object';
}

/**
 * How deep in ioredis's ready handler this runs. What it sends there is ioredis's own (the re-select, the
 * re-subscribe after a reconnect, MONITOR): the app's commands it re-sends have their span already, and
 * the app's `ready` listeners run later (status events are emitted on the next tick).
 */
let inReadyHandler = 0;

/** No span for `command`: if ioredis's own work sends it, it is marked so that its re-sends make none either. */
function untraced(hook: ActiveHook<RedisOptions>, command: unknown): void {
  if (hook.enabled && isCommand(command) && (inReadyHandler !== 0 || (ownWorkHasRun() && inOwnWork(hook)))) mark(command);
}

const connections = new WeakMap<object, DbConnection>();

/** A Cluster's pipelines and MULTIs, by their first command, until it goes out to a node: the span's peer. */
const clusterBatches = new WeakMap<object, DbCall>();
let clusterBatchesUsed = false;

/** A Cluster has only database 0; the node is known when the batch is sent. */
const CLUSTER_CONNECTION: DbConnection = { instance: 0 };

/** A cluster batch's first command goes out through `node`: the batch's span takes its address. */
function tagClusterBatch(hook: ActiveHook<RedisOptions>, command: unknown, node: IoredisClient): void {
  if (!isCommand(command)) return;
  const call = clusterBatches.get(command);
  if (call === undefined) return;
  clusterBatches.delete(command);
  call.addPeer(hook.options.peerService, connectionOf(node));
}

function connectionOf(client: IoredisClient): DbConnection {
  // ioredis has parsed any URL into these options already; the password is never read.
  const o = client.options ?? {};
  // The database ioredis sends to now: the one SELECT chose, which ioredis selects again after a reconnect.
  const db = client.condition?.select ?? o.db ?? 0;
  let connection = connections.get(client);
  if (connection === undefined || connection.instance !== db) {
    connection = redisConnection({ host: o.host, port: o.port, path: o.path, db });
    connections.set(client, connection);
  }
  return connection;
}

function replyOf(command: CommandLike) {
  // The command resolves with the raw reply; the app sees it transformed (Buffer to string, HGETALL to object).
  return (raw: unknown): unknown => (typeof command.transformReply === 'function' ? command.transformReply(raw) : raw);
}

/**
 * Finishes `call` through `target`'s own settle functions (by way of `outcome`, when given), or from what
 * `original` returns when it has none.
 */
function run(call: DbCall, target: object, original: (...args: any[]) => any, thisArg: unknown, args: IArguments, failure?: (value: unknown) => unknown, outcome: Outcome = call): any {
  // Its settle functions are ours now: `hasSpan` knows it by them.
  if (settleThrough(target, outcome, failure)) return call.invoke(original, thisArg, args);
  mark(target);
  return call.invokeAndChain(original, thisArg, args);
}

/**
 * Scripts (`defineCommand`): ioredis's `Script#execute` sends an EVALSHA command of the script's own class,
 * and when it fails with NOSCRIPT, a `.catch` on its promise sends a new one (as EVAL) by itself. The app's
 * call is one span, on the first command, named for it (`redis.EVALSHA`), that ends with the re-send's reply.
 */
interface ScriptCall {
  /** The span of the app's call, left open by a NOSCRIPT; none when a pipeline's span covers the call. */
  call?: DbCall;
}

/** The Command class of the script whose `execute` runs now: a command of it sent now is an app's call. */
let executingScript: unknown;
let scriptsUsed = false;
/** The first command of each script call. */
const scriptFirsts = new WeakMap<object, ScriptCall>();
/** Per script (its Command class), the calls whose first command got NOSCRIPT: ioredis re-sends them in that order. */
const awaitingResend = new WeakMap<object, ScriptCall[]>();
/** How many calls wait for their re-send. */
let awaitingCount = 0;
/** ioredis's re-sends, and the call each one continues (a Cluster's, from when it takes it to when a node sends it). */
const resends = new WeakMap<object, ScriptCall>();
let resendSeen = false;

/** A NOSCRIPT error, as ioredis tells one. */
function isNoScript(err: unknown): boolean {
  const message = err !== null && typeof err === 'object' ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message.includes('NOSCRIPT');
}

/**
 * Notes a command that the script running `execute` sends now (its first command), whatever its context:
 * every first is noted, so that re-sends meet their calls in order.
 */
function noteScriptFirst(command: CommandLike): void {
  if (command.constructor !== executingScript || scriptFirsts.has(command)) return;
  const script: ScriptCall = {};
  scriptFirsts.set(command, script);
  const target = command as { resolve?: unknown; reject?: unknown };
  const resolve = target.resolve;
  const reject = target.reject;
  if (typeof resolve !== 'function' || typeof reject !== 'function') return;
  // Its promise settles once: ioredis re-sends only when NOSCRIPT is the first outcome.
  let settled = false;
  target.resolve = function (this: unknown): unknown {
    settled = true;
    return applyArgs(resolve as (...args: unknown[]) => unknown, this, arguments);
  };
  target.reject = function (this: unknown, err: unknown): unknown {
    const first = !settled;
    settled = true;
    const result = applyArgs(reject as (...args: unknown[]) => unknown, this, arguments);
    if (first && isNoScript(err)) {
      const key = command.constructor as object;
      let queue = awaitingResend.get(key);
      if (queue === undefined) awaitingResend.set(key, (queue = []));
      queue.push(script);
      awaitingCount++;
    }
    return result;
  };
}

/** The call that `command` (no script call's first) continues, if it is ioredis's re-send of one after NOSCRIPT. */
function resendOf(command: CommandLike): ScriptCall | undefined {
  let script = resendSeen ? resends.get(command) : undefined;
  if (script !== undefined || awaitingCount === 0) return script;
  script = awaitingResend.get(command.constructor as object)?.shift();
  if (script === undefined) return undefined;
  awaitingCount--;
  resendSeen = true;
  resends.set(command, script);
  return script;
}

/** The re-send makes no span: the app's call, if it has one, ends with its reply. */
function continueScriptCall(script: ScriptCall, command: CommandLike, original: (...args: any[]) => any, thisArg: unknown, args: IArguments): any {
  const call = script.call;
  if (call === undefined || call.finished) {
    mark(command);
    return applyArgs(original, thisArg, args);
  }
  return run(call, command, original, thisArg, args);
}

/** How a script call's first command settles its span: a NOSCRIPT leaves it open for ioredis's re-send. */
function scriptOutcome(call: DbCall, script: ScriptCall): Outcome {
  return {
    succeed: (value) => call.succeed(value),
    fail(err) {
      if (isNoScript(err) && !call.finished) script.call = call;
      else call.fail(err);
    },
  };
}

function wrapSendCommand(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function sendCommand(this: IoredisClient, command: CommandLike, stream?: { isPipeline?: boolean }): any {
      const viaPipeline = stream != null && stream.isPipeline === true;
      if (clusterBatchesUsed && viaPipeline) tagClusterBatch(hook, command, this);
      let script: ScriptCall | undefined;
      if (scriptsUsed && !viaPipeline && isCommand(command) && !hasSpan(command)) {
        if (executingScript !== undefined && hook.enabled) noteScriptFirst(command);
        script = scriptFirsts.get(command);
        const resent = script === undefined ? resendOf(command) : undefined;
        if (resent !== undefined) return continueScriptCall(resent, command, original, this, arguments);
      }
      // A sentinel's connection is ioredis's own whatever context it sends from (a re-subscribe after a
      // reconnect that a timer outside its work started).
      let parent = inReadyHandler !== 0 || (ownClientsMade && ownClients.has(this)) ? undefined : clientParent(hook);
      if (parent === undefined) {
        untraced(hook, command);
        return applyArgs(original, this, arguments);
      }
      if (clusterUsed && isCommand(command)) {
        const given = clusterParents.get(command);
        if (given !== undefined) parent = given;
      }
      if (
        !isCommand(command) ||
        hasSpan(command) ||
        // A pipeline's or MULTI's commands: its one span covers them.
        viaPipeline ||
        (this.status === 'connect' && typeof command.name === 'string' && HANDSHAKE.has(command.name.toLowerCase()))
      ) {
        return applyArgs(original, this, arguments);
      }
      const call = startRedisCommand(hook, parent, 'ioredis', command.name, command.args, 0, () => connectionOf(this), hook.options.responseHook === undefined ? undefined : replyOf(command));
      if (call === undefined) return applyArgs(original, this, arguments);
      if (script !== undefined) return run(call, command, original, this, arguments, undefined, scriptOutcome(call, script));
      // `multi({ pipeline: false })`'s EXEC: a command's failure is in its reply, as in a MULTI's.
      return run(call, command, original, this, arguments, isExec(command.name) ? execReplyError : undefined);
    };
}

/** ioredis resolves a pipeline with `[err, reply]` pairs: the first error marks the batch span. */
function firstError(replies: unknown): unknown {
  if (!Array.isArray(replies)) return undefined;
  for (const pair of replies) {
    if (Array.isArray(pair) && pair[0] != null) return pair[0];
  }
  return undefined;
}

/**
 * What a MULTI's `exec()` tells the app of a failure, from the pipeline's pairs (MULTI, QUEUED..., EXEC):
 * it rejects with EXEC's error (EXECABORT), else resolves with `[err, reply]` pairs made from EXEC's reply,
 * an error among them for each command that failed, as a pipeline does. A WATCH abort resolves with null.
 */
function multiError(replies: unknown): unknown {
  if (!Array.isArray(replies) || replies.length === 0) return undefined;
  const exec: unknown = replies[replies.length - 1];
  if (!Array.isArray(exec)) return undefined;
  return exec[0] != null ? exec[0] : execReplyError(exec[1]);
}

/** The first command error in EXEC's reply, which the app gets as the `err` of that command's pair. */
function execReplyError(reply: unknown): unknown {
  // ioredis's wrapMultiResult tells an error by `instanceof Error`.
  return Array.isArray(reply) ? reply.find((r) => r instanceof Error) : undefined;
}

function isExec(name: unknown): boolean {
  return typeof name === 'string' && name.length === 4 && name.toLowerCase() === 'exec';
}

function wrapExec(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function exec(this: PipelineLike): any {
      // An auto-pipeline: ioredis's own batch of the commands the app gave it, from whichever request's
      // tick; each command has its span (`traceAutoPipelined`), and what the batch does makes none.
      if (autoPipelineKeys.length !== 0 && isAutoPipeline(this)) return tracingOff(hook) ? applyArgs(original, this, arguments) : ownWork(hook, original, this, arguments);
      const parent = clientParent(hook);
      // MULTI calls exec more than once for one transaction; the first call owns the span.
      if (parent === undefined || hasSpan(this) || !Array.isArray(this._queue)) return applyArgs(original, this, arguments);
      const queue = this._queue;
      const redis = this.redis ?? {};
      const first = queue[0];
      const isMulti = first !== undefined && typeof first.name === 'string' && first.name.toLowerCase() === 'multi';
      const commands = (): BatchCommand[] => {
        const list: BatchCommand[] = [];
        for (const c of queue) {
          const name = String(c.name).toLowerCase();
          if (!isMulti || (name !== 'multi' && name !== 'exec')) list.push({ name: c.name, args: c.args, from: 0 });
        }
        return list;
      };
      const cluster = this.isCluster === true;
      const call = startRedisBatch(hook, parent, 'ioredis', isMulti ? 'MULTI' : 'PIPELINE', commands, () => (cluster ? CLUSTER_CONNECTION : connectionOf(redis)));
      if (call === undefined) return applyArgs(original, this, arguments);
      if (cluster && first !== undefined) {
        clusterBatchesUsed = true;
        clusterBatches.set(first, call);
      }
      // The pipeline settles with every reply, MULTI's included; errors inside it are results.
      return run(call, this, original, this, arguments, isMulti ? multiError : firstError);
    };
}

function wrapConnect(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function connect(this: IoredisClient, _callback?: unknown): any {
      // A sentinel's connection is ioredis's own, reconnects included.
      if (ownClients.has(this)) return applyArgs(original, this, arguments);
      // A Cluster's subscriber connection: no span, and its socket outside whichever request sent the first SUBSCRIBE.
      if (ownConnections.has(this)) return runInContext(undefined, original, this, arguments);
      // ioredis's reconnect timer calls connect() by itself: no span, and no part of any request.
      if (this.status === 'reconnecting') return runInContext(undefined, original, this, arguments);
      const parent = clientParent(hook);
      if (parent === undefined) return connectOutside(original, this, arguments);
      return connectDetached(hook, parent, 'ioredis', () => connectionOf(this), original, this, arguments);
    };
}

export function patchRedis(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  wrap(exports.default.prototype, 'sendCommand', wrapSendCommand(hook));
  wrap(exports.default.prototype, 'connect', wrapConnect(hook));
}

/**
 * Cluster#sendCommand: the app's command takes its parent now, whenever and wherever a node sends it. A
 * command without a node gets the Cluster's redirect handling around its `reject`: its span ends with
 * the reply after the redirects, not at the first MOVED or ASK (`beforeRetries`).
 */
function wrapClusterSendCommand(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function sendCommand(this: unknown, command: unknown, stream?: { isPipeline?: boolean }, node?: unknown): any {
      // A script call's first command, or ioredis's re-send of one, is known here, in the order they come.
      if (scriptsUsed && isCommand(command) && !(stream != null && stream.isPipeline === true) && !hasSpan(command)) {
        if (executingScript !== undefined && hook.enabled) noteScriptFirst(command);
        if (!scriptFirsts.has(command)) resendOf(command);
      }
      const parent = clientParent(hook);
      if (parent === undefined) untraced(hook, command);
      else if (node == null && isCommand(command)) beforeRetries(command);
      if (parent !== undefined && isCommand(command) && !hasSpan(command) && !clusterParents.has(command)) {
        clusterUsed = true;
        clusterParents.set(command, parent);
      }
      return applyArgs(original, this, arguments);
    };
}

/** A sentinel's connection (made inside its own work) is ioredis's own: no span, reconnects included. */
function markOwnClient(client: unknown): void {
  if (client === null || typeof client !== 'object') return;
  ownClientsMade = true;
  ownClients.add(client);
}

export function patchCluster(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default?.prototype;
  if (proto === undefined) return;
  wrap(proto, 'sendCommand', wrapClusterSendCommand(hook));
  // What waits there for the slots (an auto-pipelined command, a MULTI given before the Cluster is ready)
  // goes on in its caller's context, not in that of the work that made it ready.
  wrap(proto, 'delayUntilReady', callbackInCallerContext(hook, 0));
  // handleError takes a redirect (MOVED, ASK, TRYAGAIN): the ASKING it sends is ioredis's own; the command keeps its one span.
  ownWorkMethods(proto, ['getInfoFromNode', 'readyCheck', 'handleError'], hook, wrap);
}

/**
 * A Cluster's subscriber (`ClusterSubscriber`): `selectSubscriber` (at ready, and after the subscriber's node
 * is lost) makes its connection and subscribes it again to the channels the app had: ioredis's own work.
 */
export function patchClusterSubscriber(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default?.prototype;
  if (proto === undefined) return;
  wrap(proto, 'selectSubscriber', (original: (...args: any[]) => any) =>
    function selectSubscriber(this: { subscriber?: unknown }): unknown {
      if (!hook.enabled) return applyArgs(original, this, arguments);
      try {
        return ownWork(hook, original, this, arguments);
      } finally {
        markOwnConnection(this.subscriber);
      }
    },
  );
}

/** A Cluster's sharded subscriber (`ShardedSubscriber`, one per master): `start` connects it, ioredis's own work. */
export function patchShardedSubscriber(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default?.prototype;
  if (proto === undefined) return;
  wrap(proto, 'start', (original: (...args: any[]) => any) =>
    function start(this: { instance?: unknown }): unknown {
      if (hook.enabled) markOwnConnection(this.instance);
      return applyArgs(original, this, arguments);
    },
  );
}

function markOwnConnection(client: unknown): void {
  if (client !== null && typeof client === 'object') ownConnections.add(client);
}

/**
 * ioredis 6's managed HIMPORT fieldsets: the HIMPORT PREPARE it sends in each handshake, before an app's
 * HIMPORT SET on a connection that lost them (a RESET), to recover from "no such fieldset", and on a
 * Cluster's new masters, is its own work. The app's SET keeps its one span, re-sent or not.
 */
export function patchHimportCoordinator(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  ownWorkMethods(exports.default?.prototype, ['ensurePrepared'], hook, wrap);
}

export function patchSentinelConnector(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default?.prototype;
  if (proto === undefined) return;
  ownWorkMethods(proto, ['resolve', 'initFailoverDetector'], hook, wrap);
  wrap(proto, 'connectToSentinel', asOwnWork(hook, markOwnClient));
}

/**
 * A Cluster's node pool emits `+node`, `-node`, `drain` and `nodeError` from inside ioredis's own work (the
 * CLUSTER SLOTS reply in getInfoFromNode, a MOVED/ASK redirect). Its listeners (the Cluster's, which closes
 * and schedules its reconnect on `drain`, and the app's) run outside that work: what they do, and all that
 * follows from it, is the app's again.
 */
export function patchConnectionPool(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default?.prototype;
  if (proto === undefined || typeof proto.emit !== 'function') return;
  wrap(proto, 'emit', (original) =>
    function emit(this: unknown): any {
      return hook.enabled ? outsideOwnWork(hook, original, this, arguments) : applyArgs(original, this, arguments);
    },
  );
  // The node connections it makes (lazy: connected by the first command a node gets, often one the
  // Cluster had queued and sends from its ready handler) are the Cluster's own.
  for (const name of ['createRedisFromOptions', 'findOrCreate']) {
    if (typeof proto[name] !== 'function') continue;
    wrap(proto, name, (original) =>
      function makesNode(this: unknown): any {
        const redis = applyArgs(original, this, arguments);
        if (hook.enabled) markOwnConnection(redis);
        return redis;
      },
    );
  }
}

/** ioredis's ready handler: what it sends by itself is marked (`inReadyHandler`). */
export function patchEventHandler(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  if (typeof exports.readyHandler !== 'function') return;
  wrap(exports, 'readyHandler', (original) =>
    function readyHandler(this: unknown): any {
      const handler = applyArgs(original, this, arguments);
      if (!hook.enabled || typeof handler !== 'function') return handler;
      return function ready(this: unknown): any {
        inReadyHandler++;
        try {
          return applyArgs(handler, this, arguments);
        } finally {
          inReadyHandler--;
        }
      };
    },
  );
}

/**
 * A command the app gives an auto-pipeline (`pipeline` has just queued the callback that will settle the
 * app's promise): its span starts now, under the app's caller, as `redis.<COMMAND>`, and ends when ioredis
 * calls that callback with the command's reply or error, once the batch is back.
 */
function traceAutoPipelined(hook: ActiveHook<RedisOptions>, pipeline: PipelineLike, command: CommandLike, callbacks: unknown[]): void {
  const parent = clientParent(hook);
  const last = callbacks.length - 1;
  const callback = callbacks[last];
  if (parent === undefined || typeof callback !== 'function' || hasSpan(command)) return;
  const cluster = pipeline.isCluster === true;
  const redis = pipeline.redis ?? {};
  // The callback gets the reply as the app does: the responseHook's as it is.
  const call = startRedisCommand(hook, parent, 'ioredis', command.name, command.args, 0, () => (cluster ? CLUSTER_CONNECTION : connectionOf(redis)));
  if (call === undefined) return;
  mark(command);
  if (cluster) {
    clusterBatchesUsed = true;
    clusterBatches.set(command, call);
  }
  callbacks[last] = function (this: unknown, err: unknown, value: unknown): unknown {
    call.settle(err, value);
    return applyArgs(callback as (...args: unknown[]) => unknown, this, arguments);
  };
}

function wrapPipelineSendCommand(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function sendCommand(this: PipelineLike, command: unknown): any {
      if (hook.enabled && isCommand(command)) {
        // A script call given to a pipeline: the pipeline's span (or an auto-pipelined command's) covers
        // ioredis's re-send after NOSCRIPT.
        if (executingScript !== undefined) noteScriptFirst(command);
        const callbacks = autoPipelineKeys.length === 0 ? undefined : autoPipelineCallbacks(this);
        if (callbacks !== undefined) traceAutoPipelined(hook, this, command, callbacks);
      }
      return applyArgs(original, this, arguments);
    };
}

/** Script#execute: what it sends at once is the app's call (`noteScriptFirst`). */
function wrapScriptExecute(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function execute(this: { Command?: unknown }): any {
      if (tracingOff(hook)) return applyArgs(original, this, arguments);
      const previous = executingScript;
      const type = this.Command;
      executingScript = typeof type === 'function' ? type : undefined;
      scriptsUsed = true;
      try {
        return applyArgs(original, this, arguments);
      } finally {
        executingScript = previous;
      }
    };
}

export function patchScript(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  const proto = exports.default?.prototype;
  if (proto !== undefined && typeof proto.execute === 'function') wrap(proto, 'execute', wrapScriptExecute(hook));
}

export function patchPipeline(exports: any, { hook, wrap }: PatchContext<RedisOptions, undefined>): void {
  wrap(exports.default.prototype, 'exec', wrapExec(hook));
  wrap(exports.default.prototype, 'sendCommand', wrapPipelineSendCommand(hook));
}

/** ioredis's autoPipelining module: the symbols that mark its pipelines (`autoPipelineKeys`). Nothing is wrapped. */
export function patchAutoPipelining(exports: any, _ctx: PatchContext<RedisOptions, undefined>): void {
  const exec: unknown = exports?.kExec;
  const callbacks: unknown = exports?.kCallbacks;
  if (typeof exec !== 'symbol' || typeof callbacks !== 'symbol' || autoPipelineKeys.some((k) => k.exec === exec)) return;
  autoPipelineKeys.push({ exec, callbacks });
}
