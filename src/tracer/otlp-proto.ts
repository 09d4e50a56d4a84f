/**
 * The built-in tracer's OTLP/protobuf serialisation: an `ExportTraceServiceRequest` written in one pass
 * into a buffer kept between exports, byte for byte what OpenTelemetry's `ProtobufTraceSerializer` writes
 * (the tests compare the two on the same spans), so a collector receives the same request. It is the
 * largest part of what the built-in tracer costs per span: OpenTelemetry's serialiser writes each request
 * twice (a size estimate, then the bytes), converts every id through a new array and encodes every
 * attribute key again; here keys are encoded once, a tag repeated from the span before (component,
 * peer.*, span.kind…) is copied whole, and ids are written in place. Spans can also be written one by
 * one as they end (`EncodedSpans`, for ./batch-processor) and sent later as the same request. The
 * transport (endpoint, headers, compression, retries, timeouts from OTEL_EXPORTER_OTLP_*) stays
 * OpenTelemetry's own.
 */
import type { Attributes, HrTime, Link, SpanContext, SpanStatus } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import type { InstrumentationScope } from '@opentelemetry/core';

/** Bytes kept between exports; a larger request gets its own buffer, dropped after it. */
const KEPT_BYTES = 1 << 20;
/** A span queue's first room (spans of a few hundred bytes each). */
const QUEUE_BYTES = 16 * 1024;
/** Encoded attribute keys kept (keys are few: the hooks' tags and the resource's). */
const KEY_CACHE_SIZE = 1024;

// Span flags of the OTLP specification.
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

const INT64_MIN = -(2 ** 63);
const INT64_MAX = 2 ** 63;

let buf = Buffer.allocUnsafe(64 * 1024);
let pos = 0;

function ensure(size: number): void {
  if (pos + size <= buf.length) return;
  let next = buf.length * 2;
  while (next < pos + size) next *= 2;
  const grown = Buffer.allocUnsafe(next);
  buf.copy(grown, 0, 0, pos);
  buf = grown;
}

