/**
 * pino 8–10: every line logged while a span is active names its trace and span (log correlation). The
 * span logic is in ../tracing/pino, loaded when pino is.
 */
import type { LogHookOptions } from '../cores/log-correlation';
import { defineHook } from '../registry/define';

export const pinoHook = defineHook<'pino', LogHookOptions, typeof import('../tracing/pino')>({
  name: 'pino',
  summary: 'pino: trace_id, span_id and trace_flags in every line logged inside a span',
  tracing: () => require('../tracing/pino'),
  // The internal file that holds the loggers' shared prototype (the entry exports a factory).
  targets: [{ module: 'pino', file: 'lib/proto', versions: '>=8.0.0 <11', patch: 'patchProto' }],
});
