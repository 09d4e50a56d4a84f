import fs from 'node:fs';
import path from 'node:path';
import { Tracer as OpenTracingTracer } from 'opentracing';
import type { Tracer } from 'opentracing';
import type { TextMapPropagator } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { storage, suppressTracing } from '../context';
import { addExportTarget, collectorLabel, withoutCollectorSecrets } from '../export-targets';
import { log, warnOnce } from '../logger';
import { tracerSpec } from '../otel-env';
import { attributeNaming, spanRenamer, withAttributeNames } from './attribute-names';
import type { AttributeNaming } from './attribute-names';
import type { BatchSettings } from './batch-processor';
import { routeOpenTelemetryDiagnostics } from './diagnostics';
import { DeferredResource, detectedResource, otlpExporter, otlpProtocol, otlpTarget, resourceServiceName, zipkinTimeout, zipkinUrl } from './exporters';
import { detachedFromEventLoop, detachedZipkinExporter, ReleasableExporter } from './detached-exporter';
import type { Releasable } from './detached-exporter';

/*
 * Nothing of @opentelemetry/* is loaded at start-up: the built-in tracer (./lean) is our own; its
 * propagators, and its batch processor, exporter (otlp over the protocol asked for, zipkin) and resource,
 * load when the first span starts (or at the first extract, which comes before), only those that
 * OT_TRACER / OTEL_TRACES_EXPORTER and OT_PROPAGATION / OTEL_PROPAGATORS ask for.
 */

/* eslint-disable @typescript-eslint/no-require-imports -- the lean tracer, exporters and processors load when OT_TRACER picks them, not at start-up */

export interface DefaultTracer {
  tracer: Tracer;
  /**
   * Exports what is pending, the exports already under way included; resolves within `timeoutMs` even if
   * a collector hangs: with true if it finished by then.
   */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops waiting for the exports under way (they go on, but no longer keep the process alive): at exit, past the flush's budget. */
  release(): void;
  /** How many spans have gone to an exporter so far (spans that console and jsonl write at once are not counted). */
  spansEnded(): number;
  shutdown(): Promise<void>;
}

/** OT_SERVICE_NAME, else OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES, else the name in the app's package.json. */
export function serviceName(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OT_SERVICE_NAME) return env.OT_SERVICE_NAME;
  if (env.OTEL_SERVICE_NAME) return env.OTEL_SERVICE_NAME;
  const fromResource = resourceServiceName(env);
  if (fromResource !== undefined) return fromResource;
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

/** W3C trace context and baggage by default; OT_PROPAGATION / OTEL_PROPAGATORS pick the formats injected and accepted. */
export function propagatorFor(env: NodeJS.ProcessEnv = process.env): TextMapPropagator {
  return (require('./propagation') as typeof import('./propagation')).propagatorFor(env);
}

/**
 * Keeps the exporter's own traffic untraced: calls to its collector (`target`) make no span, and an
 * export that runs in a request's context runs with tracing suppressed. Outside any context it runs as
 * it is: a suppressed context there would switch AsyncLocalStorage on for the whole process (on Node 20,
 * a hook on every promise) in an app that has no request context for it to track.
 */
function untraced<T>(fn: () => T): T {
  return storage.getStore() === undefined ? fn() : suppressTracing(fn);
}

/** The exporter, its traffic untraced, its failures reported once (without the URL's credentials or query). */
function guardedExporter(exporter: SpanExporter, target: string): SpanExporter {
  addExportTarget(target);
  const label = collectorLabel(target);
  return {
    export(spans, done) {
      untraced(() => {
        try {
          exporter.export(spans, (result) => {
            if (result.code !== 0) warnOnce(`cannot export spans to ${label}: ${withoutCollectorSecrets(result.error?.message ?? 'export failed', target)} (the app keeps running; spans are dropped)`);
            done(result);
          });
        } catch (err) {
          warnOnce(`cannot export spans to ${label}: ${withoutCollectorSecrets((err as Error).message, target)}`);
          done({ code: 1, error: err as Error });
        }
      });
    },
    shutdown: () => untraced(() => exporter.shutdown()),
    forceFlush: exporter.forceFlush ? () => untraced(() => exporter.forceFlush!()) : undefined,
  };
}

