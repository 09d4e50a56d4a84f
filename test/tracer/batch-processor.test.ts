import assert from 'node:assert/strict';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import { EncodingBatchProcessor } from '../../src/tracer/batch-processor';
import type { BatchSettings } from '../../src/tracer/batch-processor';
import { FixedResource, LeanTracer, limitsFromEnv, samplingFromEnv } from '../../src/tracer/lean';
import { createPropagation, propagatorFor } from '../../src/tracer/propagation';
import { EncodedBatch, serializeRequest } from '../../src/tracer/otlp-proto';
import { spanRenamer } from '../../src/tracer/attribute-names';

/** OpenTelemetry's own serialiser: what its exporter sends for these spans. */
function official(spans: ReadableSpan[]): string {
  const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)).toString('hex');
}

/** One export: its batch written as the exporter writes it, and its callback. */
interface Export {
  request: string;
  length: number;
  done: (result: ExportResult) => void;
}

/** An exporter that records each batch; it answers at once with `answer`, or leaves it to the test (`hold`). */
class RecordingExporter implements SpanExporter {
  readonly exports: Export[] = [];
  hold = false;
  answer: ExportResult = { code: 0 };
  shutdowns = 0;
  private waiting: Array<() => void> = [];
  export(batch: ReadableSpan[], done: (result: ExportResult) => void): void {
    assert.ok((batch as unknown) instanceof EncodedBatch, 'the processor hands over a batch written in advance');
    this.exports.push({ request: Buffer.from(serializeRequest(batch)).toString('hex'), length: batch.length, done });
    for (const wake of this.waiting.splice(0)) wake();
    if (!this.hold) done(this.answer);
  }
  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
  /** Resolves when `count` exports have been made (an event, not a sleep). */
  async exported(count: number): Promise<void> {
    while (this.exports.length < count) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
}

/** A built-in tracer whose spans go to `processor`, and every finished span to `ended` too. */
function tracerWith(processor: SpanProcessor, ended: ReadableSpan[], env: NodeJS.ProcessEnv = {}, resource: Resource = new FixedResource({ 'service.name': 'svc' })): LeanTracer {
  const both: SpanProcessor = {
    onStart() {},
    onEnd(span) {
      ended.push(span);
      processor.onEnd(span);
    },
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
  return new LeanTracer({ processor: both, resource, limits: limitsFromEnv(env), sampling: samplingFromEnv(env), propagation: () => createPropagation(propagatorFor({ OT_PROPAGATION: 'tracecontext,baggage' })) });
}

function setup(settings: BatchSettings, env: NodeJS.ProcessEnv = {}) {
  const exporter = new RecordingExporter();
  const processor = new EncodingBatchProcessor(exporter, settings);
  const ended: ReadableSpan[] = [];
  const tracer = tracerWith(processor, ended, env);
  return { exporter, processor, ended, tracer };
}

function finishSpans(tracer: LeanTracer, count: number, from = 0): void {
  for (let i = from; i < from + count; i++) {
    const span = tracer.startSpan(`op${i}`, { tags: { 'span.kind': 'client', component: 'pg', 'db.statement': `SELECT ${i}`, i } });
    span.log({ event: 'step', i });
    span.finish();
  }
}

describe('built-in tracer: its batch processor writes spans as they end and sends what OpenTelemetry’s would', () => {
  it('full batches go at once, the rest when flushed: each request is byte for byte OpenTelemetry’s for its spans', async () => {
    const { exporter, processor, ended, tracer } = setup({ maxExportBatchSize: 2, scheduledDelayMillis: 600_000 });
    finishSpans(tracer, 5);
    await processor.forceFlush();
    assert.deepEqual(exporter.exports.map((e) => e.length), [2, 2, 1]);
    assert.deepEqual(exporter.exports.map((e) => e.request), [official(ended.slice(0, 2)), official(ended.slice(2, 4)), official(ended.slice(4))]);
  });

  it('spans queued behind an export in flight are sent after it, in order, in batches of the configured size', async () => {
    const { exporter, ended, tracer } = setup({ maxExportBatchSize: 2, scheduledDelayMillis: 600_000 });
    exporter.hold = true;
    finishSpans(tracer, 2);
    await exporter.exported(1);
    finishSpans(tracer, 5, 2); // five behind the first: taken two, two, then one left for the timer
    exporter.hold = false;
    exporter.exports[0].done({ code: 0 });
    await exporter.exported(3);
    assert.deepEqual(exporter.exports.map((e) => e.length), [2, 2, 2]);
    assert.deepEqual(exporter.exports.map((e) => e.request), [official(ended.slice(0, 2)), official(ended.slice(2, 4)), official(ended.slice(4, 6))]);
  });

  it('a batch size or queue size below one is taken as the default, not as batches of nothing', async () => {
    const { exporter, processor, ended, tracer } = setup({ maxExportBatchSize: 0, maxQueueSize: -1, scheduledDelayMillis: 600_000 });
    finishSpans(tracer, 3);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(exporter.exports.length, 0, 'three spans are not a batch of the default size');
    await processor.forceFlush();
    assert.deepEqual(exporter.exports.map((e) => e.request), [official(ended)]);
  });

  it('a batch that is not full goes when the delay is up', async () => {
    const { exporter, ended, tracer } = setup({ scheduledDelayMillis: 20 });
    finishSpans(tracer, 3);
    assert.equal(exporter.exports.length, 0);
    await exporter.exported(1);
    assert.equal(exporter.exports[0].request, official(ended));
  });

  it('past the queue limit spans are dropped, the queue takes spans again once a batch has gone', async () => {
    const { exporter, processor, ended, tracer } = setup({ maxQueueSize: 2, maxExportBatchSize: 2, scheduledDelayMillis: 600_000 });
    exporter.hold = true;
    finishSpans(tracer, 2);
    await exporter.exported(1);
    finishSpans(tracer, 3, 2); // two queued, the third dropped
    exporter.hold = false;
    exporter.exports[0].done({ code: 0 });
    await exporter.exported(2);
    finishSpans(tracer, 1, 5);
    await processor.forceFlush();
    assert.deepEqual(exporter.exports.map((e) => e.length), [2, 2, 1]);
    assert.deepEqual(exporter.exports.map((e) => e.request), [official(ended.slice(0, 2)), official(ended.slice(2, 4)), official(ended.slice(5))]);
  });

  it('unsampled spans (of another tracer) are not sent', async () => {
    const { exporter, processor, ended, tracer } = setup({ scheduledDelayMillis: 600_000 });
    finishSpans(tracer, 1);
    const sampled = ended[0];
    const unsampled = Object.create(sampled, { spanContext: { value: () => ({ ...sampled.spanContext(), traceFlags: 0 }) } }) as ReadableSpan;
    processor.onEnd(unsampled);
    await processor.forceFlush();
    assert.deepEqual(exporter.exports.map((e) => e.length), [1]);
  });

  it('a failed export costs its batch only', async () => {
    const { exporter, ended, tracer } = setup({ maxExportBatchSize: 1, scheduledDelayMillis: 600_000 });
    exporter.answer = { code: 1, error: new Error('collector down') };
    finishSpans(tracer, 1);
    await exporter.exported(1);
    exporter.answer = { code: 0 };
    finishSpans(tracer, 1, 1);
    await exporter.exported(2);
    assert.equal(exporter.exports[1].request, official(ended.slice(1)));
  });

  it('a span that cannot be written costs that span only: nothing of it is left in the next request', async () => {
    const { exporter, processor, ended, tracer } = setup({ scheduledDelayMillis: 600_000 });
    finishSpans(tracer, 1);
    // A span whose status cannot be read: it throws half way through being written.
    const broken = Object.create(ended[0], { status: { get: () => { throw new Error('unreadable'); } } }) as ReadableSpan;
    processor.onEnd(broken);
    finishSpans(tracer, 1, 1);
    await processor.forceFlush();
    assert.equal(exporter.exports.length, 1);
    assert.equal(exporter.exports[0].request, official(ended));
    assert.equal(exporter.exports[0].length, 2);
  });

  it('with OT_ATTRIBUTE_NAMES=otel the spans are written with their OpenTelemetry names', async () => {
    const exporter = new RecordingExporter();
    const rename = spanRenamer('otel')!;
    const processor = new EncodingBatchProcessor(exporter, { scheduledDelayMillis: 600_000 }, rename);
    const ended: ReadableSpan[] = [];
    const tracer = tracerWith(processor, ended);
    tracer.startSpan('pg.query', { tags: { 'span.kind': 'client', 'db.type': 'sql', 'db.statement': 'SELECT 1', 'peer.hostname': 'db', 'peer.port': 5432 } }).finish();
    await processor.forceFlush();
    assert.equal(exporter.exports[0].request, official(ended.map(rename)));
    assert.match(Buffer.from(exporter.exports[0].request, 'hex').toString('latin1'), /db\.query\.text/);
  });

  it('waits for the resource’s asynchronous attributes before a batch is written', async () => {
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const attributes: Record<string, string> = { 'service.name': 'svc' };
    const resource = Object.assign(new FixedResource(attributes), { asyncAttributesPending: true, waitForAsyncAttributes: () => settled }) as unknown as Resource;
    const exporter = new RecordingExporter();
    const processor = new EncodingBatchProcessor(exporter, { scheduledDelayMillis: 600_000 });
    const ended: ReadableSpan[] = [];
    finishSpans(tracerWith(processor, ended, {}, resource), 1);
    const flushed = processor.forceFlush();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(exporter.exports.length, 0);
    attributes['host.id'] = 'machine-1';
    settle();
    await flushed;
    assert.equal(exporter.exports[0].request, official(ended));
    assert.match(Buffer.from(exporter.exports[0].request, 'hex').toString('latin1'), /machine-1/);
  });

  it('shutdown sends what is queued, shuts the exporter down once, and takes no span after', async () => {
    const { exporter, processor, ended, tracer } = setup({ scheduledDelayMillis: 600_000 });
    finishSpans(tracer, 2);
    const first = processor.shutdown();
    assert.equal(processor.shutdown(), first);
    assert.equal(processor.forceFlush(), first);
    await first;
    finishSpans(tracer, 1, 2);
    await processor.forceFlush();
    assert.equal(exporter.shutdowns, 1);
    assert.deepEqual(exporter.exports.map((e) => e.request), [official(ended.slice(0, 2))]);
  });
});
