/**
 * mysql2 3.x: `query` and `execute` of every connection (the callback API, and the promise API, whose
 * classes call the callback ones: one span per call), `prepare` and the statements it hands out, and
 * `getConnection` of pools (which every pool query, pool execute and pool cluster call goes through), and
 * the pool statements that take a connection for one statement (a pool's and a pool cluster namespace's
 * `query` and `execute`).
 * The span logic is in ../tracing/mysql2, loaded when mysql2 is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { Mysql2Options } from '../options/mysql2';

export const mysql2Hook = defineHook<'mysql2', Mysql2Options, typeof import('../tracing/mysql2')>({
  name: 'mysql2',
  summary: 'mysql2 queries and executes (callback and promise APIs, streams, prepared statements) and pool connections',
  tracing: () => require('../tracing/mysql2'),
  // Internal files, not the package entry: an ES-module import loads the entry without require(), but
  // the entry (and mysql2/promise) still requires these.
  targets: fileTargets('mysql2', '>=3.0.0 <4', { 'lib/connection': 'patchConnection', 'lib/pool': 'patchPool', 'lib/pool_cluster': 'patchPoolCluster' }),
});
