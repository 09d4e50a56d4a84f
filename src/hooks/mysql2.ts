/**
 * mysql2 3.x: `query` and `execute` of every connection (the callback API, and the promise API, whose
 * classes call the callback ones: one span per call), `prepare` and the statements it hands out, and
 * `getConnection` of pools (which every pool query, pool execute and pool cluster call goes through).
 * The span logic is in ../tracing/mysql2, loaded when mysql2 is.
 */
import type { Span } from 'opentracing';
import { defineHook, fileTargets, lazyModule } from '../registry/define';
import type { PgOptions } from './pg';

export interface Mysql2QueryInfo {
  /** The SQL as the app wrote it (placeholders, not values). */
  text: string;
  /** The values, only with `captureParameters`. */
  values?: unknown;
  database?: string;
  /** `execute` or a prepared statement's `execute`. */
  prepared: boolean;
}

/**
 * The SQL hook options as pg has them (`captureParameters`, `sanitizeStatement`, `maxStatementLength`,
 * `responseHook`), with mysql2's query info. `responseHook` gets the rows (or the OK packet) of a call
 * with a callback or a promise, undefined for an emitter.
 */
export interface Mysql2Options extends Omit<PgOptions, 'requestHook'> {
  requestHook?: (span: Span, query: Mysql2QueryInfo) => void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/mysql2') as typeof import('../tracing/mysql2'));

export const mysql2Hook = defineHook<'mysql2', Mysql2Options>({
  name: 'mysql2',
  summary: 'mysql2 queries and executes (callback and promise APIs, streams, prepared statements) and pool connections',
  // Internal files, not the package entry: an ES-module import loads the entry without require(), but
  // the entry (and mysql2/promise) still requires these.
  targets: fileTargets('mysql2', '>=3.0.0 <4', {
    'lib/connection': (exports, ctx) => tracing().patchConnection(exports, ctx),
    'lib/pool': (exports, ctx) => tracing().patchPool(exports, ctx),
  }),
});
