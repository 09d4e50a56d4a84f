import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as bullmq5 from 'bullmq';
import * as bullmq6 from 'bullmq6';
import IORedis from 'ioredis';
import * as opentracing from 'opentracing';
import type { Span } from 'opentracing';
import { storage } from '../../src/context';
import type { RequestContext } from '../../src/context';
import { currentSpan, installPatches, uninstallAllPatches } from '../../src';
import type { BullmqOptions, HookName } from '../../src';
import { underSpan } from '../helpers/cases';
import { framesOf } from '../helpers/stack';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { redisHostPort } from '../helpers/services';
import { until } from '../helpers/waits';

type Bullmq = typeof bullmq5;

export const BULLMQ_MAJORS: Array<{ label: string; lib: Bullmq; aliases?: Record<string, string> }> = [
  { label: 'bullmq@5', lib: bullmq5 },
  { label: 'bullmq@6', lib: bullmq6 as unknown as Bullmq, aliases: { bullmq6: 'bullmq' } },
];

let names = 0;
const fresh = (what: string): string => `otch-${process.pid}-${what}-${++names}`;

function defer<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

const ioredisSpans = (tracer: RecordingTracer): RecordedSpan[] => tracer.finished.filter((s) => s.tags.component === 'ioredis');

const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
/** A processor file, run by bullmq in a child process (see the file). */
const SANDBOXED = path.join(fixtures, 'bullmq-sandboxed.js');
/** What the child preloads to have the hooks, as `-r register` in the app would give it. */
const CHILD_PRELOAD = path.join(fixtures, 'bullmq-child-preload.js');

