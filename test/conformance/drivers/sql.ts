import type { HookName } from '../../../src';
import { sqlTags } from '../../helpers/services';
import type { Driver } from '../driver';

/**
 * What every SQL driver declares alike: its name (the hook's), the span's operation, and the tags of a
 * query of `statement` on the server `conn()` describes.
 */
export function sqlDriverFacts(
  hook: HookName,
  operation: Driver['operation'],
  conn: () => { host: string; port: number; user: string; database: string },
  statement: string,
): Pick<Driver, 'name' | 'hook' | 'operation' | 'tags'> {
  return { name: hook, hook, operation, tags: () => sqlTags(hook, conn(), statement) };
}
