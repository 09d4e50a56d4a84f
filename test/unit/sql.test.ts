import assert from 'node:assert/strict';
import { redactSqlMessage, sanitizedStatement, sanitizeSql, sqlVerb } from '../../src/sql';
import { redactedSqlError, redactSqlErrorText } from '../../src/cores/sql-call';

describe('SQL sanitising (PostgreSQL, the default dialect)', () => {
  const cases: Array<[string, string]> = [
    ["SELECT * FROM t WHERE name = 'O''Brien'", 'SELECT * FROM t WHERE name = ?'],
    ['SELECT * FROM t WHERE a = 42 AND b = -3.5e2 AND c = .5', 'SELECT * FROM t WHERE a = ? AND b = -? AND c = ?'],
    ["SELECT * FROM t WHERE id IN (1, 2, 3) AND s IN ('a','b')", 'SELECT * FROM t WHERE id IN (?) AND s IN (?)'],
    ['SELECT 1 -- password=hunter2\nFROM t /* token=abc /* nested */ still */ WHERE x = 1', 'SELECT ? FROM t WHERE x = ?'],
    ["SELECT $$it's $1 a secret$$, $fn$body$fn$ FROM t", 'SELECT ?, ? FROM t'],
    ['SELECT * FROM t WHERE a = $1 AND b = $2', 'SELECT * FROM t WHERE a = $1 AND b = $2'],
    ["SELECT \"col1\", table2.c3 FROM table2 WHERE e = E'it\\'s' AND x = X'1F'", 'SELECT "col1", table2.c3 FROM table2 WHERE e = ? AND x = ?'],
    ["INSERT INTO t (a, b) VALUES ('x', 1), ('y', 2)", 'INSERT INTO t (a, b) VALUES (?), (?)'],
    ["SELECT U&'d\\0061t\\+000061', B'101', N'nat' FROM t", 'SELECT ?, ?, ? FROM t'],
    ['SELECT 1e-3, 0x1F, 1_000', 'SELECT ?, ?, ?'],
    ["SELECT 'unterminated", 'SELECT ?'],
    ['SELECT f((1, 2), (3))', 'SELECT f((?), (?))'],
    ["SELECT `x` FROM t WHERE a = 'b\\' OR 1=1 -- '", 'SELECT `x` FROM t WHERE a = ? OR ?=?'],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => assert.equal(sanitizeSql(input), expected));
  }
  it('a standard string ends at the first quote: a backslash is no escape in PostgreSQL', () => {
    assert.equal(sanitizeSql("SELECT 'a\\' , 2"), 'SELECT ? , ?');
  });
});

describe('SQL sanitising (MySQL/MariaDB dialect)', () => {
  const cases: Array<[string, string]> = [
    ["SELECT `name`, `t`.`id` FROM `t` WHERE `name` = 'O\\'Brien'", 'SELECT `name`, `t`.`id` FROM `t` WHERE `name` = ?'],
    ['SELECT * FROM t WHERE a = "double quoted is a string"', 'SELECT * FROM t WHERE a = ?'],
    ['SELECT 1 # password=hunter2\nFROM t', 'SELECT ? FROM t'],
    ['SELECT 1 -- token=abc\nFROM t', 'SELECT ? FROM t'],
    ['SELECT 5--2 FROM t', 'SELECT ?--? FROM t'],
    ['SELECT * FROM t /* a /* b */ WHERE x = 1', 'SELECT * FROM t WHERE x = ?'],
    ["SELECT _utf8mb4'secret', X'1F', b'01' FROM t", 'SELECT ?, ?, ? FROM t'],
    ['INSERT INTO t (a, b) VALUES (?, ?), (?, ?)', 'INSERT INTO t (a, b) VALUES (?), (?)'],
    ["SELECT 'it''s', 'a\\\\' FROM t WHERE p = 'x'", 'SELECT ?, ? FROM t WHERE p = ?'],
    ['SELECT $1 FROM t', 'SELECT $? FROM t'],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => assert.equal(sanitizeSql(input, 'mysql'), expected));
  }
});

