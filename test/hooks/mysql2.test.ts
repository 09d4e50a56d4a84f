/**
 * mysql2 hook, against a real MariaDB: every call form of the callback and promise APIs, prepared
 * statements, streams and emitters, pools and pool clusters, failures, secrets, options, and a busy
 * pool under traced HTTP requests.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import mysql from 'mysql2';
import mysqlp from 'mysql2/promise';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import type { Mysql2Options } from '../../src';
import { isOurWrapper } from '../../src/registry/wrap';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { assertRequireParent, concurrentRequests, untracedCallbackContexts, verbatimSql, withHookOptions } from '../helpers/cases';
import { esmAppSpans, root } from '../helpers/child';
import { answerById, closedPort, startServer } from '../helpers/servers';
import { mysqlConfig, mysqlUrl, sqlTags } from '../helpers/services';
import { assertDbErrorLogged, loggedErrorText } from '../helpers/error-log';
import { redactSqlErrorText } from '../../src/cores/sql-call';

 


const facts = mysqlConfig;

/** The prototype that defines `name` (mysql2 keeps its methods on base classes). */
function definer(proto: object, name: string): any {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, name)) return p;
  }
  throw new Error(`no ${name}`);
}

const connectionProto = definer(mysql.Connection.prototype, 'query');
const poolProto = definer((mysql as any).Pool.prototype, 'getConnection');
const originals = {
  query: connectionProto.query,
  execute: connectionProto.execute,
  prepare: connectionProto.prepare,
  _notifyError: connectionProto._notifyError,
  getConnection: poolProto.getConnection,
};
const poolStatements = { query: definer((mysql as any).Pool.prototype, 'query').query, execute: definer((mysql as any).Pool.prototype, 'execute').execute };

/** The rows of a result, as plain data. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** A node-style call as a promise of its result. */
function cb<T = unknown>(fn: (done: (err: unknown, result?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result as T))));
}

/** Rows of an emitter-mode query ('result' events until 'end'). */
function emitted(query: any): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const rows: unknown[] = [];
    query.on('result', (row: unknown) => rows.push(row));
    query.on('error', reject);
    query.on('end', () => resolve(rows));
  });
}

const COUNT_TO_100 = 'WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n FROM s';

