/**
 * Calls `fn` with `thisArg` and a call's own `arguments` object as they came (no copy; the same count,
 * `undefined` ones included): how a wrapper runs what it wraps. It is `Reflect.apply` itself, typed for
 * the `arguments` object, which TypeScript will not take as an argument list; so it adds no stack frame.
 */
export const applyArgs: <R>(fn: (...args: any[]) => R, thisArg: unknown, args: IArguments) => R = Reflect.apply;
