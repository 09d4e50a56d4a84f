/** Options of the graphql hook, shared by its declaration (../hooks/graphql) and its span logic (../tracing/graphql). */
import type { CommonHookOptions } from '../spans';

export interface GraphqlOptions extends CommonHookOptions {
  /** A span for each `parse` and `validate` as well (default false). */
  parseSpans?: boolean;
  /** Longest `graphql.document` recorded (default 2048). */
  maxDocumentLength?: number;
}
