import assert from 'node:assert/strict';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, suppressTracing, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { TracerShim } from '@opentelemetry/shim-opentracing';
import { installPatches, startActiveSpan, traceFunction, uninstallAllPatches, withSpan } from '../../src';
import { RecordingTracer } from '../helpers/tracer';
import { getReply, serverForSuite, startServer, TestServer } from '../helpers/servers';

/** Runs `fn` in OpenTelemetry's active context with tracing suppressed, as the SDK's processors do around an export. */
function otelSuppressed<T>(fn: () => T): T {
  return context.with(suppressTracing(context.active()), fn);
}

/** What a user's OpenTelemetry SDK registers globally (NodeTracerProvider.register()): a context manager and W3C propagation. */
function registerOtelGlobals(provider?: BasicTracerProvider): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (provider !== undefined) trace.setGlobalTracerProvider(provider);
}

function unregisterOtelGlobals(): void {
  context.disable();
  propagation.disable();
  trace.disable();
}

describe("OpenTelemetry's suppressTracing is honoured", () => {
  const serverOf = serverForSuite(() => startServer(), true);
  let server: TestServer;

  beforeEach(() => {
    server = serverOf();
  });
  afterEach(() => {
    uninstallAllPatches();
    unregisterOtelGlobals();
  });

  it('your SDK through the shim: the tracer is not even asked for a span inside it; outside, one span and its header', async () => {
    const spans = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    registerOtelGlobals(provider);
    const shim = new TracerShim(provider.getTracer('test'));
    let asked = 0;
    const startSpan = shim.startSpan.bind(shim);
    shim.startSpan = (...args: Parameters<typeof startSpan>) => {
      asked++;
      return startSpan(...args);
    };
    installPatches(['http'], { tracer: shim });

    await otelSuppressed(() => getReply(`${server.url}/suppressed`));
    assert.equal(asked, 0);
    assert.deepEqual(spans.getFinishedSpans(), []);
    assert.equal(server.received[0].headers.traceparent, undefined);

    await getReply(`${server.url}/traced`);
    assert.equal(asked, 1);
    assert.deepEqual(spans.getFinishedSpans().map((s) => s.attributes['http.url']), [`${server.url}/traced`]);
    assert.match(String(server.received[1].headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("the SDK's batch export: the exporter's own HTTP makes no span and carries no header, with nothing of ours around it", async () => {
    const seen = new InMemorySpanExporter();
    const exported: string[] = [];
    // An exporter that posts as OTLP exporters do, from inside the BatchSpanProcessor's export.
    const posting: SpanExporter = {
      export(batch: ReadableSpan[], done: (result: ExportResult) => void): void {
        exported.push(...batch.map((s) => s.name));
        getReply(`${server.url}/export`).then(
          () => done({ code: ExportResultCode.SUCCESS }),
          (error: Error) => done({ code: ExportResultCode.FAILED, error }),
        );
      },
      shutdown: () => Promise.resolve(),
    };
    const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(posting), new SimpleSpanProcessor(seen)] });
    registerOtelGlobals(provider);
    installPatches(['http'], { tracer: new TracerShim(provider.getTracer('test')) });

    await getReply(`${server.url}/app`);
    await provider.forceFlush();
    assert.deepEqual(exported, ['HTTP GET']);
    assert.deepEqual(seen.getFinishedSpans().map((s) => s.attributes['http.url']), [`${server.url}/app`], 'no span of the export');
    const exportRequest = server.received.find((r) => r.url === '/export');
    assert.ok(exportRequest !== undefined);
    assert.equal(exportRequest.headers.traceparent, undefined);
  });

  it('any OpenTracing tracer, once an OpenTelemetry context manager is registered; nothing is suppressed without one', async () => {
    const tracer = new RecordingTracer();
    installPatches(['http'], { tracer });
    await otelSuppressed(() => getReply(`${server.url}/no-manager`));
    assert.equal(tracer.finished.length, 1, 'without a registered context manager, context.with runs in no context');

    registerOtelGlobals();
    await otelSuppressed(() => getReply(`${server.url}/suppressed`));
    assert.equal(tracer.finished.length, 1);
    assert.equal(server.received[1].headers.traceparent, undefined);
    await getReply(`${server.url}/traced`);
    assert.equal(tracer.finished.length, 2);
  });

  it('startActiveSpan makes no span inside it, and the hooks and traceFunction make none under it', async () => {
    registerOtelGlobals();
    const tracer = new RecordingTracer();
    installPatches(['http'], { tracer });
    const request = tracer.startSpan('request');
    const traced = traceFunction('traced', () => getReply(`${server.url}/traced-fn`));
    await withSpan(request, () =>
      otelSuppressed(() =>
        startActiveSpan('export-batch', {}, async () => {
          await traced();
          await getReply(`${server.url}/under`);
        }),
      ),
    );
    assert.deepEqual(tracer.started.map((s) => s.operationName), ['request']);
    assert.deepEqual(server.received.map((r) => r.headers.traceparent), [undefined, undefined]);
  });
});

describe("OpenTelemetry's suppressTracing around a server's listen()", () => {
  afterEach(() => {
    uninstallAllPatches();
    unregisterOtelGlobals();
  });

  it('leaves its requests traced: each gets its server span, and its handler runs outside the suppression', async () => {
    registerOtelGlobals();
    const tracer = new RecordingTracer();
    installPatches(['httpServer', 'http'], { tracer });
    const back = await startServer();
    let suppressedInHandler: unknown;
    const server = await otelSuppressed(() =>
      startServer((_req, res) => {
        suppressedInHandler = context.active().getValue(Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING'));
        getReply(`${back.url}/back`).then(() => res.end('ok'));
      }),
    );
    try {
      await getReply(`${server.url}/a`, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
      await tracer.waitFor(4);
      await tracer.settle();
      const [front] = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${server.url}/a`);
      assert.equal(front.traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(suppressedInHandler, undefined);
      const [toBack] = tracer.ofKind('client').filter((s) => s.tags['http.url'] === `${back.url}/back`);
      assert.equal(toBack.parentId, front.id);
    } finally {
      await server.close();
      await back.close();
    }
  });
});
