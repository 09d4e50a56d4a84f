/**
 * node-redis drivers: redis@4 (`redis4`), redis@5 (`redis5`) and redis@6 (`redis`). Each uses the
 * `@redis/client` its `redis` package resolves (4 and 5 bundle their own copy), found under its own
 * name by the registry: no alias is needed. The library loads at `start()` or when OpenTelemetry's
 * coexistence child reloads it, so that OpenTelemetry can patch redis@4's command table at load.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { redisUrl } from '../../helpers/services';
import { blockedIn, noop, until } from '../../helpers/waits';
import type { Driver } from '../driver';

/** The keys of driver `name`: `key` holds a string, `hashKey` a hash (GET on it fails: WRONGTYPE), `listKey` a list BLPOP waits on. */
export function redisKeys(name: string): { key: string; hashKey: string; listKey: string } {
  const key = `otch:conformance:${name}`;
  return { key, hashKey: `${key}:hash`, listKey: `${key}:list` };
}

/**
 * A BLPOP in flight: resolves once the server lists client `clientId` (`clientList()`) blocked in it;
 * `push`, which answers it, runs after the contract has uninstalled the hook.
 */
export async function blockedPop(outcome: Promise<unknown>, clientList: () => Promise<unknown>, clientId: unknown, push: () => Promise<unknown>): Promise<{ outcome: Promise<unknown> }> {
  await until(async () => blockedIn(await clientList(), clientId, 'blpop'), 'BLPOP to block');
  setImmediate(() => void push());
  return { outcome };
}

export function redisPeer(): Record<string, unknown> {
  const url = new URL(redisUrl());
  return { 'db.type': 'redis', 'db.instance': '0', 'peer.hostname': url.hostname, 'peer.port': Number(url.port) };
}

function nodeRedisDriver(name: string, pkg: string, major: 4 | 5 | 6): Driver {
  const clientDir = path.dirname(createRequire(require.resolve(`${pkg}/package.json`)).resolve('@redis/client/package.json'));
  const internal = (file: string): any => require(path.join(clientDir, file));
  const { key, hashKey, listKey } = redisKeys(name);
  let client: any;
  let pusher: any;
  let legacy: any;
  let clientId: unknown;

  const connect = async (options: object = {}): Promise<any> => {
    const c = require(pkg).createClient({ url: redisUrl(), ...options });
    c.on('error', noop);
    await c.connect();
    return c;
  };
  const close = async (c: any): Promise<void> => {
    if (c?.isOpen) await (c.close ? c.close() : c.quit());
  };

  return {
    name,
    hook: 'redis',
    operation: /^redis\.(GET|BLPOP)$/,
    tags: () => ({ component: 'redis', ...redisPeer(), 'db.statement': `GET ${key}` }),
    targets() {
      const client = internal('dist/lib/client').default.prototype;
      const queue = internal('dist/lib/client/commands-queue').default.prototype;
      const common: Array<[object, PropertyKey]> = [
        [queue, 'addCommand'],
        [client, 'sendCommand'],
        [client, 'connect'],
      ];
      if (major === 4) return [...common, [client, 'get'], [client, 'multiExecutor'], [internal('dist/lib/commander'), 'transformLegacyCommandArguments']];
      return [...common, [client, '_executeMulti'], [client, '_executePipeline']];
    },
    async start() {
      // redis@6 arms a 5-second AbortSignal.timeout per command by default; those timers outlive the
      // heap check's GC (traced or not, ~7 MB over its 20,000 calls), so the measured client has none.
      client = await connect(major === 6 ? { commandOptions: { timeout: 0 } } : {});
      pusher = await connect();
      clientId = await client.sendCommand(['CLIENT', 'ID']);
      await client.set(key, 'v');
      await client.del(hashKey);
      await client.hSet(hashKey, 'f', 'v');
      if (major === 4) legacy = await connect({ legacyMode: true });
    },
    async stop() {
      await Promise.all([close(client), close(pusher), close(legacy)]);
    },
    call: () => client.get(key),
    // GET on a hash: WRONGTYPE.
    failingCall: () => client.get(hashKey),
    callbackCall(callback) {
      (major === 4 ? legacy : client.legacy()).get(key, callback);
    },
    inFlightCall: () =>
      blockedPop(
        client.blPop(listKey, 5).then((reply: { element: string } | null) => reply?.element),
        () => pusher.sendCommand(['CLIENT', 'LIST']),
        clientId,
        () => pusher.rPush(listKey, 'v'),
      ),
    otel: {
      module: '@opentelemetry/instrumentation-redis',
      export: 'RedisInstrumentation',
      reload: [path.join(clientDir, 'dist/lib/client/index.js')],
    },
  };
}

export const redisDrivers: Driver[] = [nodeRedisDriver('redis@4', 'redis4', 4), nodeRedisDriver('redis@5', 'redis5', 5), nodeRedisDriver('redis@6', 'redis', 6)];
