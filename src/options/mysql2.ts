/** The mysql2 hook's options and query info (declared in ../hooks/mysql2, read by ../tracing/mysql2). */
import type { SqlHookOptions, SqlQueryInfo } from '../cores/sql-call';

export interface Mysql2QueryInfo extends SqlQueryInfo {
  /** `execute` or a prepared statement's `execute`. */
  prepared: boolean;
}

/**
 * The SQL hook options, with mysql2's query info for the requestHook. `responseHook` gets the rows (or
 * the OK packet) of a call with a callback or a promise, undefined for an emitter.
 */
export type Mysql2Options = SqlHookOptions<Mysql2QueryInfo>;
