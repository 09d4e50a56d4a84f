/**
 * ioredis only: what the shared cases in redis.test.ts cannot show, per major version. Every case runs
 * against a real Redis.
 */
import assert from 'node:assert/strict';
import { installPatches, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { blockedIn, next, noop, until } from '../helpers/waits';
import { redisUrl } from '../helpers/services';
import { assertDbErrorLogged, assertOneFailedDbSpan } from '../helpers/error-log';

 

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

    it('the connection killed under a command in flight: the re-sent command keeps its one span; the reconnect is a root span', async () => {
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
      const reconnected = next(victim, 'reconnecting').then(() => next(victim, 'ready'));
      const popped = withSpan(request, () => victim.blpop(key, 5));
      await until(async () => blockedIn(await admin.client('LIST'), id, 'blpop'), 'BLPOP to block');
      await admin.client('KILL', 'ID', String(id));
      await reconnected;
      // ioredis re-sends the BLPOP that was in flight; the pushed value reaches it.
      await admin.rpush(key, 'v');
      assert.deepEqual(await popped, [key, 'v']);
      assert.equal(await queued, null);
      request.finish();
      await close(victim);
      await tracer.settle();
      assert.deepEqual(tracer.childNames(creator), ['redis.connect']);
      assert.deepEqual(tracer.childNames(request), ['redis.BLPOP', 'redis.GET']);
      const blpop = tracer.byName('redis.BLPOP');
      assert.equal(blpop.length, 1, 'one span for the BLPOP however often it was sent');
      assert.ok(!blpop[0].hasError());
      const reconnects = tracer.byName('redis.connect').filter((s) => s.parentId !== creator.id);
      assert.ok(reconnects.length >= 1, 'the reconnect has its span');
      for (const span of reconnects) assert.equal(span.parentId, undefined, 'a reconnect is a root span');
    });

    it('a client that connected inside a request before the hook was installed: its reconnect is still a root span', async () => {
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
      const connects = tracer.byName('redis.connect');
      assert.equal(connects.length, 1);
      assert.equal(connects[0].parentId, undefined);
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
