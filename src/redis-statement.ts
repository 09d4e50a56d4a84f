/**
 * Redis statements for `db.statement`: the command, its keys, and `?` for every value; no argument at
 * all for commands that carry credentials or server configuration. A leaf, like ./sql.ts.
 */

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

function keeps(s: Shape, i: number): boolean {
  switch (s) {
    case Shape.AllKeys:
    case Shape.KeyAndFields:
      return true;
    case Shape.FirstKey:
      return i === 0;
    case Shape.KeyFieldValue:
      return i === 0 || i % 2 === 1;
    case Shape.KeyValue:
      return i % 2 === 0;
    default:
      return false;
  }
}

/** The statement of `name` (upper case) with the arguments `args[from..]`. */
export function redactRedisCommand(name: string, args: readonly unknown[], from: number): string {
  if (NO_ARGS.has(name) || args.length <= from) return name;
  const secret = SECRET_SUBCOMMANDS[name];
  if (secret !== undefined) {
    const sub = argText(args[from]).toUpperCase();
    return secret.has(sub) ? name : `${name} ${sub}`;
  }
  const s = SHAPES[name];
  if (s === undefined) return name;
  let text = name;
  for (let i = from; i < args.length; i++) text += keeps(s, i - from) ? ` ${argText(args[i])}` : ' ?';
  return text;
}

/** The default `db.statement`: the command, its keys, and `?` for every value. */
export function serializeRedisCommand(command: string, args: readonly unknown[]): string {
  return redactRedisCommand(command.toUpperCase(), args, 0);
}
