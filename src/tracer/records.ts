import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/**
 * One finished span, as written by OT_TRACER=jsonl (one JSON object per line). Stable format:
 * fields are only ever added, never renamed or removed.
 */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  /** Null for a root span. */
  parentId: string | null;
  service: string;
  name: string;
  /** Start, in milliseconds since the Unix epoch (fractional). */
  start: number;
  /** Duration in milliseconds (fractional). */
  duration: number;
  /** The span's tags (OpenTracing) / attributes; `error: true` when the span failed. */
  tags: Record<string, unknown>;
  /** Span logs: name, time (ms since epoch) and fields. */
  logs: Array<{ name: string; time: number; fields: Record<string, unknown> }>;
}

function ms(time: [number, number]): number {
  return time[0] * 1e3 + time[1] / 1e6;
}

export function toRecord(span: ReadableSpan, service: string): SpanRecord {
  const ctx = span.spanContext();
  const parent = (span as { parentSpanContext?: { spanId: string } }).parentSpanContext;
  const tags: Record<string, unknown> = { ...span.attributes };
  if (span.status.code === 2 /* SpanStatusCode.ERROR */) tags.error = true;
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentId: parent?.spanId ?? null,
    service,
    name: span.name,
    start: ms(span.startTime),
    duration: ms(span.duration),
    tags,
    logs: span.events.map((e) => ({ name: e.name, time: ms(e.time), fields: { ...(e.attributes ?? {}) } })),
  };
}

export function isLocalRoot(span: ReadableSpan): boolean {
  const parent = (span as { parentSpanContext?: { isRemote?: boolean } }).parentSpanContext;
  return parent === undefined || parent.isRemote === true;
}
