import type { Knex } from 'knex';
import { pgConfig } from '../../helpers/services';
import type { Driver } from '../driver';

let db: Knex;

function facts(): { host: string; port: number; user: string; database: string } {
  const c = pgConfig();
  return { host: c.host, port: c.port, user: c.user, database: c.database };
}

/** knex over pg (its own pool); knex is required in start(), so that OpenTelemetry's instrumentation sees it load. */
export const knexDriver: Driver = {
  name: 'knex',
  hook: 'knex',
  operation: 'knex.raw',
  tags() {
    const f = facts();
    return {
      component: 'knex',
      'db.type': 'sql',
      'db.instance': f.database,
      'db.user': f.user,
      'peer.hostname': f.host,
      'peer.port': f.port,
      'peer.address': `${f.host}:${f.port}`,
      'db.statement': 'select ?::int as n',
    };
  },
  targets: () => [
     
    [require('knex/lib/client').prototype, 'query'],
     
    [require('knex/lib/client').prototype, 'stream'],
     
    [require('knex/lib/execution/runner').prototype, 'query'],
     
    [require('knex/lib/execution/runner').prototype, 'ensureConnection'],
  ],
  async start() {
     
    const knex = require('knex') as typeof import('knex').knex;
    db = knex({ client: 'pg', connection: facts(), pool: { min: 0, max: 4 } });
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
