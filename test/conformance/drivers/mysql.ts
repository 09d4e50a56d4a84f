import mysql from 'mysql';
import { mysqlUrl } from '../../helpers/services';
import type { Driver } from '../driver';

let pool: mysql.Pool;

function facts(): { host: string; port: number; user: string; database: string } {
  const u = new URL(mysqlUrl());
  return { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), database: u.pathname.slice(1) };
}

/** pool.query as a promise of its rows (plain data). */
function query(options: string | mysql.QueryOptions, values?: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => pool.query(options, values, (err, rows) => (err ? reject(err) : resolve(JSON.parse(JSON.stringify(rows))))));
}

/** The callback API (mysql has no other) over a pool. */
export const mysqlDriver: Driver = {
  name: 'mysql',
  hook: 'mysql',
  operation: /^mysql\.query:/,
  tags() {
    const f = facts();
    return {
      component: 'mysql',
      'db.type': 'sql',
      'db.instance': f.database,
      'db.user': f.user,
      'peer.hostname': f.host,
      'peer.port': f.port,
      'peer.address': `${f.host}:${f.port}`,
      'db.statement': 'SELECT ? AS n',
    };
  },
  targets: () => [
     
    [require('mysql/lib/Connection').prototype, 'query'],
     
    [require('mysql/lib/Pool').prototype, 'getConnection'],
  ],
  async start() {
    pool = mysql.createPool({ ...facts(), password: decodeURIComponent(new URL(mysqlUrl()).password), connectionLimit: 8 });
  },
  async stop() {
    await new Promise((resolve) => pool.end(resolve));
  },
  // pool.query: a pool.getConnection span and the query's (the span under test).
  call: () => query('SELECT ? AS n', [1]),
  failingCall: () => query('SELECT * FROM no_such_table_conformance'),
  callbackCall(callback) {
    pool.query('SELECT ? AS n', [1], (err, result) => callback(err, result));
  },
  countedCall(onRead) {
    const input: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ sql: 'SELECT ? AS n', values: [1] })) {
      Object.defineProperty(input, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return query(input as unknown as mysql.QueryOptions);
  },
  async inFlightCall() {
    const conn = await new Promise<mysql.PoolConnection>((resolve, reject) => pool.getConnection((err, c) => (err ? reject(err) : resolve(c))));
    const outcome = new Promise((resolve, reject) =>
      conn.query('SELECT ? AS n, SLEEP(0.05) AS s', [1], (err, rows) => {
        conn.release();
        if (err) reject(err);
        else resolve((rows as Array<{ n: number }>).map(({ n }) => ({ n })));
      }),
    );
    return { outcome };
  },
  otel: { module: '@opentelemetry/instrumentation-mysql', export: 'MySQLInstrumentation', reload: ['mysql'] },
};
