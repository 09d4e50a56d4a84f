/**
 * node-postgres: `Client.prototype.query` in every call form, and `Pool.prototype.connect`. The span
 * logic is in ../tracing/pg, loaded when pg is.
 */
import { defineHook } from '../registry/define';
import type { PgOptions } from '../options/pg';
import type { PgState } from '../tracing/pg';

export const pgHook = defineHook<'pg', PgOptions, typeof import('../tracing/pg'), PgState>({
  name: 'pg',
  summary: 'node-postgres queries (every call form, Submittables) and pool connections',
  tracing: () => require('../tracing/pg'),
  setup: () => ({}),
  targets: [
    {
      // The internal file, not the package entry: `import pg from 'pg'` loads the entry without
      // require(), but the entry still requires this file.
      module: 'pg',
      file: 'lib/client',
      versions: '>=8.0.0 <9',
      patch: (exports, ctx) => ctx.tracing.patchClient(exports, ctx),
    },
    { module: 'pg-pool', versions: '>=2.0.0 <4', patch: (exports, ctx) => ctx.tracing.patchPool(exports, ctx) },
  ],
});