/** `v` (below 2^32) as a varint at `at`, room already made; returns the position after it. */
function varint32At(at: number, v: number): number {
  while (v > 0x7f) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function varint(value: number): void {
  ensure(10);
  if (value >= 0 && value <= 0xffffffff) {
    pos = varint32At(pos, value >>> 0);
    return;
  }
  // 64-bit, two's complement for negatives (ten bytes), as protobuf's int64.
  let low: number;
  let high: number;
  const abs = Math.abs(value);
  low = abs >>> 0;
  high = (abs / 0x100000000) >>> 0;
  if (value < 0) {
    low = ~low >>> 0;
    high = ~high >>> 0;
    low = (low + 1) >>> 0;
    if (low === 0) high = (high + 1) >>> 0;
  }
  while (high > 0 || low > 0x7f) {
    buf[pos++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  buf[pos++] = low & 0x7f;
}

function tag(field: number, wireType: number): void {
  const value = (field << 3) | wireType;
  if (value > 0x7f) return varint(value);
  ensure(1);
  buf[pos++] = value;
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Reserves one byte for a message's length; `end` writes it, moving the message when it needs more. */
function begin(): number {
  ensure(1);
  return pos++;
}

function end(at: number): void {
  const length = pos - at - 1;
  const size = varintSize(length);
  if (size > 1) {
    ensure(size - 1);
    buf.copyWithin(at + size, at + 1, pos);
    pos += size - 1;
  }
  varint32At(at, length);
}

/** A string, length-prefixed, in UTF-8 (lone surrogates as U+FFFD, as TextEncoder writes them). */
function string(value: string): void {
  const length = value.length;
  varint(length);
  ensure(length);
  // ASCII (nearly every tag) is copied as it is read; at the first other character, UTF-8 from the start.
  const start = pos;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code > 127) {
      pos = start - varintSize(length);
      const bytes = Buffer.byteLength(value, 'utf8');
      varint(bytes);
      ensure(bytes);
      pos += buf.write(value, pos, bytes, 'utf8');
      return;
    }
    buf[pos++] = code;
  }
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return code - 55;
}

/** A hex id as bytes, length-prefixed (as OpenTelemetry's hexToBinary reads it, uppercase included). */
function hexBytes(hex: string): void {
  const length = hex.length >>> 1;
  varint(length);
  ensure(length);
  // Valid ids (all of ours, and every propagator's) are written natively; anything else digit by digit.
  if (hexWrite.call(buf, hex, pos, length) === length) {
    pos += length;
    return;
  }
  for (let i = 0; i < length; i++) buf[pos++] = (hexDigit(hex.charCodeAt(2 * i)) << 4) | hexDigit(hex.charCodeAt(2 * i + 1));
}

/** Node's own hex decoder (what `buffer.write(s, 'hex')` ends in, without its argument handling). */
const hexWrite: (this: Buffer, hex: string, offset: number, length: number) => number =
  (Buffer.prototype as unknown as { hexWrite?: typeof hexWrite }).hexWrite ??
  function (this: Buffer, hex: string, offset: number, length: number): number {
    return this.write(hex, offset, length, 'hex');
  };

function fixed32(value: number): void {
  ensure(4);
  buf.writeUInt32LE(value >>> 0, pos);
  pos += 4;
}

/** An HrTime as fixed64 nanoseconds, exact for any Unix time (split so no product passes 2^53). */
function hrTime(time: HrTime): void {
  const seconds = time[0];
  const nanos = time[1];
  const lowSeconds = seconds & 0xffff;
  const highSeconds = (seconds / 0x10000) >>> 0;
  const fromLow = lowSeconds * 1e9;
  const fromHigh = highSeconds * 1e9;
  const lowWithCarry = (fromLow >>> 0) + (((fromHigh & 0xffff) * 0x10000) >>> 0) + nanos;
  const high = (Math.floor(fromLow / 0x100000000) + ((fromHigh / 0x10000) >>> 0) + Math.floor(lowWithCarry / 0x100000000)) >>> 0;
  ensure(8);
  buf.writeUInt32LE(lowWithCarry >>> 0, pos);
  buf.writeUInt32LE(high, pos + 4);
  pos += 8;
}

const keyCache = new Map<string, Uint8Array>();

/** `bytes` written at `pos`: a loop, cheaper than `set`'s native call for the few bytes of a key or pair. */
function copyIn(bytes: Uint8Array): void {
  const length = bytes.length;
  ensure(length);
  for (let i = 0; i < length; i++) buf[pos++] = bytes[i];
}

/** `KeyValue.key` with its tag, encoded once per key. */
function key(name: string): void {
  const encoded = keyCache.get(name);
  if (encoded !== undefined) return copyIn(encoded);
  const start = pos;
  tag(1, 2);
  string(name);
  if (keyCache.size < KEY_CACHE_SIZE) keyCache.set(name, Uint8Array.prototype.slice.call(buf, start, pos));
}

/**
 * The last value seen for an attribute key, and once it has been seen twice in a row, its whole
 * `KeyValue` encoded. Most of a span's tags repeat from span to span (component, db.type, peer.*,
 * span.kind): those are copied, not encoded. A value that changes each time costs a comparison.
 */
interface LastPair {
  field: number;
  value: string | number | boolean;
  encoded: Uint8Array | undefined;
}

/** Longest string value whose pair is kept (a statement or URL past it is rarely repeated). */
const PAIR_MAX_CHARS = 128;
const pairCache = new Map<string, LastPair>();

function isPairCacheable(value: unknown): value is string | number | boolean {
  const type = typeof value;
  return type === 'number' || type === 'boolean' || (type === 'string' && (value as string).length <= PAIR_MAX_CHARS);
}

/** A `KeyValue` of the span's attributes, copied when the same key had the same value before. */
function attributePair(field: number, name: string, value: unknown): void {
  if (!isPairCacheable(value)) return keyValue(field, name, value, true);
  const last = pairCache.get(name);
  const same = last !== undefined && last.value === value && last.field === field;
  if (same && last.encoded !== undefined) return copyIn(last.encoded);
  const start = pos;
  keyValue(field, name, value, true);
  if (same) last.encoded = Uint8Array.prototype.slice.call(buf, start, pos);
  else if (last !== undefined) {
    last.field = field;
    last.value = value;
    last.encoded = undefined;
  } else if (pairCache.size < KEY_CACHE_SIZE) pairCache.set(name, { field, value, encoded: undefined });
}

function anyValue(value: unknown): void {
  const type = typeof value;
  if (type === 'string') {
    tag(1, 2);
    string(value as string);
  } else if (type === 'boolean') {
    tag(2, 0);
    varint(value ? 1 : 0);
  } else if (type === 'number') {
    const n = value as number;
    if (Number.isInteger(n) && n >= INT64_MIN && n < INT64_MAX) {
      tag(3, 0);
      varint(n);
    } else {
      tag(4, 1);
      ensure(8);
      buf.writeDoubleLE(n, pos);
      pos += 8;
    }
  } else if (value instanceof Uint8Array) {
    tag(7, 2);
    varint(value.length);
    ensure(value.length);
    buf.set(value, pos);
    pos += value.length;
  } else if (Array.isArray(value)) {
    tag(5, 2);
    const array = begin();
    for (const item of value) {
      tag(1, 2);
      const at = begin();
      anyValue(item);
      end(at);
    }
    end(array);
  } else if (type === 'object' && value !== null) {
    tag(6, 2);
    const list = begin();
    const object = value as Record<string, unknown>;
    for (const name in object) {
      if (Object.prototype.hasOwnProperty.call(object, name)) keyValue(1, name, object[name], false);
    }
    end(list);
  }
  // Anything else: an empty AnyValue, as OpenTelemetry writes it.
}

/** A `KeyValue` as field `field`; `cached`: the key is one of the few attribute keys, kept encoded. */
function keyValue(field: number, name: string, value: unknown, cached: boolean): void {
  tag(field, 2);
  const pair = begin();
  if (cached) key(name);
  else {
    tag(1, 2);
    string(name);
  }
  tag(2, 2);
  const at = begin();
  anyValue(value);
  end(at);
  end(pair);
}

function attributes(values: Attributes, field: number): void {
  for (const name in values) {
    if (Object.prototype.hasOwnProperty.call(values, name)) attributePair(field, name, values[name]);
  }
}

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | FLAGS_HAS_IS_REMOTE | (isRemote ? FLAGS_IS_REMOTE : 0);
}

function traceState(context: SpanContext): void {
  const state = context.traceState?.serialize();
  if (state) {
    tag(3, 2);
    string(state);
  }
}

function event(value: TimedEvent): void {
  const at = begin();
  tag(1, 1);
  hrTime(value.time);
  tag(2, 2);
  string(value.name);
  if (value.attributes) attributes(value.attributes, 3);
  tag(4, 0);
  varint(value.droppedAttributesCount || 0);
  end(at);
}

function link(value: Link): void {
  const at = begin();
  const context = value.context;
  tag(1, 2);
  hexBytes(context.traceId);
  tag(2, 2);
  hexBytes(context.spanId);
  traceState(context);
  if (value.attributes) attributes(value.attributes, 4);
  tag(5, 0);
  varint(value.droppedAttributesCount || 0);
  tag(6, 5);
  fixed32(spanFlags(context.traceFlags, context.isRemote));
  end(at);
}

function status(value: SpanStatus): void {
  const at = begin();
  if (value.message) {
    tag(2, 2);
    string(value.message);
  }
  tag(3, 0);
  varint(value.code);
  end(at);
}

function span(value: ReadableSpan): void {
  const at = begin();
  const context = value.spanContext();
  tag(1, 2);
  hexBytes(context.traceId);
  tag(2, 2);
  hexBytes(context.spanId);
  traceState(context);
  const parent = value.parentSpanContext;
  if (parent?.spanId) {
    tag(4, 2);
    hexBytes(parent.spanId);
  }
  tag(5, 2);
  string(value.name);
  // OTLP's kinds are the API's plus one (0 is unspecified).
  const kind = value.kind == null ? 0 : value.kind + 1;
  if (kind !== 0) {
    tag(6, 0);
    varint(kind);
  }
  tag(7, 1);
  hrTime(value.startTime);
  tag(8, 1);
  hrTime(value.endTime);
  if (value.attributes) attributes(value.attributes, 9);
  tag(10, 0);
  varint(value.droppedAttributesCount);
  for (const item of value.events) {
    tag(11, 2);
    event(item);
  }
  tag(12, 0);
  varint(value.droppedEventsCount);
  for (const item of value.links) {
    tag(13, 2);
    link(item);
  }
  tag(14, 0);
  varint(value.droppedLinksCount);
  tag(15, 2);
  status(value.status);
  tag(16, 5);
  fixed32(spanFlags(context.traceFlags, parent?.isRemote));
  end(at);
}

/** The spans of one scope: span objects, or spans already written (`EncodedSpans.take`). */
type ScopeContent = ReadableSpan[] | Uint8Array;

function scopeSpans(scope: InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number }, spans: ScopeContent): void {
  const at = begin();
  tag(1, 2);
  const scopeAt = begin();
  tag(1, 2);
  string(scope.name);
  if (scope.version) {
    tag(2, 2);
    string(scope.version);
  }
  if (scope.attributes) attributes(scope.attributes, 3);
  if (scope.droppedAttributesCount) {
    tag(4, 0);
    varint(scope.droppedAttributesCount);
  }
  end(scopeAt);
  if (spans instanceof Uint8Array) {
    ensure(spans.length);
    buf.set(spans, pos);
    pos += spans.length;
  } else {
    for (const item of spans) {
      tag(2, 2);
      span(item);
    }
  }
  if (scope.schemaUrl) {
    tag(3, 2);
    string(scope.schemaUrl);
  }
  end(at);
}

