import assert from 'node:assert/strict';
import { once } from 'node:events';
import pg from 'pg';
import Cursor from 'pg-cursor';
import QueryStream from 'pg-query-stream';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import type { PgOptions } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { activeSpanName, assertRequireParent, concurrentRequests, untracedCallbackContexts, verbatimSql, withHookOptions } from '../helpers/cases';
import { answerById, closedPort, startServer } from '../helpers/servers';
import { pgConfig, sqlTags } from '../helpers/services';
import { assertDbErrorLogged, loggedErrorText } from '../helpers/error-log';
import { redactSqlErrorText } from '../../src/cores/sql-call';

const originalQuery = pg.Client.prototype.query;
const pg8230 = require('pg8230') as typeof pg;

/** For a suite: the pg hook installed and a connected client (handed to `set`), spans reset and settled per test. */
function suiteClient(tracer: RecordingTracer, set: (client: pg.Client) => void): void {
  let client: pg.Client | undefined;
  before(async () => {
    installPatches(['pg'], { tracer });
    client = new pg.Client(pgConfig());
    await client.connect();
    set(client);
  });
  after(async () => {
    await client?.end();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());
  afterEach(() => tracer.settle());
}

describe('pg hook (real PostgreSQL)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let client: pg.Client;
  suiteClient(tracer, (connected) => (client = connected));

  function only(): RecordedSpan {
    const spans = tracer.byName(/^pg\.query/);
    assert.equal(spans.length, 1, `one query span, got ${spans.map((s) => s.operationName)}`);
    return spans[0];
  }

  it('query(text) promise: same result, span with OpenTracing tags', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const res = await withSpan(parent, () => client.query("SELECT 1 + 1 AS two, 'x' AS s"));
    parent.finish();
    assert.deepEqual(res.rows, [{ two: 2, s: 'x' }]);
    const span = only();
    assert.equal(span.operationName, 'pg.query:SELECT');
    assert.equal(span.parentId, parent.id);
    assert.deepEqual({ ...span.tags }, { 'span.kind': 'client', ...sqlTags('pg', pgConfig(), 'SELECT ? + ? AS two, ? AS s') });
  });

  it('every call form returns what untraced pg returns', async () => {
    const results: unknown[] = [];
    results.push((await client.query('SELECT $1::int AS n', [1])).rows);
    results.push(await new Promise((resolve, reject) => client.query('SELECT 2 AS n', (err: Error | null, r: pg.QueryResult) => (err ? reject(err) : resolve(r.rows)))));
    results.push(await new Promise((resolve, reject) => client.query('SELECT $1::int AS n', [3], (err: Error | null, r: pg.QueryResult) => (err ? reject(err) : resolve(r.rows)))));
    results.push((await client.query({ text: 'SELECT $1::int AS n', values: [4] })).rows);
    results.push(await new Promise((resolve, reject) => client.query({ text: 'SELECT 5 AS n' }, (err: Error | null, r: pg.QueryResult) => (err ? reject(err) : resolve(r.rows)))));
    results.push(await new Promise((resolve, reject) => (client.query as any)({ text: 'SELECT $1::int AS n' }, [6], (err: Error | null, r: pg.QueryResult) => (err ? reject(err) : resolve(r.rows)))));
    results.push((await client.query({ text: 'SELECT $1::int AS n', values: [7], rowMode: 'array' })).rows);
    assert.deepEqual(results, [[{ n: 1 }], [{ n: 2 }], [{ n: 3 }], [{ n: 4 }], [{ n: 5 }], [{ n: 6 }], [[7]]]);
    await tracer.waitFor(7);
    assert.equal(tracer.byName('pg.query:SELECT').length, 7);
    assert.ok(tracer.finished.every((s) => s.tags['db.statement'] === 'SELECT $1::int AS n' || s.tags['db.statement'] === 'SELECT ? AS n'));
  });

  it('the promise is the one pg returns, and callbacks run in the caller context', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    let seen: unknown;
    await withSpan(parent, () => new Promise<void>((resolve) => client.query('SELECT 1', () => { seen = currentSpan(); resolve(); })));
    parent.finish();
    assert.equal(seen, parent);
    const p = client.query('SELECT 1');
    assert.ok(p instanceof Promise);
    await p;
  });

  it('a config object with its own callback is not mutated', async () => {
    const cb = () => undefined;
    const config = { text: 'SELECT 1 AS one', callback: cb };
    await new Promise<void>((resolve) => client.query({ ...config, callback: () => resolve() } as any));
    const cfg2 = { text: 'SELECT 1 AS one', callback: (_e: unknown, r: pg.QueryResult) => { assert.equal(r.rows[0].one, 1); } };
    const snapshot = cfg2.callback;
    await new Promise<void>((resolve) => { client.query(cfg2 as any); setTimeout(resolve, 50); });
    assert.equal(cfg2.callback, snapshot);
  });

  it('named prepared statements are named after the statement', async () => {
    const res = await client.query({ name: 'fetch-number', text: 'SELECT $1::int AS n', values: [42] });
    const again = await client.query({ name: 'fetch-number', text: 'SELECT $1::int AS n', values: [43] });
    assert.equal(res.rows[0].n, 42);
    assert.equal(again.rows[0].n, 43);
    await tracer.waitFor(2);
    assert.deepEqual(tracer.finished.map((s) => s.operationName), ['pg.query:fetch-number', 'pg.query:fetch-number']);
  });

  it('a Submittable (pg-cursor) is returned as the same object, and a cursor read to the end finishes once', async () => {
    const cursor = new Cursor('SELECT generate_series(1, 10) AS n');
    const returned = client.query(cursor);
    assert.equal(returned, cursor);
    let total = 0;
    for (;;) {
      const rows = await cursor.read(4);
      total += rows.length;
      if (rows.length === 0) break;
    }
    await cursor.close();
    assert.equal(total, 10);
    await tracer.waitFor(1);
    const span = only();
    assert.equal(span.tags['db.statement'], 'SELECT generate_series(?) AS n');
    assert.equal(span.finishCount, 1);
  });

  it('a pg-query-stream destroyed early finishes its span exactly once; one read to the end too', async () => {
    const stream = new QueryStream('SELECT generate_series(1, 100000) AS n', [], { batchSize: 10 });
    assert.equal(client.query(stream), stream);
    await once(stream, 'data');
    stream.destroy();
    await once(stream, 'close');
    await tracer.waitFor(1);
    const full = new QueryStream('SELECT generate_series(1, 25) AS n');
    client.query(full);
    let count = 0;
    for await (const _row of full) count++;
    assert.equal(count, 25);
    await tracer.waitFor(2);
    assert.equal(tracer.byName(/^pg\.query/).length, 2);
    // The client is still usable afterwards.
    assert.equal((await client.query('SELECT 1 AS ok')).rows[0].ok, 1);
  });

  it('a pg.Query object with a callback is traced and keeps its callback semantics', async () => {
    const rows = await new Promise((resolve, reject) => {
      const q = new (pg as any).Query('SELECT 9 AS n', (err: Error | null, r: pg.QueryResult) => (err ? reject(err) : resolve(r.rows)));
      assert.equal(client.query(q), q);
    });
    assert.deepEqual(rows, [{ n: 9 }]);
    await tracer.waitFor(1);
  });

  it('a syntax error: error=true, the same error reaches the caller (promise and callback)', async () => {
    const err = await client.query('SELEC nonsense').catch((e: Error) => e);
    assert.ok(err instanceof Error);
    assert.match(err.message, /syntax error/);
    const cbErr = await new Promise<Error>((resolve) => client.query('SELEC 1', (e: Error) => resolve(e)));
    assert.match(cbErr.message, /syntax error/);
    const spans = await tracer.waitFor(2);
    assert.ok(spans.every((s) => s.tags.error === true));
    assertDbErrorLogged(spans[0], err, redactSqlErrorText);
    assertDbErrorLogged(spans[1], cbErr, redactSqlErrorText);
    assert.equal(spans[0].errorLog()?.fields.message, redactSqlErrorText(err.message));
  });

  it("a parameter PostgreSQL repeats in an error's context or detail (JSON, XML) reaches no logged field; a key's detail stays, redacted", async () => {
    await client.query('CREATE TEMP TABLE pg_err_u (email text UNIQUE)');
    await client.query("INSERT INTO pg_err_u VALUES ('taken@example.com')");
    tracer.reset();
    const failures: Array<[string, unknown[]]> = [
      ['SELECT $1::json', ['{"password": hunter2secret}']],
      ['SELECT $1::jsonb', ['{"token": s3cr3tTokenValue']],
      ['SELECT $1::xml', ['<a>secretxml</b>']],
      ['SELECT $1::int', ['12345678901234']],
      ['INSERT INTO pg_err_u (email) VALUES ($1)', ['taken@example.com']],
    ];
    const errors: any[] = [];
    for (const [text, values] of failures) errors.push(await client.query(text, values).catch((e: unknown) => e));
    assert.match(errors[0].where, /hunter2secret/, "the app's error keeps what the server said");
    assert.match(errors[2].detail, /secretxml/);
    const spans = await tracer.waitFor(failures.length);
    for (const [i, span] of spans.entries()) {
      assert.equal(span.tags.error, true);
      assert.doesNotMatch(loggedErrorText(span), /hunter2secret|s3cr3tTokenValue|secretxml|12345678901234|taken@example/, failures[i][0]);
      assertDbErrorLogged(span, errors[i], redactSqlErrorText);
    }
    const dup = spans[4].errorLog()?.fields['error.object'] as Record<string, unknown>;
    assert.deepEqual([dup.code, dup.constraint, dup.detail], ['23505', 'pg_err_u_email_key', 'Key (email)=(?) already exists.']);
    assert.equal((spans[0].errorLog()?.fields['error.object'] as Record<string, unknown>).detail, 'Token ? is invalid.');
  });

  it('query timeout: error span, the timeout error reaches the caller', async () => {
    const slow = new pg.Client({ ...pgConfig(), query_timeout: 100 } as pg.ClientConfig);
    await slow.connect();
    try {
      const err = await slow.query('SELECT pg_sleep(2)').catch((e: Error) => e);
      assert.match((err as Error).message, /timeout/i);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags.error, true);
      assertDbErrorLogged(span, err, redactSqlErrorText);
    } finally {
      await slow.end().catch(() => undefined);
    }
  });

  it('connection refused through a pool: the caller gets ECONNREFUSED and the connect span is an error', async () => {
    const pool = new pg.Pool({ ...pgConfig(), port: await closedPort() });
    const err = (await pool.query('SELECT 1').catch((e: Error) => e)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'ECONNREFUSED');
    const [span] = await tracer.waitFor(1);
    assert.equal(span.operationName, 'pg-pool.connect');
    assert.equal(span.tags.error, true);
    await pool.end();
  });

  it('never records a password: not from the connection string, not from the config', async () => {
    const cfg = pgConfig();
    const secret = 'Sup3r-Secret-Pw';
    const viaUrl = new pg.Client({ connectionString: `postgres://${cfg.user}:${secret}@${cfg.host}:${cfg.port}/${cfg.database}` });
    await viaUrl.connect();
    await viaUrl.query('SELECT 1');
    await viaUrl.end();
    const pool = new pg.Pool({ ...cfg, password: secret });
    await pool.query('SELECT 1');
    const c = await pool.connect();
    await c.query('SELECT 2');
    c.release();
    await pool.end();
    await tracer.waitFor(5);
    assert.ok(!tracer.everything().includes(secret), tracer.everything());
  });

  it('captureParameters, sanitizeStatement:false, maxStatementLength, request/response hooks (throwing ones contained)', async () => {
    const seen: unknown[] = [];
    const options: PgOptions = {
      ...verbatimSql,
      requestHook: (span, info) => { span.setTag('app.query', info.text); seen.push(info.values); throw new Error('user hook bug'); },
      responseHook: (span, result) => { span.setTag('app.rows', (result as pg.QueryResult).rowCount); throw new Error('user hook bug'); },
    };
    await withHookOptions(tracer, 'pg', options, async () => {
      const res = await client.query("SELECT $1::text AS v, 'literal' AS l", ['value']);
      assert.equal(res.rows[0].v, 'value');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags['db.statement'], "SELECT $1::text AS v");
      assert.deepEqual(span.tags['db.params'], ['value']);
      assert.equal(span.tags['app.rows'], 1);
      assert.deepEqual(seen, [['value']]);
    });
  });

  it('requireParent: no span without an active span', () => assertRequireParent(tracer, 'pg', () => client.query('SELECT 1')));

  it('uninstall restores Client.prototype.query', () => {
    assert.notEqual(pg.Client.prototype.query, originalQuery);
    uninstallAllPatches();
    assert.equal(pg.Client.prototype.query, originalQuery);
    installPatches(['pg'], { tracer });
  });
});

