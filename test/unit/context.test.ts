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
});
