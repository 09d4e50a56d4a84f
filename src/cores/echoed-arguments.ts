/**
 * The arguments of a call that its error may repeat as they are (a PL/pgSQL `RAISE … %`, a MySQL `SIGNAL`
 * with `CONCAT`, a redis script's `error_reply(ARGV[1])`): unquoted, maybe without a digit, so no rule of
 * the servers' wording finds them. Each of them, as text of `MIN_ECHOED_LENGTH` characters or more, is
 * taken out of the error's text (a shorter one would take out words too).
 */
import { types } from 'node:util';

/** The shortest argument taken out of an error's text. */
export const MIN_ECHOED_LENGTH = 4;

/** How many values are looked at (a bulk insert's thousands: its first ones). */
const MAX_VISITS = 10000;
/** How deep values are looked into: a list of rows (`VALUES ?`), a row, its values. */
const MAX_DEPTH = 3;

const utf8 = new TextDecoder();

/** `text` with each of `values` in it replaced by `?`, the longer ones first (one may hold another). */
export function withoutValues(text: string, values: readonly string[]): string {
  if (values.length === 0) return text;
  const longestFirst = values.length === 1 ? values : [...values].sort((a, b) => b.length - a.length);
  for (const value of longestFirst) if (text.includes(value)) text = text.split(value).join('?');
  return text;
}

/**
 * The strings (and Buffers, as UTF-8 text) of `MIN_ECHOED_LENGTH` characters or more among a call's values
 * (a list, or an object of named values, and the lists and objects in them), read at failure without
 * running any of the app's code: a Proxy is skipped, and of the others only own data properties are
 * read (never a getter), so the caller's input is read no more often than the driver read it.
 */
export function echoedStrings(values: unknown): string[] {
  const found: string[] = [];
  let visits = 0;
  const collect = (value: unknown, depth: number): void => {
    if (++visits > MAX_VISITS) return;
    if (typeof value === 'string') {
      if (value.length >= MIN_ECHOED_LENGTH) found.push(value);
      return;
    }
    if (value === null || typeof value !== 'object' || types.isProxy(value)) return;
    if (types.isUint8Array(value)) {
      if (value.length >= MIN_ECHOED_LENGTH) found.push(utf8.decode(value));
      return;
    }
    if (depth >= MAX_DEPTH) return;
    // The own keys and descriptors of an object that is no Proxy run none of the app's code.
    for (const key of Object.getOwnPropertyNames(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor !== undefined && 'value' in descriptor) collect(descriptor.value, depth + 1);
      if (visits > MAX_VISITS) return;
    }
  };
  collect(values, 0);
  return found;
}
