import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import type { RedisCommandInfo, RedisOptions } from './config';
import { ActiveHook, finishSpan, runUserHook, startClientSpan, TagMap, truncate } from './spans';

const DEFAULT_MAX_STATEMENT = 1024;

/** Commands whose arguments are never shown: they carry credentials or server configuration. */
const NO_ARGS = new Set(['AUTH', 'HELLO', 'MIGRATE']);
/** Commands shown with their subcommand only, or nothing when the subcommand sets secrets. */
const SECRET_SUBCOMMANDS: Record<string, Set<string>> = {
  CONFIG: new Set(['SET', 'RESETSTAT', 'REWRITE']),
  ACL: new Set(['SETUSER', 'DELUSER', 'GETUSER', 'DRYRUN']),
};

/** How a command's arguments split into keys (kept) and values (shown as `?`). */
const enum Shape {
  /** Every argument is a key. */
  AllKeys,
  /** The first argument is a key, the rest are values. */
  FirstKey,
  /** A key, then field names: all kept. */
  KeyAndFields,
  /** A key, then field/value pairs. */
  KeyFieldValue,
  /** Key/value pairs. */
  KeyValue,
  /** No keys: every argument is a value. */
  NoKeys,
}

const SHAPES: Record<string, Shape> = {};
function shape(s: Shape, names: string): void {
  for (const name of names.split(' ')) SHAPES[name] = s;
}
shape(Shape.AllKeys, 'DEL EXISTS MGET UNLINK WATCH TOUCH SINTER SUNION SDIFF PFCOUNT RENAME RENAMENX COPY');
shape(
  Shape.FirstKey,
  'GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND STRLEN GETRANGE SETRANGE INCR INCRBY INCRBYFLOAT DECR DECRBY ' +
    'EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST TYPE DUMP RESTORE OBJECT KEYS SCAN ' +
    'LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM LTRIM LINSERT LPOS BLPOP BRPOP ' +
    'SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SSCAN ' +
    'ZADD ZREM ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZSCORE ZMSCORE ZCARD ZCOUNT ZINCRBY ZRANK ZREVRANK ZSCAN ZPOPMIN ZPOPMAX ' +
    'HGETALL HKEYS HVALS HLEN HSCAN HRANDFIELD XADD XLEN XRANGE XREVRANGE XDEL XTRIM PFADD SETBIT GETBIT BITCOUNT BITPOS ' +
    'PUBLISH SPUBLISH',
);
shape(Shape.KeyAndFields, 'HGET HMGET HDEL HEXISTS HSTRLEN');
shape(Shape.KeyFieldValue, 'HSET HMSET HSETNX HINCRBY HINCRBYFLOAT');
shape(Shape.KeyValue, 'MSET MSETNX');
shape(
  Shape.NoKeys,
  'PING ECHO INFO DBSIZE FLUSHDB FLUSHALL MULTI EXEC DISCARD QUIT SELECT TIME LASTSAVE SAVE BGSAVE ROLE CLIENT COMMAND ' +
    'EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO SCRIPT FUNCTION SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE UNWATCH RESET',
);

function argText(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (Buffer.isBuffer(arg)) return arg.toString('utf8');
  return String(arg);
}

/** The default `db.statement`: the command, its keys, and `?` for every value. */
export function serializeRedisCommand(command: string, args: readonly unknown[]): string {
  const name = command.toUpperCase();
  if (NO_ARGS.has(name) || args.length === 0) return name;
  const secret = SECRET_SUBCOMMANDS[name];
  if (secret !== undefined) {
    const sub = argText(args[0]).toUpperCase();
    return secret.has(sub) ? name : `${name} ${sub}`;
  }
  const s = SHAPES[name];
  if (s === undefined) return name;
  const parts = [name];
  for (let i = 0; i < args.length; i++) {
    let keep: boolean;
    switch (s) {
      case Shape.AllKeys: keep = true; break;
      case Shape.FirstKey: keep = i === 0; break;
      case Shape.KeyAndFields: keep = true; break;
      case Shape.KeyFieldValue: keep = i === 0 || i % 2 === 1; break;
      case Shape.KeyValue: keep = i % 2 === 0; break;
      default: keep = false;
    }
    parts.push(keep ? argText(args[i]) : '?');
  }
  return parts.join(' ');
}

export interface RedisPeer {
  host?: string;
  port?: number;
  db?: number | string;
}

