/**
 * knex hook, against a real PostgreSQL (pg) and a real MariaDB (mysql2, mysql): a span per statement knex
 * runs, with the driver's span its child; transactions (callback and promise forms) under concurrent
 * traced requests; streams; failures with the values kept out of the span; the builders and promises the
 * app gets unchanged.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import knexFactory, { Knex } from 'knex';
import pg from 'pg';
import mysql from 'mysql';
import mysql2 from 'mysql2';
import { installPatches, uninstallAllPatches, withSpan } from '../../src';
import { storage } from '../../src/context';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { mysqlUrl, pgConfig } from '../helpers/services';
import { CallSite, mysqlCallSite } from '../helpers/stack';
import { loggedErrorText } from '../helpers/error-log';
import { activeSpanName } from '../helpers/cases';

interface Target {
  client: 'pg' | 'mysql2' | 'mysql';
  driverSpan: RegExp;
  connection(): Knex.StaticConnectionConfig;
  facts(): { host: string; port: number; user: string; database: string };
  /** The statement of `select * from knex_users where email = ?` as the span records it. */
  selectStatement: string;
  /** The driver hooks to install with knex. */
  hooks: Array<'pg' | 'mysql2' | 'mysql'>;
  /** A connection of the driver's own, apart from knex's pool. */
  ownClient(): Promise<OwnClient>;
}

interface OwnClient {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}

function mysqlOwnClient(driver: typeof mysql | typeof mysql2): Promise<OwnClient> {
  const c = (driver.createConnection as (config: object) => mysql.Connection)(mysqlFacts());
  const done = (fn: (cb: (err: unknown, result?: unknown) => void) => void): Promise<any> => new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result))));
  return Promise.resolve({ query: (sql) => done((cb) => c.query(sql, cb)), end: () => done((cb) => c.end(cb)) });
}

