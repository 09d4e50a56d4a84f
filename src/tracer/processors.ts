import fs from 'node:fs';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { warnOnce } from '../logger';
import { isLocalRoot, SpanRecord, toRecord } from './records';
import { renderTrace } from './waterfall';

/** Prints each trace as a waterfall on stderr when its local root span finishes. */
export class ConsoleWaterfallProcessor implements SpanProcessor {
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
