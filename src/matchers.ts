import type { IncomingMessage } from 'node:http';

/** A URL or host pattern: an exact string, a RegExp, or a predicate. */
export type Matcher = string | RegExp | ((value: string) => boolean);

/** An inbound request pattern: strings and RegExps match the path, a function gets the request. */
export type IncomingMatcher = string | RegExp | ((req: IncomingMessage) => boolean);

/** Compiles matchers once, so that matching on the hot path is a loop of cheap tests. */
export function compileMatcher(input: Matcher | Matcher[] | undefined): ((value: string) => boolean) | undefined {
  if (input === undefined) return undefined;
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) return undefined;
  const tests = list.map((m): ((value: string) => boolean) => {
    if (typeof m === 'string') return (value) => value === m;
    if (m instanceof RegExp) return (value) => { m.lastIndex = 0; return m.test(value); };
    if (typeof m === 'function') return m;
    throw new TypeError(`opentracing-client-hooks: a matcher must be a string, RegExp or function, got ${typeof m}`);
  });
  return (value) => {
    for (const test of tests) {
      try {
        if (test(value)) return true;
      } catch {
        // A throwing user predicate means "no match"; it must not break the call.
      }
    }
    return false;
  };
}
