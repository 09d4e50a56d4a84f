import pg from 'pg';
import { pgConfig } from '../../helpers/services';
import type { Driver } from '../driver';
import { sqlDriverFacts } from './sql';

let pool: pg.Pool;

function rows(result: unknown): unknown {
  return (result as pg.QueryResult).rows;
}

export const pgDriver: Driver = {
  ...sqlDriverFacts('pg', /^pg\.query:/, pgConfig, 'SELECT $1::int AS n'),
  targets: () => [
    [pg.Client.prototype, 'query'],
    [Object.getPrototypeOf(pg.Pool.prototype), 'connect'],
  ],
  async start() {
    pool = new pg.Pool({ ...pgConfig(), max: 8 });
  },
  async stop() {
    await pool.end();
  },
  // A checked-out client's own query: the span under test is the query's (pool.connect has its own).
  async call() {
    const client = await pool.connect();
    try {
      return await client.query('SELECT $1::int AS n', [1]);
    } finally {
      client.release();
    }
  },
  async failingCall() {
    const client = await pool.connect();
    try {
      return await client.query('SELECT * FROM no_such_table_conformance');
    } finally {
      client.release();
    }
  },
  normalize: rows,
  callbackCall(callback) {
    pool.connect((err, client, release) => {
      if (err || client === undefined) return callback(err);
      client.query('SELECT $1::int AS n', [1], (qerr: Error | null, result?: pg.QueryResult) => {
        release();
        callback(qerr, result?.rows);
      });
    });
  },
  async countedCall(onRead) {
    const input: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ text: 'SELECT $1::int AS n', values: [1] })) {
      Object.defineProperty(input, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    const client = await pool.connect();
    try {
      return await client.query(input as unknown as pg.QueryConfig);
    } finally {
      client.release();
    }
  },
  async inFlightCall() {
    const client = await pool.connect();
    const outcome = client.query('SELECT $1::int AS n, pg_sleep(0.05)', [1]).then(
      (r) => {
        client.release();
        return { ...r, rows: r.rows.map(({ n }) => ({ n })) };
      },
      (err) => {
        client.release();
        throw err;
      },
    );
    return { outcome };
  },
  otel: { module: '@opentelemetry/instrumentation-pg', export: 'PgInstrumentation', reload: ['pg', 'pg-pool'] },
};
