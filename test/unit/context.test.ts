import assert from 'node:assert/strict';
import { detached, runInContext } from '../../src/cores/db-call';
import { storage } from '../../src/context';
import type { RequestContext } from '../../src/context';

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

  it('already in the context asked for (none, for detached): the function is called as it is, with no run (regression: kafkajs consumers and redis connects switched on the promise hooks with no tracer)', () => {
    const run = storage.run;
    let runs = 0;
    storage.run = function (this: unknown, ...args: unknown[]) {
      runs++;
      return Reflect.apply(run, this, args);
    } as typeof storage.run;
    try {
      assert.equal(detached(() => 'out'), 'out');
      assert.equal(runInContext(undefined, (a: unknown) => a, undefined, ['same']), 'same');
      assert.equal(runs, 0);
      run.call(storage, request, () => {
        assert.equal(detached(() => storage.getStore()), undefined);
        assert.equal(runInContext(request, () => storage.getStore(), undefined, []), request);
      });
      assert.equal(runs, 1);
    } finally {
      storage.run = run;
    }
  });
});
