import assert from 'node:assert/strict';
import { spawn, ChildProcess, spawnSync } from 'node:child_process';
import { installPatches, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { concurrentRequests } from '../helpers/cases';
import { blockedIn, next, noop, until } from '../helpers/waits';
import { closedPort, startServer } from '../helpers/servers';
import { redisUrl } from '../helpers/services';
import { assertDbErrorLogged, assertOneFailedDbSpan } from '../helpers/error-log';

/** What the tests need of a client, so that every client and major runs the same cases. */
interface Driver {
  label: string;
  component: 'redis' | 'ioredis';
  /** Connects; with `early`, a command is issued before the connection is ready (offline queue). */
  connect(url: string, early?: (c: any) => Promise<unknown>, noRetry?: boolean): Promise<any>;
  set(c: any, k: string, v: string): Promise<unknown>;
  get(c: any, k: string): Promise<unknown>;
  hset(c: any, h: string, f: string, v: string): Promise<unknown>;
  lpush(c: any, k: string, v: string): Promise<unknown>;
  multi(c: any, k: string): Promise<unknown>;
  pipeline(c: any, k: string): Promise<unknown>;
  raw(c: any, args: string[]): Promise<unknown>;
  blockingThenDrop(c: any): Promise<unknown>;
  callbackGet?(c: any, k: string): Promise<unknown>;
  close(c: any): Promise<void>;
}

/** Connects `c` (errors go to a listener), issuing `early` before the connection is ready. */
async function connected(c: any, early?: (c: any) => Promise<unknown>): Promise<any> {
  c.on('error', noop);
  const ready = c.connect();
  const pending = early?.(c);
  await ready;
  await pending;
  return c;
}

/** The commands both clients spell alike. */
const sameInBoth: Pick<Driver, 'set' | 'get' | 'multi'> = {
  set: (c, k, v) => c.set(k, v),
  get: (c, k) => c.get(k),
  multi: (c, k) => c.multi().set(k, '1').incr(k).get(k).exec(),
};

function nodeRedis(pkg: string, label: string): Driver {
  const mod = () => require(pkg);
  return {
    label,
    component: 'redis',
    connect: (url, early, noRetry) => connected(mod().createClient(noRetry ? { url, socket: { reconnectStrategy: false } } : { url }), early),
    ...sameInBoth,
    hset: (c, h, f, v) => c.hSet(h, f, v),
    lpush: (c, k, v) => c.lPush(k, v),
    pipeline: (c, k) => c.multi().set(k, '1').get(k).execAsPipeline(),
    raw: (c, args) => c.sendCommand(args),
    blockingThenDrop: async (c) => {
      const p = c.blPop(`empty-${Math.random()}`, 5);
      setTimeout(() => (c.destroy ? c.destroy() : c.disconnect()), 50);
      return p;
    },
    callbackGet:
      pkg === 'redis4'
        ? async (_c, k) => {
            const legacy = mod().createClient({ url: redisUrl(), legacyMode: true });
            legacy.on('error', () => undefined);
            await legacy.connect();
            const value = await new Promise((resolve, reject) => legacy.get(k, (err: Error | null, v: unknown) => (err ? reject(err) : resolve(v))));
            await legacy.v4.quit();
            return value;
          }
        : async (c, k) => {
            const legacy = c.legacy();
            return new Promise((resolve, reject) => legacy.get(k, (err: Error | null, v: unknown) => (err ? reject(err) : resolve(v))));
          },
    close: async (c) => {
      if (c.isOpen) await (c.close ? c.close() : c.quit());
    },
  };
}

function ioredis(pkg: string, label: string): Driver {
  const mod = () => require(pkg);
  return {
    label,
    component: 'ioredis',
    connect: (url, early, noRetry) => connected(new (mod())(url, noRetry ? { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 } : { lazyConnect: true }), early),
    ...sameInBoth,
    hset: (c, h, f, v) => c.hset(h, f, v),
    lpush: (c, k, v) => c.lpush(k, v),
    pipeline: (c, k) => c.pipeline().set(k, '1').get(k).exec(),
    raw: (c, args) => c.call(args[0], ...args.slice(1)),
    blockingThenDrop: async (c) => {
      const p = c.blpop(`empty-${Math.random()}`, 5);
      setTimeout(() => c.disconnect(), 50);
      return p;
    },
    callbackGet: (c, k) => new Promise((resolve, reject) => c.get(k, (err: Error | null, v: unknown) => (err ? reject(err) : resolve(v)))),
    close: async (c) => {
      if (c.status !== 'end') await c.quit().catch(() => undefined);
    },
  };
}

const DRIVERS: Driver[] = [
  nodeRedis('redis4', 'redis@4'),
  nodeRedis('redis5', 'redis@5'),
  nodeRedis('redis', 'redis@6'),
  ioredis('ioredis5', 'ioredis@5'),
  ioredis('ioredis', 'ioredis@6'),
];

const config = { aliases: { ioredis5: 'ioredis' } };

for (const driver of DRIVERS) {
  describe(`${driver.label} hook (real Redis)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    let client: any;
    const key = (name: string) => `otch:${driver.label}:${name}`;
    const commands = (): RecordedSpan[] => tracer.finished.filter((s) => s.operationName !== 'redis.connect');

    before(async () => {
      installPatches(['redis', 'ioredis'], { tracer, ...config });
      client = await driver.connect(redisUrl());
    });
    after(async () => {
      await driver.close(client);
      uninstallAllPatches();
    });
    beforeEach(() => tracer.reset());
    afterEach(() => tracer.settle());

    it('one span per command, child of the caller, with redacted statements and tags', async () => {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      await withSpan(parent, async () => {
        assert.equal(await driver.set(client, key('a'), 'secret-value'), 'OK');
        assert.equal(await driver.get(client, key('a')), 'secret-value');
        await driver.hset(client, key('h'), 'field', 'hidden');
      });
      parent.finish();
      await tracer.waitFor(4);
      const spans = commands().filter((s) => s !== parent);
      assert.deepEqual(spans.map((s) => s.operationName), ['redis.SET', 'redis.GET', 'redis.HSET']);
      assert.deepEqual(spans.map((s) => s.tags['db.statement']), [`SET ${key('a')} ?`, `GET ${key('a')}`, `HSET ${key('h')} field ?`]);
      const url = new URL(redisUrl());
      for (const s of spans) {
        assert.equal(s.parentId, parent.id);
        assert.equal(s.tags['span.kind'], 'client');
        assert.equal(s.tags.component, driver.component);
        assert.equal(s.tags['db.type'], 'redis');
        assert.equal(s.tags['db.instance'], '0');
        assert.equal(s.tags['peer.hostname'], url.hostname);
        assert.equal(s.tags['peer.port'], Number(url.port));
      }
      assert.ok(!JSON.stringify(spans.map((s) => s.tags)).includes('secret-value'));
      assert.ok(!JSON.stringify(spans.map((s) => s.tags)).includes('hidden'));
    });

    it('MULTI/EXEC: one span named for it, with the command count and names', async () => {
      const result = await driver.multi(client, key('m'));
      // ioredis answers [err, reply] pairs
      assert.deepEqual((result as unknown[]).map((r) => String(Array.isArray(r) ? r[1] : r)), ['OK', '2', '2']);
      await tracer.waitFor(1);
      await new Promise((r) => setTimeout(r, 20));
      const spans = commands();
      assert.deepEqual(spans.map((s) => s.operationName), ['redis.MULTI']);
      assert.equal(spans[0].tags['db.redis.command_count'], 3);
      assert.equal(spans[0].tags['db.redis.commands'], 'SET INCR GET');
      assert.equal(spans[0].tags['db.statement'], `SET ${key('m')} ?\nINCR ${key('m')}\nGET ${key('m')}`);
    });

    it('pipeline: one span named for it', async () => {
      await driver.pipeline(client, key('p'));
      await tracer.waitFor(1);
      await new Promise((r) => setTimeout(r, 20));
      const spans = commands();
      assert.deepEqual(spans.map((s) => s.operationName), ['redis.PIPELINE']);
      assert.equal(spans[0].tags['db.redis.command_count'], 2);
    });

    it('commands issued before the connection is ready (offline queue): exactly one span each, right parent', async () => {
      const parent = tracer.startSpan('early-parent') as RecordedSpan;
      const early = await withSpan(parent, () =>
        driver.connect(redisUrl(), (c) => Promise.all([driver.set(c, key('early'), 'v'), driver.get(c, key('early'))])),
      );
      parent.finish();
      await driver.close(early);
      await tracer.settle();
      const sets = tracer.byName('redis.SET');
      const gets = tracer.byName('redis.GET');
      assert.equal(sets.length, 1);
      assert.equal(gets.length, 1);
      assert.equal(sets[0].parentId, parent.id);
      assert.equal(gets[0].parentId, parent.id);
      const connects = tracer.byName('redis.connect');
      assert.equal(connects.length, 1);
      assert.equal(connects[0].parentId, parent.id);
      assert.ok(connects[0].endTime! >= connects[0].startTime);
    });

    it('callback (legacy) mode is traced', async () => {
      await driver.set(client, key('cb'), 'x');
      tracer.reset();
      assert.equal(await driver.callbackGet!(client, key('cb')), 'x');
      await tracer.waitFor(1);
      assert.equal(tracer.byName('redis.GET').length, 1);
    });

    it('WRONGTYPE: error span, the same error reaches the caller', async () => {
      await driver.set(client, key('str'), 'x');
      tracer.reset();
      const err = (await driver.lpush(client, key('str'), 'y').catch((e: Error) => e)) as Error;
      assert.match(err.message, /WRONGTYPE/);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'redis.LPUSH');
      assert.equal(span.tags.error, true);
      assertDbErrorLogged(span, err);
    });

    it('connection lost while a command waits: the span finishes with error', async () => {
      const doomed = await driver.connect(redisUrl());
      tracer.reset();
      const err = await driver.blockingThenDrop(doomed).then(() => undefined, (e: Error) => e);
      assert.ok(err instanceof Error);
      await tracer.settle();
      const [span] = tracer.byName('redis.BLPOP');
      assert.equal(span.tags.error, true);
    });

    it('raw commands: unknown commands keep only their name; AUTH/CONFIG SET never show arguments', async () => {
      await driver.raw(client, ['ECHO', 'hello']);
      await driver.raw(client, ['CONFIG', 'GET', 'maxmemory']);
      await driver.raw(client, ['AUTH', 'default', 'not-the-password']).catch(() => undefined);
      await tracer.settle();
      const statements = commands().map((s) => s.tags['db.statement']);
      assert.deepEqual(statements, ['ECHO ?', 'CONFIG GET', 'AUTH']);
      assert.ok(!JSON.stringify(tracer.finished.map((s) => [s.tags, s.logs.map((l) => l.fields.message)])).includes('not-the-password'));
    });

    it('dbStatementSerializer, maxStatementLength, request/response hooks (throwing ones contained), requireParent', async () => {
      uninstallAllPatches();
      const replies: unknown[] = [];
      const options = {
        dbStatementSerializer: (cmd: string, args: unknown[]) => `${cmd} ${args.length} args and a long tail`,
        maxStatementLength: 12,
        requestHook: (span: any, info: any) => { span.setTag('app.cmd', info.command); throw new Error('bug'); },
        responseHook: (_span: any, _info: any, reply: unknown) => { replies.push(reply); throw new Error('bug'); },
      };
      installPatches(['redis', 'ioredis'], { tracer, ...config, hooks: { redis: options, ioredis: options } });
      try {
        assert.equal(await driver.set(client, key('s'), 'v'), 'OK');
        const [span] = await tracer.waitFor(1);
        assert.equal(span.tags['db.statement'], 'SET 2 args a');
        assert.equal(span.tags['app.cmd'], 'SET');
        assert.deepEqual(replies, ['OK']);
        uninstallAllPatches();
        installPatches(['redis', 'ioredis'], { tracer, ...config, requireParent: true });
        tracer.reset();
        await driver.get(client, key('s'));
        assert.equal(tracer.started.length, 0);
      } finally {
        uninstallAllPatches();
        installPatches(['redis', 'ioredis'], { tracer, ...config });
      }
    });
  });
}

describe('redis and ioredis under 200 concurrent traced HTTP requests', function () {
  this.timeout(60000);
  const tracer = new RecordingTracer();
  let server: Awaited<ReturnType<typeof startServer>>;
  let clients: Array<{ driver: Driver; client: any }>;

  before(async () => {
    installPatches(['redis', 'ioredis', 'httpServer'], { tracer, ...config });
    clients = await Promise.all([DRIVERS[2], DRIVERS[4]].map(async (driver) => ({ driver, client: await driver.connect(redisUrl()) })));
    server = await startServer(async (req, res) => {
      const id = (req.url ?? '/').slice(1);
      const { driver, client } = clients[Number(id) % 2];
      // Replies come back interleaved across requests; each must still find its own parent.
      await driver.set(client, `otch:conc:${id}`, id);
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      const value = await driver.get(client, `otch:conc:${id}`);
      res.end(String(value));
    });
    tracer.reset();
  });
  after(async () => {
    for (const { driver, client } of clients) await driver.close(client);
    uninstallAllPatches();
    await server.close();
  });

  it('every command span is the child of the request that issued it', async () => {
    const n = 200;
    const servers = await concurrentRequests(tracer, server.url, n);
    const cmds = tracer.finished.filter((s) => s.operationName === 'redis.SET' || s.operationName === 'redis.GET');
    assert.equal(cmds.length, 2 * n);
    for (const cmd of cmds) {
      const parent = servers.get(cmd.parentId as string);
      assert.ok(parent, 'command has a server span parent');
      const id = new URL(parent.tags['http.url']).pathname.slice(1);
      assert.ok((cmd.tags['db.statement'] as string).includes(`otch:conc:${id}`), `${cmd.tags['db.statement']} under request ${id}`);
    }
  });
});

describe('NOAUTH against a password-protected redis-server', function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  let server: ChildProcess;
  let port: number;

  before(async () => {
    const bin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
    if (!bin) throw new Error('redis-server is not installed (npm test installs it through scripts/services.js)');
    port = await closedPort();
    server = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 'Top-Secret-Pass'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    installPatches(['redis', 'ioredis'], { tracer, ...config });
  });
  after(() => {
    uninstallAllPatches();
    server.kill();
  });

  for (const driver of [DRIVERS[2], DRIVERS[4]]) {
    it(`${driver.label}: NOAUTH is an error span, and a password never appears`, async () => {
      tracer.reset();
      const c = await driver.connect(`redis://127.0.0.1:${port}`, undefined, true).catch((e: Error) => e);
      if (!(c instanceof Error)) {
        const err = (await driver.get(c, 'k').catch((e: Error) => e)) as Error;
        assert.match(err.message, /NOAUTH|Authentication required/);
        await driver.close(c).catch(() => undefined);
      }
      const authed = await driver.connect(`redis://:Top-Secret-Pass@127.0.0.1:${port}`);
      await driver.set(authed, 'k', 'v');
      await driver.close(authed);
      await tracer.settle();
      assert.ok(tracer.finished.some((s) => s.tags.error === true), 'an error span');
      const all = JSON.stringify(tracer.finished.map((s) => ({ n: s.operationName, t: s.tags, l: s.logs.map((l) => l.fields.message) })));
      assert.ok(!all.includes('Top-Secret-Pass'), all);
    });
  }
});