for (const { label, lib, aliases } of BULLMQ_MAJORS) {
  describe(`bullmq hook: ${label} (real Redis)`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    const connection = redisHostPort();
    const closers: Array<() => Promise<unknown>> = [];
    const install = (options: BullmqOptions = {}, also: HookName[] = ['ioredis']): void =>
      installPatches(['bullmq', ...also], { tracer, aliases, hooks: { bullmq: options } });

    function queue(name = fresh('q')): InstanceType<Bullmq['Queue']> {
      const q = new lib.Queue(name, { connection });
      closers.push(async () => {
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close();
      });
      return q;
    }

    function worker(name: string, processor: (job: any) => unknown, opts: Record<string, unknown> = {}): InstanceType<Bullmq['Worker']> {
      const w = new lib.Worker(name, processor as any, { connection, ...opts });
      closers.push(() => w.close());
      return w;
    }

    /**
     * A queue made after install, connected, with what its construction sent answered (bullmq 5 writes the
     * queue's meta key from its constructor, in the constructing context), and the tracer reset.
     */
    async function readyQueue(name?: string): Promise<InstanceType<Bullmq['Queue']>> {
      const q = queue(name);
      await q.waitUntilReady();
      await q.count();
      await tracer.settle();
      tracer.reset();
      return q;
    }

    /** A parent span, finished once `fn` settled. */
    const underRequest = <T>(fn: () => Promise<T>): Promise<{ parent: RecordedSpan; result: T }> => underSpan(tracer, fn, 'request');

    /**
     * The app's own ioredis client, connected before install (its connection is no span), then the hooks
     * installed and a ready queue.
     */
    async function appRedisAndQueue(): Promise<{ redis: IORedis; q: InstanceType<Bullmq['Queue']> }> {
      const redis = new IORedis(connection);
      closers.push(async () => redis.quit());
      await redis.ping();
      install();
      return { redis, q: await readyQueue() };
    }

    /** Resolves with the next 'completed' or 'failed' outcome of the worker. */
    function outcome(w: InstanceType<Bullmq['Worker']>, event: 'completed' | 'failed' = 'completed'): Promise<any[]> {
      return new Promise((resolve) => w.once(event as any, (...args: any[]) => resolve(args)));
    }

    beforeEach(() => {
      uninstallAllPatches();
      tracer.reset();
    });
    afterEach(async () => {
      uninstallAllPatches();
      for (const close of closers.splice(0).reverse()) await close();
    });

    it('Queue.add: one producer span per job under the active span; its Redis commands make none; job id, priority and delay tagged', async () => {
      install();
      const q = await readyQueue();
      const { parent, result: job } = await underRequest(() => q.add('send-email', { to: 'alice@example.com' }, { priority: 3, delay: 60000 }));
      await tracer.settle();
      const [span, ...more] = tracer.byName(`bullmq.add ${q.name}`);
      assert.equal(more.length, 0);
      assert.equal(span.parentId, (parent as RecordedSpan).id);
      assert.equal(span.tags['span.kind'], 'producer');
      assert.equal(span.tags.component, 'bullmq');
      assert.equal(span.tags['message_bus.destination'], q.name);
      assert.equal(span.tags['bullmq.job.name'], 'send-email');
      assert.equal(span.tags['bullmq.job.id'], job.id);
      assert.equal(span.tags['bullmq.job.priority'], 3);
      assert.equal(span.tags['bullmq.job.delay'], 60000);
      assert.ok(!JSON.stringify(span.tags).includes('alice'), 'no payload in the span');
      assert.deepEqual(ioredisSpans(tracer), [], 'the commands of add are covered by its span');
    });

    it("add spans carry the Redis server's peer tags, which peerService names", async () => {
      const { host, port } = connection;
      install({ peerService: { [`${host}:${port}`]: 'job-redis' } });
      const q = await readyQueue();
      await underRequest(async () => {
        await q.add('one', {});
        await q.addBulk([{ name: 'two', data: {} }]);
      });
      await tracer.settle();
      const spans = tracer.byName(`bullmq.add ${q.name}`);
      assert.equal(spans.length, 2);
      for (const span of spans) {
        assert.deepEqual([span.tags['peer.hostname'], span.tags['peer.port'], span.tags['peer.service']], [host, port, 'job-redis']);
      }
    });

    it("the app's Job is as untraced: same data object, same opts; only the stored copy carries the context", async () => {
      const q = queue();
      const data = { order: 1 };
      const untraced = await q.add('job', data, { attempts: 3 });
      install();
      const { result: traced } = await underRequest(() => q.add('job', data, { attempts: 3 }));
      assert.equal(traced.data, data);
      assert.deepEqual(traced.opts, untraced.opts);
      const stored = await q.getJob(traced.id!);
      assert.deepEqual(stored!.data, data);
      const metadata = JSON.parse(String(stored!.opts.telemetry?.metadata));
      const [span] = tracer.byName(`bullmq.add ${q.name}`);
      assert.equal(metadata.traceparent, `00-${span.traceId}-${span.id}-01`);
      const storedUntraced = await q.getJob(untraced.id!);
      assert.equal(storedUntraced!.opts.telemetry, undefined);
    });

    it("an event an add emits ('waiting') reaches its listener in the caller's context, where calls are traced", async () => {
      const { redis, q } = await appRedisAndQueue();
      let listened: Promise<unknown> | undefined;
      q.on('waiting', () => (listened = redis.get('otch:waiting')));
      const { parent } = await underRequest(() => q.add('job', {}));
      await listened;
      await tracer.settle();
      const get = tracer.finished.find((s) => s.operationName === 'redis.GET');
      assert.equal(get?.parentId, parent.id, "the listener's call is a child of the caller's span, not suppressed with the add's own commands");
    });

    it('metadata the app set, and telemetry.omitContext, are kept as they are', async () => {
      install();
      const q = await readyQueue();
      const own = JSON.stringify({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
      const { result: [kept, omitted] } = await underRequest(() =>
        Promise.all([q.add('own', {}, { telemetry: { metadata: own } }), q.add('omit', {}, { telemetry: { omitContext: true } })]),
      );
      assert.equal((await q.getJob(kept.id!))!.opts.telemetry?.metadata, own);
      assert.equal((await q.getJob(omitted.id!))!.opts.telemetry?.metadata, undefined);
    });

    it("an add Redis refuses: the app gets ioredis's error as it is, the span logs it without the command's arguments (the job's data)", async () => {
      const admin = new IORedis(connection);
      closers.push(async () => admin.quit());
      install();
      const q = await readyQueue();
      const [, maxmemory] = (await admin.config('GET', 'maxmemory')) as string[];
      // Redis refuses every write (OOM) until this is undone.
      await admin.config('SET', 'maxmemory', '1');
      let err: any;
      try {
        err = await underRequest(() => q.add('charge', { card: '4111-1111-1111-1111' })).catch((e: unknown) => e);
      } finally {
        await admin.config('SET', 'maxmemory', maxmemory);
      }
      assert.match(String(err?.message), /^OOM/);
      assert.ok(JSON.stringify(err.command.args).includes('4111-1111-1111-1111'), "ioredis's error names the command with its arguments");
      const [span] = tracer.byName(`bullmq.add ${q.name}`);
      assert.equal(span.tags.error, true);
      const logged = span.errorLog()?.fields['error.object'] as any;
      assert.match(String(logged?.message), /^OOM/);
      assert.equal(logged.command, undefined);
      assert.doesNotMatch(JSON.stringify([span.tags, span.logs]), /4111/);
    });

    it("a job passed on with its opts (queueB.add(job.name, job.data, job.opts)) carries queue B's add context, not the first add's", async () => {
      install();
      const [a, b] = [await readyQueue(), await readyQueue()];
      let seen: any;
      worker(a.name, async (job) => {
        seen = job.opts;
        await b.add(job.name, job.data, job.opts);
      });
      const done = outcome(worker(b.name, async () => 'done'));
      const { parent } = await underRequest(() => a.add('forwarded', { n: 1 }));
      await done;
      await tracer.settle();
      assert.equal(typeof seen.telemetry?.metadata, 'string', 'the worker sees the context stored with its job');
      const [addA] = tracer.byName(`bullmq.add ${a.name}`);
      const [processA] = tracer.byName(`bullmq.process ${a.name}`);
      const [addB] = tracer.byName(`bullmq.add ${b.name}`);
      const [processB] = tracer.byName(`bullmq.process ${b.name}`);
      assert.equal(addA.parentId, parent.id);
      assert.equal(processA.parentId, addA.id);
      assert.equal(addB.parentId, processA.id);
      assert.equal(processB.parentId, addB.id, "queue B's job follows from its own add");
      assert.equal(processB.traceId, parent.traceId);
    });

    // bullmq 6 takes `repeat` for no more than a job's option: it runs the job once.
    if (label === 'bullmq@5') {
      it('a repeatable job (add with `repeat`): each run is a trace of its own, as a job scheduler\'s, not one that follows from the add for good', async () => {
        install();
        const q = await readyQueue();
        const { parent } = await underRequest(() => q.add('tick', {}, { repeat: { every: 100 } }));
        let runs = 0;
        const three = defer();
        const w = worker(q.name, async () => {
          if (++runs === 3) three.resolve();
        });
        await three.promise;
        await w.close();
        await tracer.settle();
        const [add] = tracer.byName(`bullmq.add ${q.name}`);
        assert.equal(add.parentId, parent.id);
        const processed = tracer.byName(`bullmq.process ${q.name}`);
        assert.ok(processed.length >= 3);
        for (const span of processed) {
          assert.equal(span.parentId, undefined);
          assert.notEqual(span.traceId, parent.traceId);
        }
        assert.equal(new Set(processed.map((s) => s.traceId)).size, processed.length);
      });
    }

    it('addBulk and FlowProducer.add: a span per job, each stored with its own span context', async () => {
      install();
      const flows = new lib.FlowProducer({ connection });
      closers.push(() => flows.close());
      await flows.waitUntilReady();
      const q = await readyQueue();
      const { parent, result: [bulk, tree] } = await underRequest(async () => [
        await q.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {}, opts: { priority: 2 } }]),
        await flows.add({ name: 'parent', queueName: q.name, data: {}, children: [{ name: 'child', queueName: q.name, data: {} }] }),
      ] as const);
      await tracer.settle();
      assert.deepEqual(ioredisSpans(tracer), []);
      const spans = tracer.byName(`bullmq.add ${q.name}`);
      assert.equal(spans.length, 4);
      const ids = [...bulk.map((j) => j.id), tree.job.id, tree.children![0].job.id];
      for (const id of ids) {
        const span = spans.find((s) => s.tags['bullmq.job.id'] === id);
        assert.ok(span, `a span for job ${id}`);
        assert.equal(span.parentId, parent.id);
        const stored = await q.getJob(id!);
        assert.equal(JSON.parse(String(stored!.opts.telemetry?.metadata)).traceparent, `00-${span.traceId}-${span.id}-01`);
      }
      assert.deepEqual(spans.map((s) => s.tags['bullmq.job.name']).sort(), ['a', 'b', 'child', 'parent']);
    });

    it("a worker's processor runs in a consumer span that follows from the job's add span; its own calls are its children", async () => {
      const { redis, q } = await appRedisAndQueue();
      let active: Span | undefined;
      const w = worker(q.name, async (job) => {
        active = currentSpan();
        await redis.get(`otch:${job.id}`);
        return { ok: job.data.n };
      });
      const done = outcome(w);
      const { parent, result: job } = await underRequest(() => q.add('work', { n: 7 }));
      const [completed, result] = await done;
      assert.deepEqual(result, { ok: 7 });
      assert.equal(completed.id, job.id);
      await tracer.settle();
      const [add] = tracer.byName(`bullmq.add ${q.name}`);
      const [processed, ...more] = tracer.byName(`bullmq.process ${q.name}`);
      assert.equal(more.length, 0);
      assert.equal(processed.parentId, add.id);
      assert.equal(processed.referenceType, 'followsFrom');
      assert.equal(processed.traceId, parent.traceId);
      assert.equal(processed.tags['span.kind'], 'consumer');
      assert.equal(processed.tags['bullmq.job.id'], job.id);
      assert.equal(processed.tags['bullmq.job.name'], 'work');
      assert.equal(processed.tags['bullmq.job.attempt'], 1);
      assert.equal(active, processed);
      const get = tracer.finished.find((s) => s.operationName === 'redis.GET');
      assert.equal(get?.parentId, processed.id);
    });

    it('a failing attempt marks its span and reaches bullmq unchanged; the retry makes a new span', async () => {
      install();
      const q = await readyQueue();
      const thrown = new Error('the processor failed');
      let calls = 0;
      const w = worker(q.name, async () => {
        if (++calls === 1) throw thrown;
        return 'second time';
      });
      const failed = outcome(w, 'failed');
      const completed = outcome(w);
      await underRequest(() => q.add('flaky', {}, { attempts: 2 }));
      const [, err] = await failed;
      assert.equal(err, thrown);
      assert.equal((await completed)[1], 'second time');
      await tracer.settle();
      const [add] = tracer.byName(`bullmq.add ${q.name}`);
      const attempts = tracer.byName(`bullmq.process ${q.name}`);
      assert.deepEqual(attempts.map((s) => [s.tags['bullmq.job.attempt'], s.hasError()]), [[1, true], [2, false]]);
      for (const span of attempts) assert.equal(span.parentId, add.id);
      assert.equal(attempts[0].errorLog()?.fields['error.object'], thrown);
    });

    for (const subclass of [false, true]) {
      it(`an attempt that moves its job (moveToDelayed, then ${subclass ? 'an app subclass of ' : ''}bullmq's DelayedError) is no failure: tagged bullmq.job.moved, no error`, async () => {
        install();
        const q = await readyQueue();
        const { DelayedError } = lib as any;
        const Thrown = subclass ? class RetryLater extends DelayedError {} : DelayedError;
        let calls = 0;
        const w = worker(q.name, async (job: any, token?: string) => {
          if (++calls === 1) {
            await job.moveToDelayed(Date.now() + 50, token);
            throw new Thrown();
          }
          return 'after the delay';
        });
        const completed = outcome(w);
        await underRequest(() => q.add('later', {}));
        assert.equal((await completed)[1], 'after the delay');
        await tracer.settle();
        const attempts = tracer.byName(`bullmq.process ${q.name}`);
        assert.deepEqual(attempts.map((s) => [s.tags['bullmq.job.moved'], s.hasError()]), [['delayed', false], [undefined, false]]);
        assert.equal(attempts[0].errorLog(), undefined);
      });
    }

    it("an app's own error class named DelayedError (not bullmq's) fails the job, as bullmq fails it: the attempt is an error, no bullmq.job.moved", async () => {
      install();
      const q = await readyQueue();
      const thrown = new (class DelayedError extends Error {})('the app’s own');
      const w = worker(q.name, async () => {
        throw thrown;
      });
      const failed = outcome(w, 'failed');
      await underRequest(() => q.add('own-class', {}));
      assert.equal((await failed)[1], thrown);
      await tracer.settle();
      const [attempt] = tracer.byName(`bullmq.process ${q.name}`);
      assert.equal(attempt.tags['bullmq.job.moved'], undefined);
      assert.equal(attempt.hasError(), true);
    });

    it("a processor's synchronous error keeps every frame bullmq's stack has untraced, at the default limit", async () => {
      const failure = async (): Promise<string> => {
        const q = await readyQueue();
        const w = worker(q.name, () => {
          throw new Error('sync');
        });
        const failed = outcome(w, 'failed');
        await q.add('sync', {});
        const stack = String((await failed)[1].stack);
        // Its worker's blocking read must not outlive this run (made untraced, it would be traced after install).
        await w.close();
        return stack;
      };
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 10;
      try {
        const untraced = framesOf(await failure());
        install();
        const traced = framesOf(await failure());
        assert.equal(untraced.own, 0);
        assert.ok(traced.own > 0, 'the hooks ran under the processor');
        // The span's context is entered with Node's AsyncLocalStorage.run: a frame of the hooks' too.
        const notContext = (frames: string[]): string[] => frames.filter((frame) => !frame.startsWith('at AsyncLocalStorage.run (node:'));
        assert.deepEqual(notContext(traced.others), untraced.others);
        assert.equal(Error.stackTraceLimit, 10);
      } finally {
        Error.stackTraceLimit = limit;
      }
    });

    it('the context survives the producer: a worker started after the queue closed still follows from the add span', async () => {
      const name = fresh('restart');
      install();
      const producer = new lib.Queue(name, { connection });
      const { result: job } = await underRequest(() => producer.add('later', { n: 1 }));
      await producer.close();
      uninstallAllPatches();
      install();
      const q = queue(name);
      await q.waitUntilReady();
      const w = worker(name, async () => 'done');
      await outcome(w);
      await tracer.settle();
      const [add] = tracer.byName(`bullmq.add ${name}`);
      const [processed] = tracer.byName(`bullmq.process ${name}`);
      assert.equal(processed.tags['bullmq.job.id'], job.id);
      assert.equal(processed.parentId, add.id);
    });

    it("the worker's own Redis traffic makes no span, up to 'drained'; its events reach listeners outside it", async () => {
      const { redis, q } = await appRedisAndQueue();
      const w = worker(q.name, async () => 'ok', { stalledInterval: 200, drainDelay: 1 });
      const listened = defer<Span | undefined>();
      w.on('completed', () => {
        redis.get('otch:completed').then(() => listened.resolve(currentSpan()), () => undefined);
      });
      const drained = new Promise<void>((resolve) => w.once('drained', () => resolve()));
      await q.add('one', {});
      await listened.promise;
      await drained;
      await tracer.settle();
      const names = tracer.finished.map((s) => s.operationName);
      assert.deepEqual(names.filter((n) => n.startsWith('redis.') && n !== 'redis.GET'), [], names.join(', '));
      const get = tracer.finished.find((s) => s.operationName === 'redis.GET');
      assert.equal(get?.parentId, undefined, "a 'completed' listener's call is traced, outside the worker's own work");
    });

    for (const useWorkerThreads of [false, true]) {
      it(`a sandboxed processor's requests (progress, log) are sent under its own job's span, job after job of one reused ${useWorkerThreads ? 'worker thread' : 'child'}`, async () => {
        install();
        const q = await readyQueue();
        // A worker thread refuses the test process's --expose-gc.
        const w = worker(q.name, SANDBOXED as any, { concurrency: 1, useWorkerThreads, workerThreadsOptions: { execArgv: [] } });
        for (const n of [1, 2, 3]) {
          const done = outcome(w);
          await underRequest(() => q.add('sandboxed', { n }));
          assert.equal((await done)[1], `done ${(await done)[0].id}`);
        }
        await tracer.settle();
        const processed = tracer.byName(`bullmq.process ${q.name}`);
        assert.equal(processed.length, 3);
        const commands = ioredisSpans(tracer);
        const under = processed.map((span) => commands.filter((c) => c.parentId === span.id).map((c) => c.operationName));
        assert.deepEqual(under, processed.map(() => ['redis.EVALSHA', 'redis.EVALSHA']), 'its progress and log commands under each job');
        assert.equal(commands.length, 6, commands.map((c) => c.operationName).join(', '));
      });
    }

    for (const manual of [false, true]) {
      it(`the stalled-job checker that ${manual ? 'the app starts (startStalledCheckTimer)' : 'resume() restarts after pause(true)'} in a request is bullmq's own work: no span at all`, async () => {
        install();
        const q = await readyQueue();
        const release = defer();
        const w = worker(q.name, manual ? (null as any) : () => release.promise, { stalledInterval: 100, autorun: !manual });
        // Each stalled-job check, counted as it ends.
        let checks = 0;
        const check = (w as any).moveStalledJobsToWait;
        let checked: { at: number; resolve: () => void } | undefined;
        (w as any).moveStalledJobsToWait = async function (this: unknown, ...args: unknown[]) {
          try {
            return await check.apply(this, args);
          } finally {
            if (++checks === checked?.at) checked.resolve();
          }
        };
        if (manual) await w.waitUntilReady();
        else {
          // pause(true) with a job active: the main loop goes on (it waits for the job), the checker stops.
          const active = new Promise<void>((resolve) => w.once('active', () => resolve()));
          await q.add('long', {});
          await active;
          await w.pause(true);
          // bullmq 5 restarts the checker only once its loop has seen the pause (bullmq 6 chains the new one).
          await until(() => (w as any).stalledCheckerRunning !== true, "the checker's end");
        }
        // The job's process span stays open: the spans before are left out, not checked.
        tracer.reset();
        const three = new Promise<void>((resolve) => (checked = { at: checks + 3, resolve }));
        await underRequest(async () => {
          if (manual) await w.startStalledCheckTimer();
          else await w.resume();
        });
        await three;
        if (!manual) {
          const completed = outcome(w);
          release.resolve();
          await completed;
        }
        await tracer.settle();
        const commands = tracer.started.filter((s) => s.tags.component === 'ioredis');
        assert.deepEqual(commands.map((s) => `${s.operationName} ${s.tags['db.statement']} under ${s.parentId ?? '-'}`), []);
      });
    }

    for (const useWorkerThreads of [false, true]) {
      it(`with the hooks in a sandboxed processor's ${useWorkerThreads ? 'worker thread' : 'child'} too, its calls there are children of the job's process span`, async () => {
        install();
        const q = await readyQueue();
        const file = path.join(os.tmpdir(), `${fresh('sandbox')}.jsonl`);
        closers.push(async () => fs.rmSync(file, { force: true }));
        const options = { execArgv: ['-r', CHILD_PRELOAD], env: { ...process.env, OT_TRACER: 'jsonl', OT_TRACER_FILE: file } };
        const w = worker(q.name, SANDBOXED as any, useWorkerThreads ? { useWorkerThreads, workerThreadsOptions: options } : { workerForkOptions: options });
        const done = outcome(w);
        const { parent } = await underRequest(() => q.add('sandboxed', { read: true }));
        await done;
        await tracer.settle();
        const [processed] = tracer.byName(`bullmq.process ${q.name}`);
        // The jsonl tracer writes each span as it finishes: the processor's before it returned.
        const inChild = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
        assert.ok(inChild.some((s) => s.name === 'redis.GET'), inChild.map((s) => s.name).join(', '));
        for (const span of inChild) assert.deepEqual([span.name, span.traceId, span.parentId], [span.name, parent.traceId, processed.id]);
      });
    }

    it('requireParent: no add span without an active span, and nothing stored', async () => {
      install({ requireParent: true });
      const q = await readyQueue();
      const job = await q.add('orphan', {});
      await tracer.settle();
      assert.equal(tracer.byName(`bullmq.add ${q.name}`).length, 0);
      assert.equal((await q.getJob(job.id!))!.opts.telemetry, undefined);
    });

    it('a job without context (added untraced) starts a new trace', async () => {
      const q = queue();
      await q.add('untraced', {});
      install();
      let active: Span | undefined;
      const w = worker(q.name, async () => {
        active = currentSpan();
      });
      await outcome(w);
      await tracer.settle();
      const [processed] = tracer.byName(`bullmq.process ${q.name}`);
      assert.equal(processed.parentId, undefined);
      assert.equal(active, processed);
    });
  });
}

