/**
 * node-postgres: `Client.prototype.query` in every call form, and `Pool.prototype.connect`. The span
 * logic is in ../tracing/pg, loaded when pg is.
 */
import { defineHook } from '../registry/define';
import type { PgOptions } from '../options/pg';

export const pgHook = defineHook<'pg', PgOptions, typeof import('../tracing/pg')>({
  name: 'pg',
  summary: 'node-postgres queries (every call form, Submittables) and pool connections',
  tracing: () => require('../tracing/pg'),
  targets: [
    // The internal file, not the package entry: `import pg from 'pg'` loads the entry without
    // require(), but the entry still requires this file.
    { module: 'pg', file: 'lib/client', versions: '>=8.0.0 <9', patch: 'patchClient' },
    { module: 'pg-pool', versions: '>=2.0.0 <4', patch: 'patchPool' },
  ],
});
