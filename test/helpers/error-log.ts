import assert from 'node:assert/strict';
import { redactErrorText } from '../../src/cores/db-call';
import type { RecordedSpan } from './tracer';

/**
 * A database span logged `err`: the very object, or (when a field of it carried a value) its redacted
 * copy, of the same class with the message redacted.
 */
export function assertDbErrorLogged(span: RecordedSpan, err: unknown): void {
  const logged = span.errorLog()?.fields['error.object'];
  if (logged === err) return;
  const e = err as Error;
  assert.ok(logged !== null && typeof logged === 'object', 'an error object is logged');
  assert.equal(Object.getPrototypeOf(logged), Object.getPrototypeOf(e));
  assert.equal((logged as Error).message, redactErrorText(e.message));
}
