/**
 * knex 3.x: every query a knex client runs (`Client#query`, which query builders, raw queries, schema
 * builders, migrations and transactions all go through) and every stream (`Client#stream`); `Runner#query`
 * tells them which builder, so which table, a query comes from; the dialects' `_query` and `_stream`, where
 * the driver is called, make the knex span the parent of the driver's. The span logic is in ../tracing/knex,
 * loaded when knex is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { KnexOptions } from '../options/knex';

/** Where knex calls the driver: pg's dialect (cockroachdb's and redshift's too), pgnative's, mysql's (mysql2's and mariadb's too). */
const DIALECTS = ['postgres', 'pgnative', 'mysql'].map((dialect) => `lib/dialects/${dialect}`);

export const knexHook = defineHook<'knex', KnexOptions, typeof import('../tracing/knex')>({
  name: 'knex',
  summary: 'knex queries (builders, raw, schema, transactions, streams), the driver spans as their children',
  tracing: () => require('../tracing/knex'),
  targets: fileTargets('knex', '>=3.0.0 <4', { 'lib/client': 'patchClient', 'lib/execution/runner': 'patchRunner', ...Object.fromEntries(DIALECTS.map((file) => [file, 'patchDialect' as const])) }),
});
