/** Test cases that several hooks' own tests share. */
import assert from 'node:assert/strict';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import type { HookName, HookOptionsByName, HooksConfig } from '../../src';
import { getEach } from './servers';
import type { RecordedSpan, RecordingTracer } from './tracer';

/**
 * `requireParent: true`: `call` makes no span without an active span, and its span(s) under one. The hook
 * is installed again without the option afterwards (the suite's own install).
 */
export function assertRequireParent(tracer: RecordingTracer, hook: HookName, call: () => Promise<unknown>): Promise<void> {
  return withHookOptions(tracer, hook, { requireParent: true }, async () => {
    await call();
    assert.equal(tracer.started.length, 0);
    const parent = tracer.startSpan('p');
    await withSpan(parent, call);
    parent.finish();
    await tracer.waitFor(2);
  });
}

/** Runs `body` with `hooks` installed with `config`, then installs them again with `tracer` alone (the suite's own install). */
export async function withInstall(tracer: RecordingTracer, hooks: HookName[], config: HooksConfig, body: () => Promise<void>): Promise<void> {
  uninstallAllPatches();
  installPatches(hooks, config);
  try {
    await body();
  } finally {
    uninstallAllPatches();
    installPatches(hooks, { tracer });
  }
}

/** Runs `body` with `hook` installed with `options`, then installs it again without them (the suite's own install). */
export function withHookOptions<H extends HookName>(tracer: RecordingTracer, hook: H, options: HookOptionsByName[H], body: () => Promise<void>): Promise<void> {
  return withInstall(tracer, [hook], { tracer, hooks: { [hook]: options } }, body);
}

/** Runs `fn` under a new span `name` (its parent, handed to it), finished once `fn` settled. */
export async function underSpan<T>(tracer: RecordingTracer, fn: (parent: RecordedSpan) => T | Promise<T>, name = 'parent'): Promise<{ parent: RecordedSpan; result: T }> {
  const parent = tracer.startSpan(name) as RecordedSpan;
  try {
    return { parent, result: await withSpan(parent, () => fn(parent)) };
  } finally {
    parent.finish();
  }
}

/** underSpan, then waits until every span finished. */
export async function settledUnder<T>(tracer: RecordingTracer, fn: () => T | Promise<T>): Promise<{ parent: RecordedSpan; result: T }> {
  const traced = await underSpan(tracer, fn);
  await tracer.settle();
  return traced;
}

/** SQL hook options that record what is sent as it is: values as `db.params`, literals kept, 20 characters. */
export const verbatimSql = { captureParameters: true, sanitizeStatement: false, maxStatementLength: 20 } as const;

/**
 * `n` concurrent requests of `/<i>` to a traced server at `url` that answers each with its `i`; once every
 * span finished, the server spans (one per request) by span id.
 */
export async function concurrentRequests(tracer: RecordingTracer, url: string, n: number): Promise<Map<string, RecordedSpan>> {
  const bodies = await getEach(url, n);
  assert.deepEqual(bodies, Array.from({ length: n }, (_, i) => String(i)));
  await tracer.settle(10000);
  const servers = new Map(tracer.ofKind('server').map((s) => [s.id, s]));
  assert.equal(servers.size, n);
  return servers;
}

/** The operation name of the span active now, if any. */
export function activeSpanName(): string | undefined {
  return (currentSpan() as RecordedSpan | undefined)?.operationName;
}

/**
 * Where a SQL driver runs the callbacks of calls a hook leaves untraced (run it with `requireParent`):
 * request-A opens the pool's one connection with `open`; then each of `calls` (no request) and, in
 * request-B under `suppressTracing`, `suppressed` call their `report` from the callback or event under
 * test. Returns the span active at each report, by name (`suppressed` for the last).
 */
export async function untracedCallbackContexts(
  tracer: RecordingTracer,
  open: () => Promise<unknown>,
  calls: Record<string, (report: () => void) => unknown>,
  suppressed: (report: () => void) => unknown,
): Promise<Record<string, string | undefined>> {
  const seen: Record<string, string | undefined> = {};
  const reported = (name: string, call: (report: () => void) => unknown): Promise<void> =>
    new Promise((resolve) => {
      call(() => resolve(void (seen[name] = activeSpanName())));
    });
  const requestA = tracer.startSpan('request-A');
  await withSpan(requestA, open);
  requestA.finish();
  for (const [name, call] of Object.entries(calls)) await reported(name, call);
  const requestB = tracer.startSpan('request-B');
  await withSpan(requestB, () => suppressTracing(() => reported('suppressed', suppressed)));
  requestB.finish();
  return seen;
}
