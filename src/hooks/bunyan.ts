/**
 * bunyan 1 and 2: every record logged while a span is active names its trace and span (log
 * correlation). The span logic is in ../tracing/bunyan, loaded when bunyan is.
 */
import type { LogHookOptions } from '../cores/log-correlation';
import { defineHook } from '../registry/define';

export const bunyanHook = defineHook<'bunyan', LogHookOptions, typeof import('../tracing/bunyan')>({
  name: 'bunyan',
  summary: 'bunyan: trace_id, span_id and trace_flags in every record logged inside a span',
  tracing: () => require('../tracing/bunyan'),
  // The entry (lib/bunyan.js, the Logger itself): as an entry target, the ES-module loader sees it too.
  targets: [{ module: 'bunyan', versions: '>=1.0.0 <3', patch: 'patchLogger' }],
});
