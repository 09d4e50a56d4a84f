import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Span } from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import type { HooksConfig } from '../../src';
import { storage } from '../../src/context';
import { pgConfig, redisUrl } from '../helpers/services';
import { RecordingTracer } from '../helpers/tracer';

/**
 * A client whose connection is opened where no span is made (under suppressTracing, or with no parent
 * under requireParent) still opens its socket outside that context: a pub/sub listener added outside the
 * suppression is traced, and a connect callback runs in its caller's context.
 */
describe('redis clients connected where no span is made: their socket belongs to no context', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  const install = (config: HooksConfig = {}): void => installPatches(['redis', 'ioredis'], { tracer, ...config });
  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  it('node-redis: a subscriber connected under suppressTracing runs its message listener unsuppressed', async () => {
    install();
    const { createClient } = require('redis');
    const [sub, cmd, pub] = [createClient({ url: redisUrl() }), createClient({ url: redisUrl() }), createClient({ url: redisUrl() })];
    await suppressTracing(() => sub.connect());
    await Promise.all([cmd.connect(), pub.connect()]);
    try {
      const done = new Promise<void>((resolve, reject) => {
        void sub.subscribe('suppressed-connect', () => cmd.get('from-listener').then(() => resolve(), reject));
      });
      await pub.publish('suppressed-connect', 'x');
      await done;
      assert.equal(tracer.finished.filter((s) => s.operationName === 'redis.GET').length, 1, 'the listener’s GET is traced');
    } finally {
      await Promise.all([sub.quit(), cmd.quit(), pub.quit()]);
    }
  });

  it('ioredis: a subscriber made under suppressTracing runs its message listener unsuppressed', async () => {
    install();
    const Redis = require('ioredis');
    const sub = suppressTracing(() => new Redis(redisUrl()));
    const [cmd, pub] = [new Redis(redisUrl()), new Redis(redisUrl())];
    try {
      await sub.subscribe('suppressed-connect-io');
      const done = new Promise<void>((resolve, reject) => sub.on('message', () => cmd.get('from-listener').then(() => resolve(), reject)));
      await pub.publish('suppressed-connect-io', 'x');
      await done;
      assert.equal(tracer.finished.filter((s) => s.operationName === 'redis.GET').length, 1, 'the listener’s GET is traced');
    } finally {
      sub.disconnect();
      cmd.disconnect();
      pub.disconnect();
    }
  });

  it("a connect from no context enters none (on Node 20 a first context would switch on the promise hooks for the whole process): pg, node-redis with and without its connect span", async () => {
    install({ hooks: { redis: { traceConnect: false } } });
    installPatches(['pg'], { tracer });
    const run = storage.run;
    let entered = 0;
    storage.run = function (this: unknown, ...args: any[]) {
      entered++;
      return Reflect.apply(run, this, args);
    } as typeof storage.run;
    const pg = require('pg');
    const client = new pg.Client(pgConfig());
    const redis = require('redis').createClient({ url: redisUrl() });
    try {
      assert.equal(storage.getStore(), undefined);
      await client.connect();
      await redis.connect();
      assert.equal(entered, 0);
      // With its redis.connect span too (the default), which is a root.
      uninstallAllPatches();
      install();
      const spanned = require('redis').createClient({ url: redisUrl() });
      await spanned.connect();
      await spanned.quit();
      assert.equal(entered, 0);
      assert.equal(tracer.finished.filter((s) => s.operationName === 'redis.connect').length, 1);
    } finally {
      storage.run = run;
      await client.end();
      await redis.quit();
    }
  });

  it('ioredis: connect(callback) with no connect span (traceConnect: false) calls back in its caller’s context', async () => {
    install({ hooks: { ioredis: { traceConnect: false } } });
    const Redis = require('ioredis');
    const client = new Redis(redisUrl(), { lazyConnect: true });
    try {
      const parent = tracer.startSpan('request');
      let seen: Span | undefined;
      const called = once(client, 'ready');
      await new Promise<void>((resolve, reject) =>
        withSpan(parent, () =>
          client.connect((err: unknown) => {
            seen = currentSpan();
            if (err) reject(err);
            else resolve();
          }),
        ),
      );
      await called;
      assert.equal(seen, parent);
      assert.equal(tracer.finished.filter((s) => s.operationName === 'redis.connect').length, 0);
    } finally {
      client.disconnect();
    }
  });
});
