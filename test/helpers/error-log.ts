import assert from 'node:assert/strict';
import { redactErrorText } from '../../src/cores/db-call';
import type { RecordedSpan, RecordingTracer } from './tracer';

/**
 * A database span logged `err`: the very object, or (when a field of it carried a value) its redacted
 * copy, of the same class with the message redacted by `redact` (a SQL hook's: `redactSqlErrorText`).
 */
export function assertDbErrorLogged(span: RecordedSpan, err: unknown, redact: (text: string) => string = redactErrorText): void {
  const logged = span.errorLog()?.fields['error.object'];
  if (logged === err) return;
  const e = err as Error;
  assert.ok(logged !== null && typeof logged === 'object', 'an error object is logged');
  assert.equal(Object.getPrototypeOf(logged), Object.getPrototypeOf(e));
  assert.equal((logged as Error).message, redact(e.message));
}

/** Everything a span's error logs hold (message, stack, every own field of the error object and of its causes), as text. */
export function loggedErrorText(span: RecordedSpan): string {
  return JSON.stringify(
    span.logs
      .filter((log) => log.fields.event === 'error')
      .map(({ fields }) => ({ message: fields.message, stack: fields.stack, own: ownFields(fields['error.object']) })),
  );
}

/** Every own field of `value` as text, an error's (a `cause`, an AggregateError's `errors`) field by field too. */
function ownFields(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 8) return String(value);
  const object = value as Record<string, unknown>;
  return Object.fromEntries(Object.getOwnPropertyNames(object).map((n) => [n, typeof object[n] === 'object' ? ownFields(object[n], depth + 1) : String(object[n])]));
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
