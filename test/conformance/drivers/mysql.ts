import mysql from 'mysql';
import { mysqlConfig } from '../../helpers/services';
import type { Driver } from '../driver';
import { sqlDriverFacts } from './sql';

let pool: mysql.Pool;

/** pool.query as a promise of its rows (plain data). */
function query(options: string | mysql.QueryOptions, values?: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => pool.query(options, values, (err, rows) => (err ? reject(err) : resolve(JSON.parse(JSON.stringify(rows))))));
}

/** The callback API (mysql has no other) over a pool. */
export const mysqlDriver: Driver = {
  ...sqlDriverFacts('mysql', /^mysql\.query:/, mysqlConfig, 'SELECT ? AS n'),
  targets: () => [
     
    [require('mysql/lib/Connection').prototype, 'query'],
     
    [require('mysql/lib/Pool').prototype, 'getConnection'],
     
    [require('mysql/lib/Pool').prototype, 'query'],
  ],
  async start() {
    pool = mysql.createPool({ ...mysqlConfig(), connectionLimit: 8 });
  },
  async stop() {
    await new Promise((resolve) => pool.end(resolve));
  },
  // pool.query: the query's span (the pool's own getConnection makes none unless it fails).
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
