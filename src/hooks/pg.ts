/**
 * node-postgres: `Client.prototype.query` in every call form, and `Pool.prototype.connect`. The span
 * logic is in ../tracing/pg, loaded when pg is.
 */
import type { Span } from 'opentracing';
import type { DbHookOptions } from '../cores/db-call';
import { defineHook, lazyModule } from '../registry/define';
import type { PgState } from '../tracing/pg';

export interface PgQueryInfo {
  text: string;
  name?: string;
  values?: unknown[];
  database?: string;
}

export interface PgOptions extends DbHookOptions {
  /** Record query values as `db.params` (default false). */
  captureParameters?: boolean;
  /** Replace SQL literals by `?` (default true). */
  sanitizeStatement?: boolean;
  requestHook?: (span: Span, query: PgQueryInfo) => void;
  responseHook?: (span: Span, result: unknown) => void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/pg') as typeof import('../tracing/pg'));

export const pgHook = defineHook<'pg', PgOptions, PgState>({
  name: 'pg',
  summary: 'node-postgres queries (every call form, Submittables) and pool connections',
  setup: () => ({}),
  targets: [
    {
      // The internal file, not the package entry: `import pg from 'pg'` loads the entry without
      // require(), but the entry still requires this file.
      module: 'pg',
      file: 'lib/client',
      versions: '>=8.0.0 <9',
      patch: (exports, ctx) => tracing().patchClient(exports, ctx),
    },
    { module: 'pg-pool', versions: '>=2.0.0 <4', patch: (exports, ctx) => tracing().patchPool(exports, ctx) },
  ],
});
