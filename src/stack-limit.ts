/**
 * Room in V8's stack traces for a wrapper's own frames: while a wrapper runs code that may take a stack
 * (an error the library keeps, the app's own), Error.stackTraceLimit is raised by the wrapper's frame
 * count, so that every frame the stack holds untraced is still in it. Not when the app set 0 or Infinity.
 */

/** Raises the limit by `frames`; returns the limit it was, or undefined when it was left alone. */
export function raiseStackLimit(frames: number): number | undefined {
  const limit = Error.stackTraceLimit;
  if (typeof limit !== 'number' || limit <= 0 || !Number.isFinite(limit)) return undefined;
  Error.stackTraceLimit = limit + frames;
  return limit;
}

/** Puts back what `raiseStackLimit(frames)` returned, unless the code run in between set a limit of its own. */
export function restoreStackLimit(limit: number | undefined, frames: number): void {
  if (limit !== undefined && Error.stackTraceLimit === limit + frames) Error.stackTraceLimit = limit;
}
