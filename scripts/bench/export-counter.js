'use strict';
/**
 * Spans handed to the exporter in this process, shared through a global symbol so that the preload
 * (drop-otlp-export.js) and the measuring code see one counter whichever copy loads it.
 */
const KEY = Symbol.for('opentracing-client-hooks.bench.exportCounter');
globalThis[KEY] ??= { spans: 0, batches: 0, otlpPatched: false, error: undefined };
module.exports = globalThis[KEY];
