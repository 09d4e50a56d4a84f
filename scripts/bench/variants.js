'use strict';
/**
 * What each variant does in its process before any client library is loaded. Uses only the package's
 * public API: `installAllPatches` from dist/, and the `register` preload with OT_TRACER=otlp (which the
 * orchestrator puts on the command line, see preloadArgs()).
 */
const path = require('node:path');
const { DIST, REGISTER, AB_VARIANTS } = require('./config');
const counter = require('./export-counter');

/** Node options and environment for a variant's process (an A/B variant's: those of the variant it switches). */
function processOptions(measured, env) {
  const variant = AB_VARIANTS[measured] ?? measured;
  const childEnv = { ...env };
  const execArgv = [];
  delete childEnv.OT_TRACER;
  if (variant === 'ddtrace') {
    // Its agent (traces, stats, telemetry, remote configuration) is the sink; everything else its defaults.
    childEnv.DD_TRACE_AGENT_URL = env.BENCH_SINK_URL;
    childEnv.DD_SERVICE = 'bench';
  }
  if (variant === 'builtin') {
    execArgv.push('-r', path.join(__dirname, 'drop-otlp-export.js'), '-r', REGISTER);
    childEnv.OT_TRACER = 'otlp';
    childEnv.OT_SERVICE_NAME = 'bench';
  }
  return { execArgv, env: childEnv };
}

/**
 * The exporter of the user's SDK (variants shim and otel): the built-in tracer's exporter class (the
 * protocol of OTEL_EXPORTER_OTLP_PROTOCOL), patched as builtin's is: it counts, then writes each batch and
 * drops it (noop) or sends it to the sink.
 */
function userExporter() {
  const { OTLPTraceExporter } = require('./drop-otlp-export');
  return new OTLPTraceExporter();
}

/**
 * A user's OpenTelemetry SDK as the OTel docs set it up (what NodeTracerProvider.register() does):
 * BasicTracerProvider + BatchSpanProcessor (OTEL_BSP_* defaults) + the exporter, registered as the global
 * provider, with the AsyncLocalStorage context manager and the W3C trace-context propagator.
 */
function userSdk() {
  const api = require('@opentelemetry/api');
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench' }),
    spanProcessors: [new BatchSpanProcessor(userExporter())],
  });
  api.trace.setGlobalTracerProvider(provider);
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return provider;
}

/** Resolves once the export counter has not moved for 100 ms (at most 3 s). */
function settled() {
  return new Promise((resolve) => {
    const deadline = Date.now() + 3000;
    let last = -1;
    const check = () => {
      if (counter.spans === last || Date.now() > deadline) resolve();
      else {
        last = counter.spans;
        setTimeout(check, 100);
      }
    };
    check();
  });
}

const noFlush = () => Promise.resolve();

/** The hooks' own switch, through the public API. */
function hooksSwitch(hooks, config) {
  return { on: () => hooks.installAllPatches(config), off: () => hooks.uninstallAllPatches() };
}

/**
 * Sets the variant up. Returns what was installed (for the report's sanity checks), `flush()`, which
 * hands the spans still buffered to the exporter, so that spans per call can be counted after the
 * measured loop (never inside it), and `on()`/`off()`, which switch the variant's instrumentation on and
 * off again in the same process (for the in-process A/B; it starts on).
 */