function resourceSpans(resource: Resource, scopes: Map<InstrumentationScope, ScopeContent>): void {
  const at = begin();
  tag(1, 2);
  const resourceAt = begin();
  if (resource.attributes) attributes(resource.attributes, 1);
  tag(2, 0);
  varint(0);
  end(resourceAt);
  for (const [scope, spans] of scopes) {
    tag(2, 2);
    scopeSpans(scope, spans);
  }
  if (resource.schemaUrl) {
    tag(3, 2);
    string(resource.schemaUrl);
  }
  end(at);
}

/** The spans grouped by resource, then scope (by identity, in order of first appearance). */
function grouped(spans: ReadableSpan[]): Map<Resource, Map<InstrumentationScope, ReadableSpan[]>> {
  const byResource = new Map<Resource, Map<InstrumentationScope, ReadableSpan[]>>();
  for (const item of spans) {
    let byScope = byResource.get(item.resource);
    if (byScope === undefined) byResource.set(item.resource, (byScope = new Map()));
    const list = byScope.get(item.instrumentationScope);
    if (list === undefined) byScope.set(item.instrumentationScope, [item]);
    else list.push(item);
  }
  return byResource;
}

/** The request `write` writes, in a buffer of its own. */
function request(write: () => void): Uint8Array {
  pos = 0;
  try {
    write();
    // The transport may keep the request (retries), so it gets a copy.
    const copy = Buffer.allocUnsafeSlow(pos);
    buf.copy(copy, 0, 0, pos);
    return copy;
  } finally {
    pos = 0;
    if (buf.length > KEPT_BYTES) buf = Buffer.allocUnsafe(KEPT_BYTES);
  }
}