/** A connected node-redis client of `pkg` (errors go to a listener). */
async function nodeRedisClient(pkg: string, options: object = {}): Promise<any> {
  const c = require(pkg).createClient({ url: redisUrl(), ...options });
  c.on('error', noop);
  await c.connect();
  return c;
}

async function closeNodeRedis(c: any): Promise<void> {
  if (c.isOpen) await (c.close ? c.close() : c.quit());
}

const NODE_REDIS = [
  ['redis4', 'redis@4'],
  ['redis5', 'redis@5'],
  ['redis', 'redis@6'],
] as const;

for (const [pkg, label] of NODE_REDIS) {
  describe(`${label} hook: synchronous throws and reconnects (real Redis)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    const connect = (options?: object): Promise<any> => nodeRedisClient(pkg, options);
    const close = closeNodeRedis;
    let admin: any;

    before(async () => {
      admin = await connect();
      installPatches(['redis'], { tracer });
    });
    after(async () => {
      uninstallAllPatches();
      await close(admin);
    });
    beforeEach(() => tracer.reset());

    it('a command whose send throws synchronously: its span finishes once with that error, and the caller gets that very error', async () => {
      const client = await connect();
      const err = new Error('abort signal broke');
      const signal = {
        get aborted(): boolean {
          throw err;
        },
      };
      const parent = tracer.startSpan('parent') as RecordedSpan;
      let thrown: unknown;
      withSpan(parent, () => {
        try {
          client.sendCommand(['GET', 'otch:sync-throw'], pkg === 'redis4' ? { signal } : { abortSignal: signal });
        } catch (e) {
          thrown = e;
        }
      });
      parent.finish();
      await close(client);
      assert.equal(thrown, err);
      await assertOneFailedDbSpan(tracer, 'redis.GET', parent, err);
    });

    it('the connection killed under a command in flight: one span for it; reconnecting and the pingInterval heartbeat make no span', async () => {
      const creator = tracer.startSpan('creator') as RecordedSpan;
      const client = await withSpan(creator, () => connect({ pingInterval: 100 }));
      creator.finish();
      const id = await client.sendCommand(['CLIENT', 'ID']);
      const key = `otch:${label}:reconnect:${process.pid}`;
      const request = tracer.startSpan('request') as RecordedSpan;
      const reconnected = next(client, 'reconnecting').then(() => next(client, 'ready'));
      const blocked = withSpan(request, () => client.blPop(key, 5)).then(
        () => undefined,
        (e: Error) => e,
      );
      await until(async () => blockedIn(await admin.sendCommand(['CLIENT', 'LIST']), id, 'blpop'), 'BLPOP to block');
      await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
      assert.ok((await blocked) instanceof Error, 'the BLPOP in flight fails with its connection');
      await reconnected;
      // The ping timer, armed on 'ready', runs in whatever context the client's socket has.
      await next(client, 'ping-interval');
      assert.equal(await withSpan(request, () => client.get(key)), null);
      request.finish();
      await close(client);
      await tracer.settle();
      assert.deepEqual(tracer.childNames(creator), ['redis.connect']);
      assert.deepEqual(tracer.childNames(request), ['redis.BLPOP', 'redis.GET']);
      assert.equal(tracer.byName('redis.BLPOP')[0].tags.error, true);
      assert.deepEqual(tracer.byName(/^redis\.(PING|connect)$/).filter((s) => s.parentId !== creator.id), [], 'nothing of what the client does by itself');
    });

    it("with pingInterval set, the app's own PING is traced: sendCommand(['PING']) in a request, ping() anywhere", async () => {
      const client = await connect({ pingInterval: 60000 });
      try {
        const request = tracer.startSpan('request') as RecordedSpan;
        assert.equal(await withSpan(request, () => client.sendCommand(['PING'])), 'PONG');
        request.finish();
        assert.equal(await client.ping(), 'PONG');
        await tracer.settle();
        const pings = tracer.byName('redis.PING');
        assert.equal(pings.length, 2);
        assert.equal(pings.filter((s) => s.parentId === request.id).length, 1);
      } finally {
        await close(client);
      }
    });
  });
}

for (const [pkg, label] of NODE_REDIS) {
  describe(`${label} hook: scripts, transactions and SELECT (real Redis)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    before(() => installPatches(['redis'], { tracer }));
    after(() => uninstallAllPatches());

    it("a script the server does not have (EVALSHA, NOSCRIPT, then the client's own EVAL): one span under its caller that ends with the reply, an error only when the app gets one", async () => {
      // Regression: 5+ made a failed EVALSHA span and an EVAL span; 4 only the failed EVALSHA, its EVAL untraced.
      const script = (lua: string): unknown =>
        require(pkg).defineScript({
          NUMBER_OF_KEYS: 1,
          SCRIPT: lua,
          transformArguments: (k: string) => [k],
          parseCommand: (parser: any, k: string) => parser.pushKey(k),
          transformReply: (reply: unknown) => reply,
        });
      const replies: unknown[] = [];
      uninstallAllPatches();
      installPatches(['redis'], { tracer, hooks: { redis: { responseHook: (_span: unknown, _info: unknown, reply: unknown) => replies.push(reply) } } });
      const client = await nodeRedisClient(pkg, {
        scripts: { getIt: script("return redis.call('GET', KEYS[1])"), failIt: script("return redis.error_reply('bad ' .. KEYS[1])") },
      });
      const key = `otch:${label}:script:${process.pid}`;
      try {
        await client.set(key, 'v');
        await client.sendCommand(['SCRIPT', 'FLUSH']);
        tracer.reset();
        replies.length = 0;
        const request = tracer.startSpan('request') as RecordedSpan;
        assert.equal(await withSpan(request, () => client.getIt(key)), 'v', 'NOSCRIPT, then EVAL');
        assert.equal(await withSpan(request, () => client.getIt(key)), 'v', 'EVALSHA');
        const err = (await withSpan(request, () => client.failIt(key)).catch((e: Error) => e)) as Error;
        request.finish();
        assert.equal(err.message, `bad ${key}`);
        await tracer.settle();
        const spans = tracer.finished.filter((s) => s !== request);
        assert.deepEqual(
          spans.map((s) => [s.operationName, s.parentId === request.id, s.tags.error === true, s.tags['db.statement']]),
          [
            ['redis.EVALSHA', true, false, 'EVALSHA ? ? ?'],
            ['redis.EVALSHA', true, false, 'EVALSHA ? ? ?'],
            ['redis.EVALSHA', true, true, 'EVALSHA ? ? ?'],
          ],
        );
        assert.deepEqual(replies, ['v', 'v'], 'each span ended with the reply the app got');
        assertDbErrorLogged(spans[2], err);
      } finally {
        uninstallAllPatches();
        installPatches(['redis'], { tracer });
        await closeNodeRedis(client);
      }
    });

    it('a MULTI whose exec() rejects (a command in it failed, a WATCHed key changed) is an error span, its error logged redacted', async () => {
      // Regression: the span ended with EXEC's reply, error=false, although exec() rejected (4 and 5+
      // with a MultiErrorReply, 4 with a WatchError too).
      const client = await nodeRedisClient(pkg);
      const other = await nodeRedisClient(pkg);
      const key = `otch:${label}:multi-error:${process.pid}`;
      try {
        await client.set(key, 'secret-value');
        tracer.reset();
        const request = tracer.startSpan('request') as RecordedSpan;
        const failed = await withSpan(request, () => client.multi().incr(key).get(key).exec()).catch((e: Error) => e);
        assert.equal(failed.constructor.name, 'MultiErrorReply');
        const aborted = await withSpan(request, async () => {
          await client.watch(key);
          await other.set(key, 'changed');
          return client.multi().set(key, 'mine').exec().catch((e: Error) => e);
        });
        assert.equal(aborted.constructor.name, 'WatchError');
        request.finish();
        await tracer.settle();
        const multis = tracer.byName('redis.MULTI');
        assert.deepEqual(
          multis.map((s) => [s.parentId === request.id, s.tags.error]),
          [
            [true, true],
            [true, true],
          ],
        );
        // The failed command's own error (ERR value is not an integer), as for a pipeline.
        const [incrError] = failed.errors();
        assertDbErrorLogged(multis[0], incrError);
        const watchLogged = multis[1].errorLog()?.fields['error.object'] as Error;
        assert.equal(Object.getPrototypeOf(watchLogged), Object.getPrototypeOf(aborted));
        assert.equal(watchLogged.message, aborted.message);
        assert.ok(!tracer.everything().includes('secret-value'), tracer.everything());
      } finally {
        await closeNodeRedis(client);
        await closeNodeRedis(other);
      }
    });

    it("db.instance follows the database the client selected: select() (with its span on redis@4 too), a MULTI's or pipeline's select, and on 5+ reset()", async () => {
      // Regression: every span kept the database of the client's options; redis@4's select() had no span.
      const client = await nodeRedisClient(pkg, { database: 1 });
      const key = `otch:${label}:select:${process.pid}`;
      try {
        await client.select(2); // outside any request: no parent, still followed
        tracer.reset();
        const request = tracer.startSpan('request') as RecordedSpan;
        await withSpan(request, async () => {
          await client.get(key);
          await client.select(3);
          await client.get(key);
          await client.multi().select(4).get(key).exec();
          await client.get(key);
          await client.multi().select(5).get(key).execAsPipeline();
          await client.get(key);
          if (pkg !== 'redis4') {
            await client.reset();
            await client.get(key);
          }
        });
        request.finish();
        await tracer.settle();
        const expected = [
          ['redis.GET', '2'],
          ['redis.SELECT', '2'],
          ['redis.GET', '3'],
          ['redis.MULTI', '3'],
          ['redis.GET', '4'],
          ['redis.PIPELINE', '4'],
          ['redis.GET', '5'],
          ...(pkg === 'redis4' ? [] : [['redis.GET', '1']]),
        ];
        assert.deepEqual(
          tracer.finished.filter((s) => s.parentId === request.id).map((s) => [s.operationName, s.tags['db.instance']]),
          expected,
        );
      } finally {
        await closeNodeRedis(client);
      }
    });
  });
}