function setup(variant) {
  if (variant === 'baseline') return { installed: [], flush: noFlush };
  if (variant === 'hooks') {
    const hooks = require(DIST);
    hooks.installAllPatches();
    return { installed: hooks.installedPatches ? hooks.installedPatches() : ['?'], flush: noFlush, ...hooksSwitch(hooks) };
  }
  if (variant === 'builtin') {
    // Done by the preloads (drop-otlp-export.js, then register with OT_TRACER=otlp). The built-in
    // tracer flushes on 'beforeExit' (documented); emitting it is the public way to make it flush now.
    const hooks = require(DIST);
    const tracerName = require('opentracing').globalTracer().constructor.name;
    const flush = () => {
      process.emit('beforeExit', 0);
      return settled();
    };
    // The preload installed the hooks; installing again without a tracer uses the same global one.
    return { installed: hooks.installedPatches ? hooks.installedPatches() : ['?'], tracer: tracerName, flush, ...hooksSwitch(hooks) };
  }
  if (variant === 'shim') {
    const hooks = require(DIST);
    // Nothing wraps the exporter: the SDK's processor suppresses OpenTelemetry's tracing around each
    // export, and the hooks make no span there (so the exporter's own HTTP is untraced).
    const provider = userSdk();
    const { TracerShim } = require('@opentelemetry/shim-opentracing');
    const config = { tracer: new TracerShim(provider.getTracer('bench')) };
    hooks.installAllPatches(config);
    return { installed: hooks.installedPatches ? hooks.installedPatches() : ['?'], flush: () => provider.forceFlush().then(settled), ...hooksSwitch(hooks, config) };
  }
  if (variant === 'otel') {
    const provider = userSdk();
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
    const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');
    const { RedisInstrumentation } = require('@opentelemetry/instrumentation-redis');
    const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis');
    const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
    const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');
    const { GraphQLInstrumentation } = require('@opentelemetry/instrumentation-graphql');
    const { MongoDBInstrumentation } = require('@opentelemetry/instrumentation-mongodb');
    const { MySQL2Instrumentation } = require('@opentelemetry/instrumentation-mysql2');
    const { KnexInstrumentation } = require('@opentelemetry/instrumentation-knex');
    const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
    const { KoaInstrumentation } = require('@opentelemetry/instrumentation-koa');
    const { HapiInstrumentation } = require('@opentelemetry/instrumentation-hapi');
    const { FastifyOtelInstrumentation } = require('@fastify/otel');
    const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');
    const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');
    const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk');
    const instrumentations = [
      new HttpInstrumentation(),
      new PgInstrumentation(),
      new RedisInstrumentation(),
      // Its default requireParentSpan: true would make no span for a call outside a request; ours and
      // the other instrumentations make one, so it is switched off for the same work per call.
      new IORedisInstrumentation({ requireParentSpan: false }),
      new UndiciInstrumentation(),
      new KafkaJsInstrumentation(),
      // depth 0: no resolver spans, as ours by default (one span per operation executed).
      new GraphQLInstrumentation({ depth: 0 }),
      new MongoDBInstrumentation({ requireParentSpan: false }),
      new MySQL2Instrumentation(),
      // A knex span, with PgInstrumentation's span of the driver call under it (as our knex hook makes).
      new KnexInstrumentation(),
      new ExpressInstrumentation(),
      new KoaInstrumentation(),
      new HapiInstrumentation(),
      // Fastify's own (OpenTelemetry's instrumentation-fastify is deprecated). The variant is set up before
      // the app exists: this registers its plugin on every instance, as the app's `register(plugin())` would.
      new FastifyOtelInstrumentation({ registerOnInitialization: true }),
      new AmqplibInstrumentation(),
      new GrpcInstrumentation(),
      // One span per command, as ours: by default it adds the span of the SDK's HTTP request under it.
      new AwsInstrumentation({ suppressInternalInstrumentation: true }),
    ];
    registerInstrumentations({ tracerProvider: provider, instrumentations });
    return {
      installed: instrumentations.map((i) => i.instrumentationName.replace('@opentelemetry/instrumentation-', '')),
      flush: () => provider.forceFlush().then(settled),
      // OpenTelemetry's own switch: disable() unpatches what enable() patched (modules loaded by then included).
      on: () => instrumentations.forEach((i) => i.enable()),
      off: () => instrumentations.forEach((i) => i.disable()),
    };
  }
  if (variant === 'ddtrace') {
    // dd-trace's own finish channel counts its spans; what it sends goes to the sink (its agent URL).
    require('node:diagnostics_channel').subscribe('dd-trace:span:finish', () => {
      counter.spans += 1;
    });
    const tracer = require('dd-trace').init();
    const flush = () =>
      new Promise((resolve) => {
        const exporter = tracer._tracer?._exporter; // no public flush: the exporter's, else its 2 s interval
        if (typeof exporter?.flush === 'function') exporter.flush(() => resolve());
        else setTimeout(resolve, 2500);
      }).then(settled);
    return { installed: ['dd-trace'], tracer: 'dd-trace', flush };
  }
  if (variant === 'elastic') {
    const apm = require('elastic-apm-node').start({ serverUrl: process.env.BENCH_SINK_URL, serviceName: 'bench' });
    // Filters run on what is about to be sent: spans and transactions that reach its transport.
    apm.addSpanFilter((span) => {
      counter.spans += 1;
      return span;
    });
    apm.addTransactionFilter((trans) => {
      counter.spans += 1;
      return trans;
    });
    return {
      installed: ['elastic-apm-node'],
      tracer: 'elastic-apm-node',
      flush: () => new Promise((resolve) => apm.flush(() => resolve())).then(settled),
      // Elastic makes a span only inside a transaction, as an app's request handler would have one.
      wrapCall: (call) => () => {
        const trans = apm.startTransaction('bench call', 'request');
        return Promise.resolve(call()).finally(() => trans.end());
      },
    };
  }
  throw new Error(`unknown variant ${variant}`);
}

module.exports = { processOptions, setup };
