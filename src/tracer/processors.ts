import fs from 'node:fs';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { warnOnce } from '../logger';
import { isLocalRoot, SpanRecord, toRecord } from './records';
import { renderTrace } from './waterfall';

/** Traces waiting for their local root, at most (past it, the oldest is dropped). */
const MAX_PENDING_TRACES = 10000;
/** Spans waiting in all those traces, at most (past it, the oldest traces are dropped). */
const MAX_PENDING_SPANS = 100000;
/** Spans one trace keeps waiting, at most: past it, they print as they are (the trace goes on). */
const MAX_SPANS_PER_TRACE = 1000;
/** Printed traces whose span ids are kept (the latest), so that spans ending after them print too. */
const MAX_PRINTED_TRACES = 1000;

/**
 * Prints each trace as a waterfall on stderr when its local root span finishes. A span that ends after
 * that (work left running after the response), a child of a span printed, prints then, with the spans
 * that waited for it, as a waterfall marked `continued`. Memory is bounded: the spans of at most
 * MAX_PENDING_TRACES traces wait, MAX_SPANS_PER_TRACE a trace (past that they print as they are), and the
 * printed span ids of the last MAX_PRINTED_TRACES traces are kept.
 */
export class ConsoleWaterfallProcessor implements SpanProcessor {
  private readonly pending = new Map<string, SpanRecord[]>();
  private pendingSpans = 0;
  /** The ids of the spans printed, per trace, for the traces printed last (oldest first). */
  private readonly printed = new Map<string, Set<string>>();
  constructor(private readonly service: string, private readonly out: NodeJS.WriteStream = process.stderr) {}
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    const record = toRecord(span, this.service);
    const list = this.take(record.traceId);
    list.push(record);
    if (isLocalRoot(span)) return this.print(list);
    const printedIds = this.printed.get(record.traceId);
    if (record.parentId !== null && printedIds?.has(record.parentId) === true) return this.print(list, 'continued');
    if (list.length >= MAX_SPANS_PER_TRACE) return this.print(list, 'its local root has not ended yet', false);
    this.pending.set(record.traceId, list);
    this.pendingSpans += list.length;
    while (this.pending.size > MAX_PENDING_TRACES || (this.pending.size > 0 && this.pendingSpans > MAX_PENDING_SPANS)) this.take(this.pending.keys().next().value as string);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  /** The spans of `traceId` waiting, no longer waiting. */
  private take(traceId: string): SpanRecord[] {
    const list = this.pending.get(traceId);
    if (list === undefined) return [];
    this.pending.delete(traceId);
    this.pendingSpans -= list.length;
    return list;
  }
  /** Prints `list` (spans of one trace); with `remember`, their ids are kept for the spans that end after them. */
  private print(list: SpanRecord[], note?: string, remember = true): void {
    this.out.write(renderTrace(list, { color: this.out.isTTY === true, note }));
    if (!remember) return;
    const traceId = list[0].traceId;
    const ids = this.printed.get(traceId) ?? new Set<string>();
    this.printed.delete(traceId); // re-inserted as the latest
    for (const record of list) if (ids.size < MAX_SPANS_PER_TRACE) ids.add(record.spanId);
    this.printed.set(traceId, ids);
    if (this.printed.size > MAX_PRINTED_TRACES) this.printed.delete(this.printed.keys().next().value as string);
  }
}

/** Appends one JSON object per finished span to a file (synchronously: nothing is lost at exit). */
export class JsonlProcessor implements SpanProcessor {
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
