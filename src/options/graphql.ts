/** Options of the graphql hook, shared by its declaration (../hooks/graphql) and its span logic (../tracing/graphql). */
import type { CommonHookOptions } from '../spans';

export interface GraphqlOptions extends CommonHookOptions {
  /** A span for each `parse` and `validate` as well (default false). */
  parseSpans?: boolean;
  /**
   * A span for each resolver the app wrote (default false; fields resolved by graphql's default property
   * resolver never get one), a child of its parent field's span or of the operation span.
   */
  resolverSpans?: boolean;
  /** With `resolverSpans`: only fields at most this deep (1: the operation's root fields; default: all). */
  resolverDepth?: number;
  /** Longest `graphql.document` recorded (default 2048). */
  maxDocumentLength?: number;
}
