'use strict';
/**
 * Preload (`-r`) for the processes that run the built-in tracer (`OT_TRACER=otlp`), loaded before the
 * package's `register`. It makes the OTLP exporter that the built-in tracer uses (the one of
 * OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, http/protobuf by default; patched on OpenTelemetry's
 * `OTLPExporterBase`, which the official exporters and the tracer's own protobuf exporter share) drop each batch
 * in-process (BENCH_EXPORT=noop, the default), or only count it and send it on to the local sink
 * (BENCH_EXPORT=sink). Everything before the POST (hooks, shim, SDK spans, batch processor, the
 * exporter's serialisation of each batch) runs as it does for a user; only the POST is skipped in noop mode.
 *
 * This patches a dependency, not the package: if a rewrite stops using
 * `@opentelemetry/exporter-trace-otlp-proto` (or -http, -grpc), nothing here fails, the batches reach the sink that
 * OTEL_EXPORTER_OTLP_ENDPOINT points to (127.0.0.1), and the report shows "export not dropped in-process".
 */
const path = require('node:path');
const { createRequire } = require('node:module');
const counter = require('./export-counter');

const root = path.resolve(__dirname, '..', '..');
const drop = (process.env.BENCH_EXPORT || 'noop') === 'noop';
const protocol = (process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || process.env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim().toLowerCase();
const exporterPackage = { 'http/json': '@opentelemetry/exporter-trace-otlp-http', grpc: '@opentelemetry/exporter-trace-otlp-grpc' }[protocol] || '@opentelemetry/exporter-trace-otlp-proto';

try {
  const exporterPath = require.resolve(exporterPackage, { paths: [root] });
  const exporterModule = require(exporterPath);
  // The base class of every OTLP exporter: the built-in tracer's http/protobuf exporter is one of it
  // (OpenTelemetry's transport with the tracer's own serialiser), the official ones extend it.
  const { OTLPExporterBase } = createRequire(exporterPath)('@opentelemetry/otlp-exporter-base');
  if (!(exporterModule.OTLPTraceExporter.prototype instanceof OTLPExporterBase)) throw new Error(`${exporterPackage} does not extend OTLPExporterBase`);
  const proto = OTLPExporterBase.prototype;
  const original = proto.export;
  proto.export = function benchExport(spans, done) {
    counter.spans += spans.length;
    counter.batches += 1;
    if (drop) {
      // Written as the exporter would send it, so that every variant pays for its serialisation (the
      // built-in tracer writes each span as it ends, the SDK's exporters each batch here).
      const serializer = this._delegate && this._delegate._serializer;
      if (serializer && typeof serializer.serializeRequest === 'function') serializer.serializeRequest(spans);
      else counter.error ??= 'the OTLP exporter has no serialiser where expected: export dropped without serialising';
      done({ code: 0 });
      return;
    }
    original.call(this, spans, done);
  };
  counter.otlpPatched = true;
  // The user's SDK of the shim and otel variants exports with the same class, so that it is counted too.
  module.exports = { OTLPTraceExporter: exporterModule.OTLPTraceExporter };
} catch (err) {
  counter.error = `cannot patch the OTLP exporter: ${err.message}`;
}
