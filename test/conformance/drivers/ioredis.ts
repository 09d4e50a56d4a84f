/**
 * ioredis drivers: ioredis@5 (npm alias `ioredis5`, which the registry needs as `{ ioredis5: 'ioredis' }`)
 * and ioredis@6 (`ioredis`). OpenTelemetry's ioredis instrumentation hooks the module by the name in
 * its path, `ioredis`: it never sees the aliased copy, so only ioredis@6 has the coexistence contract.
 * The library loads at `start()` or when the coexistence child reloads it.
 */
import { redisUrl } from '../../helpers/services';
import type { Driver } from '../driver';
import { noop } from '../../helpers/waits';
import { blockedPop, redisKeys, redisPeer } from './redis';

function ioredisDriver(name: string, pkg: string, otel: boolean): Driver {
  const { key, hashKey, listKey } = redisKeys(name);
  let client: any;
  let pusher: any;
  let clientId: unknown;

  const connect = async (): Promise<any> => {
    const Redis = require(pkg);
    const c = new Redis(redisUrl(), { lazyConnect: true });
    c.on('error', noop);
    await c.connect();
    return c;
  };
  const close = async (c: any): Promise<void> => {
    if (c !== undefined && c.status !== 'end') await c.quit().catch(noop);
  };

  return {
    name,
    hook: 'ioredis',
    config: pkg === 'ioredis5' ? { aliases: { ioredis5: 'ioredis' } } : undefined,
    operation: /^redis\.(GET|BLPOP)$/,
    tags: () => ({ component: 'ioredis', ...redisPeer(), 'db.statement': `GET ${key}` }),
    targets() {
      const Redis = require(`${pkg}/built/Redis`).default;
      const Pipeline = require(`${pkg}/built/Pipeline`).default;
      const Script = require(`${pkg}/built/Script`).default;
      return [
        [Redis.prototype, 'sendCommand'],
        [Redis.prototype, 'connect'],
        [Pipeline.prototype, 'exec'],
        [Pipeline.prototype, 'sendCommand'],
        [Script.prototype, 'execute'],
      ];
    },
    async start() {
      client = await connect();
      pusher = await connect();
      clientId = await client.client('ID');
      await client.set(key, 'v');
      await client.del(hashKey);
      await client.hset(hashKey, 'f', 'v');
    },
    async stop() {
      await Promise.all([close(client), close(pusher)]);
    },
    call: () => client.get(key),
    // GET on a hash: WRONGTYPE.
    failingCall: () => client.get(hashKey),
    callbackCall(callback) {
      client.get(key, callback);
    },
    inFlightCall: () =>
      blockedPop(
        client.blpop(listKey, 5).then((reply: [string, string] | null) => reply?.[1]),
        () => pusher.client('LIST'),
        clientId,
        () => pusher.rpush(listKey, 'v'),
      ),
    otel: otel
      ? {
          module: '@opentelemetry/instrumentation-ioredis',
          export: 'IORedisInstrumentation',
          reload: ['ioredis'],
          // Its default needs an OpenTelemetry parent span; the contract's calls have none.
          config: { requireParentSpan: false },
        }
      : undefined,
  };
}

export const ioredisDrivers: Driver[] = [ioredisDriver('ioredis@5', 'ioredis5', false), ioredisDriver('ioredis@6', 'ioredis', true)];