describe('mysql2 hook (real MariaDB)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let conn: mysql.Connection;
  let pconn: mysqlp.Connection;

  before(async () => {
    installPatches(['mysql2'], { tracer });
    conn = mysql.createConnection(mysqlUrl());
    pconn = await mysqlp.createConnection(mysqlUrl());
  });
  after(async () => {
    await new Promise((resolve) => conn.end(resolve));
    await pconn.end();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());

  function queries(): RecordedSpan[] {
    return tracer.byName(/^mysql\.query/);
  }

  it('promise query: one span under the active span, with the OpenTracing tags and a redacted statement', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const [rows] = await withSpan(parent, () => pconn.query("SELECT 1 + 1 AS two, 'x' AS s, \"y\" AS d # trailing comment"));
    parent.finish();
    assert.deepEqual(plain(rows), [{ two: 2, s: 'x', d: 'y' }]);
    await tracer.settle();
    const spans = queries();
    assert.equal(spans.length, 1);
    const [span] = spans;
    assert.equal(span.operationName, 'mysql.query:SELECT');
    assert.equal(span.parentId, parent.id);
    assert.deepEqual({ ...span.tags }, { 'span.kind': 'client', ...sqlTags('mysql2', facts(), 'SELECT ? + ? AS two, ? AS s, ? AS d') });
  });

  it('every call form (query, execute; callback, promise, options, command, emitter) returns what untraced mysql2 returns, one span each', async () => {
    const forms: Array<[string, () => Promise<unknown>]> = [
      ['query(sql, cb)', () => cb((done) => conn.query('SELECT 1 AS n', done))],
      ['query(sql, values, cb)', () => cb((done) => conn.query('SELECT ? AS n', [2], done))],
      ['query(options, cb)', () => cb((done) => conn.query({ sql: 'SELECT ? AS n', values: [3] }, done))],
      ['query(options, values, cb)', () => cb((done) => conn.query({ sql: 'SELECT ? AS n' }, [4], done))],
      ['query(options rowsAsArray, values, cb)', () => cb((done) => conn.query({ sql: 'SELECT ? AS n', rowsAsArray: true }, [5], done))],
      ['execute(sql, values, cb)', () => cb((done) => conn.execute('SELECT ? AS n', [6], done))],
      ['execute(sql, cb)', () => cb((done) => conn.execute('SELECT 7 AS n', done))],
      ['execute(options, cb)', () => cb((done) => conn.execute({ sql: 'SELECT ? AS n', values: [8] }, done))],
      ['promise query', async () => (await pconn.query('SELECT ? AS n', [9]))[0]],
      ['promise execute', async () => (await pconn.execute('SELECT ? AS n', [10]))[0]],
      ['promise query(options)', async () => (await pconn.query({ sql: 'SELECT ? AS n', values: [11] }))[0]],
      ['query(createQuery(…))', () => cb((done) => conn.query((mysql as any).createQuery('SELECT ? AS n', [12], done, {})))],
      ['emitter query', () => emitted(conn.query('SELECT ? AS n', [13]))],
      ['emitter execute', () => emitted(conn.execute('SELECT ? AS n', [14]))],
      ['conn.promise().query', async () => (await conn.promise().query('SELECT ? AS n', [15]))[0]],
    ];
    const run = async (): Promise<unknown[]> => {
      const results: unknown[] = [];
      for (const [, form] of forms) results.push(plain(await form()));
      return results;
    };
    uninstallAllPatches();
    const untraced = await run();
    installPatches(['mysql2'], { tracer });
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const traced = await withSpan(parent, run);
    parent.finish();
    assert.deepEqual(traced, untraced);
    assert.deepEqual(traced[0], [{ n: 1 }]);
    assert.deepEqual(traced[4], [[5]]);
    await tracer.settle();
    const spans = queries();
    assert.equal(spans.length, forms.length, `one span per call: ${spans.map((s) => s.tags['db.statement'])}`);
    assert.ok(spans.every((s) => s.operationName === 'mysql.query:SELECT' && s.parentId === parent.id));
    const prepared = spans.filter((s) => s.tags['db.prepared_statement'] === true).map((s) => s.tags['db.statement']);
    assert.deepEqual(prepared, ['SELECT ? AS n', 'SELECT ? AS n', 'SELECT ? AS n', 'SELECT ? AS n', 'SELECT ? AS n'], 'the five executes');
  });

  it("callbacks and emitter listeners run in the caller's context, not that of whoever opened the connection", async () => {
    const opener = tracer.startSpan('opener') as RecordedSpan;
    // The socket, and so every packet it reads, belongs to the opener's context.
    const other = withSpan(opener, () => mysql.createConnection(mysqlUrl()));
    try {
      await cb((done) => other.query('SELECT 1', done));
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const seen = await withSpan(parent, async () => {
        const inQuery = await new Promise((resolve) => other.query('SELECT 1', () => resolve(currentSpan())));
        const inExecute = await new Promise((resolve) => other.execute('SELECT 1', [], () => resolve(currentSpan())));
        const inResult = await new Promise((resolve) => {
          let span: unknown;
          other.query('SELECT 1 AS n').on('result', () => (span = currentSpan())).on('end', () => resolve(span));
        });
        return { inQuery, inExecute, inResult };
      });
      parent.finish();
      opener.finish();
      assert.equal(seen.inQuery, parent);
      assert.equal(seen.inExecute, parent);
      assert.equal(seen.inResult, parent);
    } finally {
      await new Promise((resolve) => other.end(resolve));
    }
  });

  it('the same objects come back: a Query command from query(), a promise from the promise API', async () => {
    const q = conn.query('SELECT 1 AS n');
    assert.equal(q.constructor.name, 'Query');
    assert.equal(typeof (q as any).stream, 'function');
    await emitted(q);
    const e = conn.execute('SELECT 1 AS n');
    assert.equal(e.constructor.name, 'Execute');
    await emitted(e);
    const p = pconn.query('SELECT 1');
    assert.ok(p instanceof Promise);
    await p;
    await tracer.settle();
    assert.equal(queries().length, 3);
  });

  it('prepared statements: prepare (callback and promise) has its span; each statement.execute makes one span', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const results = await withSpan(parent, async () => {
      const stmt: any = await cb((done) => conn.prepare('SELECT ? AS n', done));
      const a = await cb((done) => stmt.execute([1], done));
      const fixed: any = await cb((done) => conn.prepare('SELECT 2 AS n', done));
      const b = await cb((done) => fixed.execute(done));
      const c = await emitted(stmt.execute([3]));
      const pstmt = await pconn.prepare('SELECT ? AS n');
      const [d] = await pstmt.execute([4]);
      await pstmt.close();
      stmt.close();
      fixed.close();
      return plain([a, b, c, d]);
    });
    parent.finish();
    assert.deepEqual(results, [[{ n: 1 }], [{ n: 2 }], [{ n: 3 }], [{ n: 4 }]]);
    await tracer.settle();
    const prepares = tracer.byName('mysql.prepare:SELECT');
    assert.deepEqual(prepares.map((s) => s.tags['db.statement']), ['SELECT ? AS n', 'SELECT ? AS n', 'SELECT ? AS n']);
    const executes = queries();
    assert.equal(executes.length, 4);
    for (const span of [...prepares, ...executes]) assert.equal(span.parentId, parent.id);
    assert.ok(executes.every((s) => s.tags['db.prepared_statement'] === true && s.tags.component === 'mysql2'));
  });

  it('a stream read to the end: one span, finished once, under the caller', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const rows = await withSpan(parent, async () => {
      const out: unknown[] = [];
      for await (const row of conn.query(COUNT_TO_100).stream()) out.push(row);
      return out;
    });
    parent.finish();
    assert.equal(rows.length, 100);
    await tracer.settle();
    const [span] = queries();
    assert.equal(span.operationName, 'mysql.query:WITH');
    assert.equal(span.tags['db.statement'], 'WITH RECURSIVE s(n) AS (SELECT ? UNION ALL SELECT n + ? FROM s WHERE n < ?) SELECT n FROM s');
    assert.equal(span.parentId, parent.id);
    assert.equal(span.finishCount, 1);
  });

  it('a stream destroyed early finishes its span once, and the connection still works', async () => {
    const stream = conn.query(COUNT_TO_100).stream();
    const closed = new Promise((resolve) => stream.once('close', resolve));
    let seen = 0;
    stream.on('data', () => {
      seen++;
      stream.destroy();
    });
    await closed;
    assert.equal(seen, 1);
    const [rows] = await conn.promise().query('SELECT 1 AS ok');
    assert.deepEqual(plain(rows), [{ ok: 1 }]);
    await tracer.settle();
    assert.equal(queries().length, 2);
  });

  it("failures: error=true with the error log, the app gets the very same error (callback, promise, execute, emitter, stream)", async () => {
    const viaCallback = await cb((done) => conn.query('SELECT * FROM no_such_table_cb', done)).catch((e) => e);
    const viaPromise = await pconn.query('SELEC nonsense').catch((e) => e);
    const viaExecute = await cb((done) => conn.execute('SELECT * FROM no_such_table_exec', [], done)).catch((e) => e);
    const viaEmitter = await emitted(conn.query('SELECT * FROM no_such_table_emit')).catch((e) => e);
    const viaStream = await new Promise((resolve) => conn.query('SELECT * FROM no_such_table_stream').stream().on('error', resolve).resume());
    // A synchronous throw (mysql2 checks bind parameters before sending anything).
    let thrown: unknown;
    try {
      (conn as any).execute('SELECT ? AS n', [undefined], () => undefined);
    } catch (e) {
      thrown = e;
    }
    assert.ok(thrown instanceof TypeError);
    const errors = [viaCallback, viaPromise, viaExecute, viaEmitter, viaStream, thrown] as Array<Error & { code?: string }>;
    assert.deepEqual(
      errors.map((e) => e.code),
      ['ER_NO_SUCH_TABLE', 'ER_PARSE_ERROR', 'ER_NO_SUCH_TABLE', 'ER_NO_SUCH_TABLE', 'ER_NO_SUCH_TABLE', undefined],
    );
    await tracer.settle();
    const spans = tracer.finished.filter((s) => s.operationName.startsWith('mysql.query'));
    assert.equal(spans.length, 6);
    spans.forEach((span, i) => {
      assert.equal(span.tags.error, true);
      assertDbErrorLogged(span, errors[i], redactSqlErrorText);
      assert.equal(span.errorLog()?.fields.message, redactSqlErrorText(errors[i].message));
    });
    assert.equal(spans[1].operationName, 'mysql.query:SELEC');
  });

  it('a failure logs no value of the statement: not the sql mysql2 filled in (numbers, Buffers, 0x…), not what a syntax error repeats of it', async () => {
    const card = 4111111111111111;
    const secret = Buffer.from('hunter2-secret');
    const fail = (sql: string, values: unknown[]): Promise<any> => cb((done) => conn.query(sql, values, done)).catch((e: unknown) => e);
    const errors = [
      await fail('SELECT * FROM no_such_table_leak WHERE card = ? AND pwd = ?', [card, secret]),
      await fail('SELECT * FROM DUAL WHERE IN (?, ?)', ['hello world', card]),
      await fail("SELECT * FROM DUAL WHERE IN (' spaced secret', ?)", [card]),
      await fail('SELECT * FROM no_such_table_leak WHERE pwd = 0x68756e746572', []),
      await pconn.execute('SELECT * FROM no_such_table_leak WHERE card = ?', [card]).catch((e: unknown) => e),
    ];
    assert.match(errors[0].sql, /4111111111111111/, "the app's error is untouched");
    assert.match(errors[1].message, /hello world/);
    await tracer.settle();
    const spans = tracer.finished.filter((s) => s.operationName.startsWith('mysql.query'));
    assert.equal(spans.length, errors.length);
    for (const [i, span] of spans.entries()) {
      assert.equal(span.tags.error, true);
      assert.doesNotMatch(loggedErrorText(span), /4111111111111111|hunter2|68756e74|hello|world|spaced|secret/, span.tags['db.statement']);
      assertDbErrorLogged(span, errors[i], redactSqlErrorText);
    }
    // A syntax error still says where: the statement it repeats, sanitised as db.statement is.
    assert.match(spans[1].errorLog()?.fields.message, /near 'IN \(\?\)' at line 1$/);
    assert.equal((spans[0].errorLog()?.fields['error.object'] as Record<string, unknown>).code, 'ER_NO_SUCH_TABLE');
  });

  it('a command on an ended connection: the span fails, the app sees what untraced mysql2 gives it', async () => {
    const ended = mysql.createConnection(mysqlUrl());
    await new Promise((resolve) => ended.end(resolve));
    const connectionErrors: Error[] = [];
    ended.on('error', (e) => connectionErrors.push(e));
    const viaCallback = (await cb((done) => ended.query('SELECT 1', done)).catch((e) => e)) as Error;
    assert.match(viaCallback.message, /closed state/);
    ended.query('SELECT 2');
    assert.equal(connectionErrors.length, 1);
    assert.match(connectionErrors[0].message, /closed state/);
    await tracer.settle();
    const spans = queries();
    assert.equal(spans.length, 2);
    assert.ok(spans.every((s) => s.tags.error === true && /closed state/.test(s.errorLog()?.fields.message)));
    assertDbErrorLogged(spans[0], viaCallback, redactSqlErrorText);
  });

  it('a connection killed mid-query finishes the spans of the running and the queued emitter queries', async () => {
    const victim = mysql.createConnection(mysqlUrl());
    const lost = new Promise<Error>((resolve) => victim.on('error', resolve));
    await cb((done) => victim.query('SELECT 1', done));
    const threadId = victim.threadId;
    tracer.reset();
    const parent = tracer.startSpan('parent') as RecordedSpan;
    // mysql2 gives emitter-mode commands no event when their connection dies, only the connection an
    // 'error': the running one and the one queued behind it.
    const events: string[] = [];
    for (const sql of ['SELECT SLEEP(20) AS s', 'SELECT 2 AS n']) {
      const q = withSpan(parent, () => victim.query(sql));
      for (const event of ['error', 'end']) q.on(event, () => events.push(`${sql}: ${event}`));
    }
    await pconn.query(`KILL ${threadId}`);
    const err = (await lost) as Error & { code?: string };
    assert.equal(err.code, 'PROTOCOL_CONNECTION_LOST');
    parent.finish();
    await tracer.settle();
    assert.deepEqual(events, [], 'the app saw no event on the commands, as untraced');
    const dropped = queries().filter((s) => s.parentId === parent.id);
    assert.deepEqual(dropped.map((s) => s.tags['db.statement']), ['SELECT SLEEP(?) AS s', 'SELECT ? AS n']);
    for (const span of dropped) {
      assert.equal(span.tags.error, true);
      assertDbErrorLogged(span, err, redactSqlErrorText);
      assert.equal(span.finishCount, 1);
    }
    victim.destroy();
  });

  it('a socket path stands for the peer: peer.address, no hostname', async () => {
    const socketPath = path.join(root, 'no-such-mysql.sock');
    const { user, database } = facts();
    const viaSocket = mysql.createConnection({ socketPath, user, database });
    viaSocket.on('error', () => undefined);
    const err = (await cb((done) => viaSocket.query('SELECT 1', done)).catch((e) => e)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'ENOENT');
    await tracer.settle();
    const [span] = queries();
    assert.equal(span.tags['peer.address'], socketPath);
    assert.equal(span.tags['peer.hostname'], undefined);
    assert.equal(span.tags['db.user'], user);
    assert.equal(span.tags.error, true);
  });

  it('never records a password: not from the URI, not from the config, not from a failed login', async () => {
    const f = facts();
    const secret = 'Sup3r-Secret-Pw';
    const viaUri = await mysqlp.createConnection(mysqlUrl());
    await viaUri.query('SELECT 1');
    await viaUri.execute('SELECT ?', [1]);
    await viaUri.end();
    const viaConfig = mysqlp.createPool({ host: f.host, port: f.port, user: f.user, password: f.password, database: f.database });
    await viaConfig.query('SELECT 1');
    await viaConfig.end();
    const wrong = mysqlp.createPool({ uri: `mysql://${f.user}:${secret}@${f.host}:${f.port}/${f.database}` });
    const denied = (await wrong.query('SELECT 1').catch((e) => e)) as Error & { code?: string };
    assert.equal(denied.code, 'ER_ACCESS_DENIED_ERROR');
    await wrong.end();
    await tracer.settle();
    assert.ok(tracer.byName('mysql.pool.getConnection').some((s) => s.tags.error === true), 'the failed login is on the getConnection span');
    const everything = tracer.everything();
    assert.ok(!everything.includes(f.password), everything);
    assert.ok(!everything.includes(secret), everything);
  });

  it('captureParameters, sanitizeStatement:false, maxStatementLength, request/response hooks (throwing ones contained)', async () => {
    const seen: unknown[] = [];
    const options: Mysql2Options = {
      ...verbatimSql,
      requestHook: (span, info) => {
        span.setTag('app.query', info.text);
        seen.push([info.values, info.database, info.prepared]);
        throw new Error('user hook bug');
      },
      responseHook: (span, result) => {
        span.setTag('app.rows', (result as unknown[]).length);
        throw new Error('user hook bug');
      },
    };
    await withHookOptions(tracer, 'mysql2', options, async () => {
      const [rows] = await pconn.query("SELECT ? AS v, 'literal' AS l", ['value']);
      assert.deepEqual(plain(rows), [{ v: 'value', l: 'literal' }]);
      await pconn.execute('SELECT ? AS v', ['other']);
      await tracer.settle();
      const [q, e] = queries();
      assert.equal(q.tags['db.statement'], 'SELECT ? AS v, \'lite');
      assert.deepEqual(q.tags['db.params'], ['value']);
      assert.equal(q.tags['app.query'], "SELECT ? AS v, 'literal' AS l");
      assert.equal(q.tags['app.rows'], 1);
      assert.deepEqual(e.tags['db.params'], ['other']);
      assert.deepEqual(seen, [
        [['value'], facts().database, false],
        [['other'], facts().database, true],
      ]);
    });
  });

  it('captureParameters records the values mysql2 binds: an options object\'s over the argument for execute, the argument for query', async () => {
    const seen: unknown[] = [];
    await withHookOptions(tracer, 'mysql2', { captureParameters: true, requestHook: (_span, info) => void seen.push(info.values) }, async () => {
      const bound: unknown[] = [];
      for (const call of [
        () => pconn.execute({ sql: 'SELECT ? AS v', values: ['from-options'] }, ['from-argument']),
        () => pconn.query({ sql: 'SELECT ? AS v', values: ['from-options'] }, ['from-argument']),
        () => pconn.execute({ sql: 'SELECT ? AS v' }, ['from-argument']),
        () => pconn.execute('SELECT ? AS v', ['from-argument']),
      ]) {
        const [rows] = (await call()) as unknown as [Array<{ v: string }>];
        bound.push(rows[0].v);
      }
      assert.deepEqual(bound, ['from-options', 'from-argument', 'from-argument', 'from-argument'], 'what mysql2 binds');
      await tracer.settle();
      const recorded = queries().map((span) => span.tags['db.params'][0]);
      assert.deepEqual(recorded, bound);
      assert.deepEqual(seen, bound.map((v) => [v]));
    });
  });

  it('by default: no db.params, and values never reach the statement', async () => {
    await pconn.query('SELECT ? AS v', ['private-value']);
    await tracer.settle();
    const [span] = queries();
    assert.equal(span.tags['db.params'], undefined);
    assert.ok(!JSON.stringify(span.tags).includes('private-value'));
  });

  it('requireParent: no span without an active span', () => assertRequireParent(tracer, 'mysql2', () => pconn.query('SELECT 1')));

  it("uninstall restores every function, prepared statements' execute included", async () => {
    await pconn.prepare('SELECT 1');
    const stmt: any = await cb((done) => conn.prepare('SELECT 1', done));
    const statementProto = Object.getPrototypeOf(stmt);
    assert.ok(isOurWrapper(statementProto.execute), 'statements are traced once one was prepared');
    const cluster = mysql.createPoolCluster();
    const namespaceProto = Object.getPrototypeOf(cluster.of('*'));
    assert.ok(isOurWrapper(namespaceProto.query) && isOurWrapper(namespaceProto.execute), "pool cluster namespaces' statements are wrapped once one was handed out");
    assert.ok(isOurWrapper(Object.getPrototypeOf(cluster).of));
    assert.notEqual(connectionProto.query, originals.query);
    uninstallAllPatches();
    for (const [name, fn] of Object.entries(originals)) assert.equal((name === 'getConnection' ? poolProto : connectionProto)[name], fn, name);
    for (const [name, fn] of Object.entries(poolStatements)) assert.equal(definer((mysql as any).Pool.prototype, name)[name], fn, `pool ${name}`);
    assert.ok(!isOurWrapper(statementProto.execute));
    assert.ok(!isOurWrapper(namespaceProto.query) && !isOurWrapper(namespaceProto.execute) && !isOurWrapper(Object.getPrototypeOf(cluster).of));
    installPatches(['mysql2'], { tracer });
    tracer.reset();
    await cb((done) => stmt.execute(done));
    await cb((done) => conn.prepare('SELECT 1', done));
    await cb((done) => stmt.execute(done));
    await tracer.settle();
    assert.deepEqual(
      tracer.finished.map((s) => s.operationName),
      ['mysql.prepare:SELECT', 'mysql.query:SELECT'],
      'a statement is traced again once the reinstalled hook saw a prepare',
    );
  });

  it('an ES-module app (import mysql2/promise) is traced', async () => {
    const spans = await esmAppSpans(
      ['mysql2'],
      `
      const { default: mysql } = await import('mysql2/promise');
      const conn = await mysql.createConnection(process.env.MYSQL_URL);
      await conn.query('SELECT 1 AS esm');
      await conn.end();
    `,
      { MYSQL_URL: mysqlUrl() },
    );
    assert.deepEqual(spans.map((s) => s.name), ['mysql.query:SELECT']);
  });
});

