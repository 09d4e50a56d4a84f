import shimmer from 'shimmer';

type AnyFunction = (...args: any[]) => any;

/**
 * Replaces `target[name]` by `wrapper(original)`, keeping the original's `name` and `length` so that
 * code which inspects them sees no change. Unwrapping (shimmer) restores the very same function.
 */
export function wrap<T extends object>(target: T, name: string, wrapper: (original: AnyFunction) => AnyFunction): boolean {
  const original = (target as Record<string, unknown>)[name];
  if (typeof original !== 'function') return false;
  if ((original as { __wrapped?: boolean }).__wrapped === true) return false;
  shimmer.wrap(target as Record<string, AnyFunction>, name, (orig: AnyFunction) => {
    const wrapped = wrapper(orig);
    Object.defineProperty(wrapped, 'name', { value: orig.name, configurable: true });
    Object.defineProperty(wrapped, 'length', { value: orig.length, configurable: true });
    return wrapped;
  });
  return true;
}

export function unwrap<T extends object>(target: T | undefined | null, name: string): void {
  if (target == null) return;
  // The own descriptor, never `target[name]`: reading an accessor on a prototype can run (and throw in)
  // a getter; `wrap` only ever sets own data properties.
  const current = Object.getOwnPropertyDescriptor(target, name)?.value as { __wrapped?: boolean } | undefined;
  if (current !== undefined && current.__wrapped === true) {
    shimmer.unwrap(target as Record<string, AnyFunction>, name);
  }
}
