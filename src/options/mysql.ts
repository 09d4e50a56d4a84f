/** The mysql hook's options and query info (declared in ../hooks/mysql, read by ../tracing/mysql). */
import type { SqlHookOptions, SqlQueryInfo } from '../cores/sql-call';

/** The SQL hook options, with mysql's query info for the requestHook; the responseHook gets a callback's rows. */
export type MysqlOptions = SqlHookOptions<SqlQueryInfo>;