function mysqlFacts(): { host: string; port: number; user: string; database: string; password: string } {
  const u = new URL(mysqlUrl());
  return { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
}

const TARGETS: Target[] = [
  {
    client: 'pg',
    driverSpan: /^pg\.query/,
    connection: () => {
      const c = pgConfig();
      return { host: c.host, port: c.port, user: c.user, database: c.database };
    },
    facts: () => {
      const c = pgConfig();
      return { host: c.host, port: c.port, user: c.user, database: c.database };
    },
    selectStatement: 'select * from "knex_users" where "email" = ?',
    hooks: ['pg'],
    ownClient: async () => {
      const c = new pg.Client(pgConfig());
      await c.connect();
      return { query: (sql) => c.query(sql), end: () => c.end() };
    },
  },
  ...(['mysql2', 'mysql'] as const).map((client) => ({
    client,
    driverSpan: /^mysql\.query/,
    connection: () => mysqlFacts() as Knex.StaticConnectionConfig,
    facts: () => {
      const { password: _password, ...rest } = mysqlFacts();
      return rest;
    },
    selectStatement: 'select * from `knex_users` where `email` = ?',
    hooks: [client],
    ownClient: () => mysqlOwnClient(client === 'mysql' ? mysql : mysql2),
  })),
];

for (const target of TARGETS) {
  describe(`knex hook over ${target.client} (real ${target.client === 'pg' ? 'PostgreSQL' : 'MariaDB'})`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    let db: Knex;

    before(async () => {
      installPatches(['knex', ...target.hooks], { tracer });
      db = knexFactory({ client: target.client, connection: target.connection(), pool: { min: 0, max: 4 } });
      await db.schema.dropTableIfExists('knex_users');
      await db.schema.createTable('knex_users', (t) => {
        t.increments('id');
        t.string('email').unique();
        t.string('name');
      });
    });
    after(async () => {
      await db.schema.dropTableIfExists('knex_users');
      await db.destroy();
      uninstallAllPatches();
    });
    beforeEach(async () => {
      await db('knex_users').del();
      tracer.reset();
    });
    afterEach(() => tracer.settle());

    const knexSpans = (): RecordedSpan[] => tracer.byName(/^knex\./);

    function parentSpan(name = 'parent'): RecordedSpan {
      const span = tracer.startSpan(name) as RecordedSpan;
      span.finish();
      return span;
    }

    function childrenOf(span: RecordedSpan): RecordedSpan[] {
      return tracer.finished.filter((s) => s.parentId === span.id);
    }

    it('select/insert/update/delete/raw: one span each, named by method and table, tags, the driver span its child, no values', async () => {
      const parent = parentSpan();
      await withSpan(parent, async () => {
        await db('knex_users').insert({ email: 'secret@example.com', name: 'Hunter' });
        const rows = await db('knex_users').where({ email: 'secret@example.com' }).select('*');
        assert.equal(rows.length, 1);
        assert.equal(await db('knex_users').where({ email: 'secret@example.com' }).update({ name: 'hunter2' }), 1);
        await db.raw('select ? as n', ['topsecret']);
        assert.equal(await db('knex_users').where({ email: 'secret@example.com' }).del(), 1);
      });
      await tracer.settle();
      const spans = knexSpans();
      assert.deepEqual(
        spans.map((s) => s.operationName),
        ['knex.insert knex_users', 'knex.select knex_users', 'knex.update knex_users', 'knex.raw', 'knex.delete knex_users'],
      );
      const f = target.facts();
      for (const span of spans) {
        assert.equal(span.parentId, parent.id);
        assert.equal(span.tags['span.kind'], 'client');
        assert.equal(span.tags.component, 'knex');
        assert.equal(span.tags['db.type'], 'sql');
        assert.equal(span.tags['db.instance'], f.database);
        assert.equal(span.tags['db.user'], f.user);
        assert.equal(span.tags['peer.hostname'], f.host);
        assert.equal(span.tags['peer.port'], f.port);
        const drivers = childrenOf(span);
        assert.equal(drivers.length, 1, `${span.operationName}: one driver span`);
        assert.match(drivers[0].operationName, target.driverSpan);
        assert.equal(drivers[0].tags.component, target.client);
      }
      assert.equal(spans[1].tags['db.statement'], target.selectStatement);
      const recorded = JSON.stringify(tracer.finished.map((s) => [s.operationName, s.tags, s.logs]));
      for (const secret of ['secret@example', 'Hunter', 'hunter2', 'topsecret']) assert.ok(!recorded.includes(secret), secret);
    });

    it('captureParameters records the bindings; the requestHook gets method and table', async () => {
      const seen: unknown[] = [];
      uninstallAllPatches();
      installPatches(['knex'], { tracer, hooks: { knex: { captureParameters: true, requestHook: (_span, info) => seen.push([info.method, info.table, info.values]) } } });
      try {
        await withSpan(parentSpan(), async () => db('knex_users').where({ name: 'bob' }).first());
      } finally {
        uninstallAllPatches();
        installPatches(['knex', ...target.hooks], { tracer });
      }
      await tracer.settle();
      const [span] = knexSpans();
      assert.deepEqual(span.tags['db.params'], ['bob', 1]);
      assert.deepEqual(seen, [['select', 'knex_users', ['bob', 1]]]);
    });

    it('the builder and its results are what untraced knex gives; a builder is run once per then', async () => {
      const run = async () => {
        await db('knex_users').insert([{ email: 'a@x', name: 'A' }, { email: 'b@x', name: 'B' }]);
        const builder = db('knex_users').select('email').orderBy('email');
        const first = await builder;
        const again = await builder;
        const counted = await db('knex_users').count({ n: '*' });
        await db('knex_users').del();
        return JSON.parse(JSON.stringify([first, again, Number((counted[0] as { n: unknown }).n)]));
      };
      uninstallAllPatches();
      const untraced = await run();
      installPatches(['knex', ...target.hooks], { tracer });
      const parent = parentSpan();
      const traced = await withSpan(parent, run);
      assert.deepEqual(traced, untraced);
      await tracer.settle();
      // insert, select twice (each await runs it), count, delete.
      assert.deepEqual(
        knexSpans().map((s) => s.operationName),
        ['knex.insert knex_users', 'knex.select knex_users', 'knex.select knex_users', 'knex.select knex_users', 'knex.delete knex_users'],
      );
    });

    it('a failing query: the same error reaches the app; the span is marked with its message redacted', async () => {
      await db('knex_users').insert({ email: 'dup@example.com', name: 'one' });
      tracer.reset();
      const parent = parentSpan();
      const attempt = () => withSpan(parent, async () => db('knex_users').insert({ email: 'dup@example.com', name: 'two' }));
      let caught: any;
      uninstallAllPatches();
      let untraced: any;
      await attempt().catch((err: unknown) => (untraced = err));
      installPatches(['knex', ...target.hooks], { tracer });
      await attempt().catch((err: unknown) => (caught = err));
      assert.ok(caught instanceof Error);
      await tracer.settle();
      const [span] = knexSpans();
      assert.equal(span.tags.error, true);
      const log = span.logs.find((l) => l.fields.event === 'error');
      assert.ok(log, 'error log');
      const message = String(log.fields.message);
      assert.ok(!message.includes('dup@example.com'), message);
      assert.ok(!String(log.fields.stack).includes('dup@example.com'));
      const logged = log.fields['error.object'] as Error;
      assert.notEqual(logged, caught);
      assert.ok(logged instanceof Error);
      assert.ok(!JSON.stringify({ ...logged, message: logged.message, stack: logged.stack }).includes('dup@example.com'));
      // The app's error is untouched: knex's own message, values and all.
      assert.ok(caught.message.includes(target.client === 'pg' ? 'duplicate key' : 'Duplicate entry'));
      assert.equal(caught.constructor, untraced.constructor);
      assert.equal(caught.message, untraced.message);
    });

    it("a failure logs no value, in the knex span nor in the driver's (which gets the statement with the values put in)", async () => {
      const parent = parentSpan();
      const caught: any = await withSpan(parent, async () => db('no_such_table_knex').where({ card: 4111111111111111 })).catch((e: unknown) => e);
      // Over mysql and mysql2, knex's message has the statement with the values put in (over pg, `$1`).
      if (target.client !== 'pg') assert.match(caught.message, /4111111111111111/, "the app's error is knex's");
      await tracer.settle();
      const failed = tracer.finished.filter((s) => s.tags.error === true);
      assert.deepEqual(failed.map((s) => s.operationName).sort(), ['knex.select no_such_table_knex', target.client === 'pg' ? 'pg.query:SELECT' : 'mysql.query:SELECT']);
      for (const span of failed) assert.doesNotMatch(loggedErrorText(span), /4111111111111111/, span.operationName);
    });

    it('transactions, callback and promise forms, under concurrent requests: each query under the code that issued it', async () => {
      const requests = [0, 1, 2, 3].map((i) => parentSpan(`request-${i}`));
      await Promise.all(
        requests.map((request, i) =>
          withSpan(request, async () => {
            if (i % 2 === 0) {
              await db.transaction(async (trx) => {
                await trx('knex_users').insert({ email: `cb${i}@x`, name: 'cb' });
                await trx('knex_users').where({ email: `cb${i}@x` }).update({ name: 'cb2' });
              });
            } else {
              const trx = await db.transaction();
              await trx('knex_users').insert({ email: `p${i}@x`, name: 'p' });
              await db('knex_users').select('id').transacting(trx);
              await trx.commit();
            }
          }),
        ),
      );
      await tracer.settle();
      for (const [i, request] of requests.entries()) {
        const names = childrenOf(request).map((s) => s.operationName);
        const expected = i % 2 === 0 ? ['knex.begin', 'knex.insert knex_users', 'knex.update knex_users', 'knex.commit'] : ['knex.begin', 'knex.insert knex_users', 'knex.select knex_users', 'knex.commit'];
        assert.deepEqual(names, expected, `request-${i}`);
      }
      assert.equal(knexSpans().length, 16);
      assert.ok(knexSpans().every((s) => childrenOf(s).length === 1));
    });

    it('a transaction started in one request: another request’s queries on it are that request’s children', async () => {
      const a = parentSpan('a');
      const b = parentSpan('b');
      const trx = await withSpan(a, () => db.transaction());
      await withSpan(b, async () => trx('knex_users').insert({ email: 'shared@x', name: 's' }));
      await withSpan(a, async () => trx.rollback());
      await tracer.settle();
      assert.deepEqual(childrenOf(a).map((s) => s.operationName), ['knex.begin', 'knex.rollback']);
      assert.deepEqual(childrenOf(b).map((s) => s.operationName), ['knex.insert knex_users']);
    });

    it('stream form: one span, ended with the stream; the rows unchanged', async () => {
      await db('knex_users').insert([{ email: 's1@x', name: 'S' }, { email: 's2@x', name: 'S' }]);
      tracer.reset();
      const parent = parentSpan();
      const rows: unknown[] = [];
      await withSpan(parent, async () => {
        for await (const row of db('knex_users').select('email').orderBy('email').stream()) rows.push(row);
      });
      assert.deepEqual(JSON.parse(JSON.stringify(rows)), [{ email: 's1@x' }, { email: 's2@x' }]);
      await tracer.settle();
      const [span] = knexSpans();
      assert.equal(span.operationName, 'knex.select knex_users');
      assert.equal(span.parentId, parent.id);
      assert.equal(childrenOf(span).length, 1);
    });

    it("stream form: the rows reach the app in its own context, not in that of the request that opened the pooled connection", async () => {
      await db('knex_users').insert([{ email: 'c1@x', name: 'C' }, { email: 'c2@x', name: 'C' }, { email: 'c3@x', name: 'C' }]);
      const one = knexFactory({ client: target.client, connection: target.connection(), pool: { min: 0, max: 1 } });
      const byActive = new Map<string | undefined, number>();
      try {
        await withSpan(parentSpan('request-A'), () => one.raw('SELECT 1'));
        await withSpan(parentSpan('request-B'), async () => {
          const stream = one('knex_users').select('email').where('name', 'C').stream({ highWaterMark: 1 });
          stream.on('data', () => byActive.set(activeSpanName(), (byActive.get(activeSpanName()) ?? 0) + 1));
          await once(stream, 'end');
        });
      } finally {
        await one.destroy();
      }
      assert.deepEqual([...byActive], [['request-B', 3]]);
    });

    it('a stream closed early still ends its span', async () => {
      await db('knex_users').insert([{ email: 'e1@x', name: 'E' }, { email: 'e2@x', name: 'E' }]);
      tracer.reset();
      await withSpan(parentSpan(), async () => {
        const stream = db('knex_users').select('email').stream();
        for await (const _row of stream) break;
      });
      await tracer.settle();
      assert.equal(knexSpans().filter((s) => s.operationName === 'knex.select knex_users').length, 1);
    });

    it('a failing stream: the stream emits the error as untraced; the span is an error and ends once', async () => {
      const parent = parentSpan();
      const failure = await withSpan(parent, () =>
        new Promise<unknown>((resolve) => {
          const stream = db.raw("select * from no_such_knex_table where x = 'secret-stream'").stream();
          stream.on('error', resolve);
          stream.resume();
        }),
      );
      assert.ok(failure instanceof Error);
      await tracer.settle();
      const [span] = knexSpans();
      assert.equal(span.operationName, 'knex.raw');
      assert.equal(span.tags.error, true);
      assert.equal(span.parentId, parent.id);
      assert.ok(!JSON.stringify(span.logs.map((l) => [l.fields.message, l.fields.stack])).includes('secret-stream'));
    });

    it('migrations make no span of their own: their statements, bookkeeping included, are spans under the caller', async () => {
      const tableName = `knex_mig_${target.client}`;
      const source = {
        getMigrations: async () => ['001_table'],
        getMigrationName: (name: string) => name,
        getMigration: async () => ({
          up: (k: Knex) => k.schema.createTable('knex_migrated', (t) => t.increments('id')),
          down: (k: Knex) => k.schema.dropTable('knex_migrated'),
        }),
      };
      const parent = parentSpan();
      try {
        await withSpan(parent, async () => db.migrate.latest({ migrationSource: source, tableName }));
        await tracer.settle();
        const spans = knexSpans();
        assert.ok(spans.every((s) => s.parentId === parent.id));
        const names = spans.map((s) => s.operationName);
        assert.ok(names.includes('knex.schema knex_migrated'), names.join());
        assert.ok(names.includes(`knex.insert ${tableName}`), names.join());
        assert.ok(tracer.finished.every((s) => !/migrat/i.test(s.operationName) || /^knex\.|^pg\.|^mysql\./.test(s.operationName)));
      } finally {
        await db.migrate.rollback({ migrationSource: source, tableName }, true);
        await db.schema.dropTableIfExists(`${tableName}_lock`);
        await db.schema.dropTableIfExists(tableName);
      }
    });

    it('schema statements and pool acquisition: schema spans only for the statements run; none for acquiring', async () => {
      await withSpan(parentSpan(), async () => db.schema.hasTable('knex_users'));
      await tracer.settle();
      assert.deepEqual(knexSpans().map((s) => s.operationName), ['knex.schema knex_users']);
    });

    it("schema.raw: its SQL is never taken for a table: the span is `knex.raw`, the literals nowhere", async () => {
      await withSpan(parentSpan(), async () => db.schema.raw("select 'raw-secret-literal' as never_a_table"));
      await tracer.settle();
      const spans = knexSpans();
      assert.deepEqual(spans.map((s) => s.operationName), ['knex.raw']);
      assert.doesNotMatch(JSON.stringify(tracer.finished.map((f) => [f.operationName, f.tags, f.logs])), /raw-secret-literal/);
    });

    it('a builder runs in the context that awaits it (the code that issues the query), not the one that built it', async () => {
      const built = parentSpan('built');
      const awaited = parentSpan('awaited');
      const builder = withSpan(built, () => db('knex_users').select('id'));
      await withSpan(awaited, async () => builder);
      await tracer.settle();
      assert.equal(childrenOf(built).length, 0);
      assert.deepEqual(childrenOf(awaited).map((s) => s.operationName), ['knex.select knex_users']);
    });

    it("no context is entered per query (it would switch on Node 20's promise hooks): knex's query event sees the caller's; the driver span is still the knex span's child", async () => {
      const parent = parentSpan();
      const seen: unknown[] = [];
      const onQuery = (): void => {
        seen.push(storage.getStore());
      };
      db.on('query', onQuery);
      try {
        await storage.run({ span: parent }, async () => {
          const caller = storage.getStore();
          await db.raw('select 1');
          assert.deepEqual(seen, [caller]);
        });
      } finally {
        db.off('query', onQuery);
      }
      await tracer.settle();
      const [span] = knexSpans();
      assert.equal(span.parentId, parent.id);
      assert.deepEqual(childrenOf(span).map((s) => s.tags.component), [target.client]);
    });

    it("what the app's query listener sends (an audit query on a connection of its own) is the caller's child: the knex span's only child is the driver call of its statement", async () => {
      const own = await target.ownClient();
      const parent = parentSpan();
      const audits: Array<Promise<unknown>> = [];
      const onQuery = (): void => {
        audits.push(own.query('SELECT 1 AS audit'));
      };
      db.on('query', onQuery);
      try {
        await withSpan(parent, async () => {
          await db.raw('select 42 as answer');
        });
        await Promise.all(audits);
      } finally {
        db.off('query', onQuery);
        await own.end();
      }
      await tracer.settle();
      const [span] = knexSpans();
      assert.equal(span.parentId, parent.id);
      assert.deepEqual(childrenOf(span).map((s) => s.tags['db.statement']), ['select ? as answer']);
      const audit = tracer.finished.filter((s) => s.tags['db.statement'] === 'SELECT ? AS audit');
      assert.deepEqual(audit.map((s) => s.parentId), [parent.id]);
    });

    if (target.client === 'mysql') {
      it("the call-site stack mysql adds to a query's error: five frames of the hooks' beside knex's and the app's", async () => {
        const fails = () => db('no_such_table_knex').select('*');
        uninstallAllPatches();
        let untraced: CallSite;
        try {
          untraced = await mysqlCallSite(fails);
        } finally {
          installPatches(['knex', ...target.hooks], { tracer });
        }
        const traced = await mysqlCallSite(fails);
        assert.equal(untraced.own, 0);
        // The wrappers of Runner#query and Client#query, runTraced, the dialect's _query that calls the driver with the knex span as the parent, mysql's wrapper.
        assert.equal(traced.own, 5, JSON.stringify(traced, null, 1));
        assert.deepEqual(traced.others, untraced.others);
      });
    }

    it('uninstalled: no span, the same results', async () => {
      uninstallAllPatches();
      try {
        await withSpan(parentSpan(), async () => db('knex_users').select('*'));
        await tracer.settle();
        assert.equal(knexSpans().length, 0);
      } finally {
        installPatches(['knex', ...target.hooks], { tracer });
      }
    });
  });
}
