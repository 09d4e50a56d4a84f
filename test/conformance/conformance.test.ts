/**
 * The contract every hook keeps, run against each driver (one per hook and major version): spans and
 * parents, errors, finished once, transparency (results, errors, async frames, callbacks, input reads),
 * install/uninstall, a throwing tracer, memory per call, and life beside OpenTelemetry.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { installPatches, uninstallAllPatches, withSpan } from '../../src';
import { coexistRun } from '../helpers/coexist';
import { RecordedSpan, RecordingTracer, ThrowingTracer } from '../helpers/tracer';
import type { Driver } from './driver';
import { DRIVERS } from './drivers';

/** Whether the driver's span takes its parent from what arrives (a header) rather than the active span. */
function receives(driver: Driver): boolean {
  return driver.kind === 'server' || driver.kind === 'consumer';
}

function matches(operation: string | RegExp, name: string): boolean {
  return typeof operation === 'string' ? operation === name : operation.test(name);
}

/** Runs `fn` and returns its rejection (or throws if it did not reject). */
async function rejection(fn: () => Promise<unknown>): Promise<any> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

async function settleAll(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

for (const driver of DRIVERS) {
  describe(`conformance: ${driver.name}`, function () {
    this.timeout(60000);
    const tracer = new RecordingTracer();
    const hooks = [driver.hook, ...(driver.alsoInstall ?? [])];
    const install = (extra: Parameters<typeof installPatches>[1] = {}): void =>
      installPatches(hooks, { ...driver.config, ...extra, tracer: extra.tracer ?? tracer });

    before(() => driver.start());
    after(async () => {
      uninstallAllPatches();
      await driver.stop();
    });
    beforeEach(() => {
      uninstallAllPatches();
      tracer.reset();
    });
    afterEach(async () => {
      await tracer.settle();
      uninstallAllPatches();
    });

    function spansOf(): RecordedSpan[] {
      return tracer.finished.filter((s) => matches(driver.operation, s.operationName));
    }

    /** The one span a call made, once it finished. */
    async function oneSpan(): Promise<RecordedSpan> {
      await tracer.settle();
      const spans = spansOf();
      assert.equal(spans.length, 1, `one ${driver.operation} span, got: ${tracer.finished.map((s) => s.operationName).join(', ')}`);
      return spans[0];
    }

    it('makes one span under the active span, with span.kind, component and the OpenTracing tags', async () => {
      install();
      const parent = tracer.startSpan('parent') as RecordedSpan;
      if (receives(driver)) await driver.call(parent);
      else await withSpan(parent, () => driver.call());
      parent.finish();
      const span = await oneSpan();
      assert.equal(span.parentId, parent.id);
      assert.equal(span.traceId, parent.traceId);
      assert.equal(span.tags['span.kind'], driver.kind === 'internal' ? undefined : (driver.kind ?? 'client'));
      assert.equal(typeof span.tags.component, 'string');
      for (const [key, value] of Object.entries(driver.tags())) assert.deepEqual(span.tags[key], value, `tag ${key}`);
      assert.ok(!span.hasError(), 'a successful call is no error');
    });

    it('returns what the untraced library returns', async () => {
      const normalize = driver.normalize ?? ((r: unknown) => r);
      const untraced = normalize(await driver.call());
      install();
      const traced = normalize(await driver.call());
      assert.deepEqual(traced, untraced);
    });

    it('a failure: the app sees the same error (class and message); error=true with the error log fields', async () => {
      const untraced = await rejection(() => driver.failingCall());
      install();
      const traced = await rejection(() => driver.failingCall());
      assert.equal(Object.getPrototypeOf(traced), Object.getPrototypeOf(untraced));
      assert.equal(traced?.message, untraced?.message);
      assert.equal(traced?.code, untraced?.code);
      await tracer.settle();
      const spans = spansOf();
      assert.ok(spans.length >= 1, 'the failed call made a span');
      const span = spans[spans.length - 1];
      assert.equal(span.tags.error, true);
      const log = span.errorLog();
      assert.ok(log !== undefined, 'an error log');
      assert.equal(typeof log.fields.event, 'string');
      assert.equal(typeof log.fields.message, 'string');
      assert.ok('stack' in log.fields);
    });

    it("keeps the caller's async frames in error.stack", async () => {
      async function callerFrameMarker(): Promise<unknown> {
        return await driver.failingCall();
      }
      const untraced = await rejection(callerFrameMarker);
      install();
      const traced = await rejection(callerFrameMarker);
      const has = (err: any): boolean => String(err?.stack).includes('callerFrameMarker');
      assert.equal(has(traced), has(untraced), `untraced stack:\n${untraced?.stack}\ntraced stack:\n${traced?.stack}`);
    });

    if (driver.callbackCall !== undefined) {
      it('callback style: called once, as asynchronously as untraced, with the same outcome, in the caller context', async () => {
        const observe = (): Promise<{ sync: boolean; calls: number; err: unknown }> =>
          new Promise((resolve) => {
            let returned = false;
            let calls = 0;
            driver.callbackCall!((err) => {
              calls++;
              const sync = !returned;
              setImmediate(() => resolve({ sync, calls, err: err == null ? null : (err as Error).message }));
            });
            returned = true;
          });
        const untraced = await observe();
        install();
        const parent = tracer.startSpan('parent') as RecordedSpan;
        const traced = await withSpan(parent, observe);
        parent.finish();
        assert.deepEqual(traced, untraced);
        assert.equal(traced.calls, 1);
      });
    }

    if (driver.countedCall !== undefined) {
      it("reads the caller's input no more often than the library itself does, per property", async () => {
        const count = async (): Promise<Map<string, number>> => {
          const reads = new Map<string, number>();
          await driver.countedCall!((p) => reads.set(p, (reads.get(p) ?? 0) + 1));
          return reads;
        };
        const untraced = await count();
        install();
        const traced = await count();
        for (const [property, n] of traced) {
          assert.ok(n <= (untraced.get(property) ?? 0), `${property}: read ${n} times traced, ${untraced.get(property) ?? 0} untraced`);
        }
      });
    }

    if (!receives(driver)) {
      it('requireParent: no span without an active span', async () => {
        install({ requireParent: true });
        await driver.call();
        await tracer.settle();
        assert.equal(spansOf().length, 0);
      });
    }

    it('the hook toggled off makes no span', async () => {
      installPatches(hooks, { ...driver.config, tracer, hooks: { [driver.hook]: false } });
      await driver.call();
      await tracer.settle();
      assert.equal(spansOf().length, 0);
    });

    it('a tracer that throws costs only the span', async () => {
      const normalize = driver.normalize ?? ((r: unknown) => r);
      const untraced = normalize(await driver.call());
      const broken = new ThrowingTracer();
      install({ tracer: broken });
      const parent = new RecordingTracer().startSpan('parent');
      assert.deepEqual(normalize(await withSpan(parent, () => driver.call())), untraced);
      assert.ok(broken.calls > 0, 'the tracer was asked');
    });

    /** Runs one call under a parent span that is finished afterwards. */
    async function callUnderParent<T>(fn: () => Promise<T>): Promise<T> {
      const parent = tracer.startSpan('parent');
      try {
        return await withSpan(parent, fn);
      } finally {
        parent.finish();
      }
    }

    it('install twice is install once; uninstall puts back the very same functions; install again traces again', async () => {
      const before = driver.targets().map(([object, name]) => (object as any)[name]);
      install();
      install();
      await callUnderParent(() => driver.call());
      await tracer.settle();
      assert.equal(spansOf().length, 1, 'one span, not one per install');
      uninstallAllPatches();
      driver.targets().forEach(([object, name], i) => assert.equal((object as any)[name], before[i], `${String(name)} restored`));
      tracer.reset();
      await driver.call();
      await tracer.settle();
      assert.equal(spansOf().length, 0, 'no span after uninstall');
      install();
      await callUnderParent(() => driver.call());
      await tracer.settle();
      assert.equal(spansOf().length, 1, 'traced again');
    });

    if (driver.inFlightCall !== undefined) {
      it('a call in flight at uninstall completes as usual and its span finishes once', async () => {
        const normalize = driver.normalize ?? ((r: unknown) => r);
        const expected = normalize(await driver.call());
        install();
        const { outcome } = await callUnderParent(() => driver.inFlightCall!());
        uninstallAllPatches();
        assert.deepEqual(normalize(await outcome), expected);
        await tracer.settle();
        assert.equal(spansOf().length, 1);
      });
    }

    it('keeps no memory per call (heap after GC, tens of thousands of calls, against the same calls untraced)', async function () {
      this.timeout(driver.heapCheckMs ?? 120000);
      const gc = (globalThis as { gc?: () => void }).gc;
      assert.ok(gc !== undefined, 'run with --expose-gc (the mocha config does)');
      const counting = new RecordingTracer(false);
      const parent = counting.startSpan('parent');
      const batch = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i += 50) {
          await withSpan(parent, () => Promise.all(Array.from({ length: 50 }, () => driver.call())));
        }
      };
      // Growth over 20,000 calls after a warm-up to a steady state (pools at their size, code compiled).
      const growth = async (): Promise<number> => {
        await batch(5000);
        await settleAll();
        gc();
        const before = process.memoryUsage().heapUsed;
        await batch(20000);
        await settleAll();
        gc();
        return process.memoryUsage().heapUsed - before;
      };
      // What the library and the runtime keep by themselves (Node 24's fetch, after a long suite) is not the hook's.
      const untraced = Math.max(0, await growth());
      install({ tracer: counting });
      const grown = (await growth()) - untraced;
      assert.ok(counting.startedCount >= 25000, `spans made: ${counting.startedCount}`);
      // 20,000 calls: a leak of even 100 bytes per call would show as 2 MB.
      assert.ok(grown < 2_000_000, `heap grew by ${grown} bytes more than untraced over 20,000 calls`);
    });

    if (driver.otel !== undefined) {
      for (const order of ['otel-first', 'ours-first'] as const) {
        it(`lives beside OpenTelemetry's ${driver.otel.export} (${order}): both trace; uninstall takes out only ours`, async () => {
          const phases = await coexistRun<{ phase: string; ours: number; otel: number; ok: boolean; error?: string }>(path.join(__dirname, 'coexist-child.js'), driver.name, order);
          for (const p of phases) assert.ok(p.ok, `${p.phase}: the call failed: ${p.error}`);
          const [both, afterUninstall, again] = phases;
          assert.ok(both.ours >= 1, `ours traced beside OpenTelemetry: ${JSON.stringify(both)}`);
          assert.ok(both.otel >= 1, `OpenTelemetry traced beside ours: ${JSON.stringify(both)}`);
          assert.equal(afterUninstall.ours, 0, 'no span of ours after uninstall');
          assert.ok(afterUninstall.otel >= 1, "OpenTelemetry's wrapper survived our uninstall");
          assert.equal(again.ours, both.ours, 'installed again: as many spans as before, not more');
          assert.ok(again.otel >= 1);
        });
      }
    }
  });
}