describe('pg under traced HTTP requests (busy pool)', function () {
  this.timeout(60000);
  const tracer = new RecordingTracer();
  let pool: pg.Pool;
  let server: Awaited<ReturnType<typeof startServer>>;

  before(async () => {
    installPatches(['pg', 'httpServer'], { tracer });
    pool = new pg.Pool({ ...pgConfig(), max: 1 });
    server = await startServer(
      answerById(async (id) => {
        if (id % 2 === 0) return String((await pool.query('SELECT $1::int AS id, pg_sleep(0.001)', [id])).rows[0].id);
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          const r = await c.query('SELECT $1::int AS id', [id]);
          await c.query('COMMIT');
          return String(r.rows[0].id);
        } finally {
          c.release();
        }
      }),
    );
  });
  after(async () => {
    uninstallAllPatches();
    await pool.end();
    await server.close();
  });

  it('100 concurrent requests on a max:1 pool: every query is parented by the request that issued it', async () => {
    const n = 100;
    const serverById = await concurrentRequests(tracer, server.url, n);
    const queries = tracer.byName(/^pg\.query/);
    // even ids: one pool.query; odd ids: BEGIN, SELECT, COMMIT
    assert.equal(queries.length, n / 2 + (n / 2) * 3);
    const perRequest = new Map<string, RecordedSpan[]>();
    for (const q of queries) {
      const parent = serverById.get(q.parentId as string);
      assert.ok(parent, `query ${q.operationName} has a server span as parent`);
      const list = perRequest.get(parent.id) ?? [];
      list.push(q);
      perRequest.set(parent.id, list);
    }
    for (const s of serverById.values()) {
      const id = Number(new URL(s.tags['http.url']).pathname.slice(1));
      const list = perRequest.get(s.id) ?? [];
      assert.equal(list.length, id % 2 === 0 ? 1 : 3, `request ${id} owns its own queries`);
    }
    const connects = tracer.byName('pg-pool.connect');
    assert.equal(connects.length, n);
    assert.ok(connects.every((c) => serverById.has(c.parentId as string)));
  });
});