describe('SQL sanitising: hostile input', () => {
  it('long runs of brackets, placeholders and quotes come out right', () => {
    const n = 200000;
    assert.equal(sanitizeSql('('.repeat(n) + '?,'.repeat(n)), '('.repeat(n) + '?,'.repeat(n));
    assert.equal(sanitizeSql(`IN (${'?, '.repeat(n)}?)`), 'IN (?)');
    assert.equal(sanitizeSql("'".repeat(n + 1)), '?');
    assert.equal(sanitizeSql('/*'.repeat(n)), '');
  });
});

describe('sqlVerb', () => {
  it('is the first keyword, upper-cased, past spaces and brackets', () => {
    assert.equal(sqlVerb('  (select 1)'), 'SELECT');
    assert.equal(sqlVerb('with x as (select 1) select * from x'), 'WITH');
    assert.equal(sqlVerb('?'), undefined);
    assert.equal(sqlVerb(''), undefined);
  });
});

describe('sanitizedStatement (the statements an app repeats, sanitised once)', () => {
  it('gives what sanitizeSql and sqlVerb give, per dialect', () => {
    const sql = `select * from "users" where id = 42 and name = 'bob'`;
    for (const dialect of ['postgres', 'mysql'] as const) {
      const r = sanitizedStatement(sql, dialect);
      assert.equal(r.statement, sanitizeSql(sql, dialect));
      assert.equal(r.verb, sqlVerb(sanitizeSql(sql, dialect)));
    }
    assert.notEqual(sanitizedStatement(sql, 'postgres').statement, sanitizedStatement(sql, 'mysql').statement);
    assert.equal(sanitizedStatement('  (values 1)', 'postgres').verb, 'VALUES');
    assert.equal(sanitizedStatement('', 'postgres').verb, undefined);
  });

  it('keeps a repeated statement, and stays bounded in count and length', () => {
    const first = sanitizedStatement('SELECT 1 /* cache test */', 'postgres');
    assert.equal(sanitizedStatement('SELECT 1 /* cache test */', 'postgres'), first, 'the second call is served from the cache');
    for (let i = 0; i < 300; i++) sanitizedStatement(`SELECT ${i} AS n /* filler */`, 'postgres');
    const again = sanitizedStatement('SELECT 1 /* cache test */', 'postgres');
    assert.notEqual(again, first, 'the oldest statement left the cache');
    assert.deepEqual(again, first);
    const long = `SELECT '${'x'.repeat(3000)}'`;
    assert.notEqual(sanitizedStatement(long, 'postgres'), sanitizedStatement(long, 'postgres'), 'a statement longer than 2048 characters is not kept');
    assert.equal(sanitizedStatement(long, 'postgres').statement, 'SELECT ?');
  });
});

