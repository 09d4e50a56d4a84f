/**
 * ioredis only: what the shared cases in redis.test.ts cannot show, per major version. Every case runs
 * against a real Redis.
 */
import assert from 'node:assert/strict';
import { installPatches, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { blockedIn, next, noop, until } from '../helpers/waits';
import { redisClusterNodes, redisUrl } from '../helpers/services';
import { assertDbErrorLogged, assertOneFailedDbSpan } from '../helpers/error-log';
import { resp, RespServer, startRespServer } from '../helpers/resp-server';

 

/** Lets every pending rejection be reported as unhandled, or not. */
async function drain(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

for (const [pkg, label] of [['ioredis5', 'ioredis@5'], ['ioredis', 'ioredis@6']] as const) {
  describe(`${label} hook: commands that throw, reconnects, failures handled elsewhere (real Redis)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    const config = { aliases: { ioredis5: 'ioredis' } };
    const Redis = (): any => require(pkg);
    const connect = async (): Promise<any> => {
      const c = new (Redis())(redisUrl());
      c.on('error', noop);
      if (c.status !== 'ready') await next(c, 'ready');
      return c;
    };
    const close = async (c: any): Promise<void> => {
      if (c.status !== 'end') await c.quit().catch(noop);
    };
    let admin: any;
    let client: any;

    before(async () => {
      admin = await connect();
      installPatches(['ioredis'], { tracer, ...config });
      client = await connect();
    });
    after(async () => {
      uninstallAllPatches();
      await close(client);
      await close(admin);
    });
    beforeEach(() => tracer.reset());

    it('sendCommand with a plain object whose send throws: its span finishes once with that error, which is rethrown as it is', async () => {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      let thrown: unknown;
      withSpan(parent, () => {
        try {
          client.sendCommand({ name: 'get', args: ['x'] });
        } catch (e) {
          thrown = e;
        }
      });
      parent.finish();
      assert.ok(thrown instanceof Error, 'ioredis throws on an object that is no Command');
      await assertOneFailedDbSpan(tracer, 'redis.GET', parent, thrown);
    });

    it('the connection killed under a command in flight: the re-sent command keeps its one span; the reconnect makes none', async () => {
      const creator = tracer.startSpan('creator') as RecordedSpan;
      const victim = await withSpan(creator, connect);
      creator.finish();
      const id = await victim.client('ID');
      const key = `otch:${label}:reconnect:${process.pid}`;
      await admin.del(key);
      const request = tracer.startSpan('request') as RecordedSpan;
      let queued: Promise<unknown> | undefined;
      // Issued while ioredis reconnects: it waits in the offline queue.
      victim.once('reconnecting', () => (queued = withSpan(request, () => victim.get(`${key}:other`))));
      // The app's own 'ready' listener is no part of ioredis's re-sends: its command has its span.
      let fromReady: Promise<unknown> | undefined;
      victim.once('reconnecting', () => victim.once('ready', () => (fromReady = withSpan(request, () => victim.exists(key)))));
      const reconnected = next(victim, 'reconnecting').then(() => next(victim, 'ready'));
      const popped = withSpan(request, () => victim.blpop(key, 5));
      await until(async () => blockedIn(await admin.client('LIST'), id, 'blpop'), 'BLPOP to block');
      await admin.client('KILL', 'ID', String(id));
      await reconnected;
      // ioredis re-sends the BLPOP that was in flight; the pushed value reaches it.
      await admin.rpush(key, 'v');
      assert.deepEqual(await popped, [key, 'v']);
      assert.equal(await queued, null);
      assert.equal(await fromReady, 0);
      request.finish();
      await close(victim);
      await tracer.settle();
      assert.deepEqual(tracer.childNames(creator), ['redis.connect']);
      assert.deepEqual(tracer.childNames(request), ['redis.BLPOP', 'redis.EXISTS', 'redis.GET']);
      const blpop = tracer.byName('redis.BLPOP');
      assert.equal(blpop.length, 1, 'one span for the BLPOP however often it was sent');
      assert.ok(!blpop[0].hasError());
      assert.deepEqual(
        tracer.byName('redis.connect').filter((s) => s.parentId !== creator.id),
        [],
        "a reconnect is ioredis's own work: no span",
      );
    });

    it("a subscriber's reconnect: ioredis's re-subscribe makes no span, and the app's messages still arrive", async () => {
      const name = `otch-resubscribe-${process.pid}`;
      const subscriber = new (Redis())(redisUrl(), { connectionName: name });
      subscriber.on('error', noop);
      try {
        const request = tracer.startSpan('request') as RecordedSpan;
        await withSpan(request, () => subscriber.subscribe('otch-channel'));
        request.finish();
        const subscribedAs = async (): Promise<string | undefined> =>
          String(await admin.client('LIST'))
            .split('\n')
            .find((line) => line.includes(` name=${name} `) && / sub=1 /.test(line));
        const before = await subscribedAs();
        assert.ok(before);
        tracer.reset();
        await admin.client('KILL', 'ID', /id=(\d+)/.exec(before)![1]);
        // Subscribed again on a new connection: the re-subscribe is over.
        await until(async () => {
          const now = await subscribedAs();
          return now !== undefined && now.split(' ')[0] !== before.split(' ')[0];
        }, 'the re-subscribe');
        const message = new Promise((resolve) => subscriber.once('message', (...args: unknown[]) => resolve(args)));
        await admin.publish('otch-channel', 'hello');
        assert.deepEqual(await message, ['otch-channel', 'hello']);
        const byIoredisItself = tracer.started.filter((s) => ['redis.connect', 'redis.SUBSCRIBE', 'redis.SELECT'].includes(s.operationName));
        assert.deepEqual(byIoredisItself.map((s) => s.operationName), []);
      } finally {
        subscriber.disconnect();
      }
    });

    it('a client that connected inside a request before the hook was installed: its reconnect makes no span', async () => {
      uninstallAllPatches();
      const early = tracer.startSpan('early') as RecordedSpan;
      // Its socket, and so the reconnect timer, carries the request's context.
      const victim = await withSpan(early, connect);
      early.finish();
      installPatches(['ioredis'], { tracer, ...config });
      const id = await victim.client('ID');
      const reconnected = next(victim, 'reconnecting').then(() => next(victim, 'ready'));
      await admin.client('KILL', 'ID', String(id));
      await reconnected;
      await close(victim);
      await tracer.settle();
      assert.deepEqual(tracer.finished.filter((s) => s.parentId === early.id), []);
      assert.deepEqual(tracer.byName('redis.connect'), []);
    });

    it('enableAutoPipelining: each command has its own span under its own caller, ending with its reply; the batch ioredis sends (and the connection it opens) makes none', async () => {
      const c = new (Redis())(redisUrl(), { enableAutoPipelining: true, lazyConnect: true });
      c.on('error', noop);
      const key = `otch:${label}:autopipe:${process.pid}`;
      try {
        await admin.set(`${key}:str`, 'x');
        await admin.set(`${key}:a`, 'value-a');
        tracer.reset();
        const a = tracer.startSpan('request-A') as RecordedSpan;
        const b = tracer.startSpan('request-B') as RecordedSpan;
        const pending = [
          withSpan(a, () => c.get(`${key}:a`)),
          withSpan(b, () => c.set(`${key}:b`, 'secret-b')),
          withSpan(b, () => c.lpush(`${key}:str`, 'y').catch((e: Error) => e)),
          withSpan(a, () => new Promise((resolve) => c.hset(`${key}:h`, { field: 'hidden' }, (err: unknown, n: unknown) => resolve([err, n])))),
        ];
        // Given in one tick: ioredis sends them as one batch, which also connects the client.
        assert.equal(c.autoPipelineQueueSize, 4);
        const [got, set, failed, hset] = await Promise.all(pending);
        a.finish();
        b.finish();
        assert.equal(got, 'value-a');
        assert.equal(set, 'OK');
        assert.match((failed as Error).message, /WRONGTYPE/);
        assert.deepEqual(hset, [null, 1]);
        await tracer.settle();
        const under = (parent: RecordedSpan): unknown[] =>
          tracer.finished.filter((s) => s.parentId === parent.id).map((s) => [s.operationName, s.tags['db.statement'], s.hasError()]);
        assert.deepEqual(under(a), [
          ['redis.GET', `GET ${key}:a`, false],
          ['redis.HSET', `HSET ${key}:h field ?`, false],
        ]);
        assert.deepEqual(under(b), [
          ['redis.SET', `SET ${key}:b ?`, false],
          ['redis.LPUSH', `LPUSH ${key}:str ?`, true],
        ]);
        assertDbErrorLogged(tracer.byName('redis.LPUSH')[0], failed);
        assert.equal(tracer.finished.length, 6, 'no span for the batch or the connection');
        assert.ok(!tracer.everything().includes('secret-b') && !tracer.everything().includes('hidden'));
      } finally {
        await admin.del(`${key}:str`, `${key}:a`, `${key}:b`, `${key}:h`);
        await close(c);
      }
    });

    it('enableAutoPipelining on a Cluster: commands (and a MULTI) given before it has its slots keep their own callers, and take the node they go to', async () => {
      const nodes = redisClusterNodes();
      const c = new (Redis().Cluster)(nodes.slice(0, 1), { enableAutoPipelining: true });
      c.on('error', noop);
      try {
        const requests = ['A', 'B', 'C'].map((name) => tracer.startSpan(`request-${name}`) as RecordedSpan);
        const [a, b, m] = requests;
        const results = await Promise.all([
          withSpan(a, () => c.get(`otch:${label}:cluster-autopipe:a`)),
          withSpan(b, () => c.set(`otch:${label}:cluster-autopipe:b`, 'v')),
          withSpan(m, () => c.multi().get(`otch:${label}:cluster-autopipe:m`).exec()),
        ]);
        assert.deepEqual(results, [null, 'OK', [[null, null]]]);
        for (const r of requests) r.finish();
        await tracer.settle();
        const ports = nodes.map((n) => n.port);
        assert.deepEqual(
          requests.map((r) => tracer.finished.filter((s) => s.parentId === r.id).map((s) => [s.operationName, ports.includes(s.tags['peer.port'])])),
          [[['redis.GET', true]], [['redis.SET', true]], [['redis.MULTI', true]]],
        );
      } finally {
        await c.del(`otch:${label}:cluster-autopipe:b`).catch(noop);
        await c.quit().catch(noop);
      }
    });

    it("a script that ioredis sends again (as EVAL) after NOSCRIPT is one redis.EVALSHA span, ending with the final reply, an error only when the app gets one; the re-send of a pipeline's or an auto-pipeline's makes none", async () => {
      const plain = await connect();
      const auto = new (Redis())(redisUrl(), { enableAutoPipelining: true });
      auto.on('error', noop);
      const key = `otch:${label}:script:${process.pid}`;
      const noScripts = async (): Promise<number> => Number(/errorstat_NOSCRIPT:count=(\d+)/.exec(await admin.info('errorstats'))?.[1] ?? 0);
      try {
        await admin.set(key, 'script-value');
        for (const c of [plain, auto]) {
          c.defineCommand('otchGet', { numberOfKeys: 1, lua: "return redis.call('GET', KEYS[1])" });
          c.defineCommand('otchFail', { numberOfKeys: 0, lua: "return redis.error_reply('otch-script-failed')" });
          // Sent as EVAL the first time on a connection, which loads the script.
          assert.equal(await c.otchGet(key), 'script-value');
          await c.otchFail().catch(noop);
        }
        const before = await noScripts();
        tracer.reset();
        /** Runs `fn` in a new request, once the server has forgotten every script. */
        const afterFlush = async <T>(name: string, fn: () => Promise<T>): Promise<[RecordedSpan, T]> => {
          await admin.script('FLUSH');
          const request = tracer.startSpan(name) as RecordedSpan;
          const result = await withSpan(request, fn);
          request.finish();
          return [request, result];
        };
        const [direct, got] = await afterFlush('direct', () => plain.otchGet(key));
        const [failing, err] = await afterFlush('failing', () => plain.otchFail().catch((e: Error) => e));
        const [concurrent, both] = await afterFlush('concurrent', async () => {
          const [a, b] = ['A', 'B'].map((name) => tracer.startSpan(name) as RecordedSpan);
          const values = await Promise.all([withSpan(a, () => plain.otchGet(key)), withSpan(b, () => plain.otchGet(key))]);
          a.finish();
          b.finish();
          return [a, b, values] as const;
        });
        const [pipelined, pairs] = await afterFlush('pipeline', (): Promise<any> => plain.pipeline().otchGet(key).otchFail().exec());
        const [autoPipelined, autoGot] = await afterFlush('auto', () => auto.otchGet(key));
        assert.equal(got, 'script-value');
        assert.match((err as Error).message, /otch-script-failed/);
        assert.deepEqual(both[2], ['script-value', 'script-value']);
        assert.equal(pairs[0][1], 'script-value');
        assert.match(pairs[1][0].message, /otch-script-failed/);
        assert.equal(autoGot, 'script-value');
        // Every call met NOSCRIPT first: ioredis sent each one again.
        assert.equal((await noScripts()) - before, 7);
        await tracer.settle();
        const under = (parent: RecordedSpan): unknown[] => tracer.finished.filter((s) => s.parentId === parent.id).map((s) => [s.operationName, s.hasError()]);
        assert.deepEqual(
          [direct, failing, both[0], both[1], pipelined, autoPipelined].map(under),
          [[['redis.EVALSHA', false]], [['redis.EVALSHA', true]], [['redis.EVALSHA', false]], [['redis.EVALSHA', false]], [['redis.PIPELINE', true]], [['redis.EVALSHA', false]]],
        );
        assert.deepEqual(under(concurrent), []);
        assertDbErrorLogged(tracer.finished.find((s) => s.parentId === failing.id)!, err);
        assert.equal(tracer.byName(/^redis\.EVAL/).length, 5, 'no span for a re-send');
      } finally {
        await admin.del(key);
        await close(plain);
        await close(auto);
      }
    });

    it('SELECT: db.instance follows the database the client selected, after a reconnect too (ioredis selects it again)', async () => {
      const c = await connect();
      const key = `otch:${label}:select:${process.pid}`;
      try {
        await admin.del(key);
        const request = tracer.startSpan('request') as RecordedSpan;
        await withSpan(request, async () => {
          await c.select(3);
          await c.set(key, 'in-3');
          await c.pipeline().get(key).exec();
        });
        request.finish();
        const id = await c.client('ID');
        const reconnected = next(c, 'reconnecting').then(() => next(c, 'ready'));
        await admin.client('KILL', 'ID', String(id));
        await reconnected;
        const after = tracer.startSpan('after-reconnect') as RecordedSpan;
        // Only database 3 has the key: the client is on it again.
        assert.equal(await withSpan(after, () => c.get(key)), 'in-3');
        after.finish();
        await tracer.settle();
        const dbs = (parent: RecordedSpan): string[][] =>
          tracer.finished.filter((s) => s.parentId === parent.id).map((s) => [s.operationName, s.tags['db.instance']]);
        // The SELECT itself is sent while the client is on database 0.
        assert.deepEqual(dbs(request), [
          ['redis.SELECT', '0'],
          ['redis.SET', '3'],
          ['redis.PIPELINE', '3'],
        ]);
        assert.deepEqual(dbs(after), [['redis.GET', '3']]);
      } finally {
        await c.del(key).catch(noop);
        await close(c);
      }
    });

    it("MULTI: a command failing inside EXEC marks the span as in a pipeline, logging (redacted) the error the app's pair holds; EXECABORT as exec() rejects with it; a WATCH abort is no error", async () => {
      const key = `otch:${label}:multi-error`;
      await client.set(key, 'secret-value');
      tracer.reset();
      const request = tracer.startSpan('request') as RecordedSpan;
      const [multi, pipeline, acl, aborted, unpipelined] = await withSpan(request, async () => [
        await client.multi().incr(key).get(key).exec(),
        await client.pipeline().incr(key).get(key).exec(),
        // The server echoes the rule in its error: the log shows it redacted.
        await client.multi().call('ACL', 'SETUSER', `otch-user-${process.pid}`, 'badrule-s3cret').exec(),
        await client
          .multi()
          .set(key, 'v')
          .call('otch-no-such-command', 'arg-s3cret')
          .exec()
          .catch((e: Error) => e),
        await (async () => {
          await client.multi({ pipeline: false });
          await client.incr(key);
          return client.exec();
        })(),
      ]);
      // The app is told: an error in the pairs, or a rejection.
      assert.match(multi[0][0].message, /not an integer/);
      assert.equal(multi[1][1], 'secret-value');
      assert.match(pipeline[0][0].message, /not an integer/);
      assert.match(acl[0][0].message, /badrule-s3cret/);
      assert.ok(aborted instanceof Error && /EXECABORT/.test(aborted.message));
      assert.match(unpipelined[0][0].message, /not an integer/);
      // WATCH: another client changes the key, EXEC runs nothing and the app gets null.
      const other = await connect();
      const watched = await withSpan(request, async () => {
        await client.watch(key);
        await other.set(key, 'changed');
        return client.multi().set(key, 'mine').exec();
      });
      await close(other);
      assert.equal(watched, null);
      request.finish();
      await tracer.settle();
      const spans = tracer.finished.filter((s) => s.parentId === request.id && ['redis.MULTI', 'redis.PIPELINE', 'redis.EXEC'].includes(s.operationName));
      assert.deepEqual(
        spans.map((s) => [s.operationName, s.hasError()]),
        [
          ['redis.MULTI', true],
          ['redis.PIPELINE', true],
          ['redis.MULTI', true],
          ['redis.MULTI', true],
          // multi({ pipeline: false }): the MULTI command, then the EXEC that holds the failure.
          ['redis.MULTI', false],
          ['redis.EXEC', true],
          ['redis.MULTI', false],
        ],
      );
      const failed = spans.filter((s) => s.hasError());
      for (const [i, err] of [multi[0][0], pipeline[0][0], acl[0][0], aborted, unpipelined[0][0]].entries()) assertDbErrorLogged(failed[i], err);
      assert.ok(!tracer.everything().includes('s3cret'));
      assert.ok(!tracer.everything().includes('secret-value'));
    });

    it('failures the app handles elsewhere stay handled: callback API, scripts with a callback, a Command sent by hand', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const key = `otch:${label}:string`;
        await client.set(key, 'x');
        const parent = tracer.startSpan('parent') as RecordedSpan;
        const errors = await withSpan(parent, async () => [
          await new Promise((resolve) => client.lpush(key, 'y', (err: unknown) => resolve(err))),
          await new Promise((resolve) => {
            client.defineCommand('otchFail', { numberOfKeys: 0, lua: "return redis.error_reply('otch-script-failed')" });
            client.otchFail((err: unknown) => resolve(err));
          }),
          await (() => {
            const command = new (Redis().Command)('lpush', [key, 'y']);
            const seen = command.promise.then(noop, (err: unknown) => err);
            client.sendCommand(command);
            return seen;
          })(),
        ]);
        parent.finish();
        await drain();
        assert.deepEqual(unhandled, []);
        for (const [i, pattern] of [/WRONGTYPE/, /otch-script-failed/, /WRONGTYPE/].entries()) assert.match((errors[i] as Error).message, pattern);
        await tracer.settle();
        const failed = tracer.finished.filter((s) => s.parentId === parent.id);
        assert.equal(failed.length, 3);
        for (const [i, span] of failed.entries()) assertDbErrorLogged(span, errors[i]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });
}

describe('ioredis@6 hook: managed HIMPORT fieldsets (a fake RESP server: HIMPORT needs Redis 8.10)', function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  let server: RespServer;
  /** Whether the next HIMPORT SET is answered as by a server that lost the fieldset. */
  let loseFieldset = false;
  const clients: any[] = [];
  const client = (): any => {
    const Redis = require('ioredis');
    const c = new Redis({ host: '127.0.0.1', port: server.port, protocol: 2, lazyConnect: true, himportFieldsets: [{ name: 'profile', fields: ['name', 'email'] }] });
    c.on('error', noop);
    clients.push(c);
    return c;
  };
  /** The command and its subcommand, of what the server got and of the spans. */
  const heads = (commands: string[][]): string[] => commands.map((args) => args.slice(0, 2).join(' ').toUpperCase());

  before(async () => {
    server = await startRespServer((args) => {
      const name = args[0].toUpperCase();
      if (name === 'INFO') return resp.bulk('# Server\r\nloading:0\r\n');
      if (name === 'RESET') return '+RESET\r\n';
      if (name === 'HIMPORT' && args[1].toUpperCase() === 'SET' && loseFieldset) {
        loseFieldset = false;
        return resp.error('ERR no such fieldset');
      }
      return resp.ok;
    });
    // The statement keeps HIMPORT's subcommand: ioredis's PREPARE apart from the app's SET.
    const dbStatementSerializer = (command: string, args: unknown[]): string => [command, ...args.slice(0, 1)].join(' ');
    installPatches(['ioredis'], { tracer, hooks: { ioredis: { dbStatementSerializer } } });
  });
  after(async () => {
    uninstallAllPatches();
    await server.close();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });

  it('connect and reconnect: the HIMPORT PREPARE of the handshake makes no span', async () => {
    // Regression: each connect and reconnect made a root redis.HIMPORT span.
    const c = client();
    const request = tracer.startSpan('request') as RecordedSpan;
    const ready = next(c, 'ready');
    await withSpan(request, () => c.connect());
    // ioredis is ready once the handshake's replies are in.
    await ready;
    const readyAgain = next(c, 'ready');
    server.dropConnections();
    await readyAgain;
    request.finish();
    assert.equal(heads(server.received).filter((h) => h === 'HIMPORT PREPARE').length, 2, 'the handshake prepared the fieldset twice');
    assert.deepEqual(
      tracer.finished.filter((s) => s !== request).map((s) => [s.operationName, s.parentId === request.id]),
      [['redis.connect', true]],
    );
  });

  it("the app's HIMPORT SET has its one span; the PREPARE ioredis sends first (after RESET) or to recover a lost fieldset makes none", async () => {
    const c = client();
    const ready = next(c, 'ready');
    await c.connect();
    await ready;
    tracer.reset();
    const from = server.received.length;
    const request = tracer.startSpan('request') as RecordedSpan;
    await withSpan(request, async () => {
      await c.call('RESET');
      assert.equal(await c.himport('SET', 'user:1', 'profile', 'Ada', 'ada@example.com'), 'OK');
      loseFieldset = true;
      assert.equal(await c.himport('SET', 'user:2', 'profile', 'Bob', 'bob@example.com'), 'OK');
    });
    request.finish();
    assert.deepEqual(heads(server.received.slice(from)), ['RESET', 'HIMPORT PREPARE', 'HIMPORT SET', 'HIMPORT SET', 'HIMPORT PREPARE', 'HIMPORT SET']);
    const spans = tracer.finished.filter((s) => s !== request);
    assert.deepEqual(
      spans.map((s) => [s.tags['db.statement'], s.parentId === request.id, s.finishCount, s.tags.error]),
      [
        ['RESET', true, 1, undefined],
        ['HIMPORT SET', true, 1, undefined],
        ['HIMPORT SET', true, 1, undefined],
      ],
    );
  });
});
