import type { Knex } from 'knex';
import { pgConfig } from '../../helpers/services';
import type { Driver } from '../driver';
import { sqlDriverFacts } from './sql';

let db: Knex;

/** knex over pg (its own pool); knex is required in start(), so that OpenTelemetry's instrumentation sees it load. */
export const knexDriver: Driver = {
  ...sqlDriverFacts('knex', 'knex.raw', pgConfig, 'select ?::int as n'),
  targets: () => [
     
    [require('knex/lib/client').prototype, 'query'],
     
    [require('knex/lib/client').prototype, 'stream'],
     
    [require('knex/lib/execution/runner').prototype, 'query'],
     
    [require('knex/lib/execution/runner').prototype, 'ensureConnection'],
     
    [require('knex/lib/dialects/postgres').prototype, '_query'],
     
    [require('knex/lib/dialects/postgres').prototype, '_stream'],
  ],
  async start() {
     
    const knex = require('knex') as typeof import('knex').knex;
    db = knex({ client: 'pg', connection: pgConfig(), pool: { min: 0, max: 4 } });
  },
  async stop() {
    await db.destroy();
  },
  call: async () => (await db.raw('select ?::int as n', [1])).rows,
  failingCall: () => db.raw('select * from no_such_table_conformance'),
  normalize: (result) => JSON.parse(JSON.stringify(result)),
  callbackCall(callback) {
    db.raw('select ?::int as n', [1]).asCallback((err: unknown, result?: { rows: unknown }) => callback(err, result?.rows));
  },
  countedCall(onRead) {
    const where: Record<string, unknown> = {};
    Object.defineProperty(where, 'n', { enumerable: true, get: () => (onRead('n'), 1) });
    return db.select(db.raw('1 as n')).whereRaw('1 = ?', [1]).where(db.raw('1'), '=', db.raw('1')).andWhere(where as { n: number }).from(db.raw('(select 1 as n) as t'));
  },
  async inFlightCall() {
    // knex emits 'query' as it hands the statement to the driver.
    const sent = new Promise<void>((resolve) => db.client.once('query', () => resolve()));
    const outcome = db.raw('select ?::int as n, pg_sleep(0.05)', [1]).then((r: { rows: Array<{ n: number }> }) => r.rows.map(({ n }) => ({ n })));
    await sent;
    return { outcome };
  },
  otel: { module: '@opentelemetry/instrumentation-knex', export: 'KnexInstrumentation', reload: [] },
};