for (const [pkg, label] of [['redis5', 'redis@5'], ['redis', 'redis@6']] as const) {
  describe(`${label} hook: createClientPool (real Redis)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    before(() => installPatches(['redis'], { tracer }));
    after(() => uninstallAllPatches());

    it('a command that waited for a client is a child of its own caller, not of the request whose command gave the client back', async () => {
      // Regression: the pool runs a waiting task from the .finally of the task that returns the client,
      // and its command was a child of that task's request.
      const admin = await nodeRedisClient(pkg);
      const pool = await require(pkg).createClientPool({ url: redisUrl() }, { minimum: 1, maximum: 1 }).connect();
      const key = `otch:${label}:pool:${process.pid}`;
      try {
        await admin.del(key);
        tracer.reset();
        const [a, b, c] = ['request-A', 'request-B', 'request-C'].map((name) => tracer.startSpan(name) as RecordedSpan);
        const popped = withSpan(a, () => pool.blPop(key, 5));
        const got = withSpan(b, () => pool.get(key));
        const multi = withSpan(c, () => pool.multi().get(key).exec());
        await until(() => pool.tasksQueueLength === 2, 'B and C to wait for the client');
        await admin.lPush(key, 'v');
        assert.deepEqual(await popped, { key, element: 'v' });
        assert.equal(await got, null);
        assert.deepEqual(await multi, [null]);
        for (const request of [a, b, c]) request.finish();
        await tracer.settle();
        assert.deepEqual(tracer.childNames(a), ['redis.BLPOP']);
        assert.deepEqual(tracer.childNames(b), ['redis.GET']);
        assert.deepEqual(tracer.childNames(c), ['redis.MULTI']);
      } finally {
        await pool.close();
        await closeNodeRedis(admin);
      }
    });
  });

  describe(`${label} hook: a streaming credentials provider (real Redis)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    before(() => installPatches(['redis'], { tracer }));
    after(() => uninstallAllPatches());

    it("the re-authentication after each rotation of the credentials is the client's own work: no AUTH span, whether AUTH succeeds or fails", async () => {
      // Regression: each rotation made a redis.AUTH span, a child of whatever context the provider ran in.
      type Credentials = { username?: string; password?: string };
      let rotate: ((credentials: Credentials) => void) | undefined;
      const reAuthErrors: Error[] = [];
      let reAuthFailed: (() => void) | undefined;
      const provider = {
        type: 'streaming-credentials-provider',
        subscribe: async (listener: { onNext(credentials: Credentials): void }) => {
          rotate = (credentials) => listener.onNext(credentials);
          // The default user of this Redis has no password: AUTH default <anything> succeeds.
          return [{ username: 'default', password: 'initial' }, { dispose: noop }];
        },
        onReAuthenticationError: (err: Error) => {
          reAuthErrors.push(err);
          reAuthFailed?.();
        },
      };
      const client = require(pkg).createClient({ url: redisUrl(), credentialsProvider: provider });
      client.on('error', noop);
      await client.connect();
      tracer.reset();
      try {
        assert.ok(rotate, 'the client subscribed to the provider');
        const key = `otch:${label}:reauth:${process.pid}`;
        const request = tracer.startSpan('request') as RecordedSpan;
        // A rotation from the provider's own timer (no context), then one from inside a request.
        rotate({ username: 'default', password: 'rotated' });
        // One connection answers in order: the GET's reply comes after the AUTH's.
        assert.equal(await withSpan(request, () => client.get(key)), null);
        const failed = new Promise<void>((resolve) => (reAuthFailed = resolve));
        withSpan(request, () => rotate!({ username: 'otch-no-such-user', password: 'wrong' }));
        await failed;
        assert.equal(await withSpan(request, () => client.get(key)), null);
        request.finish();
        assert.equal(reAuthErrors.length, 1, 'only the second AUTH failed');
        assert.match(reAuthErrors[0].message, /WRONGPASS/);
        await tracer.settle();
        assert.deepEqual(
          tracer.finished.filter((s) => s !== request).map((s) => [s.operationName, s.parentId === request.id]),
          [
            ['redis.GET', true],
            ['redis.GET', true],
          ],
        );
      } finally {
        await (client.close ? client.close() : client.quit());
      }
    });
  });
}

