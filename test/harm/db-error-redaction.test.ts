import assert from 'node:assert/strict';
import { installPatches, uninstallAllPatches } from '../../src';
import type { HooksConfig } from '../../src';
import { redactErrorText } from '../../src/cores/db-call';
import { connectedPgClient, mysqlUrl, pgConfig, redisUrl } from '../helpers/services';
import { suiteFixture } from '../helpers/suite';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

 

/** Everything the span's error log holds, as text. */
function logged(span: RecordedSpan): string {
  const fields = span.errorLog()?.fields ?? {};
  const object = fields['error.object'] as object;
  const own = object == null ? {} : Object.fromEntries(Object.getOwnPropertyNames(object).map((n) => [n, (object as any)[n]]));
  return JSON.stringify({ message: fields.message, stack: fields.stack, own });
}

describe('values in database servers\' error messages are redacted (issue 18, defect 4)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  const install = (config: HooksConfig = {}): void => installPatches(['pg', 'mysql2', 'redis', 'ioredis'], { tracer, ...config });
  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  it('redactErrorText: quoted literals and PostgreSQL rows and keys', () => {
    assert.equal(redactErrorText("ERR unknown command 'X', with args beginning with: 'a' 'valueSecret' "), "ERR unknown command '?', with args beginning with: '?'");
    assert.equal(redactErrorText('invalid input syntax for type integer: "secret"'), 'invalid input syntax for type integer: "?"');
    assert.equal(redactErrorText('Key (email)=(a@b.c) already exists.'), 'Key (email)=(?) already exists.');
    assert.equal(redactErrorText('Failing row contains (1, secret).'), 'Failing row contains (?).');
    assert.equal(redactErrorText("Duplicate entry 'it''s \\' secret' for key 'u.email'"), "Duplicate entry '?' for key '?'");
    assert.equal(redactErrorText("unterminated 'secret"), "unterminated '?'");
    // Servers echo a value unescaped: a quote or a parenthesis inside it must not end it.
    assert.equal(redactErrorText('invalid input syntax for type integer: "my"password secret"'), 'invalid input syntax for type integer: "?"');
    assert.equal(redactErrorText("Duplicate entry 'O'Brien' for key 'users.name'"), "Duplicate entry '?' for key '?'");
    assert.equal(redactErrorText('Failing row contains (1, (555) 123-4567, alice@example.com).'), 'Failing row contains (?).');
    assert.equal(redactErrorText('Key (email)=(a)b@c.d) already exists.'), 'Key (email)=(?) already exists.');
    assert.equal(redactErrorText("relation \"users\" doesn't exist"), "relation \"?\" doesn't exist");
    // A value whose place the server's words mark goes whole, even with a quote and a space inside.
    assert.equal(redactErrorText("Duplicate entry 'a' secretTail' for key 'u.email'"), "Duplicate entry '?' for key '?'");
    assert.equal(redactErrorText("Incorrect integer value: 'a' secretTail' for column `db`.`t`.`n` at row 1"), "Incorrect integer value: '?' for column `db`.`t`.`n` at row 1");
    assert.equal(redactErrorText("Truncated incorrect DOUBLE value: 'a' secretTail'"), "Truncated incorrect DOUBLE value: '?'");
    assert.equal(redactErrorText("Incorrect datetime value: 'o' pin hunter2' for function str_to_date"), "Incorrect datetime value: '?' for function str_to_date");
    assert.equal(redactErrorText("Failed to parse number 'o' pin 4242' in $convert with no onError value: x"), "Failed to parse number '?' in $convert with no onError value: x");
    assert.equal(redactErrorText('invalid input syntax for type integer: "a" secretTail"\nnext line'), 'invalid input syntax for type integer: "?"\nnext line');
    assert.equal(redactErrorText("ERR unknown command 'X', with args beginning with: 'a' secretTail' "), "ERR unknown command '?', with args beginning with: '?'");
  });

  for (const [label, pkg] of [['node-redis', 'redis'], ['ioredis', 'ioredis']]) {
    it(`${label}: an unknown command's args stay out of the span; the app gets the server's message`, async () => {
      install();
      let client: any;
      if (pkg === 'redis') {
        client = require('redis').createClient({ url: redisUrl() });
        client.on('error', () => undefined);
        await client.connect();
      } else {
        const Redis = require('ioredis');
        client = new Redis(redisUrl());
        client.on('error', () => undefined);
      }
      try {
        // `' ` inside an argument: redis repeats it unescaped.
        const args = ['a', "x' valueSecret"];
        const err = await client.sendCommand(pkg === 'redis' ? ['X', ...args] : new (require('ioredis').Command)('X', args)).then(
          () => assert.fail('no error'),
          (e: Error) => e,
        );
        assert.match(err.message, /valueSecret/, 'the app sees the untouched message');
        await tracer.settle();
        const span = tracer.finished.find((s) => s.hasError());
        assert.ok(span, 'an error span');
        assert.doesNotMatch(logged(span), /valueSecret/);
      } finally {
        await (pkg === 'redis' ? client.quit() : client.quit());
      }
    });
  }

  for (const [label, pkg] of [['node-redis', 'redis'], ['ioredis', 'ioredis']]) {
    it(`${label}: a script's error (Lua error(), error_reply) keeps its arguments out of the span; Redis's own words stay`, async () => {
      install();
      let client: any;
      // Each call: the script, its one argument, and what the app is to see.
      const calls: Array<[string, string]> = [
        ['error(ARGV[1])', 'cardSecret4111'],
        ['return redis.error_reply(ARGV[1])', 'tokenSecretXYZ'],
        ["return redis.error_reply('prefix ' .. ARGV[1] .. ' suffix')", 'tokenSecretABC'],
      ];
      let run: (script: string, arg: string) => Promise<unknown>;
      let defined: (arg: string) => Promise<unknown>;
      if (pkg === 'redis') {
        const redis = require('redis');
        client = redis.createClient({
          url: redisUrl(),
          scripts: { failWith: redis.defineScript({ NUMBER_OF_KEYS: 0, SCRIPT: 'error(ARGV[1])', parseCommand: (parser: any, arg: string) => parser.push(arg), transformArguments: (arg: string) => [arg] }) },
        });
        client.on('error', () => undefined);
        await client.connect();
        run = (script, arg) => client.eval(script, { arguments: [arg] });
        defined = (arg) => client.failWith(arg);
      } else {
        const Redis = require('ioredis');
        client = new Redis(redisUrl());
        client.on('error', () => undefined);
        client.defineCommand('failWith', { numberOfKeys: 0, lua: 'error(ARGV[1])' });
        run = (script, arg) => client.eval(script, 0, arg);
        defined = (arg) => client.failWith(arg);
      }
      try {
        for (const [script, arg] of calls) {
          const err = (await run(script, arg).then(() => assert.fail('no error'), (e: Error) => e)) as Error;
          assert.match(err.message, new RegExp(arg), 'the app sees the untouched message');
        }
        const err = (await defined('defineSecret99').then(() => assert.fail('no error'), (e: Error) => e)) as Error;
        assert.match(err.message, /defineSecret99/);
        const notNumber = await run("return redis.call('INCR', 'x' .. ARGV[1])", 'harmKey').then(
          () => client.set('xharmKey', 'v').then(() => run("return redis.call('INCR', 'x' .. ARGV[1])", 'harmKey')),
          () => undefined,
        ).then(() => assert.fail('no error'), (e: Error) => e);
        // In a MULTI (node-redis) or a pipeline (ioredis), whose span logs the first failed command's error.
        const batchLua = 'return redis.error_reply(ARGV[1])';
        const batch =
          pkg === 'redis'
            ? await client.multi().eval(batchLua, { arguments: ['batchSecret77'] }).exec().then(() => assert.fail('no error'), (e: Error) => e)
            : await client.pipeline().eval(batchLua, 0, 'batchSecret77').exec();
        assert.match(JSON.stringify(batch, Object.getOwnPropertyNames(batch)) + String(batch?.[0]?.[0]?.message ?? ''), /batchSecret77/);
        await tracer.settle();
        const batchSpan = tracer.finished.find((s) => /^redis\.(MULTI|PIPELINE)$/.test(s.operationName));
        assert.equal(batchSpan?.tags.error, true);
        assert.doesNotMatch(logged(batchSpan), /Secret/);
        const spans = tracer.finished.filter((s) => s.hasError() && s !== batchSpan);
        assert.equal(spans.length, 5);
        for (const span of spans.slice(0, 4)) assert.doesNotMatch(logged(span), /Secret/);
        assert.match(String(spans[0].errorLog()?.fields.message), /user_script:1: \? script: [0-9a-f]{40}/);
        // Redis's own error inside a script: its words are kept.
        assert.match(String((notNumber as Error).message), /not an integer/);
        assert.match(String(spans[4].errorLog()?.fields.message), /not an integer or out of range/);
      } finally {
        await client.del('xharmKey');
        await client.quit();
      }
    });
  }

  describe('pg', () => {
    const client = suiteFixture(connectedPgClient, (c) => c.end(), true);

    it('a value echoed in the message or the detail is redacted; with captureParameters it is kept', async () => {
      install();
      const err = await client().query("SELECT 'secretValue'::int").then(() => assert.fail('no error'), (e: Error) => e);
      assert.match(err.message, /secretValue/);
      // PostgreSQL repeats the value unescaped: a `" ` inside it must not end it.
      const quoted = await client().query('SELECT $1::int', ['x" secretValue']).then(() => assert.fail('no error'), (e: Error) => e);
      assert.match(quoted.message, /x" secretValue"$/);
      await client().query('CREATE TEMP TABLE harm_u (email text UNIQUE)');
      await client().query("INSERT INTO harm_u VALUES ('a@b.c')");
      const dup = await client().query("INSERT INTO harm_u VALUES ('a@b.c')").then(() => assert.fail('no error'), (e: any) => e);
      assert.match(dup.detail, /a@b\.c/, 'the app keeps the detail');
      const spans = tracer.finished.filter((s) => s.hasError());
      assert.equal(spans.length, 3);
      for (const span of spans) {
        assert.doesNotMatch(logged(span), /secretValue|a@b\.c/);
      }
      uninstallAllPatches();
      tracer.reset();
      install({ hooks: { pg: { captureParameters: true } } });
      await client().query("SELECT 'secretValue'::int").catch(() => undefined);
      assert.match(logged(tracer.finished.find((s) => s.hasError())!), /secretValue/);
    });
  });

  it('mysql2: a duplicate entry is redacted (message, sqlMessage, sql)', async () => {
    install();
    const mysql = require('mysql2/promise');
    const conn = await mysql.createConnection(mysqlUrl());
    try {
      await conn.query('CREATE TEMPORARY TABLE harm_u (email VARCHAR(64) UNIQUE)');
      await conn.query("INSERT INTO harm_u VALUES ('a@b.c')");
      const err = await conn.query("INSERT INTO harm_u VALUES ('a@b.c')").then(() => assert.fail('no error'), (e: Error) => e);
      assert.match(err.message, /a@b\.c/);
      // MySQL repeats values unescaped: a `' ` inside one must not end it.
      await conn.query('INSERT INTO harm_u VALUES (?)', ["x' secretTail"]);
      const quoted = await conn.query('INSERT INTO harm_u VALUES (?)', ["x' secretTail"]).then(() => assert.fail('no error'), (e: Error) => e);
      assert.match(quoted.message, /x' secretTail' for key/);
      await conn.query("SET @@session.sql_mode = 'STRICT_ALL_TABLES'");
      await conn.query('CREATE TEMPORARY TABLE harm_n (n INT)');
      const incorrect = await conn.query('INSERT INTO harm_n VALUES (?)', ["x' secretTail"]).then(() => assert.fail('no error'), (e: Error) => e);
      assert.match(incorrect.message, /x' secretTail' for column/);
      await conn.query('CREATE TEMPORARY TABLE harm_d (d DATETIME)');
      const date = await conn.query("INSERT INTO harm_d VALUES (STR_TO_DATE(?, '%Y-%m-%d'))", ["x' secretTail"]).then(() => assert.fail('no error'), (e: Error) => e);
      assert.match(date.message, /x' secretTail' for function str_to_date/);
      const spans = tracer.finished.filter((s) => s.hasError());
      assert.equal(spans.length, 4);
      for (const span of spans) assert.doesNotMatch(logged(span), /a@b\.c|secretTail/);
    } finally {
      await conn.end();
    }
  });
});