describe('mysql2 pools and pool clusters (real MariaDB)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();

  before(() => installPatches(['mysql2'], { tracer }));
  after(() => uninstallAllPatches());
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());

  it("pool.query, pool.execute, getConnection (promise and callback): one query span each, a getConnection span only for the app's own, under the caller", async () => {
    const pool = mysqlp.createPool({ uri: mysqlUrl(), connectionLimit: 2 });
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const results = await withSpan(parent, async () => {
        const out: unknown[] = [];
        out.push((await pool.query('SELECT ? AS n', [1]))[0]);
        out.push((await pool.execute('SELECT ? AS n', [2]))[0]);
        const c = await pool.getConnection();
        out.push((await c.query('SELECT ? AS n', [3]))[0]);
        c.release();
        out.push(await cb((done) => pool.pool.query('SELECT ? AS n', [4], done)));
        out.push(await cb((done) => pool.pool.execute('SELECT ? AS n', [5], done)));
        out.push(
          await cb((done) =>
            pool.pool.getConnection((err, pc) => {
              if (err) return done(err);
              pc.query('SELECT ? AS n', [6], (qerr, rows) => {
                pc.release();
                done(qerr, rows);
              });
            }),
          ),
        );
        // An emitter-mode pool query, streamed: its listeners are added before it reaches a connection.
        const streamed: unknown[] = [];
        for await (const row of pool.pool.query('SELECT ? AS n', [7]).stream()) streamed.push(row);
        out.push(streamed);
        return plain(out);
      });
      parent.finish();
      assert.deepEqual(results, [1, 2, 3, 4, 5, 6, 7].map((n) => [{ n }]));
      await tracer.settle();
      const gets = tracer.byName('mysql.pool.getConnection');
      const qs = tracer.byName(/^mysql\.query:/);
      assert.equal(gets.length, 2, "the app's own getConnection calls (promise and callback); a pool statement's connection makes none");
      assert.equal(qs.length, 7);
      assert.equal(tracer.finished.length, 10);
      assert.equal(qs.filter((s) => s.tags['db.prepared_statement'] === true).length, 2);
      const f = facts();
      for (const span of [...gets, ...qs]) {
        assert.equal(span.parentId, parent.id);
        assert.equal(span.tags['db.instance'], f.database);
        assert.equal(span.tags['peer.port'], f.port);
      }
    } finally {
      await pool.end();
    }
  });

  it("a query left untraced (requireParent with no span, suppressTracing) runs its callback and events in its caller's context, not in that of the request that opened the pooled connection", () =>
    withHookOptions(tracer, 'mysql2', { requireParent: true }, async () => {
      const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 1 });
      let conn: mysql.PoolConnection | undefined;
      try {
        const seen = await untracedCallbackContexts(
          tracer,
          () => cb((done) => pool.query('SELECT 1', done)),
          {
            query: (report) => pool.query('SELECT 2', report),
            execute: (report) => pool.execute('SELECT 3', [], report),
            emitter: async (report) => (conn = await cb<mysql.PoolConnection>((done) => pool.getConnection(done))).query('SELECT 4').on('end', report),
            statement: (report) =>
              conn?.prepare('SELECT 5', (_err, statement) =>
                statement.execute([], () => {
                  statement.close();
                  conn?.release();
                  report();
                }),
              ),
          },
          // What its callback sends is suppressed too.
          (report) => pool.query('SELECT 6', () => void pool.query('SELECT 7', report)),
        );
        assert.deepEqual(seen, { query: undefined, execute: undefined, emitter: undefined, statement: undefined, suppressed: 'request-B' });
      } finally {
        await new Promise((resolve) => pool.end(resolve));
      }
      await tracer.settle();
      const traced = tracer.finished.filter((span) => span.operationName.startsWith('mysql.'));
      assert.deepEqual(traced.map((span) => span.tags['db.statement']), ['SELECT ?'], "only request-A's query is traced");
    }));

  it('pool clusters: of(pattern).query/execute are one span each, as a pool\'s; the app\'s own getConnection keeps its span', async () => {
    const cluster = mysql.createPoolCluster();
    cluster.add('A', { uri: mysqlUrl(), connectionLimit: 1 } as any);
    cluster.add('B', { uri: mysqlUrl(), connectionLimit: 1 } as any);
    const pcluster = mysqlp.createPoolCluster();
    pcluster.add('C', { uri: mysqlUrl(), connectionLimit: 1 } as any);
    try {
      const parent = tracer.startSpan('parent') as RecordedSpan;
      const results = await withSpan(parent, async () => {
        const ns = cluster.of('*');
        const out: unknown[] = [];
        out.push(await cb((done) => ns.query('SELECT ? AS n', [1], done)));
        out.push(await cb((done) => ns.execute('SELECT ? AS n', [2], done)));
        out.push(
          await cb((done) =>
            cluster.getConnection('B', (err: unknown, c: mysql.PoolConnection) => {
              if (err) return done(err);
              c.query('SELECT ? AS n', [3], (qerr, rows) => {
                c.release();
                done(qerr, rows);
              });
            }),
          ),
        );
        out.push((await pcluster.of('*').query('SELECT ? AS n', [4]))[0]);
        out.push((await pcluster.of('C').execute('SELECT ? AS n', [5]))[0]);
        return plain(out);
      });
      parent.finish();
      assert.deepEqual(results, [1, 2, 3, 4, 5].map((n) => [{ n }]));
      await tracer.settle();
      // Only the app's own getConnection: a namespace's query/execute takes its connection as a pool's does.
      assert.equal(tracer.byName('mysql.pool.getConnection').length, 1);
      assert.equal(tracer.byName('mysql.query:SELECT').length, 5);
      assert.ok(tracer.finished.every((s) => s === parent || s.parentId === parent.id));
    } finally {
      await new Promise((resolve) => cluster.end(resolve));
      await pcluster.end();
    }
  });

  it('a pool that cannot connect: the caller gets ECONNREFUSED, the getConnection span is the error, no query span', async () => {
    const pool = mysqlp.createPool({ host: '127.0.0.1', port: await closedPort(), user: 'nobody', password: 'pw-never-shown' });
    const err = (await pool.query('SELECT 1').catch((e) => e)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'ECONNREFUSED');
    await pool.end();
    await tracer.settle();
    const [span] = tracer.finished;
    assert.equal(tracer.finished.length, 1);
    assert.equal(span.operationName, 'mysql.pool.getConnection');
    assert.equal(span.tags.error, true);
  });

  it('a pool cluster whose node cannot connect: the failed attempts are getConnection error spans under the caller, no query span', async () => {
    const port = await closedPort();
    const node = { host: '127.0.0.1', port, user: 'nobody', password: 'pw-never-shown' };
    const once = mysqlp.createPoolCluster({ canRetry: false });
    once.add('down', node as any);
    // mysql2 retries a node until it counts it offline (removeNodeErrorCount), then fails the query.
    const retrying = mysqlp.createPoolCluster({ removeNodeErrorCount: 2 });
    retrying.add('down', node as any);
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const [first, second] = await withSpan(parent, async () => [
      (await once.of('*').query('SELECT 1').catch((e) => e)) as NodeJS.ErrnoException,
      (await retrying.of('*').execute('SELECT 1').catch((e) => e)) as NodeJS.ErrnoException,
    ]);
    parent.finish();
    assert.equal(first.code, 'ECONNREFUSED');
    assert.ok(second instanceof Error);
    await once.end();
    await retrying.end();
    await tracer.settle();
    const gets = tracer.byName('mysql.pool.getConnection');
    assert.equal(gets.length, 3, 'one failed attempt, then two before the node counts as offline');
    assert.ok(gets.every((g) => g.tags.error === true && g.parentId === parent.id));
    assert.equal(tracer.byName(/^mysql\.query:/).length, 0);
    assert.doesNotMatch(JSON.stringify(tracer.finished.map((s) => [s.tags, s.logs])), /pw-never-shown/);
  });

  it("the app's own getConnection in a failed pool query's callback keeps its span (nothing of the statement leaks into it)", async () => {
    const down = mysql.createPool({ host: '127.0.0.1', port: await closedPort(), user: 'nobody', password: 'pw-never-shown' } as any);
    const up = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 1 } as any);
    const parent = tracer.startSpan('parent') as RecordedSpan;
    try {
      await withSpan(parent, () =>
        cb((done) =>
          down.query('SELECT 1', (err: unknown) => {
            assert.ok(err instanceof Error);
            up.getConnection((e: unknown, c: mysql.PoolConnection) => {
              if (e == null) c.release();
              done(e);
            });
          }),
        ),
      );
    } finally {
      parent.finish();
      await new Promise((resolve) => down.end(resolve));
      await new Promise((resolve) => up.end(resolve));
    }
    await tracer.settle();
    const gets = tracer.byName('mysql.pool.getConnection');
    assert.deepEqual(gets.map((g) => g.tags.error === true).sort(), [false, true], "the failed attempt, and the app's own");
  });

  it('a pool cluster that retries on its next node: the failed attempt is a getConnection error span, the one that works none', async () => {
    // The down node counts as offline after one failure: the retry goes to the next node.
    const cluster = mysqlp.createPoolCluster({ defaultSelector: 'ORDER', removeNodeErrorCount: 1 });
    cluster.add('a-down', { host: '127.0.0.1', port: await closedPort(), user: 'nobody', password: 'pw-never-shown' } as any);
    cluster.add('b-up', { uri: mysqlUrl(), connectionLimit: 1 } as any);
    const parent = tracer.startSpan('parent') as RecordedSpan;
    try {
      const [rows] = (await withSpan(parent, () => cluster.of('*').query('SELECT 7 AS n'))) as any;
      assert.deepEqual(plain(rows), [{ n: 7 }]);
    } finally {
      parent.finish();
      await cluster.end();
    }
    await tracer.settle();
    const gets = tracer.byName('mysql.pool.getConnection');
    assert.equal(gets.length, 1, 'only the failed attempt');
    assert.equal(gets[0].tags.error, true);
    assert.equal(tracer.byName('mysql.query:SELECT').length, 1);
    assert.ok(tracer.finished.every((s) => s === parent || s.parentId === parent.id));
  });
});

