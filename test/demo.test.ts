import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

/** The waterfall line naming `piece` and its depth (two spaces per level); fails when there is none. */
function row(trace: string, piece: string, from = 0): { index: number; depth: number } {
  const lines = trace.split('\n');
  const index = lines.findIndex((line, i) => i >= from && line.includes(piece));
  assert.ok(index >= 0, `${piece} in\n${trace}`);
  return { index, depth: /^ */.exec(lines[index])![0].length / 2 };
}

describe('npm run demo', function () {
  this.timeout(120000);
  it('prints whole cross-service traces: front and back spans, SQL, Redis, a RabbitMQ consumer and a BullMQ job under one trace id', () => {
    const r = spawnSync(process.execPath, ['scripts/demo.js'], { cwd: root, env: { ...process.env, DEMO_REQUESTS: '2' }, encoding: 'utf8', timeout: 110000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /GET \/checkout\/1 -> 200/);
    const traces = r.stdout.split(/\n(?=trace [0-9a-f]{32})/).filter((t) => t.startsWith('trace '));
    assert.equal(traces.length, 2, r.stdout);
    for (const t of traces) {
      assert.match(t.split('\n')[0], /front/);
      assert.match(t.split('\n')[0], /back/);
      const pieces = ['/checkout/', 'axios ->', 'fetch ->', '/orders/', '/stock/', 'pg-pool.connect', 'pg.query:SELECT', 'pg.query:BEGIN',
        'pg.query:COMMIT', 'mysql.query:SELECT', 'SELECT price FROM demo_prices WHERE item = ?', 'redis.GET', 'redis.MULTI',
        'amqp.publish <default>:demo.order-viewed', 'amqp.consume demo.order-viewed', 'INCR demo:events:'];
      for (const piece of pieces) assert.ok(t.includes(piece), `${piece} in\n${t}`);
      // The job is added by the back request and processed by the worker, whose span follows from the add
      // (the waterfall nests it there) and parents the worker's query.
      const request = row(t, '200  /orders/');
      const add = row(t, 'bullmq.add demo-receipts');
      const processed = row(t, 'bullmq.process demo-receipts');
      const query = row(t, 'UPDATE demo_orders SET note = $2', processed.index);
      assert.ok(add.index > request.index && add.depth === request.depth + 1, `bullmq.add under the back request:\n${t}`);
      assert.ok(processed.index === add.index + 1 && processed.depth === add.depth + 1, `bullmq.process under bullmq.add:\n${t}`);
      assert.equal(query.depth, processed.depth + 1, `the worker's query under bullmq.process:\n${t}`);
    }
  });
});
