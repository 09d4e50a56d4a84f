/**
 * mysql (the original driver) hook, against a real MariaDB: the callback, emitter and stream forms,
 * transactions, pools and pool clusters, statements taken before mysql puts the values into the SQL,
 * the connection's own options kept, and a busy pool under concurrent traced requests.
 */
import assert from 'node:assert/strict';
import mysql from 'mysql';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { mysqlUrl } from '../helpers/services';
import { closedPort } from '../helpers/servers';
import { CallSite, mysqlCallSite } from '../helpers/stack';
import { loggedErrorText } from '../helpers/error-log';
import { untracedCallbackContexts } from '../helpers/cases';

function facts(): mysql.ConnectionConfig & { host: string; port: number; user: string; database: string } {
  const u = new URL(mysqlUrl());
  return { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
}

function cb<T = unknown>(fn: (done: (err: unknown, result?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result as T))));
}

function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('mysql hook (real MariaDB)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let conn: mysql.Connection;

  before(async () => {
    installPatches(['mysql'], { tracer });
    conn = mysql.createConnection(facts());
    await cb((done) => conn.connect(done));
  });
  after(async () => {
    await cb((done) => conn.end(done));
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());

  const queries = (): RecordedSpan[] => tracer.byName(/^mysql\.query/);

  function parentSpan(): RecordedSpan {
    const span = tracer.startSpan('parent') as RecordedSpan;
    span.finish();
    return span;
  }

  it('callback query: one span under the caller, tags, and the statement as written (never with the values mysql puts in)', async () => {
    const parent = parentSpan();
    const rows = await withSpan(parent, () => cb((done) => conn.query("SELECT ? AS secret, 'lit' AS s", ['hunter2'], done)));
    assert.deepEqual(plain(rows), [{ secret: 'hunter2', s: 'lit' }]);
    await tracer.settle();
    const [span] = queries();
    const f = facts();
    assert.equal(span.operationName, 'mysql.query:SELECT');
    assert.equal(span.parentId, parent.id);
    assert.deepEqual(
      { ...span.tags },
      {
        'span.kind': 'client',
        component: 'mysql',
        'db.type': 'sql',
        'db.instance': f.database,
        'db.user': f.user,
        'db.statement': 'SELECT ? AS secret, ? AS s',
        'peer.hostname': f.host,
        'peer.port': f.port,
        'peer.address': `${f.host}:${f.port}`,
      },
    );
    assert.ok(!JSON.stringify(tracer.finished.map((s) => [s.tags, s.logs])).includes('hunter2'));
  });

  it('every call form returns what untraced mysql returns, one span each', async () => {
    const forms: Array<() => Promise<unknown>> = [
      () => cb((done) => conn.query('SELECT 1 AS n', done)),
      () => cb((done) => conn.query('SELECT ? AS n', [2], done)),
      () => cb((done) => conn.query({ sql: 'SELECT ? AS n', values: [3] }, done)),
      () => cb((done) => conn.query({ sql: 'SELECT ? AS n' }, [4], done)),
      () => cb((done) => conn.query({ sql: 'SELECT ? AS n', nestTables: true }, [5], done)),
      () => cb((done) => conn.query((mysql as unknown as { createQuery: (...args: unknown[]) => mysql.Query }).createQuery('SELECT ? AS n', [6], done))),
    ];
    const untraced: unknown[] = [];
    uninstallAllPatches();
    for (const form of forms) untraced.push(plain(await form()));
    installPatches(['mysql'], { tracer });
    const parent = parentSpan();
    for (let i = 0; i < forms.length; i++) assert.deepEqual(plain(await withSpan(parent, forms[i])), untraced[i], `form ${i}`);
    await tracer.settle();
    assert.equal(queries().length, forms.length);
    assert.ok(queries().every((s) => s.parentId === parent.id && s.tags['db.statement'] === 'SELECT ? AS n'));
  });

  it("the connection's typeCast still applies to a query traced (the hook hands mysql the Query it built)", async () => {
    const typed = mysql.createConnection({ ...facts(), typeCast: (field: any) => `cast:${field.string()}` });
    try {
      const rows = await withSpan(parentSpan(), () => cb((done) => typed.query('SELECT 7 AS n', done)));
      assert.deepEqual(plain(rows), [{ n: 'cast:7' }]);
    } finally {
      await cb((done) => typed.end(done));
    }
  });

  it('emitter and stream forms: the span ends with the query; result listeners run in the caller context', async () => {
    const parent = parentSpan();
    const seen: Array<string | undefined> = [];
    await withSpan(parent, () =>
      new Promise<void>((resolve, reject) => {
        const q = conn.query('SELECT 1 AS n UNION ALL SELECT 2');
        q.on('result', () => seen.push((currentSpan() as RecordedSpan | undefined)?.id));
        q.on('error', reject);
        q.on('end', () => resolve());
      }),
    );
    assert.deepEqual(seen, [parent.id, parent.id]);
    const streamed: unknown[] = [];
    await withSpan(parent, () =>
      new Promise<void>((resolve, reject) => {
        const stream = conn.query('SELECT ? AS n', [3]).stream();
        stream.on('data', (row) => streamed.push(plain(row)));
        stream.on('error', reject);
        stream.on('end', () => resolve());
      }),
    );
    assert.deepEqual(streamed, [{ n: 3 }]);
    await tracer.settle();
    assert.equal(queries().length, 2);
    assert.ok(queries().every((s) => s.parentId === parent.id));
  });

  it('a failing query: error span with the same error, the values of the statement not in its message', async () => {
    const parent = parentSpan();
    const err: any = await withSpan(parent, () => cb((done) => conn.query('SELECT * FROM no_such_table_mysql WHERE x = ?', ['hunter2'], done))).catch((e) => e);
    assert.equal(err.code, 'ER_NO_SUCH_TABLE');
    await tracer.settle();
    const [span] = queries();
    assert.equal(span.tags.error, true);
    assert.equal(span.tags['db.statement'], 'SELECT * FROM no_such_table_mysql WHERE x = ?');
  });

  it('a failure logs no value of the statement: not the sql mysql filled in (numbers, Buffers), not what a syntax error repeats of it', async () => {
    const card = 4111111111111111;
    const secret = Buffer.from('hunter2-secret');
    const fail = (sql: string, values: unknown[]): Promise<any> => cb((done) => conn.query(sql, values, done)).catch((e: unknown) => e);
    const errors = [await fail('SELECT * FROM no_such_table_mysql WHERE card = ? AND pwd = ?', [card, secret]), await fail('SELECT * FROM DUAL WHERE IN (?, ?)', ['hello world', card])];
    assert.match(errors[0].sql, /4111111111111111/, "the app's error is untouched");
    assert.match(errors[1].message, /hello world/);
    await tracer.settle();
    const spans = queries();
    assert.equal(spans.length, 2);
    for (const span of spans) {
      assert.equal(span.tags.error, true);
      assert.doesNotMatch(loggedErrorText(span), /4111111111111111|hunter2|68756e74|hello|world/, span.tags['db.statement']);
    }
    assert.match(spans[1].errorLog()?.fields.message, /^ER_PARSE_ERROR: .* near 'IN \(\?\)' at line 1$/);
    assert.equal((spans[0].errorLog()?.fields['error.object'] as Record<string, unknown>).code, 'ER_NO_SUCH_TABLE');
  });

  it("the call-site stack mysql adds to a query's error holds one frame of the hook's beside all of the app's, at Node's default limit of 10 too", async () => {
    // Deeper than the limit: the call site's 10 frames are mysql's two and the app's own.
    function callSiteMarker(done: (err: unknown) => void, depth = 12): void {
      if (depth === 0) conn.query('SELECT * FROM no_such_table_mysql', done);
      else callSiteMarker(done, depth - 1);
    }
    const fails = () => cb((done) => callSiteMarker(done));
    uninstallAllPatches();
    let untraced: CallSite[];
    try {
      untraced = [await mysqlCallSite(fails), await mysqlCallSite(fails, 10)];
    } finally {
      installPatches(['mysql'], { tracer });
    }
    const traced = [await mysqlCallSite(fails), await mysqlCallSite(fails, 10), await mysqlCallSite(fails, 10)];
    for (const [i, site] of traced.entries()) {
      const plain = untraced[Math.min(i, 1)];
      assert.equal(plain.own, 0);
      assert.equal(site.own, 1);
      assert.ok(plain.others.some((frame) => frame.includes('callSiteMarker')));
      assert.deepEqual(site.others, plain.others);
    }
    // The room is made for the call alone.
    const limit = Error.stackTraceLimit;
    conn.query('SELECT 1', () => undefined);
    assert.equal(Error.stackTraceLimit, limit);
  });

  it("destroy() (also a pool connection's) ends the spans of the query in flight and of those queued behind it, as aborted; the app hears of none, as untraced", async () => {
    const pool = mysql.createPool({ ...facts(), connectionLimit: 1 });
    const heard: string[] = [];
    const parent = parentSpan();
    try {
      const own = mysql.createConnection(facts());
      await cb((done) => own.connect(done));
      const pooled = await cb<mysql.PoolConnection>((done) => pool.getConnection(done));
      for (const c of [own, pooled]) {
        withSpan(parent, () => {
          c.query('SELECT SLEEP(5) AS inflight', (err) => heard.push(`inflight ${err?.code}`));
          c.query('SELECT 2 AS queued', (err) => heard.push(`queued ${err?.code}`));
          c.query('SELECT 3 AS emitted').on('error', (err) => heard.push(`emitted ${err.code}`)).on('end', () => heard.push('emitted end'));
        });
      }
      // The first query is under way on both.
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const c of [own, pooled]) {
        const socket = (c as unknown as { _socket: NodeJS.EventEmitter })._socket;
        const closed = new Promise((resolve) => socket.once('close', resolve));
        tracer.reset();
        c.destroy();
        // Ended by destroy() itself, once each.
        const spans = queries();
        assert.deepEqual(spans.map((s) => s.tags['db.statement']), ['SELECT SLEEP(?) AS inflight', 'SELECT ? AS queued', 'SELECT ? AS emitted']);
        for (const span of spans) {
          assert.equal(span.parentId, parent.id);
          assert.equal(span.tags.error, true);
          assert.equal(span.errorLog()?.fields.event, 'abort');
          assert.equal(span.errorLog()?.fields.message, 'connection destroyed');
        }
        await closed;
        tracer.assertAllFinishedOnce();
      }
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      await cb((done) => pool.end(done));
    }
    assert.deepEqual(heard, []);
  });

  it('transactions: BEGIN, the queries and COMMIT each a span of the caller', async () => {
    const parent = parentSpan();
    await withSpan(parent, async () => {
      await cb((done) => conn.beginTransaction(done));
      await cb((done) => conn.query('SELECT 1', done));
      await cb((done) => conn.commit(done));
    });
    await tracer.settle();
    assert.deepEqual(queries().map((s) => s.tags['db.statement']), ['START TRANSACTION', 'SELECT ?', 'COMMIT']);
    assert.ok(queries().every((s) => s.parentId === parent.id));
  });

  it('captureParameters records the values as db.params', async () => {
    uninstallAllPatches();
    installPatches(['mysql'], { tracer, hooks: { mysql: { captureParameters: true } } });
    try {
      await withSpan(parentSpan(), () => cb((done) => conn.query('SELECT ? AS n', [42], done)));
      await tracer.settle();
      assert.deepEqual(queries()[0].tags['db.params'], [42]);
    } finally {
      uninstallAllPatches();
      installPatches(['mysql'], { tracer });
    }
  });

  it("the app's own pool.getConnection has a span; a pool query's connection only when it fails, from the query's start", async () => {
    const pool = mysql.createPool({ ...facts(), connectionLimit: 1 });
    const parent = parentSpan();
    try {
      await withSpan(parent, async () => {
        await cb((done) => pool.query('SELECT 1 AS n', done));
        await cb((done) =>
          pool.getConnection((err, c) => {
            if (!err) c.release();
            done(err);
          }),
        );
      });
    } finally {
      await cb((done) => pool.end(done));
    }
    const refused = mysql.createPool({ host: '127.0.0.1', port: await closedPort(), user: 'nobody', password: 'pw-never-shown' });
    const before = Date.now();
    const err = (await withSpan(parent, () => cb((done) => refused.query('SELECT 1', done))).catch((e) => e)) as NodeJS.ErrnoException;
    await cb((done) => refused.end(done));
    assert.equal(err.code, 'ECONNREFUSED');
    await tracer.settle();
    const gets = tracer.byName('mysql.pool.getConnection');
    assert.equal(gets.length, 2, "the app's own getConnection, and the refused one");
    assert.equal(tracer.byName(/^mysql\.query:/).length, 1, 'the query that ran; the refused one never reached a connection');
    assert.deepEqual(gets.map((g) => g.parentId), [parent.id, parent.id]);
    const failed = gets[1];
    assert.equal(failed.tags.error, true);
    assert.ok(failed.startTime >= before && failed.startTime <= (failed.endTime as number), 'the span covers the wait from the query');
    assert.doesNotMatch(JSON.stringify(failed.logs), /pw-never-shown/);
  });

  it("a query left untraced (requireParent with no span, suppressTracing) runs its callback and events in its caller's context, not in that of the request that opened the pooled connection", async () => {
    uninstallAllPatches();
    installPatches(['mysql'], { tracer, hooks: { mysql: { requireParent: true } } });
    const pool = mysql.createPool({ ...facts(), connectionLimit: 1 });
    try {
      const seen = await untracedCallbackContexts(
        tracer,
        () => cb((done) => pool.query('SELECT 1', done)),
        {
          query: (report) => pool.query('SELECT 2', report),
          emitter: async (report) => {
            const conn = await cb<mysql.PoolConnection>((done) => pool.getConnection(done));
            conn.query('SELECT 3').on('end', () => (conn.release(), report()));
          },
        },
        // What its callback sends is suppressed too.
        (report) => pool.query('SELECT 4', () => void pool.query('SELECT 5', report)),
      );
      assert.deepEqual(seen, { query: undefined, emitter: undefined, suppressed: 'request-B' });
    } finally {
      await cb((done) => pool.end(done));
      uninstallAllPatches();
      installPatches(['mysql'], { tracer });
    }
    await tracer.settle();
    assert.deepEqual(queries().map((span) => span.tags['db.statement']), ['SELECT ?'], "only request-A's query is traced");
  });

  it('a pool cluster whose node cannot connect: each failed attempt is a getConnection error span under the caller, no query span', async () => {
    const cluster = mysql.createPoolCluster({ removeNodeErrorCount: 2 });
    cluster.add('down', { host: '127.0.0.1', port: await closedPort(), user: 'nobody', password: 'pw-never-shown' });
    const parent = parentSpan();
    const err = (await withSpan(parent, () => cb((done) => cluster.of('*').query('SELECT 1', done))).catch((e) => e)) as NodeJS.ErrnoException;
    await cb((done) => cluster.end(done));
    assert.ok(err instanceof Error);
    await tracer.settle();
    const gets = tracer.byName('mysql.pool.getConnection');
    assert.equal(gets.length, 2, 'two attempts before mysql counts the node as offline');
    assert.ok(gets.every((g) => g.tags.error === true && g.parentId === parent.id));
    assert.equal(queries().length, 0);
    assert.doesNotMatch(JSON.stringify(tracer.finished.map((s) => [s.tags, s.logs])), /pw-never-shown/);
  });

  it('a busy pool and a pool cluster: every query is the child of the request that issued it', async () => {
    const pool = mysql.createPool({ ...facts(), connectionLimit: 1 });
    const cluster = mysql.createPoolCluster();
    cluster.add('main', { ...facts(), connectionLimit: 1 });
    try {
      const parents = Array.from({ length: 6 }, () => parentSpan());
      await Promise.all(parents.map((p, i) => withSpan(p, () => cb((done) => pool.query('SELECT ? AS n, SLEEP(0.01)', [i], done)))));
      await withSpan(parents[0], () => cb((done) => cluster.of('main').query('SELECT 1 AS n', done)));
      await tracer.settle();
      const spans = queries();
      assert.equal(spans.length, 7);
      const byParent = new Map(parents.map((p) => [p.id, 0]));
      for (const span of spans) byParent.set(span.parentId!, (byParent.get(span.parentId!) ?? 0) + 1);
      assert.deepEqual([...byParent.values()], [2, 1, 1, 1, 1, 1]);
      // A pool's query and a pool cluster namespace's take their connection without a span of its own.
      assert.equal(tracer.byName('mysql.pool.getConnection').length, 0);
    } finally {
      await cb((done) => pool.end(done));
      await cb((done) => cluster.end(done));
    }
  });
});
