/** The pg hook's options and query info (declared in ../hooks/pg, read by ../tracing/pg). */
import type { SqlHookOptions, SqlQueryInfo } from '../cores/sql-call';

export interface PgQueryInfo extends SqlQueryInfo {
  /** The prepared statement's name, when the query has one. */
  name?: string;
  values?: unknown[];
}

/** The SQL hook options, with pg's query info for the requestHook. */
export type PgOptions = SqlHookOptions<PgQueryInfo>;
