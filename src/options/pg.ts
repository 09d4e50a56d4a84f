/** The pg hook's options and query info (declared in ../hooks/pg, read by ../tracing/pg). */
import type { Span } from 'opentracing';
import type { DbHookOptions } from '../cores/db-call';

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
