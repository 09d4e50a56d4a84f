/**
 * OpenTelemetry's own diagnostics (its `diag` API: the exporters' and resource detectors' configuration
 * warnings, such as `OTEL_EXPORTER_OTLP_TIMEOUT=5s` refused) through the project's log: warnings and
 * errors on stderr, once each, the rest in the debug log. Set up with the exporter, and only when no diag
 * logger is set: an app's own is never replaced.
 */
import { format } from 'node:util';
import type { DiagLogger, DiagLogLevel } from '@opentelemetry/api';
import { withoutCollectorSecrets } from '../export-targets';
import { debugEnabled, log, warnOnce } from '../logger';

/* eslint-disable @typescript-eslint/no-require-imports -- @opentelemetry/api loads with the exporter, not at start-up */

/** Where @opentelemetry/api 1.x keeps its globals, the diag logger among them. */
const API_GLOBALS = Symbol.for('opentelemetry.js.api.1');

let routed = false;
/** Warnings already printed, their numbers left out: a count that changes makes no new line. */
const warned = new Set<string>();

/**
 * Routes OpenTelemetry's diag output to the project's log, once, unless a diag logger is set already.
 * `OTEL_LOG_LEVEL=none` keeps it silent and `error` keeps only errors, as in the SDK.
 */
export function routeOpenTelemetryDiagnostics(env: NodeJS.ProcessEnv = process.env): void {
  if (routed) return;
  routed = true;
  if ((globalThis as { [API_GLOBALS]?: { diag?: unknown } })[API_GLOBALS]?.diag !== undefined) return;
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const level = diagLevel(env, api.DiagLogLevel);
  if (level === api.DiagLogLevel.NONE) return;
  const problem = (message: string, ...args: unknown[]): void => report(true, message, args);
  const detail = (message: string, ...args: unknown[]): void => report(false, message, args);
  const logger: DiagLogger = { error: problem, warn: problem, info: detail, debug: detail, verbose: detail };
  api.diag.setLogger(logger, { logLevel: level, suppressOverrideMessage: true });
}

function diagLevel(env: NodeJS.ProcessEnv, levels: typeof DiagLogLevel): DiagLogLevel {
  if (debugEnabled()) return levels.ALL;
  const asked = (env.OTEL_LOG_LEVEL ?? '').trim().toLowerCase();
  return asked === 'none' ? levels.NONE : asked === 'error' ? levels.ERROR : levels.WARN;
}

function report(problem: boolean, message: string, args: unknown[]): void {
  const text = withoutCollectorSecrets(format(message, ...args));
  const exception = problem ? exceptionOf(text) : undefined;
  // An app's diag logger set later replaces ours (OpenTelemetry tells the one replaced, with a stack);
  // an exception handed to OpenTelemetry's error handler is a failed export, which the exporter reports.
  if (!problem || exception !== undefined || text.startsWith('Current logger will be overwritten')) {
    log('OpenTelemetry: %s', exception ?? text);
    return;
  }
  // One line on stderr (an error's stack, a response body after it: the debug log only).
  const newline = text.indexOf('\n');
  const line = newline === -1 ? text : text.slice(0, newline);
  if (newline !== -1) log('OpenTelemetry: %s', text);
  const key = line.replace(/\d+/g, '#');
  if (warned.has(key)) return;
  warned.add(key);
  warnOnce(`OpenTelemetry: ${line}`);
}

/** `name: message` of an error as OpenTelemetry's error handler writes it (its fields as JSON), else undefined. */
function exceptionOf(text: string): string | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const fields = JSON.parse(text) as { name?: unknown; message?: unknown };
    return typeof fields.message === 'string' ? `${typeof fields.name === 'string' ? fields.name : 'Error'}: ${fields.message}` : undefined;
  } catch {
    return undefined;
  }
}
