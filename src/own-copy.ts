import { types } from 'node:util';

/**
 * A plain object with `source`'s own enumerable properties, as `{ ...source }` makes it, for a copy that then
 * gets keys it did not have (trace headers, message attributes): V8 gives a spread's copy a map from which
 * each new key takes a slow path (1 to 4 µs a copy), and `Object.assign` onto `{}` does not. A Proxy, or an
 * object with an own `__proto__` key (JSON.parse makes them), is spread: `Object.assign` would set the copy's
 * prototype instead, and asking a Proxy which keys it has would be one more read of the caller's input.
 */
export function ownCopy(source: object | null | undefined): Record<string, unknown> {
  if (source === null || source === undefined) return {};
  if (types.isProxy(source) || Object.prototype.hasOwnProperty.call(source, '__proto__')) return { ...source } as Record<string, unknown>;
  return Object.assign({}, source) as Record<string, unknown>;
}

/** A copy of `source` (see ownCopy) with `key` set, a key it may not have had. */
export function copyWith(source: object | null | undefined, key: string, value: unknown): Record<string, unknown> {
  const copy = ownCopy(source);
  copy[key] = value;
  return copy;
}

/** An own data property of a caller's object, read without running a getter (undefined for an accessor or none). */
export function ownDataValue(object: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  return descriptor !== undefined && 'value' in descriptor ? descriptor.value : undefined;
}