function statementFor(options: RedisOptions, command: string, args: readonly unknown[]): string {
  let statement: string;
  if (options.dbStatementSerializer !== undefined) {
    try {
      statement = String(options.dbStatementSerializer(command, args as unknown[]));
    } catch {
      statement = command.toUpperCase();
    }
  } else {
    statement = serializeRedisCommand(command, args);
  }
  return truncate(statement, options.maxStatementLength, DEFAULT_MAX_STATEMENT);
}

/** A command (or MULTI/pipeline) span, finished once from the reply promise. */
export class RedisCall {
  private done = false;
  constructor(
    readonly hook: ActiveHook<RedisOptions>,
    readonly span: Span,
    readonly info: RedisCommandInfo,
  ) {}

  finish(err: unknown, reply?: unknown): void {
    if (this.done) return;
    this.done = true;
    const responseHook = this.hook.options.responseHook;
    if (err == null && responseHook !== undefined) runUserHook('redis responseHook', () => responseHook(this.span, this.info, reply));
    finishSpan(this.span, err == null ? undefined : err);
  }

  /** Finishes when `promise` settles; the caller keeps the very same promise. */
  follow(promise: PromiseLike<unknown>): void {
    promise.then(
      (reply) => this.finish(undefined, reply),
      (err) => this.finish(err ?? new Error('rejected')),
    );
  }
}

function baseTags(component: string, peer: RedisPeer): TagMap {
  const tags: TagMap = { [Tags.COMPONENT]: component, [Tags.DB_TYPE]: 'redis' };
  if (peer.db !== undefined) tags[Tags.DB_INSTANCE] = String(peer.db);
  if (peer.host !== undefined) tags[Tags.PEER_HOSTNAME] = peer.host;
  if (peer.port !== undefined) tags[Tags.PEER_PORT] = Number(peer.port);
  return tags;
}

export function startCommandSpan(hook: ActiveHook<RedisOptions>, component: string, command: string, args: readonly unknown[], peer: RedisPeer): RedisCall | undefined {
  const name = command.toUpperCase();
  const tags = baseTags(component, peer);
  tags[Tags.DB_STATEMENT] = statementFor(hook.options, name, args);
  const span = startClientSpan(hook, `redis.${name}`, tags);
  if (span === undefined) return undefined;
  const info: RedisCommandInfo = { command: name, args: args as unknown[] };
  const requestHook = hook.options.requestHook;
  if (requestHook !== undefined) runUserHook('redis requestHook', () => requestHook(span, info));
  return new RedisCall(hook, span, info);
}

/** One span for a MULTI or pipeline, named for it, with the count and names of its commands. */
export function startBatchSpan(hook: ActiveHook<RedisOptions>, component: string, kind: 'MULTI' | 'PIPELINE', commands: Array<{ name: string; args: readonly unknown[] }>, peer: RedisPeer): RedisCall | undefined {
  const tags = baseTags(component, peer);
  const names = commands.map((c) => c.name.toUpperCase());
  tags['db.redis.command_count'] = commands.length;
  tags['db.redis.commands'] = names.join(' ');
  tags[Tags.DB_STATEMENT] = truncate(
    commands.map((c) => statementFor(hook.options, c.name, c.args)).join('\n'),
    hook.options.maxStatementLength,
    DEFAULT_MAX_STATEMENT,
  );
  const span = startClientSpan(hook, `redis.${kind}`, tags);
  if (span === undefined) return undefined;
  const info: RedisCommandInfo = { command: kind, args: names };
  const requestHook = hook.options.requestHook;
  if (requestHook !== undefined) runUserHook('redis requestHook', () => requestHook(span, info));
  return new RedisCall(hook, span, info);
}

export function startConnectSpan(hook: ActiveHook<RedisOptions>, component: string, peer: RedisPeer): RedisCall | undefined {
  if (hook.options.traceConnect === false) return undefined;
  const span = startClientSpan(hook, 'redis.connect', baseTags(component, peer));
  return span === undefined ? undefined : new RedisCall(hook, span, { command: 'CONNECT', args: [] });
}

/** Wraps a client's `connect()` so that connecting is its own short span, with its real duration. */
export function wrapConnect(hook: ActiveHook<RedisOptions>, component: string, peerOf: (client: any) => RedisPeer) {
  return (original: (...args: any[]) => any) =>
    function connect(this: unknown): any {
      let call: RedisCall | undefined;
      try {
        call = startConnectSpan(hook, component, peerOf(this));
      } catch {
        call = undefined;
      }
      const result = original.apply(this, arguments as unknown as any[]);
      if (call !== undefined && result !== undefined && typeof result.then === 'function') call.follow(result);
      return result;
    };
}