describe('redactSqlMessage and redactedSqlError (error messages that echo values)', () => {
  it('replaces quoted runs in either quote style and numbers, keeps words, placeholders and white space', () => {
    assert.equal(
      redactSqlMessage("insert into `users` (`email`) values ('a\\'b@x.com', 42) - ER_DUP_ENTRY: Duplicate entry 'a@x' for key 'users_email'"),
      'insert into `users` (`email`) values (?, ?) - ER_DUP_ENTRY: Duplicate entry ? for key ?',
    );
    assert.equal(redactSqlMessage('select $1 - invalid input syntax for type integer: "abc"'), 'select $1 - invalid input syntax for type integer: ?');
    assert.equal(redactSqlMessage("Table 'db.nope' doesn't exist"), "Table ? doesn't exist");
    assert.equal(redactSqlMessage("values (X'ab12', N't')"), 'values (X?, N?)');
    // Echoed unescaped: a quote followed by a letter or digit is inside the value.
    assert.equal(redactSqlMessage("ER_DUP_ENTRY: Duplicate entry 'O'Brien' for key 'users.name'"), 'ER_DUP_ENTRY: Duplicate entry ? for key ?');
    assert.equal(redactSqlMessage('invalid input syntax for type integer: "my"password secret"'), 'invalid input syntax for type integer: ?');
  });

  it('logs a copy: same class, message and stack head redacted, frames kept, value-carrying fields dropped', () => {
    class DriverError extends Error {}
    const err = new DriverError("Duplicate entry 'secret@x' for key 'k'") as DriverError & Record<string, unknown>;
    Object.assign(err, { code: 'ER_DUP_ENTRY', errno: 1062, sql: "insert into t values ('secret@x')", sqlMessage: "Duplicate entry 'secret@x'", detail: 'Key (email)=(secret@x)' });
    const copy = redactedSqlError(err) as DriverError & Record<string, unknown>;
    assert.ok(copy instanceof DriverError);
    assert.notEqual(copy, err);
    assert.equal(copy.message, 'Duplicate entry ? for key ?');
    assert.equal(copy.code, 'ER_DUP_ENTRY');
    assert.equal(copy.errno, 1062);
    assert.ok(!JSON.stringify({ ...copy, message: copy.message, stack: copy.stack }).includes('secret'));
    assert.equal(String(copy.stack).split('\n').slice(1).join('\n'), String(err.stack).split('\n').slice(1).join('\n'));
    // The app's error is untouched.
    assert.ok(err.message.includes('secret@x'));
  });

  it("every SQL hook's copy: MySQL's repeated statement sanitised, X'…' and 0x… values gone, pg's context fields and a many-line detail left out, accessors not read", () => {
    assert.equal(
      redactSqlErrorText("ER_PARSE_ERROR: You have an error in your SQL syntax; check the manual for the right syntax to use near 'IN (' spaced secret', 4111, X'6869', 0x6869)' at line 1"),
      "ER_PARSE_ERROR: You have an error in your SQL syntax; check the manual for the right syntax to use near 'IN (?)' at line 1",
    );
    assert.equal(redactSqlErrorText("Duplicate entry '4111' for key 'k' (pwd = X'68756e74', 0x68756e74, 4111)"), 'Duplicate entry ? for key ? (pwd = X?, ?, ?)');
    assert.equal(redactSqlErrorText('Key (email)=(a@b.c) already exists.'), 'Key (email)=(?) already exists.');
    class DatabaseError extends Error {}
    const err = new DatabaseError('invalid XML content') as DatabaseError & Record<string, unknown>;
    Object.assign(err, {
      code: '2200N',
      detail: 'line 1: Opening and ending tag mismatch\n<a>secretxml</b>\n  ^',
      where: "JSON data, line 1: {\"password\": hunter2secret\nunnamed portal parameter $1 = '...'",
      internalQuery: 'SELECT secret',
      hint: "Use 'secret' here",
    });
    Object.defineProperty(err, 'severity', { get: () => assert.fail('an accessor is read'), enumerable: true });
    const copy = redactedSqlError(err) as Record<string, unknown>;
    assert.deepEqual(Object.keys(copy).sort(), ['code', 'hint']);
    assert.equal(copy.hint, 'Use ? here');
    assert.ok(!/secret/.test(JSON.stringify({ ...copy, message: copy.message, stack: copy.stack })));
    const single = redactedSqlError(Object.assign(new DatabaseError('x'), { detail: 'Token "hunter2" is invalid.' })) as Record<string, unknown>;
    assert.equal(single.detail, 'Token ? is invalid.');
  });

  it("takes out the call's values the text repeats: strings and Buffers of 4 characters or more, in lists, rows and named values; never a getter's or a Proxy's", () => {
    const values: unknown[] = ['s3cretA', 'abc', Buffer.from('bufSecret'), [['rowSecret', 42]], { named: 'namedSecret' }, new Proxy(['proxySecret'], {})];
    Object.defineProperty(values, 6, { enumerable: true, get: () => assert.fail('a getter was run') });
    const err = new Error('token s3cretA bufSecret rowSecret namedSecret proxySecret abc rejected');
    const copy = redactedSqlError(err, () => values) as Error;
    assert.equal(copy.message, 'token ? ? ? ? proxySecret abc rejected');
    assert.match(String(copy.stack), /^Error: token \? \? \? \? proxySecret abc rejected\n\s+at /);
    // One value holding another: the longer goes first.
    assert.equal((redactedSqlError(new Error('a secretToken b secret'), () => ['secret', 'secretToken']) as Error).message, 'a ? b ?');
  });
});

