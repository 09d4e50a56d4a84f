import fs from 'node:fs';
import path from 'node:path';
import { Tracer as OpenTracingTracer } from 'opentracing';
import type { Tracer } from 'opentracing';
import type { Context, SpanOptions, TextMapPropagator, Tracer as OtelTracer } from '@opentelemetry/api';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { suppressTracing } from '../context';
import { log, warnOnce } from '../logger';
import { isLocalRoot, SpanRecord, toRecord } from './records';
import { renderTrace } from './waterfall';

/* eslint-disable @typescript-eslint/no-require-imports */

export type TracerMode = 'none' | 'console' | 'otlp' | 'zipkin' | 'jsonl';

export interface DefaultTracer {
  tracer: Tracer;
  /** Exports what is pending; resolves within `timeoutMs` even if a collector hangs. */
  flush(timeoutMs?: number): Promise<void>;
  shutdown(): Promise<void>;
}

/** OT_SERVICE_NAME, else OTEL_SERVICE_NAME, else the name in the app's package.json. */
export function serviceName(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OT_SERVICE_NAME) return env.OT_SERVICE_NAME;
  if (env.OTEL_SERVICE_NAME) return env.OTEL_SERVICE_NAME;
  let dir = process.argv[1] ? path.dirname(path.resolve(process.argv[1])) : process.cwd();
  for (;;) {
    try {
      const name = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name;
      if (typeof name === 'string' && name !== '') return name;
    } catch {
      // no package.json here: look further up
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown_service:node';
    dir = up;
  }
}

/** W3C trace context by default; OT_PROPAGATION=tracecontext,b3,jaeger picks the formats injected and accepted. */
export function propagatorFor(env: NodeJS.ProcessEnv = process.env): TextMapPropagator {
  const core = require('@opentelemetry/core');
  const names = (env.OT_PROPAGATION ?? 'tracecontext').split(',').map((n) => n.trim().toLowerCase()).filter(Boolean);
  const propagators: TextMapPropagator[] = [];
  for (const name of names) {
    if (name === 'tracecontext' || name === 'w3c') propagators.push(new core.W3CTraceContextPropagator());
    else if (name === 'b3') {
      const b3 = require('@opentelemetry/propagator-b3');
      propagators.push(new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.MULTI_HEADER }));
    } else if (name === 'b3single') propagators.push(new (require('@opentelemetry/propagator-b3').B3Propagator)());
    else if (name === 'jaeger') propagators.push(new (require('@opentelemetry/propagator-jaeger').JaegerPropagator)());
    else if (name === 'baggage') propagators.push(new core.W3CBaggagePropagator());
    else warnOnce(`OT_PROPAGATION names unknown format "${name}" (ignored); known: tracecontext, b3, b3single, jaeger, baggage`);
  }
  if (propagators.length === 0) propagators.push(new core.W3CTraceContextPropagator());
  return new core.CompositePropagator({ propagators });
}

/** Runs exports with tracing suppressed (the exporter's own HTTP is never traced) and reports failures once. */
function guardedExporter(exporter: SpanExporter, target: string): SpanExporter {
  return {
    export(spans, done) {
      suppressTracing(() => {
        try {
          exporter.export(spans, (result) => {
            if (result.code !== 0) warnOnce(`cannot export spans to ${target}: ${result.error?.message ?? 'export failed'} (the app keeps running; spans are dropped)`);
            done(result);
          });
        } catch (err) {
          warnOnce(`cannot export spans to ${target}: ${(err as Error).message}`);
          done({ code: 1, error: err as Error });
        }
      });
    },
    shutdown: () => suppressTracing(() => exporter.shutdown()),
    forceFlush: exporter.forceFlush ? () => suppressTracing(() => exporter.forceFlush!()) : undefined,
  };
}

/** Prints each trace as a waterfall on stderr when its local root span finishes. */
class ConsoleWaterfallProcessor implements SpanProcessor {
  private readonly pending = new Map<string, SpanRecord[]>();
  constructor(private readonly service: string, private readonly out: NodeJS.WriteStream = process.stderr) {}
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    const record = toRecord(span, this.service);
    const list = this.pending.get(record.traceId) ?? [];
    list.push(record);
    if (!isLocalRoot(span)) {
      this.pending.set(record.traceId, list);
      if (this.pending.size > 10000) this.pending.delete(this.pending.keys().next().value as string);
      return;
    }
    this.pending.delete(record.traceId);
    this.out.write(renderTrace(list, { color: this.out.isTTY === true }));
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Appends one JSON object per finished span to a file (synchronously: nothing is lost at exit). */
class JsonlProcessor implements SpanProcessor {
  private fd: number | undefined;
  constructor(private readonly file: string, private readonly service: string) {}
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    try {
      this.fd ??= fs.openSync(this.file, 'a');
      fs.writeSync(this.fd, JSON.stringify(toRecord(span, this.service)) + '\n');
    } catch (err) {
      warnOnce(`cannot write spans to ${this.file}: ${(err as Error).message}`);
    }
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    return Promise.resolve();
  }
}

