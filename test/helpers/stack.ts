/**
 * Stacks as the app sees them, with the hooks' frames told apart. The call-site stack that mysql appends to a query's error (`trace`, its default): the frames of the
 * code that called `query`, which V8 cuts at `Error.stackTraceLimit` (10 by default), so that each frame
 * of a wrapper there would push one of the app's out. Read whole, to count the wrappers' frames, or cut.
 */
import path from 'node:path';

/** The package's own code, as the tests load it (compiled beside them). */
const OWN_CODE = path.resolve(__dirname, '..', '..', 'src');

export interface CallSite {
  /** The frames of the call site other than the hooks' own, without positions, up to the test's own function. */
  readonly others: string[];
  /** How many of its frames are the hooks' own. */
  readonly own: number;
}

/** The call site of the mysql error that `fails` rejects with, under `stackTraceLimit` (default: every frame of it). */
export async function mysqlCallSite(fails: () => Promise<unknown>, stackTraceLimit = Infinity): Promise<CallSite> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = stackTraceLimit;
  let err: unknown;
  try {
    await fails();
  } catch (e) {
    err = e;
  } finally {
    Error.stackTraceLimit = limit;
  }
  const stack = String((err as { stack?: unknown } | null | undefined)?.stack);
  const at = stack.indexOf('--------------------');
  if (at === -1) throw new Error(`no call-site stack in:\n${stack}`);
  return framesOf(stack.slice(at));
}

/** The frames of `stack`: the hooks' own counted, the others without positions, up to the test's own function. */
export function framesOf(stack: string): CallSite {
  const frames = stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .map((line) => line.trim().replace(/:\d+:\d+\)?$/, ''));
  // Below the test's function, the frames depend on how mocha reached it.
  const test = frames.findIndex((frame) => frame.includes('Context.<anonymous>'));
  const own = frames.filter((frame) => frame.includes(OWN_CODE)).length;
  return { others: frames.slice(0, test === -1 ? frames.length : test + 1).filter((frame) => !frame.includes(OWN_CODE)), own };
}
