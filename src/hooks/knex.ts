/**
 * knex 3.x: every query a knex client runs (`Client#query`, which query builders, raw queries, schema
 * builders, migrations and transactions all go through) and every stream (`Client#stream`); `Runner#query`
 * tells them which builder, so which table, a query comes from. The span logic is in ../tracing/knex,
 * loaded when knex is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { KnexOptions } from '../options/knex';

export const knexHook = defineHook<'knex', KnexOptions, typeof import('../tracing/knex')>({
  name: 'knex',
  summary: 'knex queries (builders, raw, schema, transactions, streams), the driver spans as their children',
  tracing: () => require('../tracing/knex'),
  targets: fileTargets('knex', '>=3.0.0 <4', { 'lib/client': 'patchClient', 'lib/execution/runner': 'patchRunner' }),
});