describe('mysql2 under traced HTTP requests (busy pools)', function () {
  this.timeout(60000);
  const tracer = new RecordingTracer();
  let pool: mysqlp.Pool;
  let cluster: mysql.PoolCluster;
  let server: Awaited<ReturnType<typeof startServer>>;

  before(async () => {
    installPatches(['mysql2', 'httpServer'], { tracer });
    pool = mysqlp.createPool({ uri: mysqlUrl(), connectionLimit: 1 });
    cluster = mysql.createPoolCluster();
    cluster.add('only', { uri: mysqlUrl(), connectionLimit: 1 } as any);
    server = await startServer(
      answerById(async (id) => {
        let rows: any;
        switch (id % 4) {
          case 0:
            [rows] = await pool.query('SELECT ? AS id', [id]);
            break;
          case 1: {
            const c = await pool.getConnection();
            try {
              await c.beginTransaction();
              [rows] = await c.query('SELECT ? AS id', [id]);
              await c.commit();
            } finally {
              c.release();
            }
            break;
          }
          case 2:
            rows = await cb((done) => pool.pool.execute('SELECT ? AS id', [id], done));
            break;
          default:
            rows = await cb((done) => cluster.of('*').query('SELECT ? AS id', [id], done));
        }
        return String(rows[0].id);
      }),
    );
  });
  after(async () => {
    uninstallAllPatches();
    await pool.end();
    await new Promise((resolve) => cluster.end(resolve));
    await server.close();
  });

  it('100 concurrent requests on connectionLimit:1 pools: every query is parented by the request that issued it', async () => {
    const n = 100;
    const serverById = await concurrentRequests(tracer, server.url, n);
    const owned = new Map<string, string[]>();
    for (const q of tracer.byName(/^mysql\.query:/)) {
      const owner = serverById.get(q.parentId as string);
      assert.ok(owner, `${q.operationName} has a server span as parent`);
      owned.set(owner.id, [...(owned.get(owner.id) ?? []), q.operationName]);
    }
    for (const s of serverById.values()) {
      const id = Number(new URL(s.tags['http.url']).pathname.slice(1));
      const expected = id % 4 === 1 ? ['mysql.query:START', 'mysql.query:SELECT', 'mysql.query:COMMIT'] : ['mysql.query:SELECT'];
      assert.deepEqual(owned.get(s.id), expected, `request ${id} owns its own queries`);
    }
    // Only the app's own getConnection (id % 4 === 1) has a span; pool and pool cluster statements' none.
    const gets = tracer.byName('mysql.pool.getConnection');
    const owners = [...serverById.values()].filter((s) => Number(new URL(s.tags['http.url']).pathname.slice(1)) % 4 === 1);
    assert.equal(gets.length, owners.length);
    assert.deepEqual(gets.map((g) => g.parentId).sort(), owners.map((s) => s.id).sort());
  });
});
