import type { Debugger } from 'debug';

const NAMESPACE = 'opentracing-client-hooks';

/** Whether DEBUG (read once, at start-up) can name our namespace: only then is `debug` loaded at all. */
const mayDebug = /opentracing|\*/.test(process.env.DEBUG ?? '');
let debugLog: Debugger | undefined;

function debugLogger(): Debugger {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- debug loads with the first log line, not at start-up
  debugLog ??= (require('debug') as typeof import('debug'))(NAMESPACE);
  return debugLog;
}

/** Debug logger: enable with DEBUG=opentracing-client-hooks* (loads `debug` only then, to keep start-up short). */
export function log(formatter: string, ...args: unknown[]): void {
  if (mayDebug) debugLogger()(formatter, ...args);
}

/** Whether the debug log is on. */
export function debugEnabled(): boolean {
  return mayDebug && debugLogger().enabled;
}

const reported = new Set<string>();

/** Reports a fault once per `where`, so that a broken tracer cannot flood the log. */
export function reportOnce(where: string, err: unknown): void {
  if (reported.has(where)) return;
  reported.add(where);
  log('fault in %s (reported once): %O', where, err);
}

/** Emits a warning on stderr once per message. */
const warned = new Set<string>();
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`opentracing-client-hooks: ${message}\n`);
}
