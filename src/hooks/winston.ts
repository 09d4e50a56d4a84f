/**
 * winston 3: every record logged while a span is active names its trace and span (log correlation),
 * before the logger's formats run. The span logic is in ../tracing/winston, loaded when winston is.
 */
import type { LogHookOptions } from '../cores/log-correlation';
import { defineHook } from '../registry/define';

export const winstonHook = defineHook<'winston', LogHookOptions, typeof import('../tracing/winston')>({
  name: 'winston',
  summary: 'winston: trace_id, span_id and trace_flags in every record logged inside a span',
  tracing: () => require('../tracing/winston'),
  targets: [{ module: 'winston', file: 'lib/winston/logger', versions: '>=3.0.0 <4', patch: 'patchLogger' }],
});