/** Query configs with a field that only the caller's own object reaches: a private field, a WeakMap. */
class PrivateTextConfig {
  readonly #text: string;
  constructor(text: string) {
    this.#text = text;
  }
  get text(): string {
    return this.#text;
  }
}
const timeouts = new WeakMap<object, number>();
class WeakMapTimeoutConfig {
  readonly text: string;
  constructor(text: string, timeout: number) {
    this.text = text;
    timeouts.set(this, timeout);
  }
  get query_timeout(): number | undefined {
    return timeouts.get(this);
  }
}

describe('pg: query configs read where pg reads them (8.23.1, which clones them, and 8.23.0, which does not)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  afterEach(() => uninstallAllPatches());

  for (const [label, lib, aliases] of [['pg 8.23.1', pg, undefined], ['pg 8.23.0', pg8230, { pg8230: 'pg' }]] as const) {
    /** What `run` gives back with a fresh client, untraced and then traced (one span per query, under a parent). */
    async function bothWays<T>(run: (client: pg.Client) => Promise<T>): Promise<{ untraced: T; traced: T }> {
      const once = async (): Promise<T> => {
        const client = new lib.Client(pgConfig()) as pg.Client;
        await client.connect();
        try {
          return await withSpan(tracer.startSpan('parent'), () => run(client));
        } finally {
          await client.end();
        }
      };
      const untraced = await once();
      installPatches(['pg'], { tracer, aliases });
      const traced = await once();
      assert.ok(tracer.byName(/^pg\.query/).length > 0, 'traced');
      return { untraced, traced };
    }
    /** What a query call gives: its rows, or its error, thrown (pg 8.23.1 reads a config's getters as it is called) or rejected. */
    const outcome = (query: () => unknown): Promise<string> =>
      new Promise((resolve) => resolve(query())).then((r) => `rows ${JSON.stringify((r as pg.QueryResult).rows)}`, (e: Error) => `error ${e.message}`);

    it(`${label}: config classes whose text or query_timeout only their own object can read`, async () => {
      const { untraced, traced } = await bothWays((client) =>
        Promise.all([outcome(() => client.query(new PrivateTextConfig('SELECT 1 AS n') as pg.QueryConfig)), outcome(() => client.query(new WeakMapTimeoutConfig('SELECT pg_sleep(0.5)', 50) as pg.QueryConfig))]),
      );
      // 8.23.1 reads `text` on its own clone, where no private field is: it throws, traced or not.
      assert.deepEqual(untraced, [lib === pg ? 'error Cannot read private member #text from an object whose class did not declare it' : 'rows [{"n":1}]', 'error Query read timeout']);
      assert.deepEqual(traced, untraced);
    });

    it(`${label}: what pg writes on the caller's config (values, callback), and a Submittable's own keys`, async () => {
      const { untraced, traced } = await bothWays(async (client) => {
        const config: Record<string, unknown> = { text: 'SELECT $1::int AS n' };
        await new Promise((resolve, reject) => (client as any).query(config, [7], (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
        const query = new lib.Query('SELECT 2 AS n');
        const before = Object.keys(query);
        client.query(query);
        await once(query, 'end');
        return { config: Object.keys(config).sort(), values: config.values, submittable: { before, after: Object.keys(query), spread: Object.keys({ ...query }).length } };
      });
      assert.deepEqual(traced, untraced);
    });
  }
});

/** A custom Submittable (no EventEmitter, pg writes nothing on it) of `SELECT 7 AS n`: `done` gets each run's rows. */
function customSubmittable(done: (rows: string[]) => void): object {
  const rows: string[] = [];
  return {
    text: 'SELECT 7 AS n',
    submit(this: { text: string }, connection: any) {
      connection.query(this.text);
    },
    handleRowDescription() {},
    handleDataRow(msg: { fields: unknown[] }) {
      rows.push(String(msg.fields[0]));
    },
    handleCommandComplete() {},
    handleEmptyQuery() {},
    handleError() {},
    handleReadyForQuery() {
      done(rows.splice(0));
    },
  };
}

describe('pg regressions', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let client: pg.Client;
  suiteClient(tracer, (connected) => (client = connected));

  it("a failed `await client.query()` keeps the caller's async frames (node-postgres's async-stack-trace test)", async () => {
    async function issuedByThisFunction(): Promise<unknown> {
      return await client.query('SELECT * FROM no_such_table_for_stack');
    }
    const err = (await issuedByThisFunction().catch((e: Error) => e)) as Error;
    assert.match(err.stack ?? '', /issuedByThisFunction/);
    const pool = new pg.Pool(pgConfig());
    async function connectedByThisFunction(): Promise<unknown> {
      const c = await pool.connect();
      try {
        return await c.query('SELECT * FROM no_such_table_for_stack');
      } finally {
        c.release();
      }
    }
    const poolErr = (await connectedByThisFunction().catch((e: Error) => e)) as Error;
    await pool.end();
    assert.match(poolErr.stack ?? '', /connectedByThisFunction/);
  });

  it('a pg.Query submitted again from its own end event: no stack overflow, one span per submission', async () => {
    const q = new pg.Query('SELECT 1 AS n');
    const rows: unknown[] = [];
    q.on('row', (row: unknown) => rows.push(row));
    const second = new Promise<void>((resolve, reject) => {
      q.once('end', () => {
        q.once('end', () => resolve());
        q.once('error', reject);
        client.query(q);
      });
      q.once('error', reject);
    });
    assert.equal(client.query(q), q, 'the same object comes back');
    await second;
    assert.deepEqual(rows, [{ n: 1 }, { n: 1 }]);
    assert.equal((await client.query('SELECT 2 AS n')).rows[0].n, 2, 'the client still works');
    await tracer.settle();
    assert.equal(tracer.byName('pg.query:SELECT').length, 3);
  });

  it('a custom Submittable that is no EventEmitter and never emits end finishes once, at handleReadyForQuery', async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    const done = new Promise<string[]>((resolve) => withSpan(parent, () => client.query(customSubmittable(resolve) as any)));
    assert.deepEqual(await done, ['7']);
    parent.finish();
    await tracer.settle();
    const [span] = tracer.byName('pg.query:SELECT');
    assert.equal(span.parentId, parent.id);
    assert.equal(span.finishCount, 1);
  });

  it("a Submittable that cannot take the hook's wrappers (frozen, sealed, frozen after a traced run) runs as untraced: the same rows, no throw, no span left open", async () => {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    // A throw from client.query rejects the run.
    const run = (make: (done: (rows: string[]) => void) => object): Promise<string[]> => new Promise((resolve) => withSpan(parent, () => client.query(make(resolve) as any)));
    assert.deepEqual(await run((done) => Object.freeze(customSubmittable(done))), ['7']);
    assert.deepEqual(await run((done) => Object.seal(customSubmittable(done))), ['7']);
    let finish: (rows: string[]) => void = () => undefined;
    const reused = customSubmittable((rows) => finish(rows));
    const again = (): Promise<string[]> => run((done) => ((finish = done), reused));
    assert.deepEqual(await again(), ['7']);
    Object.freeze(reused);
    assert.deepEqual(await again(), ['7']);
    parent.finish();
    await tracer.settle();
    assert.deepEqual(
      tracer.started.filter((span) => span.operationName.startsWith('pg')).map((span) => [span.operationName, span.finishCount]),
      [['pg.query:SELECT', 1]],
      'only the run before the freeze is traced, and every span finished once',
    );
  });

  it('a custom Submittable whose query fails finishes once with the error', async () => {
    const failed = new Promise<unknown>((resolve) => {
      const submittable = {
        submit(connection: any) {
          connection.query('SELECT * FROM no_such_table_custom');
        },
        handleError(err: unknown) {
          resolve(err);
        },
        handleReadyForQuery() {},
      };
      client.query(submittable as any);
    });
    const err = (await failed) as Error;
    assert.match(err.message, /no_such_table_custom/);
    await tracer.settle();
    const [span] = tracer.byName('pg.query');
    assert.equal(span.tags.error, true);
    assertDbErrorLogged(span, err, redactSqlErrorText);
  });

  it("a Submittable's row-time callbacks and events (pg-cursor read and close, pg-query-stream 'data') run in the context of the code that issued it, not of the request that opened the pooled connection", async () => {
    const pool = new pg.Pool({ ...pgConfig(), max: 1 });
    const seen: Record<string, unknown> = {};
    try {
      const requestA = tracer.startSpan('request-A') as RecordedSpan;
      await withSpan(requestA, () => pool.query('SELECT 1'));
      requestA.finish();
      const requestB = tracer.startSpan('request-B') as RecordedSpan;
      await withSpan(requestB, async () => {
        const c = await pool.connect();
        try {
          const cursor = c.query(new Cursor('SELECT generate_series(1, 3) AS n'));
          await new Promise<void>((resolve) => cursor.read(2, () => resolve(void (seen.read = activeSpanName()))));
          await new Promise<void>((resolve) => cursor.close(() => resolve(void (seen.close = activeSpanName()))));
          const stream = c.query(new QueryStream('SELECT generate_series(1, 200) AS n', [], { batchSize: 10, highWaterMark: 10 }));
          const byActive = new Map<string | undefined, number>();
          stream.on('data', () => byActive.set(activeSpanName(), (byActive.get(activeSpanName()) ?? 0) + 1));
          await once(stream, 'end');
          seen.data = [...byActive];
        } finally {
          c.release();
        }
      });
      requestB.finish();
    } finally {
      await pool.end();
    }
    assert.deepEqual(seen, { read: 'request-B', close: 'request-B', data: [['request-B', 200]] });
  });

  it("a client connected inside a request or under suppressTracing: its LISTEN notifications and its socket's events reach listeners outside that context", async () => {
    const outcomes: Record<string, unknown> = {};
    for (const how of ['request', 'suppressed'] as const) {
      const listener = new pg.Client(pgConfig());
      const opener = tracer.startSpan(`opener-${how}`);
      await withSpan(opener, () => (how === 'suppressed' ? suppressTracing(() => listener.connect()) : listener.connect()));
      try {
        await listener.query(`LISTEN otch_${how}`);
        const notified = new Promise<void>((resolve) =>
          listener.once('notification', () => {
            outcomes[how] = currentSpan();
            // What the handler does is traced: under no request, as a root.
            void client.query('SELECT 1').then(() => resolve());
          }),
        );
        tracer.reset();
        await client.query(`NOTIFY otch_${how}`);
        await notified;
        outcomes[`${how} query spans`] = tracer.byName(/^pg\.query/).length;
      } finally {
        await listener.end();
      }
    }
    assert.deepEqual(outcomes, { request: undefined, 'request query spans': 2, suppressed: undefined, 'suppressed query spans': 2 });
  });

  it("a query left untraced (requireParent with no span, suppressTracing) runs its callbacks in its caller's context, not in that of the request that opened the pooled connection", () =>
    withHookOptions(tracer, 'pg', { requireParent: true }, async () => {
      const pool = new pg.Pool({ ...pgConfig(), max: 1 });
      let c: pg.PoolClient | undefined;
      try {
        const seen = await untracedCallbackContexts(
          tracer,
          () => pool.query('SELECT 1'),
          {
            pool: (report) => pool.query('SELECT 2', report),
            client: async (report) => (c = await pool.connect()).query('SELECT 3', [], report),
            config: (report) => c?.query({ text: 'SELECT 4', callback: report } as any),
            submittable: (report) => c?.query(new pg.Query('SELECT 5', () => (c?.release(), report())) as any),
          },
          // What its callback sends is suppressed too.
          (report) => pool.query('SELECT 6', () => void pool.query('SELECT 7', report)),
        );
        assert.deepEqual(seen, { pool: undefined, client: undefined, config: undefined, submittable: undefined, suppressed: 'request-B' });
      } finally {
        await pool.end();
      }
      await tracer.settle();
      assert.deepEqual(tracer.byName(/^pg\.query/).map((span) => span.tags['db.statement']), ['SELECT ?'], "only request-A's query is traced");
    }));

  it('pg-pool.connect spans name their database and peer, even for a pool configured from the environment', async () => {
    const cfg = pgConfig();
    const saved = { PGHOST: process.env.PGHOST, PGPORT: process.env.PGPORT, PGUSER: process.env.PGUSER, PGDATABASE: process.env.PGDATABASE };
    Object.assign(process.env, { PGHOST: cfg.host, PGPORT: String(cfg.port), PGUSER: cfg.user, PGDATABASE: cfg.database });
    const fromEnv = new pg.Pool();
    const fromConfig = new pg.Pool({ ...cfg });
    try {
      for (const pool of [fromEnv, fromConfig]) {
        const c = await pool.connect();
        c.release();
      }
    } finally {
      await fromEnv.end();
      await fromConfig.end();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    await tracer.settle();
    const connects = tracer.byName('pg-pool.connect');
    assert.equal(connects.length, 2);
    for (const span of connects) {
      assert.equal(span.tags['db.instance'], cfg.database);
      assert.equal(span.tags['db.user'], cfg.user);
      assert.equal(span.tags['peer.hostname'], cfg.host);
      assert.equal(span.tags['peer.port'], cfg.port);
      assert.equal(span.tags['db.type'], 'sql');
    }
  });
});
