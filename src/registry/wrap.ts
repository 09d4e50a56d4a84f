/**
 * Layered wrapping. Each wrap puts one layer of ours on top of whatever is there (the original, or another
 * instrumentation's wrapper) and is recorded, so that uninstall removes exactly our layers. A layer that
 * someone else wrapped over after us cannot be taken out without removing theirs: it stays, and passes
 * through because its hook is no longer enabled.
 */
import { log } from '../logger';

type AnyFunction = (...args: any[]) => any;

/** Marks our wrappers (never shimmer's `__wrapped`, which other instrumentations read and act on). */
const kLayer = Symbol('opentracing-client-hooks.layer');

interface Layer {
  readonly target: object;
  readonly name: PropertyKey;
  /** The function the layer stands in for. */
  readonly original: AnyFunction;
  readonly wrapper: AnyFunction;
  /** The own descriptor replaced, or undefined when the function was inherited. */
  readonly replaced: PropertyDescriptor | undefined;
}

/** The function a property holds, read without running getters anywhere on the prototype chain. */
function dataValue(target: object, name: PropertyKey): { value: unknown; own: PropertyDescriptor | undefined } | undefined {
  const own = Object.getOwnPropertyDescriptor(target, name);
  if (own !== undefined) return 'value' in own ? { value: own.value, own } : undefined;
  for (let proto = Object.getPrototypeOf(target); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (d !== undefined) return 'value' in d ? { value: d.value, own: undefined } : undefined;
  }
  return undefined;
}

/**
 * Gives `wrapper` the `name` and `length` of `original`, the function it stands in for, and returns it:
 * code that inspects a function (a framework naming a handler in its errors, arity checks) sees the
 * original's. Every wrapper of a library's or an app's function goes through this.
 */
export function asWrapperOf<W extends AnyFunction>(original: AnyFunction, wrapper: W): W {
  try {
    return withNameAndLength(wrapper, original.name, original.length);
  } catch {
    // A function whose name or length cannot be read keeps the wrapper's own.
    return wrapper;
  }
}

/** Gives `wrapper` this name and length; redefining either costs about a microsecond, so only what differs is. */
function withNameAndLength<W extends AnyFunction>(wrapper: W, name: string, length: number): W {
  if (wrapper.name !== name) Object.defineProperty(wrapper, 'name', { value: name, configurable: true });
  if (wrapper.length !== length) Object.defineProperty(wrapper, 'length', { value: length, configurable: true });
  return wrapper;
}

type CallbackBody = (self: unknown, args: IArguments) => unknown;

/** Anonymous wrappers with 0 to 4 parameters: one made with the callback's arity needs no `length` redefined. */
const BY_ARITY: ReadonlyArray<(body: CallbackBody) => AnyFunction> = [
  (body) =>
    function (this: unknown) {
      return body(this, arguments);
    },
  (body) =>
    function (this: unknown, _a: unknown) {
      return body(this, arguments);
    },
  (body) =>
    function (this: unknown, _a: unknown, _b: unknown) {
      return body(this, arguments);
    },
  (body) =>
    function (this: unknown, _a: unknown, _b: unknown, _c: unknown) {
      return body(this, arguments);
    },
  (body) =>
    function (this: unknown, _a: unknown, _b: unknown, _c: unknown, _d: unknown) {
      return body(this, arguments);
    },
];

/**
 * `asWrapperOf` for a wrapper made per call (a callback handed to a library): `body(this, arguments)` in
 * a function made with `callback`'s number of parameters, so that the usual callback (anonymous, up to
 * four parameters) costs no property redefined at all.
 */
export function callbackWrapper(callback: AnyFunction, body: CallbackBody): AnyFunction {
  let name: string;
  let length: number;
  try {
    // Each read once, as asWrapperOf reads them.
    name = callback.name;
    length = callback.length;
  } catch {
    return BY_ARITY[0](body);
  }
  return withNameAndLength((BY_ARITY[length] ?? BY_ARITY[0])(body), name, length);
}

