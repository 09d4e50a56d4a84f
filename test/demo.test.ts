import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

describe('npm run demo', function () {
  this.timeout(120000);
  it('prints whole cross-service traces: front and back spans, SQL, Redis and a RabbitMQ consumer under one trace id', () => {
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
    }
  });
});
