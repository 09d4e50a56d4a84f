/**
 * mysql 2.x (the original driver): `query` of every connection (callback, emitter and stream forms,
 * transactions, which run as queries), `getConnection` of pools (which every pool query and pool
 * cluster call goes through), and the pool statements that take a connection for one query (a pool's
 * and a pool cluster namespace's `query`). The span logic is in ../tracing/mysql, loaded when mysql is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { MysqlOptions } from '../options/mysql';

export const mysqlHook = defineHook<'mysql', MysqlOptions, typeof import('../tracing/mysql')>({
  name: 'mysql',
  summary: 'mysql queries (callback, emitter and stream forms, transactions) and pool connections',
  tracing: () => require('../tracing/mysql'),
  // Internal files: the entry's createConnection/createPool build these classes.
  targets: fileTargets('mysql', '>=2.0.0 <3', { 'lib/Connection': 'patchConnection', 'lib/Pool': 'patchPool', 'lib/PoolNamespace': 'patchPoolNamespace' }),
});
