import type { RedisOptions } from '../config';
import { wrap, unwrap } from '../patch';
import type { HookDefinition } from '../registry';
import type { ActiveHook } from '../spans';
import { RedisPeer, startBatchSpan, startCommandSpan, wrapConnect } from '../redis-common';

/**
 * ioredis 5 and later. `Redis.prototype.sendCommand` sees every command, and sees a command again
 * when it is re-sent from the offline queue: a command that went to that queue is remembered, so
 * that it makes one span. (A WeakSet rather than a mark on the command: adding a property to every
 * Command object would change its shape and slow ioredis's own hot path.) A pipeline's commands
 * go out through a stream marked `isPipeline`, and its exec span covers them.
 */
const queuedOffline = new WeakSet<object>();
let offlinePending = 0;

interface IoredisLike {
  options?: { host?: string; port?: number; db?: number; path?: string };
  status?: string;
}

/** Commands ioredis sends itself while connecting (HELLO, AUTH, CLIENT SETINFO, INFO, SELECT…). */
const HANDSHAKE = new Set(['auth', 'hello', 'client', 'info', 'select', 'readonly']);
interface CommandLike {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
}

function peerOf(client: IoredisLike): RedisPeer {
  const o = client.options ?? {};
  return { host: o.path ?? o.host, port: o.path ? undefined : o.port, db: o.db ?? 0 };
}

function wrapSendCommand(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function sendCommand(this: IoredisLike & { offlineQueue?: { length: number } }, command: CommandLike, stream?: { isPipeline?: boolean }): any {
      if (command === null || typeof command !== 'object') return original.apply(this, arguments as unknown as any[]);
      if (offlinePending > 0 && queuedOffline.has(command)) {
        // The re-send of a command that waited in the offline queue: it has its span already.
        queuedOffline.delete(command);
        offlinePending--;
        return original.apply(this, arguments as unknown as any[]);
      }
      // A pipeline's or MULTI's commands are covered by its one span.
      if (stream !== undefined && stream !== null && stream.isPipeline === true) return original.apply(this, arguments as unknown as any[]);
      if (this.status === 'connect' && HANDSHAKE.has(String(command.name).toLowerCase())) {
        return original.apply(this, arguments as unknown as any[]);
      }
      let call;
      try {
        call = startCommandSpan(hook, 'ioredis', command.name, command.args, peerOf(this));
      } catch {
        call = undefined;
      }
      if (call !== undefined && command.promise !== undefined) call.follow(command.promise);
      const queue = this.offlineQueue;
      const queuedBefore = this.status !== 'ready' && queue !== undefined ? queue.length : -1;
      const result = original.apply(this, arguments as unknown as any[]);
      if (queuedBefore !== -1 && queue !== undefined && queue.length > queuedBefore) {
        queuedOffline.add(command);
        offlinePending++;
      }
      return result;
    };
}

const kBatch = Symbol('opentracing-client-hooks.ioredisBatch');

function wrapExec(hook: ActiveHook<RedisOptions>) {
  return (original: (...args: any[]) => any) =>
    function exec(this: { _queue?: CommandLike[]; redis?: IoredisLike; promise?: Promise<unknown>; [kBatch]?: true }): any {
      // MULTI calls exec more than once for one transaction; the first call owns the span.
      if (this[kBatch] === true || !Array.isArray(this._queue)) return original.apply(this, arguments as unknown as any[]);
      this[kBatch] = true;
      let call;
      try {
        const queue = this._queue;
        const isMulti = queue.length > 0 && String(queue[0].name).toLowerCase() === 'multi';
        const commands = queue.filter((c) => !isMulti || (c.name !== 'multi' && c.name !== 'exec')).map((c) => ({ name: c.name, args: c.args }));
        call = startBatchSpan(hook, 'ioredis', isMulti ? 'MULTI' : 'PIPELINE', commands, peerOf(this.redis ?? {}));
      } catch {
        call = undefined;
      }
      let result;
      try {
        result = original.apply(this, arguments as unknown as any[]);
      } catch (err) {
        call?.finish(err);
        throw err;
      }
      // The pipeline's own promise settles with every reply, MULTI included; errors inside it are results.
      const settled = this.promise !== undefined && typeof this.promise.then === 'function' ? this.promise : result;
      if (call !== undefined && settled !== undefined && typeof settled.then === 'function') {
        const batch = call;
        settled.then(
          (replies: unknown) => batch.finish(firstError(replies), replies),
          (err: unknown) => batch.finish(err ?? new Error('rejected')),
        );
      }
      return result;
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


export const ioredisHook: HookDefinition = {
  name: 'ioredis',
  targets: [
    // Internal files rather than the entry, which `import Redis from 'ioredis'` loads without require().
    {
      module: 'ioredis',
      file: 'built/Redis',
      versions: '>=5.0.0 <7',
      patch(exports, hook: ActiveHook<RedisOptions>) {
        wrap(exports.default.prototype, 'sendCommand', wrapSendCommand(hook));
        wrap(exports.default.prototype, 'connect', wrapConnect(hook, 'ioredis', peerOf));
      },
      unpatch(exports) {
        unwrap(exports.default.prototype, 'sendCommand');
        unwrap(exports.default.prototype, 'connect');
      },
    },
    {
      module: 'ioredis',
      file: 'built/Pipeline',
      versions: '>=5.0.0 <7',
      patch(exports, hook: ActiveHook<RedisOptions>) {
        wrap(exports.default.prototype, 'exec', wrapExec(hook));
      },
      unpatch(exports) {
        unwrap(exports.default.prototype, 'exec');
      },
    },
  ],
};