let pendingKind: SpanKind | undefined;

const KINDS: Record<string, SpanKind> = {
  client: SpanKind.CLIENT,
  server: SpanKind.SERVER,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

/** Gives the OpenTelemetry span the kind of its `span.kind` tag, which the shim leaves as INTERNAL. */
function kindAwareTracer(tracer: OtelTracer): OtelTracer {
  return {
    startSpan(name: string, options?: SpanOptions, context?: Context) {
      return tracer.startSpan(name, pendingKind === undefined ? options : { ...options, kind: pendingKind }, context);
    },
    startActiveSpan: tracer.startActiveSpan.bind(tracer) as OtelTracer['startActiveSpan'],
  };
}

function buildShim(otelTracer: OtelTracer, propagator: TextMapPropagator): Tracer {
  const { TracerShim } = require('@opentelemetry/shim-opentracing') as typeof import('@opentelemetry/shim-opentracing');
  class KindAwareShim extends TracerShim {
    override startSpan(name: string, options: import('opentracing').SpanOptions = {}): import('opentracing').Span {
      const kind = options.tags?.['span.kind'];
      pendingKind = typeof kind === 'string' ? KINDS[kind] : undefined;
      try {
        return super.startSpan(name, options);
      } finally {
        pendingKind = undefined;
      }
    }
  }
  return new KindAwareShim(kindAwareTracer(otelTracer), { textMapPropagator: propagator, httpHeadersPropagator: propagator }) as Tracer;
}

function loadUserTracer(spec: string): Tracer {
  const resolved = require.resolve(spec, { paths: [process.cwd()] });
  let loaded = require(resolved);
  if (loaded && typeof loaded === 'object' && 'default' in loaded && !(loaded instanceof OpenTracingTracer)) loaded = loaded.default;
  const tracer = typeof loaded === 'function' && !(loaded.prototype instanceof OpenTracingTracer) ? loaded() : loaded;
  if (tracer === null || typeof tracer !== 'object' || typeof tracer.startSpan !== 'function' || typeof tracer.inject !== 'function') {
    throw new Error(`${spec} exports neither an OpenTracing Tracer nor a function returning one`);
  }
  return tracer as Tracer;
}

/** Builds the tracer that OT_TRACER asks for, or undefined (unset, `none`, or a value that cannot work). */
export function createTracerFromEnv(env: NodeJS.ProcessEnv = process.env): DefaultTracer | undefined {
  const mode = (env.OT_TRACER ?? '').trim();
  if (mode === '' || mode === 'none') return undefined;
  const service = serviceName(env);
  const builtIn = ['console', 'otlp', 'zipkin', 'jsonl'];
  if (!builtIn.includes(mode)) {
    try {
      const tracer = loadUserTracer(mode);
      return { tracer, flush: async () => undefined, shutdown: async () => undefined };
    } catch (err) {
      warnOnce(`OT_TRACER=${mode}: not one of ${builtIn.join(', ')}, none, nor a loadable tracer module (${(err as Error).message.split('\n')[0]}); tracing is off, the app runs as usual`);
      return undefined;
    }
  }
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const processors: SpanProcessor[] = [];
  if (mode === 'console') processors.push(new ConsoleWaterfallProcessor(service));
  else if (mode === 'jsonl') {
    const file = env.OT_TRACER_FILE ?? path.resolve('traces.jsonl');
    processors.push(new JsonlProcessor(file, service));
  } else if (mode === 'otlp') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
    const target = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318';
    processors.push(new BatchSpanProcessor(guardedExporter(new OTLPTraceExporter(), target)));
  } else {
    const { ZipkinExporter } = require('@opentelemetry/exporter-zipkin');
    const url = env.OT_ZIPKIN_URL ?? 'http://localhost:9411/api/v2/spans';
    processors.push(new BatchSpanProcessor(guardedExporter(new ZipkinExporter({ url, serviceName: service }), url)));
  }
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: processors });
  const tracer = buildShim(provider.getTracer('opentracing-client-hooks'), propagatorFor(env));
  log('tracer %s for service %s', mode, service);
  const flush = (timeoutMs = 3000): Promise<void> =>
    Promise.race([
      provider.forceFlush().catch(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]).then(() => undefined);
  return { tracer, flush, shutdown: () => provider.shutdown() };
}

/**
 * Flushes on normal exit (beforeExit) and on SIGTERM/SIGINT. A signal the app does not handle itself is
 * re-raised after the flush, so the process ends as it would have; one the app handles is left to it.
 */
export function flushOnExit(defaultTracer: DefaultTracer): void {
  let flushing: Promise<void> | undefined;
  process.once('beforeExit', () => {
    flushing ??= defaultTracer.flush();
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      const appHandles = process.listenerCount(signal) > 1;
      flushing ??= defaultTracer.flush();
      if (appHandles) return;
      void flushing.then(() => {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
}