/** The OTEL_BSP_* settings, as the SDK's BatchSpanProcessor reads them. */
function batchSettings(env: NodeJS.ProcessEnv): BatchSettings {
  const config: { [key: string]: number } = {};
  for (const [key, name] of [
    ['maxExportBatchSize', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'],
    ['maxQueueSize', 'OTEL_BSP_MAX_QUEUE_SIZE'],
    ['scheduledDelayMillis', 'OTEL_BSP_SCHEDULE_DELAY'],
    ['exportTimeoutMillis', 'OTEL_BSP_EXPORT_TIMEOUT'],
  ]) {
    const raw = env[name];
    if (raw !== undefined && raw.trim() !== '' && !Number.isNaN(Number(raw))) config[key] = Number(raw);
  }
  return config;
}

/**
 * The OpenTelemetry SDK's BatchSpanProcessor, with the OTEL_BSP_* settings it reads from the environment;
 * its forceFlush also waits for the exports under way (the SDK's waits only for those it starts), and
 * `release` stops its waiting for them.
 */
export function batchSpanProcessor(exporter: SpanExporter, env: NodeJS.ProcessEnv = process.env): SpanProcessor & Releasable {
  const releasable = new ReleasableExporter(exporter);
  const processor = sdkBatchSpanProcessor(releasable, env);
  return {
    onStart: (span, context) => processor.onStart(span, context),
    onEnd: (span) => processor.onEnd(span),
    forceFlush: () => processor.forceFlush().then(() => releasable.forceFlush()),
    shutdown: () => processor.shutdown(),
    release: () => releasable.release(),
  };
}

function sdkBatchSpanProcessor(exporter: SpanExporter, env: NodeJS.ProcessEnv): SpanProcessor {
  const config = batchSettings(env);
  try {
    // The processor's own file in @opentelemetry/sdk-trace (what sdk-trace-base re-exports): loading the
    // package index would also load the SDK's Tracer, samplers and @opentelemetry/resources, unused here.
    const base = path.dirname(require.resolve('@opentelemetry/sdk-trace-base/package.json'));
    const sdk = path.dirname(require.resolve('@opentelemetry/sdk-trace/package.json', { paths: [base] }));
    const { BatchSpanProcessor } = require(path.join(sdk, 'build/src/platform/node/export/BatchSpanProcessor.js'));
    if (typeof BatchSpanProcessor === 'function') return new BatchSpanProcessor({ exporter, ...config }) as SpanProcessor;
  } catch {
    // another layout: the package's export below
  }
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  return new BatchSpanProcessor(exporter, config) as SpanProcessor;
}

/** A processor built on first use (the exporter and its dependencies load then, not at start-up). */
class LazyProcessor implements SpanProcessor {
  private target: SpanProcessor | undefined;
  /** `what` names the exporter and `url` its collector, shown without credentials or query. */
  constructor(private readonly what: string, private readonly url: string, private readonly build: () => SpanProcessor) {}
  private create(): SpanProcessor {
    try {
      routeOpenTelemetryDiagnostics(); // before the exporter reads its configuration
      this.target = this.build();
    } catch (err) {
      const message = withoutCollectorSecrets((err as Error).message, this.url);
      warnOnce(`cannot set up ${this.what} for ${collectorLabel(this.url)}: ${message} (the app keeps running; spans are dropped)`);
      this.target = { onStart() {}, onEnd() {}, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
    }
    return this.target;
  }
  /** Builds the processor now (it is otherwise built on the first finished span). */
  prepare(): void {
    if (this.target === undefined) this.create();
  }
  /** Spans that ended so far. */
  ended = 0;
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.ended++;
    (this.target ?? this.create()).onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.target === undefined ? Promise.resolve() : this.target.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.target === undefined ? Promise.resolve() : this.target.shutdown();
  }
  release(): void {
    (this.target as Partial<Releasable> | undefined)?.release?.();
  }
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

/** Every span to each of `processors` (OTEL_TRACES_EXPORTER=otlp,console). */
class FanOutProcessor implements SpanProcessor {
  constructor(readonly processors: SpanProcessor[]) {}
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    for (const processor of this.processors) processor.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return Promise.all(this.processors.map((p) => p.forceFlush())).then(() => undefined);
  }
  shutdown(): Promise<void> {
    return Promise.all(this.processors.map((p) => p.shutdown())).then(() => undefined);
  }
  release(): void {
    for (const processor of this.processors) (processor as Partial<Releasable>).release?.();
  }
}

const BUILT_IN = ['console', 'otlp', 'zipkin', 'jsonl'];
const OTEL_EXPORTERS = ['otlp', 'zipkin', 'console', 'none'];

/**
 * The built-in modes asked for: OT_TRACER's one mode (or a tracer module, returned as it is), else
 * OTEL_TRACES_EXPORTER's list; empty for none.
 */
function modesFromEnv(env: NodeJS.ProcessEnv): string[] | { module: string } {
  const spec = tracerSpec(env);
  if (spec === undefined) return [];
  if (spec.variable === 'OT_TRACER') {
    if (spec.value === 'none') return [];
    return BUILT_IN.includes(spec.value) ? [spec.value] : { module: spec.value };
  }
  const modes = new Set<string>();
  for (const raw of spec.value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (OTEL_EXPORTERS.includes(name)) modes.add(name);
    else warnOnce(`OTEL_TRACES_EXPORTER names unknown exporter "${name}" (ignored); known: ${OTEL_EXPORTERS.join(', ')}`);
  }
  if (modes.has('none')) return [];
  return [...modes];
}

/** The processor of one built-in mode; exporters are built at the first span. */
function processorFor(mode: string, env: NodeJS.ProcessEnv, service: string, naming: AttributeNaming): SpanProcessor {
  if (mode === 'console' || mode === 'jsonl') {
    const processors = require('./processors') as typeof import('./processors');
    return mode === 'console' ? new processors.ConsoleWaterfallProcessor(service) : new processors.JsonlProcessor(env.OT_TRACER_FILE ?? path.resolve('traces.jsonl'), service);
  }
  if (mode === 'otlp') {
    const protocol = otlpProtocol(env);
    return new LazyProcessor(`the OTLP exporter (${protocol})`, otlpTarget(protocol, env), () => {
      // The URL the exporter built: its requests are never traced.
      const built = otlpExporter(protocol, env);
      const url = built.url;
      // Its sockets and retry timers never keep the process alive: the flush at exit holds it, for a bounded time (./exit).
      const exporter = detachedFromEventLoop(built.exporter);
      if (protocol !== 'http/protobuf') return batchSpanProcessor(guardedExporter(withAttributeNames(exporter, naming), url), env);
      // Our own serialiser: spans are written as they end (./batch-processor).
      const { EncodingBatchProcessor } = require('./batch-processor') as typeof import('./batch-processor');
      return new EncodingBatchProcessor(guardedExporter(exporter, url), batchSettings(env), spanRenamer(naming));
    });
  }
  const url = zipkinUrl(env);
  return new LazyProcessor('the Zipkin exporter', url, () => {
    const { ZipkinExporter } = require('@opentelemetry/exporter-zipkin');
    const exporter = detachedZipkinExporter(new ZipkinExporter({ url, serviceName: service }), url, zipkinTimeout(env));
    return batchSpanProcessor(guardedExporter(withAttributeNames(exporter, naming), url), env);
  });
}

/** Builds the tracer that OT_TRACER (else OTEL_TRACES_EXPORTER) asks for, or undefined (unset, `none`, or a value that cannot work). */
export function createTracerFromEnv(env: NodeJS.ProcessEnv = process.env): DefaultTracer | undefined {
  const modes = modesFromEnv(env);
  if (!Array.isArray(modes)) {
    try {
      const tracer = loadUserTracer(modes.module);
      return { tracer, flush: async () => true, release: () => undefined, spansEnded: () => 0, shutdown: async () => undefined };
    } catch (err) {
      warnOnce(`OT_TRACER=${modes.module}: not one of ${BUILT_IN.join(', ')}, none, nor a loadable tracer module (${(err as Error).message.split('\n')[0]}); tracing is off, the app runs as usual`);
      return undefined;
    }
  }
  if (modes.length === 0) return undefined;
  const service = serviceName(env);
  const lean = require('./lean') as typeof import('./lean');
  const propagation = require('./propagation') as typeof import('./propagation');
  propagation.propagationNames(env); // reports unknown names now; the propagators load on first use
  const naming = attributeNaming(env);
  const processors = modes.map((mode) => processorFor(mode, env, service, naming));
  const processor = processors.length === 1 ? processors[0] : new FanOutProcessor(processors);
  const fixed = (): InstanceType<typeof lean.FixedResource> => new lean.FixedResource({ 'service.name': service });
  // Only exported spans carry the detected resource: console and jsonl load nothing for it.
  const resource = processors.some((p) => p instanceof LazyProcessor) ? new DeferredResource(() => detectedResource(service), fixed) : fixed();
  const tracer = new lean.LeanTracer({
    processor,
    resource,
    limits: lean.limitsFromEnv(env, warnOnce),
    sampling: lean.samplingFromEnv(env, warnOnce),
    propagation: () => {
      const names = propagation.propagationNames(env);
      return propagation.createPropagation(propagation.propagatorFor(env, names), propagation.isW3COnly(names));
    },
    onFirstSpan: () => {
      // What the first span will need (its export, most likely an inject or extract) loads now, before it
      // is timed: no span shows our module loading as its own time. Failures surface where they are used.
      for (const each of processors) if (each instanceof LazyProcessor) each.prepare();
      if (resource instanceof DeferredResource) resource.prepare();
      try {
        tracer.propagation();
      } catch {
        // reported by inject/extract when used
      }
    },
  });
  log('tracer %s for service %s', modes.join(','), service);
  const flush = (timeoutMs = 3000): Promise<boolean> =>
    Promise.race([
      processor.forceFlush().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => setTimeout(resolve, timeoutMs, false).unref()),
    ]);
  const exporting = processors.filter((p): p is LazyProcessor => p instanceof LazyProcessor);
  return {
    tracer,
    flush,
    release: () => (processor as Partial<Releasable>).release?.(),
    spansEnded: () => exporting.reduce((sum, p) => sum + p.ended, 0),
    shutdown: () => processor.shutdown(),
  };
}

export { flushOnExit } from './exit';