export function isOurWrapper(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { [kLayer]?: true })[kLayer] === true;
}

/** The wrapping done by one install of one hook, undone at its uninstall. */
export class Wrapper {
  private readonly layers: Layer[] = [];
  /** Our own wrappers of this install: a function reached again (an ES-module binding of it) is not wrapped twice. */
  private readonly mine = new WeakSet<AnyFunction>();

  constructor(private readonly owner: string) {}

  /**
   * Replaces `target[name]` by `makeWrapper(current)`. `current` is whatever is there now, including
   * another instrumentation's wrapper. Returns false (and changes nothing) when there is no function,
   * or the property cannot be redefined.
   */
  wrap<T extends object>(target: T, name: PropertyKey, makeWrapper: (original: AnyFunction) => AnyFunction): boolean {
    if (target == null) return false;
    const found = dataValue(target, name);
    if (found === undefined || typeof found.value !== 'function') return false;
    const own = found.own;
    if (own !== undefined && own.configurable === false && own.writable === false) {
      log('%s: cannot wrap %s, it is read-only', this.owner, String(name));
      return false;
    }
    const original = found.value as AnyFunction;
    if (this.mine.has(original)) return false;
    const wrapper = asWrapperOf(original, makeWrapper(original));
    Object.defineProperty(wrapper, kLayer, { value: true });
    return this.put({ target, name, original, wrapper, replaced: own });
  }

  /**
   * Gives `target` the layers that this install put on the same properties of `source`: an ES-module
   * namespace, whose bindings are copies of a CommonJS module's exports, gets the layers its
   * `module.exports` got, one per function, taken out at uninstall like any other. A binding that holds
   * the function a layer stands in for gets that layer; one copied with the layer already on is recorded.
   */
  share(source: object, target: object): void {
    for (const layer of this.layers.slice()) {
      if (layer.target !== source || this.layers.some((l) => l.target === target && l.name === layer.name)) continue;
      const own = Object.getOwnPropertyDescriptor(target, layer.name);
      if (own === undefined || !('value' in own)) continue;
      if (own.value === layer.original) this.put({ ...layer, target, replaced: own });
      else if (own.value === layer.wrapper) this.layers.push({ ...layer, target, replaced: { ...own, value: layer.original } });
    }
  }

  /** Puts `layer.wrapper` in place of `layer.replaced` (or over the inherited function) and records it. */
  private put(layer: Layer): boolean {
    const { target, name, wrapper, replaced: own } = layer;
    try {
      if (own !== undefined && own.configurable === false) (target as Record<PropertyKey, unknown>)[name] = wrapper;
      else {
        Object.defineProperty(target, name, {
          value: wrapper,
          writable: own?.writable ?? true,
          enumerable: own?.enumerable ?? false,
          configurable: true,
        });
      }
    } catch (err) {
      log('%s: cannot wrap %s: %O', this.owner, String(name), err);
      return false;
    }
    this.layers.push(layer);
    this.mine.add(wrapper);
    return true;
  }

  /** Takes out every layer of ours that is still on top; the others stay and pass through. */
  unwrapAll(): void {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const { target, name, wrapper, replaced } = this.layers[i];
      const current = Object.getOwnPropertyDescriptor(target, name);
      if (current === undefined || current.value !== wrapper) {
        log('%s: %s was wrapped again over ours; our layer stays and passes through', this.owner, String(name));
        continue;
      }
      try {
        if (replaced === undefined) delete (target as Record<PropertyKey, unknown>)[name];
        else if (current.configurable === false) (target as Record<PropertyKey, unknown>)[name] = replaced.value;
        else Object.defineProperty(target, name, replaced);
      } catch (err) {
        log('%s: cannot unwrap %s: %O', this.owner, String(name), err);
      }
    }
    this.layers.length = 0;
  }
}