/** The OTLP/protobuf `ExportTraceServiceRequest` of `spans`, in a buffer of its own. */
export function serializeTraceRequest(spans: ReadableSpan[]): Uint8Array {
  return request(() => {
    for (const [resource, scopes] of grouped(spans)) {
      tag(1, 2);
      resourceSpans(resource, scopes);
    }
  });
}

/** Spans of one resource and scope, already written: what `EncodedSpans.take` gives an exporter. */
export class EncodedBatch {
  constructor(
    readonly resource: Resource,
    readonly scope: InstrumentationScope,
    /** `ScopeSpans.spans` fields, one a span. */
    readonly spans: Uint8Array,
    /** How many spans (exporters count a batch by its length). */
    readonly length: number,
  ) {}
}

/**
 * A queue of spans written as they end, so that it holds bytes, not span objects: a span is garbage as soon
 * as it has ended, instead of living on (and being copied by each young-generation collection) until its
 * batch is sent. Each entry is the `ScopeSpans.spans` field that `serializeTraceRequest` writes for it.
 */
export class EncodedSpans {
  private bytes = Buffer.allocUnsafe(QUEUE_BYTES);
  private size = 0;
  /** Where each queued span's bytes end. */
  private ends: number[] = [];

  get length(): number {
    return this.ends.length;
  }

  /** Writes `value` at the end of the queue; if writing throws, nothing of it is kept. */
  push(value: ReadableSpan): void {
    const outer = buf;
    const outerPos = pos;
    buf = this.bytes;
    pos = this.size;
    try {
      tag(2, 2);
      span(value);
      this.size = pos;
      this.ends.push(pos);
    } finally {
      this.bytes = buf; // grown, if it had to
      buf = outer;
      pos = outerPos;
    }
  }

  /** The first `count` spans (at most), taken off the queue; their bytes are copied out. */
  take(count: number, resource: Resource, scope: InstrumentationScope): EncodedBatch {
    const taken = Math.min(count, this.ends.length);
    const cut = taken === 0 ? 0 : this.ends[taken - 1];
    const spans = Buffer.allocUnsafeSlow(cut);
    this.bytes.copy(spans, 0, 0, cut);
    if (taken === this.ends.length) {
      this.ends = [];
      this.size = 0;
      // A burst's room is given back once it has gone.
      if (this.bytes.length > KEPT_BYTES) this.bytes = Buffer.allocUnsafe(QUEUE_BYTES);
    } else {
      this.bytes.copyWithin(0, cut, this.size);
      this.size -= cut;
      this.ends = this.ends.slice(taken).map((at) => at - cut);
    }
    return new EncodedBatch(resource, scope, spans, taken);
  }
}

/** `serializeTraceRequest`, also for a batch written in advance: the same bytes as for its spans. */
export function serializeRequest(items: ReadableSpan[] | EncodedBatch): Uint8Array {
  if (!(items instanceof EncodedBatch)) return serializeTraceRequest(items);
  return request(() => {
    tag(1, 2);
    resourceSpans(items.resource, new Map([[items.scope, items.spans]]));
  });
}
