import assert from 'node:assert/strict';
import { redactErrorText } from '../../src/cores/db-call';
import type { RecordedSpan, RecordingTracer } from './tracer';

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

/** Once every span finished: the one span `name`, a failed child of `parent` that logged `err`. */
export async function assertOneFailedDbSpan(tracer: RecordingTracer, name: string, parent: RecordedSpan, err: unknown): Promise<void> {
  await tracer.settle();
  const spans = tracer.byName(name);
  assert.equal(spans.length, 1);
  assert.equal(spans[0].parentId, parent.id);
  assert.equal(spans[0].tags.error, true);
  assertDbErrorLogged(spans[0], err);
}
