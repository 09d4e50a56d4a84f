import type { Debugger } from 'debug';

const NAMESPACE = 'opentracing-client-hooks';

/** OTEL_LOG_LEVEL=debug (or verbose, all): our debug log on, as DEBUG=opentracing-client-hooks* turns it on. */
const otelDebug = /^\s*(debug|verbose|all)\s*$/i.test(process.env.OTEL_LOG_LEVEL ?? '');
/** Whether DEBUG or OTEL_LOG_LEVEL (read once, at start-up) can turn our log on: only then is `debug` loaded at all. */
const mayDebug = otelDebug || /opentracing|\*/.test(process.env.DEBUG ?? '');
let debugLog: Debugger | undefined;

function debugLogger(): Debugger {
  if (debugLog === undefined) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- debug loads with the first log line, not at start-up
    debugLog = (require('debug') as typeof import('debug'))(NAMESPACE);
    if (otelDebug) debugLog.enabled = true;
  }
  return debugLog;
}

/** Debug logger: enable with DEBUG=opentracing-client-hooks* or OTEL_LOG_LEVEL=debug (loads `debug` only then, to keep start-up short). */
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
