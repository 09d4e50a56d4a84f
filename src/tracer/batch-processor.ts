/**
 * The built-in tracer's batch processor for OTLP/protobuf. It batches as the SDK's BatchSpanProcessor does
 * (the same OTEL_BSP_* settings: a batch when one is full or the delay is up, one export at a time in the
 * background, spans past the queue's limit dropped, forceFlush and shutdown sending all), but writes each
 * span to protobuf when it ends, so its queue holds bytes: a span object is garbage once it has ended,
 * instead of living on (copied by every young-generation collection) until its batch is sent. The
 * requests are those the SDK's processor would have the exporter send for the same spans.
 *
 * Loaded with the exporter, at the first span: @opentelemetry/api and core are loaded by the exporter then anyway.
 */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import type { InstrumentationScope } from '@opentelemetry/core';
import { log, reportOnce } from '../logger';
import { EncodedSpans } from './otlp-proto';

/** The BatchSpanProcessor's settings (OTEL_BSP_*), with its defaults. */
export interface BatchSettings {
  maxExportBatchSize?: number;
  maxQueueSize?: number;
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
}

const SAMPLED = 1;

/** A count setting: below 1 (which would send empty batches without end) it is the default. */
function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && value >= 1 ? Math.floor(value) : fallback;
}

export class EncodingBatchProcessor implements SpanProcessor {
  private readonly queue = new EncodedSpans();
  private readonly maxExportBatchSize: number;
  private readonly maxQueueSize: number;
  private readonly scheduledDelayMillis: number;
  private readonly exportTimeoutMillis: number;
  /** Of the first span: every span of the tracer this processor serves has the same. */
  private resource: Resource | undefined;
  private scope: InstrumentationScope | undefined;
  /** The export under way in the background, if any. */
  private exporting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Spans dropped since the queue was last full. */
  private dropped = 0;
  private shutdownOnce: Promise<void> | undefined;

  /** `exporter` takes the batches (`EncodedBatch`es) that `serializeRequest` writes; `rename` gives the span it writes. */
  constructor(
    private readonly exporter: SpanExporter,
    settings: BatchSettings = {},
    private readonly rename?: (span: ReadableSpan) => ReadableSpan,
  ) {
    this.maxQueueSize = positive(settings.maxQueueSize, 2048);
    const batchSize = positive(settings.maxExportBatchSize, 512);
    this.maxExportBatchSize = Math.min(batchSize, this.maxQueueSize);
    if (batchSize > this.maxQueueSize) log('OTEL_BSP_MAX_EXPORT_BATCH_SIZE is larger than OTEL_BSP_MAX_QUEUE_SIZE: batches of %d are sent', this.maxQueueSize);
    this.scheduledDelayMillis = settings.scheduledDelayMillis ?? 5000;
    this.exportTimeoutMillis = settings.exportTimeoutMillis ?? 30000;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.shutdownOnce !== undefined || (span.spanContext().traceFlags & SAMPLED) === 0) return;
    if (this.queue.length >= this.maxQueueSize) {
      if (this.dropped++ === 0) log('the span queue is full (OTEL_BSP_MAX_QUEUE_SIZE=%d): spans are dropped', this.maxQueueSize);
      return;
    }
    if (this.dropped > 0) {
      log('%d spans were dropped because the queue was full', this.dropped);
      this.dropped = 0;
    }
    try {
      this.queue.push(this.rename === undefined ? span : this.rename(span));
    } catch (err) {
      reportOnce('writing a span for export', err);
      return;
    }
    this.resource ??= span.resource;
    this.scope ??= span.instrumentationScope;
    this.maybeStartTimer();
  }

  /** Sends all that is queued, and waits for the export under way too. */
  forceFlush(): Promise<void> {
    return this.shutdownOnce ?? this.flushAll();
  }

  shutdown(): Promise<void> {
    return (this.shutdownOnce ??= Promise.resolve()
      .then(() => this.flushAll())
      .then(() => this.exporter.shutdown()));
  }

  private flushAll(): Promise<void> {
    const batches: Array<Promise<void>> = [];
    if (this.exporting !== undefined) batches.push(this.exporting);
    for (let left = this.queue.length; left > 0; left -= this.maxExportBatchSize) batches.push(this.exportOneBatch());
    return Promise.all(batches).then(() => undefined);
  }

  /** A full batch goes now; otherwise the delay starts, unless an export is under way (its end checks again). */
  private maybeStartTimer(): void {
    if (this.exporting !== undefined) return;
    if (this.queue.length >= this.maxExportBatchSize) return this.exportInBackground();
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.exportInBackground(), this.scheduledDelayMillis);
    this.timer.unref();
  }

  private exportInBackground(): void {
    this.exporting = this.exportOneBatch()
      .catch((err: unknown) => log('a span export failed: %O', err))
      .finally(() => {
        this.exporting = undefined;
        if (this.queue.length > 0) {
          this.clearTimer();
          this.maybeStartTimer();
        }
      });
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private exportOneBatch(): Promise<void> {
    this.clearTimer();
    const resource = this.resource;
    const scope = this.scope;
    if (this.queue.length === 0 || resource === undefined || scope === undefined) return Promise.resolve();
    const batch = this.queue.take(this.maxExportBatchSize, resource, scope);
    return new Promise<void>((resolve, reject) => {
      // Past the timeout the next batch may go; the export itself is not cancelled.
      const timeout = setTimeout(() => reject(new Error('Timeout')), this.exportTimeoutMillis);
      timeout.unref();
      const send = (): void =>
        // As the SDK's processor: OpenTelemetry's own instrumentations leave the export's traffic alone.
        context.with(suppressTracing(context.active()), () =>
          this.exporter.export(batch as unknown as ReadableSpan[], (result) => {
            clearTimeout(timeout);
            if (result.code === 0) resolve();
            else reject(result.error ?? new Error('span export failed'));
          }),
        );
      if (resource.asyncAttributesPending && resource.waitForAsyncAttributes) resource.waitForAsyncAttributes().then(send).catch(reject);
      else send();
    });
  }
}