describe('bullmq hook: an idle worker (real Redis)', function () {
  this.timeout(40000);
  const tracer = new RecordingTracer();
  const connection = redisHostPort();
  afterEach(() => uninstallAllPatches());

  async function idleWorkers(): Promise<() => Promise<void>> {
    const workers = BULLMQ_MAJORS.map(({ lib }) => new lib.Worker(fresh('idle'), async () => undefined, { connection, drainDelay: 1, stalledInterval: 500 }));
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('drained', () => resolve()))));
    return async () => {
      await Promise.all(workers.map((w) => w.close()));
    };
  }

  it('without the bullmq hook, the ioredis hook sees its polling (what the next test proves absent)', async () => {
    installPatches(['ioredis'], { tracer });
    tracer.reset();
    const close = await idleWorkers();
    await close();
    await tracer.settle();
    assert.ok(tracer.finished.some((s) => /BZPOPMIN|EVALSHA/.test(String(s.tags['db.statement']))), tracer.finished.map((s) => s.operationName).join(', '));
  });

  it('with it, idle workers of both majors make no span at all over 10 s', async () => {
    installPatches(['bullmq', 'ioredis'], { tracer, aliases: { bullmq6: 'bullmq' } });
    const close = await idleWorkers();
    tracer.reset();
    await new Promise((resolve) => setTimeout(resolve, 10000));
    await close();
    await tracer.settle();
    assert.equal(tracer.started.length, 0, tracer.started.map((s) => `${s.operationName} ${s.tags['db.statement']}`).join(', '));
  });
});

