import { randomBytes } from 'node:crypto';
import * as opentracing from 'opentracing';

/** Span context of the recording tracer, carried as a W3C `traceparent` header. */
export class RecordingContext extends opentracing.SpanContext {
  constructor(readonly traceId: string, readonly spanId: string) {
    super();
  }
  override toTraceId(): string {
    return this.traceId;
  }
  override toSpanId(): string {
    return this.spanId;
  }
}

export interface LogRecord {
  fields: { [key: string]: any };
  timestamp?: number;
}

export class RecordedSpan extends opentracing.Span {
  readonly tags: { [key: string]: any } = {};
  readonly logs: LogRecord[] = [];
  /** How `parentId` is referenced: `childOf`, or `followsFrom` when the span has no childOf reference. */
  referenceType: 'childOf' | 'followsFrom' | undefined;
  /** Every reference the span was started with (a consumer span of a batch has several). */
  references: opentracing.Reference[] = [];
  finishCount = 0;
  readonly startTime: number;
  endTime?: number;

  constructor(
    private readonly recorder: RecordingTracer,
    public operationName: string,
    readonly ctx: RecordingContext,
    readonly parentId: string | undefined,
    startTime: number | undefined,
  ) {
    super();
    this.startTime = startTime ?? Date.now();
  }
  get id(): string {
    return this.ctx.spanId;
  }
  get traceId(): string {
    return this.ctx.traceId;
  }
  protected override _context(): RecordingContext {
    return this.ctx;
  }
  protected override _tracer(): opentracing.Tracer {
    return this.recorder;
  }
  protected override _setOperationName(name: string): void {
    this.operationName = name;
  }
  protected override _addTags(tags: { [key: string]: any }): void {
    Object.assign(this.tags, tags);
  }
  protected override _log(fields: { [key: string]: any }, timestamp?: number): void {
    this.logs.push({ fields, timestamp });
  }
  protected override _finish(finishTime?: number): void {
    this.finishCount++;
    this.endTime = finishTime ?? Date.now();
    if (this.finishCount === 1) this.recorder.onFinish(this);
  }
  hasError(): boolean {
    return this.tags.error === true;
  }
  errorLog(): LogRecord | undefined {
    return this.logs.find((l) => 'error.object' in l.fields);
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** Records spans with their parents; inject/extract really write and read `traceparent`. */
export class RecordingTracer extends opentracing.Tracer {
  readonly started: RecordedSpan[] = [];
  readonly finished: RecordedSpan[] = [];
  /** Spans started so far, kept or not. */
  startedCount = 0;

  /** More headers `inject` writes after `traceparent` (a tracer that also injects `tracestate`, say). */
  injectAlso: Record<string, string> = {};

  /** `keep: false` counts spans without keeping them (for heap checks). */
  constructor(private readonly keep = true) {
    super();
  }

  protected override _startSpan(name: string, fields: opentracing.SpanOptions): RecordedSpan {
    let parent: RecordingContext | undefined;
    let follows: RecordingContext | undefined;
    for (const ref of fields.references ?? []) {
      if (ref.type() === opentracing.REFERENCE_CHILD_OF && ref.referencedContext() instanceof RecordingContext) {
        parent = ref.referencedContext() as RecordingContext;
      } else if (ref.type() === opentracing.REFERENCE_FOLLOWS_FROM && ref.referencedContext() instanceof RecordingContext) {
        follows ??= ref.referencedContext() as RecordingContext;
      }
    }
    // As Jaeger does: without a childOf reference, the span a followsFrom reference names is the parent.
    const referenceType = parent !== undefined ? 'childOf' : follows !== undefined ? 'followsFrom' : undefined;
    parent ??= follows;
    const ctx = new RecordingContext(parent?.traceId ?? randomBytes(16).toString('hex'), randomBytes(8).toString('hex'));
    const span = new RecordedSpan(this, name, ctx, parent?.spanId, fields.startTime);
    span.referenceType = referenceType;
    span.references = fields.references ?? [];
    if (fields.tags) span.addTags(fields.tags);
    this.startedCount++;
    if (this.keep) this.started.push(span);
    return span;
  }
  protected override _inject(ctx: opentracing.SpanContext, format: string, carrier: any): void {
    if (format !== opentracing.FORMAT_HTTP_HEADERS && format !== opentracing.FORMAT_TEXT_MAP) return;
    const c = ctx as RecordingContext;
    carrier.traceparent = `00-${c.traceId}-${c.spanId}-01`;
    Object.assign(carrier, this.injectAlso);
  }
  protected override _extract(format: string, carrier: any): opentracing.SpanContext | null {
    if (format !== opentracing.FORMAT_HTTP_HEADERS && format !== opentracing.FORMAT_TEXT_MAP) return null;
    const header = carrier?.traceparent;
    const match = typeof header === 'string' ? TRACEPARENT.exec(header) : null;
    if (match === null || /^0+$/.test(match[1]) || /^0+$/.test(match[2])) return null;
    return new RecordingContext(match[1], match[2]);
  }

  /** @internal */
  onFinish(span: RecordedSpan): void {
    if (this.keep) this.finished.push(span);
  }

  reset(): void {
    this.started.length = 0;
    this.finished.length = 0;
    this.injectAlso = {};
  }
  /** The finished spans of one `span.kind`. */
  ofKind(kind: string): RecordedSpan[] {
    return this.finished.filter((s) => s.tags['span.kind'] === kind);
  }
  /** Once every span finished: the one named `name`, checked to be a failed child of `parent` that logged `err`. */
  async oneFailedChild(name: string, parent: RecordedSpan, err: unknown): Promise<RecordedSpan> {
    await this.settle();
    const spans = this.byName(name);
    if (spans.length !== 1) throw new Error(`expected one ${name} span, have ${spans.length}`);
    const [span] = spans;
    if (span.parentId !== parent.id) throw new Error(`${name}: parent ${span.parentId}, expected ${parent.id}`);
    if (span.tags.error !== true) throw new Error(`${name}: no error=true tag`);
    if (span.errorLog()?.fields['error.object'] !== err) throw new Error(`${name}: the error logged is not the one thrown`);
    return span;
  }
  /** Every finished span's name, tags and logs as one string, to look for what must never be recorded. */
  everything(): string {
    return JSON.stringify(this.finished.map((s) => ({ name: s.operationName, tags: s.tags, logs: s.logs })));
  }
  /** The names of the finished children of `span`, sorted. */
  childNames(span: RecordedSpan): string[] {
    return this.finished.filter((s) => s.parentId === span.id).map((s) => s.operationName).sort();
  }
  byName(name: string | RegExp): RecordedSpan[] {
    return this.finished.filter((s) => (typeof name === 'string' ? s.operationName === name : name.test(s.operationName)));
  }
  /** Resolves once `count` spans have finished (or rejects after `ms`). */
  async waitFor(count: number, ms = 5000): Promise<RecordedSpan[]> {
    const deadline = Date.now() + ms;
    while (this.finished.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} finished spans, have ${this.finished.length}: ${this.finished.map((s) => s.operationName).join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.finished;
  }
  /** Waits for every started span to finish, then checks each finished exactly once. */
  async settle(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.started.some((s) => s.finishCount === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 5));
    this.assertAllFinishedOnce();
  }
  /** Every started span was finished exactly once. */
  assertAllFinishedOnce(): void {
    for (const span of this.started) {
      if (span.finishCount !== 1) {
        throw new Error(`span ${span.operationName} (${JSON.stringify(span.tags)}) finished ${span.finishCount} times`);
      }
    }
  }
}

/** A tracer whose every entry point throws: the hooks must lose only the span. */
export class ThrowingTracer extends opentracing.Tracer {
  calls = 0;
  constructor(private readonly which: Array<'startSpan' | 'inject' | 'extract'> = ['startSpan', 'inject', 'extract']) {
    super();
  }
  private readonly inner = new RecordingTracer();
  protected override _startSpan(name: string, fields: opentracing.SpanOptions): opentracing.Span {
    this.calls++;
    if (this.which.includes('startSpan')) throw new Error('tracer broke in startSpan');
    return (this.inner as any)._startSpan(name, fields);
  }
  protected override _inject(): void {
    this.calls++;
    if (this.which.includes('inject')) throw new Error('tracer broke in inject');
  }
  protected override _extract(): opentracing.SpanContext | null {
    this.calls++;
    if (this.which.includes('extract')) throw new Error('tracer broke in extract');
    return null;
  }
}
