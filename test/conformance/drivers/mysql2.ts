import path from 'node:path';
import mysql from 'mysql2/promise';
import { mysqlConfig, mysqlUrl } from '../../helpers/services';
import type { Driver } from '../driver';
import { sqlDriverFacts } from './sql';

let pool: mysql.Pool;

/** Where mysql2's methods live (BaseConnection and BasePool since 3.11.5). */
function definer(proto: object, name: string): object {
  for (let p: object | null = proto; p !== null; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, name)) return p;
  }
  throw new Error(`no ${name}`);
}

// The promise API wraps the callback one; these are the classes underneath.
const core = require('mysql2') as typeof import('mysql2');

function rows(result: unknown): unknown {
  // [rows, fields] from the promise API: the rows, as plain data.
  return JSON.parse(JSON.stringify((result as unknown[])[0]));
}

/** The promise API (the main one) over a pool; callbackCall uses the callback pool underneath. */
export const mysql2Driver: Driver = {
  ...sqlDriverFacts('mysql2', /^mysql\.query:/, mysqlConfig, 'SELECT ? AS n'),
  targets: () => [
    [definer(core.Connection.prototype, 'query'), 'query'],
    [definer(core.Connection.prototype, 'execute'), 'execute'],
    [definer(core.Connection.prototype, 'prepare'), 'prepare'],
    [definer(core.Connection.prototype, '_notifyError'), '_notifyError'],
    [definer((core as unknown as { Pool: { prototype: object } }).Pool.prototype, 'getConnection'), 'getConnection'],
    [definer((core as unknown as { Pool: { prototype: object } }).Pool.prototype, 'query'), 'query'],
    [definer((core as unknown as { Pool: { prototype: object } }).Pool.prototype, 'execute'), 'execute'],
  ],
  async start() {
    pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 8 });
  },
  async stop() {
    await pool.end();
  },
  // pool.query: the query's span (the pool's own getConnection makes none unless it fails).
  call() {
    return pool.query('SELECT ? AS n', [1]);
  },
  failingCall() {
    return pool.query('SELECT * FROM no_such_table_conformance');
  },
  normalize: rows,
  callbackCall(callback) {
    pool.pool.query('SELECT ? AS n', [1], (err: unknown, result?: unknown) => callback(err, result));
  },
  countedCall(onRead) {
    const input: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ sql: 'SELECT ? AS n', values: [1] })) {
      Object.defineProperty(input, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return pool.query(input as unknown as mysql.QueryOptions);
  },
  async inFlightCall() {
    // A checked-out connection: the query is on the wire when this resolves.
    const conn = await pool.getConnection();
    const outcome = conn.query('SELECT ? AS n, SLEEP(0.05) AS s', [1]).then(
      ([r]) => {
        conn.release();
        return [(r as Array<{ n: number }>).map(({ n }) => ({ n }))];
      },
      (err) => {
        conn.release();
        throw err;
      },
    );
    return { outcome };
  },
  otel: {
    module: '@opentelemetry/instrumentation-mysql2',
    export: 'MySQL2Instrumentation',
    // OpenTelemetry patches lib/connection.js, which the package's exports map hides: its path.
    reload: ['mysql2', path.join(path.dirname(require.resolve('mysql2')), 'lib', 'connection.js')],
  },
};
