/**
 * Tracing a database command that reports its end through its own `emit` ('error', then 'end'): mysql2's
 * and mysql's queries without a callback, streams and 'result' listeners included. The command's emit is
 * replaced on the object itself (the same object stays the app's), so that no listener of ours changes
 * how an unhandled 'error' behaves, and its listeners run in the caller's context.
 */
import { EventEmitter } from 'node:events';
import type { RequestContext } from '../context';
import { storage } from '../context';
import { DbCall, runInContext } from './db-call';
import { applyArgs } from '../apply-args';

const kCycle = Symbol('opentracing-client-hooks.emitterCycle');
const kEmit = Symbol('opentracing-client-hooks.emitterEmit');

type AnyFunction = (...args: any[]) => any;

interface Cycle {
  /** Undefined for a command that makes no span: its listeners still run in the caller's context. */
  call: DbCall | undefined;
  store: RequestContext | undefined;
}

type TracedCommand = {
  [kCycle]?: Cycle;
  [kEmit]?: AnyFunction;
  emit: AnyFunction;
};

function tracedEmit(this: TracedCommand, event: string | symbol): boolean {
  const original = this[kEmit] as AnyFunction;
  const cycle = this[kCycle];
  if (cycle === undefined) return applyArgs(original, this, arguments);
  if (event === 'error') cycle.call?.fail(arguments[1]);
  else if (event === 'end') {
    this[kCycle] = undefined;
    cycle.call?.succeed();
  }
  return runInContext(cycle.store, original, this, arguments);
}

/**
 * Traces one run of `cmd` through its emit (without `call`, only its listeners' context is kept); the same
 * object stays. Not an emitter: the span covers the call alone.
 */
export function traceEmitter(cmd: unknown, call: DbCall | undefined, store: RequestContext | undefined = storage.getStore()): void {
  if (!(cmd instanceof EventEmitter)) {
    call?.succeed();
    return;
  }
  const traced = cmd as unknown as TracedCommand;
  if (traced[kEmit] === undefined) {
    Object.defineProperty(traced, kEmit, { value: traced.emit, writable: true, configurable: true });
    Object.defineProperty(traced, kCycle, { value: undefined, writable: true, configurable: true });
    Object.defineProperty(traced, 'emit', { value: tracedEmit, writable: true, configurable: true });
  }
  // A command run again before its last run ended: that span ends now.
  traced[kCycle]?.call?.succeed();
  traced[kCycle] = { call, store };
}

/** The call of a command still being traced through its emit, taken off it (for a connection that drops it). */
export function takeEmitterCall(cmd: unknown): DbCall | undefined {
  if (cmd === null || typeof cmd !== 'object') return undefined;
  const traced = cmd as TracedCommand;
  const cycle = traced[kCycle];
  if (cycle === undefined) return undefined;
  traced[kCycle] = undefined;
  return cycle.call;
}
