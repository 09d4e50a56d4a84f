import assert from 'node:assert/strict';
import type pg from 'pg';
import { installPatches, uninstallAllPatches } from '../../src';
import { connectedPgClient } from '../helpers/services';
import { suiteFixture } from '../helpers/suite';
import { RecordingTracer } from '../helpers/tracer';

/** A query config whose getters count their reads; `throwOn` makes a getter throw on that read. */
function config(throwOn: { text?: number; submit?: number; callback?: number }, reads: Record<string, number>, callback?: (err: Error | null, res: unknown) => void): object {
  const getter = (name: 'text' | 'submit' | 'callback', value: unknown) => () => {
    reads[name] = (reads[name] ?? 0) + 1;
    if (throwOn[name] !== undefined && reads[name] >= throwOn[name]!) throw new Error(`${name} read ${reads[name]} times`);
    return value;
  };
  return Object.defineProperties({}, {
    text: { get: getter('text', 'SELECT 1 AS n'), enumerable: true },
    submit: { get: getter('submit', undefined), enumerable: true },
    callback: { get: getter('callback', callback), enumerable: true },
  });
}

/** What client.query does with `cfg`: its result rows, or the message it throws or rejects with. */
async function outcome(client: pg.Client, cfg: object): Promise<string> {
  try {
    const result = await new Promise<unknown>((resolve, reject) => {
      const r = client.query(cfg as any);
      if (r && typeof (r as any).then === 'function') (r as Promise<unknown>).then(resolve, reject);
    });
    return JSON.stringify((result as pg.QueryResult).rows);
  } catch (err) {
    return `threw: ${(err as Error).message}`;
  }
}

describe('pg reads the caller\'s query config no more often than pg does (issue 18, defect 3)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  const client = suiteFixture(connectedPgClient, (c) => c.end());
  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  for (const [label, throwOn] of [
    ['a text getter that throws on its 2nd read', { text: 2 }],
    ['a submit getter that throws', { submit: 1 }],
    ['a text getter that throws', { text: 1 }],
    ['a callback getter that throws', { callback: 1 }],
  ] as Array<[string, { text?: number; submit?: number; callback?: number }]>) {
    it(`${label}: the same outcome and reads as untraced, no span left unfinished`, async () => {
      const untracedReads: Record<string, number> = {};
      const untraced = await outcome(client(), config(throwOn, untracedReads));
      installPatches(['pg'], { tracer });
      const tracedReads: Record<string, number> = {};
      const traced = await outcome(client(), config(throwOn, tracedReads));
      assert.equal(traced, untraced);
      assert.deepEqual(tracedReads, untracedReads);
      await tracer.settle();
    });
  }

  it('a callback in the config: read once, called once, the span finishes', async () => {
    installPatches(['pg'], { tracer });
    const reads: Record<string, number> = {};
    const rows = await new Promise<unknown>((resolve, reject) => client().query(config({ text: 2, callback: 2 }, reads, (err, res) => (err ? reject(err) : resolve((res as pg.QueryResult).rows))) as any));
    assert.deepEqual(rows, [{ n: 1 }]);
    assert.deepEqual(reads, { submit: 1, text: 1, callback: 1 });
    await tracer.settle();
    assert.equal(tracer.byName('pg.query:SELECT').length, 1);
  });
});
