import assert from 'node:assert/strict';
import { installPatches, uninstallAllPatches } from '../../src';
import { mysqlUrl } from '../helpers/services';
import { RecordingTracer } from '../helpers/tracer';

 
const mysql = require('mysql2');

/** Options whose `sql` and `values` getters count their reads. */
function options(reads: Record<string, number>): object {
  const getter = (name: string, value: unknown) => () => {
    reads[name] = (reads[name] ?? 0) + 1;
    return value;
  };
  return Object.defineProperties({}, {
    sql: { get: getter('sql', 'SELECT ? AS n'), enumerable: true },
    values: { get: getter('values', [1]), enumerable: true },
  });
}

describe('mysql2 reads the caller\'s options no more often than mysql2 does (issue 18, defect 3)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let conn: any;
  before(() => {
    conn = mysql.createConnection(mysqlUrl());
  });
  after(async () => {
    await new Promise((resolve) => conn.end(resolve));
  });
  afterEach(() => uninstallAllPatches());

  for (const method of ['query', 'execute']) {
    it(`${method}(options, callback): as many reads of sql and values as untraced, one span`, async () => {
      const run = (reads: Record<string, number>): Promise<unknown> =>
        new Promise((resolve, reject) => conn[method](options(reads), (err: Error | null, rows: unknown) => (err ? reject(err) : resolve(rows))));
      const untracedReads: Record<string, number> = {};
      const untraced = await run(untracedReads);
      installPatches(['mysql2'], { tracer, hooks: { mysql2: { captureParameters: true } } });
      tracer.reset();
      const tracedReads: Record<string, number> = {};
      assert.deepEqual(await run(tracedReads), untraced);
      assert.deepEqual(tracedReads, untracedReads);
      await tracer.settle();
      assert.equal(tracer.finished.length, 1);
      assert.deepEqual(tracer.finished[0].tags['db.params'], [1]);
    });
  }
});
