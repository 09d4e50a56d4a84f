import assert from 'node:assert/strict';
import { copyWith, ownCopy } from '../../src/own-copy';

/** What a spread copies, and how: each own enumerable key (symbols too), its value, and the copy's prototype. */
function shape(copy: object): unknown {
  return {
    proto: Object.getPrototypeOf(copy),
    keys: Reflect.ownKeys(copy),
    descriptors: Object.getOwnPropertyDescriptors(copy),
  };
}

/** The proxy's traps, in order, while `fn` copies it. */
function trapsOf(fn: (source: object) => unknown): string[] {
  const seen: string[] = [];
  const target = { a: 1, [Symbol.for('s')]: 2 };
  Object.defineProperty(target, 'hidden', { value: 3, enumerable: false });
  const proxy = new Proxy(target, {
    ownKeys: (t) => (seen.push('ownKeys'), Reflect.ownKeys(t)),
    getOwnPropertyDescriptor: (t, k) => (seen.push(`describe ${String(k)}`), Reflect.getOwnPropertyDescriptor(t, k)),
    get: (t, k, r) => (seen.push(`get ${String(k)}`), Reflect.get(t, k, r)),
    has: (t, k) => (seen.push(`has ${String(k)}`), Reflect.has(t, k)),
  });
  fn(proxy);
  return seen;
}

describe('ownCopy (a spread copy that takes new keys on the fast path)', () => {
  it('copies what a spread copies: own enumerable keys and symbols, values, a plain prototype', () => {
    const proto = { inherited: 1 };
    const source = Object.create(proto);
    source.b = 2;
    source.a = 'x';
    source[Symbol.for('s')] = 3;
    Object.defineProperty(source, 'hidden', { value: 4, enumerable: false });
    Object.defineProperty(source, 'computed', { get: () => 5, enumerable: true });
    assert.deepEqual(shape(ownCopy(source)), shape({ ...source }));
  });

  it('a fresh object, never the source: keys added to it leave the caller`s object as it was', () => {
    const source = { host: 'h' };
    const copy = ownCopy(source);
    copy.traceparent = 'x';
    assert.notEqual(copy, source);
    assert.deepEqual(source, { host: 'h' });
  });

  it('null and undefined give an empty object, as a spread does', () => {
    assert.deepEqual(ownCopy(null), {});
    assert.deepEqual(ownCopy(undefined), {});
  });

  it('an own `__proto__` key (JSON.parse) stays a key: the copy`s prototype is not changed', () => {
    const source = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const copy = ownCopy(source);
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.equal((copy as { polluted?: boolean }).polluted, undefined);
    assert.deepEqual(shape(copy), shape({ ...source }));
  });

  it('copyWith: the copy with the key set, as `{ ...source, [key]: value }`; the source as it was', () => {
    const source = { a: 1, b: 2 };
    assert.deepEqual(shape(copyWith(source, 'c', 3)), shape({ ...source, c: 3 }));
    assert.deepEqual(shape(copyWith(source, 'a', 9)), shape({ ...source, a: 9 }));
    assert.deepEqual(copyWith(undefined, 'c', 3), { c: 3 });
    assert.deepEqual(source, { a: 1, b: 2 });
  });

  it('a Proxy is read exactly as a spread reads it (no trap more)', () => {
    assert.deepEqual(trapsOf(ownCopy), trapsOf((source) => ({ ...source })));
  });
});
