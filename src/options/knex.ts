/** The knex hook's options and query info (declared in ../hooks/knex, read by ../tracing/knex). */
import type { SqlHookOptions, SqlQueryInfo } from '../cores/sql-call';

export interface KnexQueryInfo extends SqlQueryInfo {
  /** What knex calls the query: `select`, `insert`, `update`, `delete`, `raw`, `schema`, `begin`, … */
  method: string;
  /** The builder's table, when it has one. */
  table?: string;
  values?: unknown[];
}

/** The SQL hook options, with knex's query info for the requestHook; the responseHook gets the driver's result. */
export type KnexOptions = SqlHookOptions<KnexQueryInfo>;
