import path from 'node:path';
import type { RedisOptions } from '../config';
import { wrap, unwrap } from '../patch';
import type { HookDefinition } from '../registry';
import type { ActiveHook } from '../spans';
import { RedisPeer, startBatchSpan, startCommandSpan, wrapConnect } from '../redis-common';

/**
 * node-redis (`redis` 4 to 6, i.e. `@redis/client` 1, 5 and 6). Every command of every major passes
 * through `RedisCommandsQueue.prototype.addCommand`, which gets the arguments and returns the reply
 * promise. The client's entry points mark, for the synchronous part of their call, which client
 * is sending and whether a MULTI/pipeline owns the commands; the client's own handshake commands
 * (HELLO, AUTH, SELECT) are sent from neither and are not traced.
 */

interface Sending {
  client: RedisClientLike;
  /** A MULTI or pipeline span covers these commands. */
  batch: boolean;
}

interface RedisClientLike {
  options?: { url?: string; database?: number; socket?: { host?: string; port?: number; path?: string } };
}

let sending: Sending | undefined;

/** The client itself: @redis/client 5+ runs commands on proxies that point to it through `_self`. */
function selfOf(client: RedisClientLike): RedisClientLike {
  return (client as { _self?: RedisClientLike })._self ?? client;
}
const peers = new WeakMap<object, RedisPeer>();
/** Which client a command queue belongs to, learnt from the first command a client sends through it. */
const queuePeers = new WeakMap<object, RedisPeer>();

function peerOf(client: RedisClientLike): RedisPeer {
  let peer = peers.get(client);
  if (peer !== undefined) return peer;
  const options = client.options ?? {};
  peer = { host: options.socket?.host, port: options.socket?.port, db: options.database ?? 0 };
  if (options.url !== undefined) {
    try {
      // Only host, port and database are read: credentials in the URL never reach a span.
      const url = new URL(options.url);
      peer.host = url.hostname || peer.host;
      peer.port = url.port ? Number(url.port) : peer.port ?? 6379;
      const db = url.pathname.slice(1);
      if (db !== '' && options.database === undefined) peer.db = Number(db);
    } catch {
      // Unparsable URL: leave the peer as far as known.
    }
  }
  peer.host ??= 'localhost';
  peer.port ??= 6379;
  peers.set(client, peer);
  return peer;
}

/** Calls `original` with `client` marked as the sender for its synchronous part. */
function asSender(client: RedisClientLike, batch: boolean, original: (...args: any[]) => any, thisArg: unknown, args: IArguments): any {
  const previous = sending;
  sending = { client, batch };
  try {
    return original.apply(thisArg, args as unknown as any[]);
  } finally {
    sending = previous;
  }
}

function wrapAddCommand(hook: ActiveHook<RedisOptions>, legacyFallback: boolean) {
  return (original: (...args: any[]) => any) =>
    function addCommand(this: object, args: unknown[], options?: { asap?: boolean; chainId?: unknown }): any {
      const current = sending;
      let peer: RedisPeer | undefined;
      if (current !== undefined) {
        if (current.batch) return original.apply(this, arguments as unknown as any[]);
        peer = peerOf(current.client);
        if (legacyFallback) queuePeers.set(this, peer);
      } else if (legacyFallback && options?.asap !== true && options?.chainId === undefined) {
        // @redis/client 1.x legacy mode sends through a private method; its handshake is `asap`.
        peer = queuePeers.get(this) ?? {};
      } else {
        return original.apply(this, arguments as unknown as any[]);
      }
      if (!Array.isArray(args) || args.length === 0) return original.apply(this, arguments as unknown as any[]);
      let call;
      try {
        call = startCommandSpan(hook, 'redis', String(args[0]), args.slice(1), peer);
      } catch {
        call = undefined;
      }
      const result = original.apply(this, arguments as unknown as any[]);
      if (call !== undefined) {
        if (result !== undefined && typeof result.then === 'function') call.follow(result);
        else call.finish(undefined);
      }
      return result;
    };
}

function wrapSender() {
  return (original: (...args: any[]) => any) =>
    function sender(this: RedisClientLike): any {
      return asSender(selfOf(this), false, original, this, arguments);
    };
}

function wrapBatch(hook: ActiveHook<RedisOptions>, kindOf: (args: IArguments) => 'MULTI' | 'PIPELINE') {
  return (original: (...args: any[]) => any) =>
    function batch(this: RedisClientLike, commands: Array<{ args: unknown[] }>): any {
      const client = selfOf(this);
      let call;
      try {
        const list = Array.isArray(commands) ? commands.map((c) => ({ name: String(c.args[0]), args: c.args.slice(1) })) : [];
        call = startBatchSpan(hook, 'redis', kindOf(arguments), list, peerOf(client));
      } catch {
        call = undefined;
      }
      let result;
      try {
        result = asSender(client, true, original, this, arguments);
      } catch (err) {
        call?.finish(err);
        throw err;
      }
      if (call !== undefined && result !== undefined && typeof result.then === 'function') call.follow(result);
      return result;
    };
}


function v1CommandNames(basedir: string): string[] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return Object.keys(require(path.join(basedir, 'dist', 'lib', 'client', 'commands')).default);
  } catch {
    return [];
  }
}

/** What each client prototype had wrapped, so that unpatching restores exactly that. */
const wrappedNames = new WeakMap<object, string[]>();

const CLIENT_SENDERS = ['sendCommand', 'commandsExecutor', 'functionsExecuter', 'scriptsExecuter', 'executeFunction', 'executeScript'];

export const redisHook: HookDefinition = {
  name: 'redis',
  targets: [
    {
      module: '@redis/client',
      file: 'dist/lib/client/commands-queue',
      versions: '>=1.0.0 <7',
      patch(exports, hook: ActiveHook<RedisOptions>, version) {
        wrap(exports.default.prototype, 'addCommand', wrapAddCommand(hook, /^1\./.test(version ?? '')));
      },
      unpatch(exports) {
        unwrap(exports.default.prototype, 'addCommand');
      },
    },
    {
      module: '@redis/client',
      file: 'dist/lib/client',
      versions: '>=1.0.0 <7',
      patch(exports, hook: ActiveHook<RedisOptions>, version, basedir) {
        const proto = exports.default.prototype;
        const wrapped: string[] = [];
        const wrapOwn = (name: string, wrapper: Parameters<typeof wrap>[2]): void => {
          if (Object.prototype.hasOwnProperty.call(proto, name) && wrap(proto, name, wrapper)) wrapped.push(name);
        };
        for (const name of CLIENT_SENDERS) wrapOwn(name, wrapSender());
        if (/^1\./.test(version ?? '') && basedir !== undefined) {
          // 1.x attached its command methods with the executor captured at load: mark them one by one.
          for (const name of v1CommandNames(basedir)) wrapOwn(name, wrapSender());
        }
        // @redis/client 1.x: a chainId means MULTI, none means pipeline.
        wrapOwn('multiExecutor', wrapBatch(hook, (args) => (args[2] ? 'MULTI' : 'PIPELINE')));
        wrapOwn('_executeMulti', wrapBatch(hook, () => 'MULTI'));
        wrapOwn('_executePipeline', wrapBatch(hook, () => 'PIPELINE'));
        wrapOwn('connect', wrapConnect(hook, 'redis', (client: RedisClientLike) => peerOf(selfOf(client))));
        wrappedNames.set(proto, wrapped);
      },
      unpatch(exports) {
        const proto = exports.default.prototype;
        for (const name of wrappedNames.get(proto) ?? []) unwrap(proto, name);
        wrappedNames.delete(proto);
      },
    },
  ],
};
