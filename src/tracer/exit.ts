/**
 * What the built-in tracer does when the process ends: it flushes at `beforeExit`, and on SIGTERM/SIGINT
 * only alongside a listener that something else put there.
 *
 * It never listens for a signal on its own account: a process with a JavaScript listener for SIGTERM
 * (or SIGINT) no longer ends by the signal's default action, which kills it at once, even in the middle of
 * synchronous work; the listener runs when the main thread is free, and a signal that arrives while the
 * process is busy and about to end by itself is never handled at all. So with no listener of the app's,
 * the signal does exactly what it does untraced, and spans not yet exported are lost (as with
 * OpenTelemetry's SDK, which registers no signal handler). When the app, or a library such as
 * signal-exit, listens for the signal, the tracer's listener rides along (first, so that it sees the
 * listeners the signal found) and starts a flush.
 */

import { warnOnce } from '../logger';

/** What the exit handling needs of the tracer. */
export interface Flushable {
  /** Exports what is pending; resolves within `timeoutMs` even if a collector hangs: with true if it finished by then. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops waiting for the exports under way. */
  release(): void;
  /** How many spans have gone to an exporter so far. */
  spansEnded(): number;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
type ExitSignal = (typeof SIGNALS)[number];

/** How long the flush on a signal may hold back the signal's end of the process. */
const SIGNAL_FLUSH_MS = 1000;
/** How long the flushes at exit may keep the process alive, all together. */
const EXIT_FLUSH_MS = 3000;

/**
 * How many listeners signal-exit has on each of its signals: v3 counts its loaded copies in
 * `process.__signal_exit_emitter__.count`, v4 in the emitter at `Symbol.for('signal-exit emitter')`.
 * Each one re-raises the signal only when its own listeners are all the process has.
 */
function signalExitListeners(): number {
  let count = 0;
  for (const emitter of [(process as any).__signal_exit_emitter__, (globalThis as any)[Symbol.for('signal-exit emitter')]]) {
    if (emitter !== null && typeof emitter === 'object' && typeof emitter.count === 'number' && emitter.count > 0) count += emitter.count;
  }
  return count;
}

/** `tracer.flush(timeoutMs)`, which never throws nor rejects (a flush that fails is over). */
function flushed(tracer: Flushable, timeoutMs: number): Promise<boolean> {
  try {
    return tracer.flush(timeoutMs).catch(() => true);
  } catch {
    return Promise.resolve(true);
  }
}

/**
 * Holds the process (a timer that keeps the event loop alive) while `tracer` flushes, `budgetMs` at most
 * (what is left of `limitMs`, the bound the message names):
 * the exporter's own sockets and timers do not keep it alive (./detached-exporter), so past the budget
 * the process ends, and what is still being exported is dropped (said once on stderr).
 */
function heldFlush(tracer: Flushable, budgetMs: number, when: string, limitMs = budgetMs): Promise<void> {
  return new Promise((resolve) => {
    const hold = setTimeout(() => {
      try {
        tracer.release();
      } catch {
        // nothing more to give up
      }
      warnOnce(`the export of spans ${when} did not finish within ${limitMs / 1000} s: the spans still being exported are dropped`);
      resolve();
    }, budgetMs);
    void flushed(tracer, budgetMs).then((finished) => {
      if (!finished) return; // the hold's end says so
      clearTimeout(hold);
      resolve();
    });
  });
}

/**
 * The tracer's listener for `signal`, there only while another is. On the signal it starts a flush. If
 * the other listeners are all signal-exit's (which would have re-raised the signal, had ours not been
 * there), it re-raises the signal itself once the flush is over (SIGNAL_FLUSH_MS at most), without its
 * own listener: signal-exit then runs its exit handlers and re-raises it, and the process ends by the
 * signal as it would have untraced. If the app handles the signal, ours steps aside at once and what
 * happens next is the app's to say.
 */
function rideAlong(tracer: Flushable, signal: ExitSignal): void {
  let attached = false;
  let raising = false;
  const raise = (): void => {
    detach();
    process.kill(process.pid, signal);
  };
  const onSignal = (): void => {
    // Ours is first: the listeners counted are those the signal found.
    const appHandles = process.listenerCount(signal) - 1 > signalExitListeners();
    if (appHandles) {
      // Gone before the listeners after ours run: they find the process as it would be untraced (a
      // signal-exit listener that finds itself alone, after the app's once listener, re-raises the signal).
      detach();
      void flushed(tracer, SIGNAL_FLUSH_MS);
      return;
    }
    if (raising) return raise(); // the same signal again: at once
    raising = true;
    void heldFlush(tracer, SIGNAL_FLUSH_MS, `on ${signal}`).then(raise);
  };
  const attach = (): void => {
    if (attached || raising) return;
    attached = true;
    process.prependListener(signal, onSignal);
  };
  function detach(): void {
    if (!attached) return;
    attached = false;
    process.removeListener(signal, onSignal);
  }
  /** After a listener was put before ours (prependListener), ours goes first again. */
  const keepFirst = (): void => {
    if (!attached || process.rawListeners(signal)[0] === onSignal) return;
    process.removeListener(signal, onSignal);
    process.prependListener(signal, onSignal);
    attached = true;
  };
  process.on('newListener', (event: string | symbol, listener: unknown) => {
    if (event !== signal || listener === onSignal) return;
    if (attached) queueMicrotask(keepFirst);
    else attach();
  });
  process.on('removeListener', (event: string | symbol, listener: unknown) => {
    if (event !== signal) return;
    if (listener === onSignal) attached = false; // by us, or by the app's removeAllListeners
    else if (attached && process.listenerCount(signal) === 1) detach();
  });
  if (process.listenerCount(signal) > 0) attach();
}

/**
 * Flushes at each beforeExit after which spans ended, those of the app's own beforeExit listeners
 * included. A flush keeps the event loop alive, so beforeExit comes again after it, and the app's
 * listeners run again (untraced, they would not have): spans that they make then, and nothing else of
 * the app's since the last beforeExit, go unflushed, else the process would never end. The flushes at
 * exit hold the process EXIT_FLUSH_MS at most, all together.
 */
function flushAtBeforeExit(tracer: Flushable): void {
  let budget = EXIT_FLUSH_MS;
  /** Spans ended when the last flush at exit began. */
  let flushed = 0;
  /** Spans ended when the last beforeExit's listeners had run. */
  let afterListeners: number | undefined;
  process.on('beforeExit', () => {
    // Ours is the first listener: spans ended since the last beforeExit's listeners were the app's work.
    const appWorked = afterListeners === undefined || tracer.spansEnded() > afterListeners;
    process.nextTick(() => {
      // after the app's own beforeExit listeners
      const ended = (afterListeners = tracer.spansEnded());
      if (!appWorked || ended === flushed || budget <= 0) return;
      flushed = ended;
      const started = Date.now();
      void heldFlush(tracer, budget, 'at exit', EXIT_FLUSH_MS).then(() => (budget -= Date.now() - started));
    });
  });
}

/**
 * Flushes at normal exit (beforeExit), and on SIGTERM/SIGINT while something else listens for them
 * (`rideAlong`); the process ends by a signal as it would have untraced.
 */
export function flushOnExit(tracer: Flushable): void {
  flushAtBeforeExit(tracer);
  for (const signal of SIGNALS) rideAlong(tracer, signal);
}