describe("a database function that repeats its argument in its error (PL/pgSQL RAISE, MySQL SIGNAL): the argument is not logged, whichever SQL hook", function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  const SECRET = 'sk_live_ABCsecretTOKEN';
  const pgClient = suiteFixture(connectedPgClient, (c) => c.end(), true);
  const mysqlConfig = (): { host: string; port: number; user: string; password: string; database: string } => {
    const u = new URL(mysqlUrl());
    return { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
  };
  const failure = (p: PromiseLike<unknown>): Promise<any> => Promise.resolve(p).then(() => assert.fail('no error'), (e: unknown) => e);

  before(async () => {
    const client = await connectedPgClient();
    await client
      .query(
        "CREATE OR REPLACE FUNCTION harm_check_token(t text) RETURNS void AS $$ BEGIN RAISE EXCEPTION 'token % is not valid', t USING DETAIL = 'given ' || t, HINT = 'retry with a token other than ' || t; END $$ LANGUAGE plpgsql",
      )
      .finally(() => client.end());
    const conn = await require('mysql2/promise').createConnection(mysqlUrl());
    try {
      await conn.query('DROP PROCEDURE IF EXISTS harm_check_token');
      await conn.query("CREATE PROCEDURE harm_check_token(t VARCHAR(100)) BEGIN DECLARE msg VARCHAR(200); SET msg = CONCAT('token ', t, ' rejected'); SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg; END");
    } finally {
      await conn.end();
    }
  });
  after(async () => {
    const client = await connectedPgClient();
    await client.query('DROP FUNCTION IF EXISTS harm_check_token(text)').finally(() => client.end());
    const conn = await require('mysql2/promise').createConnection(mysqlUrl());
    await conn.query('DROP PROCEDURE IF EXISTS harm_check_token').finally(() => conn.end());
  });
  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  /** Every error span logged the error without the secret, the server's own words kept. */
  function assertNotLogged(count: number, words: RegExp): void {
    const spans = tracer.finished.filter((s) => s.hasError());
    assert.equal(spans.length, count);
    for (const span of spans) {
      assert.doesNotMatch(logged(span), /sk_live|secretTOKEN/, span.operationName);
      assert.match(String(span.errorLog()?.fields.message), words, span.operationName);
    }
  }

  it('pg (values as an argument and in the config), and knex over pg: message, detail, hint and stack', async () => {
    installPatches(['pg', 'knex'], { tracer });
    const errors = [await failure(pgClient().query('SELECT harm_check_token($1)', [SECRET])), await failure(pgClient().query({ text: 'SELECT harm_check_token($1)', values: [SECRET] }))];
    const db = require('knex')({ client: 'pg', connection: pgConfig(), pool: { min: 0, max: 1 } });
    try {
      errors.push(await failure(db.raw('select harm_check_token(?)', [SECRET])));
    } finally {
      await db.destroy();
    }
    for (const err of errors) assert.match(`${err.message} ${err.detail} ${err.hint}`, /token sk_live_ABCsecretTOKEN is not valid given sk_live_ABCsecretTOKEN retry with a token other than sk_live_ABCsecretTOKEN$/);
    await tracer.settle();
    // pg's two, knex's and its pg span.
    assertNotLogged(4, /token \? is not valid$/);
    const detail = (tracer.finished.find((s) => s.hasError())?.errorLog()?.fields['error.object'] as { detail?: unknown; hint?: unknown }) ?? {};
    assert.deepEqual([detail.detail, detail.hint], ['given ?', 'retry with a token other than ?']);
  });

  it('mysql2 (execute, query with an options object) and mysql', async () => {
    installPatches(['mysql2', 'mysql'], { tracer });
    const conn = await require('mysql2/promise').createConnection(mysqlUrl());
    const plain = require('mysql').createConnection(mysqlConfig());
    try {
      const errors = [await failure(conn.execute('CALL harm_check_token(?)', [SECRET])), await failure(conn.query({ sql: 'CALL harm_check_token(?)', values: [SECRET] }))];
      errors.push(await failure(new Promise((resolve, reject) => plain.query('CALL harm_check_token(?)', [SECRET], (err: unknown) => (err ? reject(err) : resolve(undefined))))));
      for (const err of errors) assert.match(err.message, /token sk_live_ABCsecretTOKEN rejected$/);
    } finally {
      await conn.end();
      await new Promise((resolve) => plain.end(resolve));
    }
    await tracer.settle();
    assertNotLogged(3, /token \? rejected$/);
  });

  it('with captureParameters the error is logged as it is', async () => {
    installPatches(['pg'], { tracer, hooks: { pg: { captureParameters: true } } });
    await failure(pgClient().query('SELECT harm_check_token($1)', [SECRET]));
    await tracer.settle();
    assert.match(logged(tracer.finished.find((s) => s.hasError())!), /token sk_live_ABCsecretTOKEN is not valid/);
  });

  it("the values are read at failure without running the app's code: a getter among them, a Proxy of them, run as often as untraced", async () => {
    const reads = { getter: 0, proxy: 0 };
    const getterValues = (): unknown[] => {
      const values: unknown[] = [];
      Object.defineProperty(values, 0, { enumerable: true, get: () => (reads.getter++, SECRET) });
      return values;
    };
    const proxyValues = (): unknown[] => new Proxy([SECRET], { get: (target, key, receiver) => (reads.proxy++, Reflect.get(target, key, receiver)) });
    const run = async (): Promise<typeof reads> => {
      reads.getter = reads.proxy = 0;
      await failure(pgClient().query('SELECT harm_check_token($1)', getterValues()));
      await failure(pgClient().query({ text: 'SELECT harm_check_token($1)', values: proxyValues() }));
      return { ...reads };
    };
    const untraced = await run();
    installPatches(['pg'], { tracer });
    assert.deepEqual(await run(), untraced);
    assert.ok(untraced.getter > 0 && untraced.proxy > 0);
    await tracer.settle();
    assert.equal(tracer.finished.filter((s) => s.hasError()).length, 2);
  });
});
