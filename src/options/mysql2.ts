/** The mysql2 hook's options and query info (declared in ../hooks/mysql2, read by ../tracing/mysql2). */
import type { Span } from 'opentracing';
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