describe('redis/ioredis uninstall', () => {
  it('restores every wrapped method of @redis/client 1.x, whose prototype has getters that throw', () => {
    // Regression: unpatching walked the prototype with `proto[name]`, hit the private-field getter
    // `options` and stopped, leaving redis@4's command methods wrapped.
    const proto = require('redis4/node_modules/@redis/client/dist/lib/client').default.prototype;
    const commander = require('redis4/node_modules/@redis/client/dist/lib/commander');
    const before = { get: proto.get, HSET: proto.HSET, sendCommand: proto.sendCommand, connect: proto.connect, legacy: commander.transformLegacyCommandArguments };
    installPatches(['redis'], {});
    assert.notEqual(proto.get, before.get);
    assert.notEqual(commander.transformLegacyCommandArguments, before.legacy);
    uninstallAllPatches();
    assert.equal(commander.transformLegacyCommandArguments, before.legacy);
    assert.equal(proto.get, before.get);
    assert.equal(proto.HSET, before.HSET);
    assert.equal(proto.sendCommand, before.sendCommand);
    assert.equal(proto.connect, before.connect);
  });

  it('restores the originals', () => {
    const queue = require('@redis/client/dist/lib/client/commands-queue').default.prototype;
    const Redis = require('ioredis');
    const before = { add: queue.addCommand, send: Redis.prototype.sendCommand, exec: Redis.Pipeline.prototype.exec };
    installPatches(['redis', 'ioredis'], {});
    assert.notEqual(queue.addCommand, before.add);
    assert.notEqual(Redis.prototype.sendCommand, before.send);
    uninstallAllPatches();
    assert.equal(queue.addCommand, before.add);
    assert.equal(Redis.prototype.sendCommand, before.send);
    assert.equal(Redis.Pipeline.prototype.exec, before.exec);
  });
});
