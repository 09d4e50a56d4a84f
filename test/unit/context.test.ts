import assert from 'node:assert/strict';
import { detached, inOwnWork, ownWork, runInContext } from '../../src/cores/db-call';
import { asParentNow, storage } from '../../src/context';
import { ActiveHook } from '../../src/registry/define';
import { clientParent, CommonHookOptions } from '../../src/spans';
import { RecordingTracer } from '../helpers/tracer';
import type { RequestContext } from '../../src/context';
import type { Span } from 'opentracing';

describe('running outside a request (runInContext without a store, detached)', () => {
  const request: RequestContext = { span: undefined };

  it('no store inside, nor in what the function starts; the caller keeps its own', async () => {
    await storage.run(request, async () => {
      const seen: unknown[] = [];
      const started = runInContext(undefined, function (this: unknown, a: unknown) {
        seen.push(storage.getStore(), this, a);
        return new Promise<void>((resolve) => setImmediate(() => resolve(seen.push(storage.getStore()) as unknown as void)));
      }, 'self', ['arg']);
      assert.equal(storage.getStore(), request);
      await started;
      await detached(async () => {
        seen.push(storage.getStore());
        await new Promise((resolve) => setTimeout(resolve, 1));
        seen.push(storage.getStore());
      });
      assert.deepEqual(seen, [undefined, 'self', 'arg', undefined, undefined, undefined]);
      assert.equal(storage.getStore(), request);
    });
  });

  it('runInContext with a store runs in it', () => {
    assert.equal(runInContext(request, () => storage.getStore(), undefined, []), request);
  });
});

describe("a library's own work (ownWork)", () => {
  const tracer = new RecordingTracer();
  const redis = new ActiveHook<CommonHookOptions>('redis', {}, tracer);
  const http = new ActiveHook<CommonHookOptions>('http', {}, tracer);
  const request = tracer.startSpan('request');

  it("makes no span of its own hook's, and other hooks' spans are roots, not the request's: in it and in what it starts", async () => {
    const seen = await storage.run({ span: request }, () =>
      ownWork(redis, async () => {
        const now = [clientParent(redis), clientParent(http), inOwnWork(redis), inOwnWork(http)];
        await new Promise((resolve) => setTimeout(resolve, 1));
        return [...now, clientParent(redis), clientParent(http)];
      }, undefined, []),
    );
    assert.deepEqual(seen, [undefined, null, true, false, undefined, null]);
  });

  it("runs the library's callbacks outside any context, with their own this and arguments", () => {
    const seen: unknown[] = [];
    storage.run({ span: request }, () =>
      ownWork(redis, (callback: (this: unknown, x: number) => void) => {
        callback.call('self', 1);
      }, undefined, [function (this: unknown, x: number) {
        seen.push(storage.getStore(), this, x, clientParent(redis));
      }]),
    );
    assert.deepEqual(seen, [undefined, 'self', 1, null]);
  });
});

describe('a parent for the client spans started now (asParentNow): no context entered', () => {
  /** `fn` wrapped with `span` as the parent now, called. */
  const underNow = <T>(span: Span | undefined, fn: () => T): T => asParentNow(() => span)(fn).call(undefined);
  const tracer = new RecordingTracer();
  const hook = new ActiveHook<CommonHookOptions>('demo', {}, tracer);
  const outer = tracer.startSpan('outer');
  const inner = tracer.startSpan('inner');
  const other = tracer.startSpan('other');

  it('is the parent while the function runs, in the context it was set in; the context itself is unchanged', () => {
    const request: RequestContext = { span: outer };
    storage.run(request, () => {
      const seen = underNow(inner, () => [clientParent(hook), storage.getStore()]);
      assert.deepEqual(seen, [inner, request]);
      assert.equal(clientParent(hook), outer);
    });
    assert.equal(underNow(inner, () => clientParent(hook)), inner);
    assert.equal(clientParent(hook), null);
  });

  it("the span is asked of the call's `this`; without one the call runs as it is, with its arguments and result", () => {
    const asked: unknown[] = [];
    const wrapped = asParentNow((self) => (asked.push(self), undefined))(function (this: unknown, a: unknown) {
      return [this, a, clientParent(hook)];
    });
    assert.deepEqual(wrapped.call('self', 1), ['self', 1, null]);
    assert.deepEqual(asked, ['self']);
  });

  it('not in a context entered inside it (a span the app makes active there, a suppressed one)', () => {
    underNow(inner, () => {
      assert.equal(storage.run({ span: other }, () => clientParent(hook)), other);
      assert.equal(storage.run({ span: undefined, suppressed: true }, () => clientParent(hook)), undefined);
      assert.equal(clientParent(hook), inner);
    });
  });

  it('not in what the function leaves for later', async () => {
    const later = underNow(inner, () => new Promise((resolve) => setImmediate(() => resolve(clientParent(hook)))));
    assert.equal(await later, null);
  });

  it('an explicit parent wins; nested calls and a throw restore the one before', () => {
    underNow(outer, () => {
      assert.equal(clientParent(hook, other), other);
      assert.equal(underNow(inner, () => clientParent(hook)), inner);
      assert.throws(() => underNow(inner, () => {
        throw new Error('boom');
      }), /boom/);
      assert.equal(clientParent(hook), outer);
    });
    assert.equal(clientParent(hook), null);
  });
});
