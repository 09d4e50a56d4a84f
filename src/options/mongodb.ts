/** Options of the mongodb hook, shared by its declaration (../hooks/mongodb) and its span logic (../tracing/mongodb). */
import type { DbHookOptions } from '../cores/db-call';

export interface MongodbOptions extends DbHookOptions {
  /**
   * Record the command's values in `db.statement` (default false: every value is `?`, only the shape of
   * the command stays, e.g. `{"filter":{"email":"?"}}`).
   */
  captureParameters?: boolean;
}
