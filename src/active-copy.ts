/**
 * One install per process, however many copies of this package it loads (a preload from a base image or
 * a clone, and the app's own dependency): two installs would wrap every function twice, each call then
 * making two spans. The first copy to install registers itself on `globalThis` under a `Symbol.for` key,
 * the same in every copy (as OpenTelemetry's API and dd-trace do); another copy's install does nothing
 * but warn. Copies of the same generation (below) also share the context (see src/context) and take the
 * active copy's tracer for the app's own spans, so that what the app does through either one parents right.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Tracer } from 'opentracing';

/**
 * The shape of what copies share: the record below and the context's store. A copy of another generation
 * is still refused a second install, but shares nothing else.
 */
export const GENERATION = 1;

const kActive = Symbol.for('opentracing-client-hooks.active');

/** What the active copy registers (generation 1). */
export interface ActiveCopy {
  readonly generation: number;
  /** The copy's package directory, for messages. */
  readonly root: string;
  /** The tracer for the app's own spans (traceFunction, startActiveSpan) as this copy chooses it. */
  appTracer(): Tracer;
  /** This copy's `traced()` middleware. */
  traced(): (a: any, b?: any, c?: any) => any;
}

/** This copy's package directory (the compiled file is in its `dist/`). */
const OWN_ROOT = path.join(__dirname, '..');
let mine: ActiveCopy | undefined;

function registered(): Partial<ActiveCopy> | undefined {
  return (globalThis as { [kActive]?: Partial<ActiveCopy> })[kActive];
}

/** The copy that installed the hooks, when it is another one (of any generation). */
export function otherCopyInstalled(): Partial<ActiveCopy> | undefined {
  const active = registered();
  return active === undefined || active === mine ? undefined : active;
}

/** The copy that installed the hooks, when it is another one of this generation: what it shares can be used. */
export function sharingCopy(): ActiveCopy | undefined {
  const other = otherCopyInstalled();
  return other?.generation === GENERATION ? (other as ActiveCopy) : undefined;
}

/**
 * Registers this copy as the one that installs (when `installing` any hook), unless another copy did:
 * then it says so, once, and returns false (this copy must install nothing).
 */
export function claimInstall(copy: Omit<ActiveCopy, 'generation' | 'root'>, installing: boolean): boolean {
  const other = otherCopyInstalled();
  if (other !== undefined) {
    warnOtherCopy(other);
    return false;
  }
  if (!installing) return true;
  mine ??= { generation: GENERATION, root: OWN_ROOT, ...copy };
  (globalThis as { [kActive]?: ActiveCopy })[kActive] = mine;
  return true;
}

/** At uninstall: another copy may install now. */
export function releaseInstall(): void {
  if (mine !== undefined && registered() === mine) delete (globalThis as { [kActive]?: ActiveCopy })[kActive];
  mine = undefined;
}

/** `root` and its version, as a message names a copy. */
function copyName(root: unknown): string {
  if (typeof root !== 'string') return 'unknown location';
  try {
    return `${JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version} at ${root}`;
  } catch {
    return root;
  }
}

let warned = false;

function warnOtherCopy(other: Partial<ActiveCopy>): void {
  if (warned) return;
  warned = true;
  const shared =
    other.generation === GENERATION
      ? 'its currentSpan, withSpan, suppressTracing, startActiveSpan, traceFunction and traced() work with the spans of the active copy'
      : 'the two copies share no context: spans made active through this copy are not parents of the hooks\' spans';
  process.stderr.write(
    `opentracing-client-hooks: the hooks are installed by another copy of this package (${copyName(other.root)}); ` +
      `this copy (${copyName(OWN_ROOT)}) installs none and leaves its install options unused (one install per process); ${shared}\n`,
  );
}