describe('bullmq hook: no tracer set (opentracing\'s default no-op)', function () {
  this.timeout(30000);
  const connection = redisHostPort();
  afterEach(() => {
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it("a worker's loops enter no context: Node 20's promise hooks stay off (regression: +160 µs a job)", async () => {
    installPatches(['bullmq', 'ioredis']);
    // Set after install, where the hooks see it: the default no-op.
    opentracing.initGlobalTracer(new opentracing.Tracer());
    // A layer over every command of bullmq's own copy of ioredis (ours included) that notes the context it is sent in.
    const stores: Array<RequestContext | undefined> = [];
    const bullmqIoredis = require(require.resolve('ioredis', { paths: [path.dirname(require.resolve('bullmq'))] }));
    const proto = bullmqIoredis.default.prototype as { sendCommand: (...args: unknown[]) => unknown };
    const sendCommand = proto.sendCommand;
    proto.sendCommand = function (this: unknown, ...args: unknown[]) {
      stores.push(storage.getStore());
      return sendCommand.apply(this, args);
    };
    const name = fresh('noop');
    const q = new bullmq5.Queue(name, { connection });
    const w = new bullmq5.Worker(name, async (job) => job.data.n * 2, { connection, drainDelay: 1 });
    try {
      for (const n of [21, 4]) {
        const completed = new Promise<unknown>((resolve) => w.once('completed', (_job, result) => resolve(result)));
        await q.add('double', { n });
        assert.equal(await completed, n * 2);
      }
      assert.ok(stores.length > 5, `${stores.length} commands`);
      assert.deepEqual(stores.filter((store) => store !== undefined), []);
    } finally {
      proto.sendCommand = sendCommand;
      await w.close();
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
  });
});
