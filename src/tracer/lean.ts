/**
 * The built-in tracer: an OpenTracing `Tracer` whose spans are also OpenTelemetry SDK `ReadableSpan`s, so
 * that the SDK's own processors (BatchSpanProcessor) and exporters (OTLP, Zipkin) take them as they are
 * (for OTLP/protobuf, ./batch-processor writes them as they end).
 *
 * It replaces `@opentelemetry/shim-opentracing` + the SDK `Tracer` for our own use: no OpenTelemetry
 * Context, no AsyncLocalStorage, no Baggage and no validation per span. A span is two small objects (the
 * span and its context); parents are explicit (`childOf`); ids come from a pooled random hex string; times
 * are one `performance.now()` each, turned into HrTime only when an exporter reads them.
 *
 * Nothing of `@opentelemetry/*` is loaded by this module: the propagators (inject/extract) are loaded on the
 * first inject or extract, by the `Propagation` the tracer is given.
 */
import { performance } from 'node:perf_hooks';
import { Span as OpenTracingSpan, SpanContext as OpenTracingSpanContext, Tracer as OpenTracingTracer, FORMAT_HTTP_HEADERS, FORMAT_TEXT_MAP } from 'opentracing';
import type { Reference, SpanOptions } from 'opentracing';
import type { Attributes, AttributeValue, Baggage, HrTime, Link, SpanContext, SpanKind, SpanStatus, TraceState } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import type { InstrumentationScope } from '@opentelemetry/core';

/* eslint-disable @typescript-eslint/no-require-imports -- node:crypto loads with the first id, not at start-up */

// OpenTelemetry enum values, as constants (the enums live in @opentelemetry/api, which is not loaded here).
const KIND_INTERNAL = 0 as SpanKind;
const KIND_SERVER = 1 as SpanKind;
const KIND_CLIENT = 2 as SpanKind;
const KIND_PRODUCER = 3 as SpanKind;
const KIND_CONSUMER = 4 as SpanKind;
const SAMPLED = 1;

const STATUS_UNSET: SpanStatus = Object.freeze({ code: 0 });
const STATUS_OK: SpanStatus = Object.freeze({ code: 1 });
const STATUS_ERROR: SpanStatus = Object.freeze({ code: 2 });

const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];

function kindOf(value: unknown): SpanKind {
  switch (value) {
    case 'client':
      return KIND_CLIENT;
    case 'server':
      return KIND_SERVER;
    case 'producer':
      return KIND_PRODUCER;
    case 'consumer':
      return KIND_CONSUMER;
    default:
      return KIND_INTERNAL;
  }
}

// ---------------------------------------------------------------------------------------------- ids

const POOL_BYTES = 4096;
let pool = '';
let poolAt = 0;
let randomFillSync: typeof import('node:crypto').randomFillSync | undefined;

/** 8 KiB of random hex, sliced into ids (node:crypto is loaded with the first span). */
function refill(): void {
  randomFillSync ??= (require('node:crypto') as typeof import('node:crypto')).randomFillSync;
  pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES)).toString('hex');
  poolAt = 0;
}

/** `chars` random lowercase hex characters (16 for a span id, 32 for a trace id), never all zeros. */
function randomHex(chars: 16 | 32): string {
  if (poolAt + chars > pool.length) refill();
  const id = pool.slice(poolAt, (poolAt += chars));
  return id.charCodeAt(0) === 48 && /^0+$/.test(id) ? `${id.slice(0, chars - 1)}1` : id;
}

// --------------------------------------------------------------------------------------------- time

/**
 * Wall-clock time of `performance.now() === 0`. Spans take one `performance.now()` at start and one at
 * finish; `anchor + now` is their wall time. The anchor follows the system clock (checked at most once a
 * second), and each span keeps the anchor it started with, so that its duration is exactly the monotonic one.
 */
let anchor = performance.timeOrigin;
let anchorCheckedAt = -Infinity;

function currentAnchor(now: number): number {
  if (now - anchorCheckedAt >= 1000) {
    anchorCheckedAt = now;
    // Date.now() is whole milliseconds, so up to 1 ms behind: only a larger drift moves the anchor.
    const drift = Date.now() + 0.5 - (anchor + now);
    if (drift > 1.5 || drift < -1.5) anchor += drift;
  }
  return anchor;
}

/** Milliseconds since the Unix epoch (split in two for precision) as an OpenTelemetry HrTime. */
function toHrTime(base: number, offset: number): HrTime {
  const baseSeconds = Math.floor(base / 1000);
  const offsetSeconds = Math.floor(offset / 1000);
  let seconds = baseSeconds + offsetSeconds;
  let nanos = Math.round((base - baseSeconds * 1000) * 1e6 + (offset - offsetSeconds * 1000) * 1e6);
  while (nanos >= 1e9) {
    nanos -= 1e9;
    seconds += 1;
  }
  return [seconds, nanos];
}

function durationToHrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

/**
 * An OpenTracing time (milliseconds since the epoch, a Date, or an HrTime) as milliseconds since the span's
 * anchor. A number not larger than `performance.now()` is a performance timestamp, as the SDK reads it.
 */
function relativeTime(time: unknown, base: number): number {
  if (typeof time === 'number') return time <= performance.now() ? time : time - base;
  if (time instanceof Date) return time.getTime() - base;
  if (Array.isArray(time) && time.length === 2 && typeof time[0] === 'number' && typeof time[1] === 'number') return time[0] * 1e3 + time[1] / 1e6 - base;
  return performance.now();
}

// ------------------------------------------------------------------------------------------- limits

export interface SpanLimits {
  /** Attributes per span (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, default 128); more are dropped and counted. */
  attributeCountLimit: number;
  /** String attribute length (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, default unlimited). */
  attributeValueLengthLimit: number;
  /** Events (logs) per span (OTEL_SPAN_EVENT_COUNT_LIMIT, default 128); the oldest are dropped. */
  eventCountLimit: number;
  /** Attributes per event (OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT, default 128). */
  attributePerEventCountLimit: number;
  /** Links per span (OTEL_SPAN_LINK_COUNT_LIMIT, default 128). */
  linkCountLimit: number;
}

/** Reports a configuration value that cannot be used (once per message: the project's warnOnce). */
export type ConfigWarning = (message: string) => void;

/**
 * The first of `names` set to a number, as the SDK reads them: blank counts as unset, and a value that is
 * not a number is reported and skipped.
 */
function envNumber(env: NodeJS.ProcessEnv, warn: ConfigWarning, ...names: string[]): { name: string; value: number } | undefined {
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const value = Number(raw);
    if (!Number.isNaN(value)) return { name, value };
    warn(`${name}=${JSON.stringify(raw)} is not a number (ignored)`);
  }
  return undefined;
}

/**
 * The string length limit: as the SDK, one that is not positive (`-1`, `0`) truncates nothing, with a
 * warning.
 */
function lengthLimit(env: NodeJS.ProcessEnv, warn: ConfigWarning): number {
  const found = envNumber(env, warn, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT');
  if (found === undefined) return Infinity;
  if (found.value > 0) return found.value;
  warn(`${found.name}=${found.value}: the limit must be positive (values are not truncated)`);
  return Infinity;
}

/** The span limits the OpenTelemetry SDK reads from the environment, with its defaults; `warn` reports the values it cannot use. */
export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env, warn: ConfigWarning = () => undefined): SpanLimits {
  const count = (...names: string[]): number => envNumber(env, warn, ...names)?.value ?? 128;
  return {
    attributeCountLimit: count('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'),
    attributeValueLengthLimit: lengthLimit(env, warn),
    eventCountLimit: count('OTEL_SPAN_EVENT_COUNT_LIMIT'),
    attributePerEventCountLimit: count('OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT'),
    linkCountLimit: count('OTEL_SPAN_LINK_COUNT_LIMIT'),
  };
}

// ----------------------------------------------------------------------------------------- sampling

/** Decides for a new root span, from its trace id. */
export type RootSampler = (traceId: string) => boolean;

export interface Sampling {
  root: RootSampler;
  /** Children follow their parent's sampled flag (the `parentbased_*` samplers, and the default). */
  parentBased: boolean;
}

/** `ratio` in [0, 1]. */
function ratioSampler(ratio: number): RootSampler {
  const upper = ratio === 1 ? 0x100000000 : Math.floor(ratio * 0xffffffff);
  // The SDK's TraceIdRatioBasedSampler: the 32-bit words of the trace id, xored.
  return (traceId) => {
    let acc = 0;
    for (let i = 0; i < 32; i += 8) acc = (acc ^ parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
    return acc < upper;
  };
}

const ALWAYS: RootSampler = () => true;
const NEVER: RootSampler = () => false;

/**
 * OTEL_TRACES_SAMPLER (and OTEL_TRACES_SAMPLER_ARG) as the SDK reads them; default parentbased_always_on.
 * A ratio that is not a number in [0, 1] is 1, with a warning, as in the SDK.
 */
export function samplingFromEnv(env: NodeJS.ProcessEnv = process.env, warn: ConfigWarning = () => undefined): Sampling {
  const name = (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase() || 'parentbased_always_on';
  const ratio = (): number => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG;
    if (raw === undefined || raw.trim() === '') return 1;
    const value = Number(raw);
    if (value >= 0 && value <= 1) return value;
    warn(`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(raw)} is not a number in [0, 1] (1 is used)`);
    return 1;
  };
  const parentBased = name.startsWith('parentbased_');
  switch (parentBased ? name.slice('parentbased_'.length) : name) {
    case 'always_on':
      return { root: ALWAYS, parentBased };
    case 'always_off':
      return { root: NEVER, parentBased };
    case 'traceidratio':
      return { root: ratioSampler(ratio()), parentBased };
    default:
      warn(`OTEL_TRACES_SAMPLER="${name}" is not supported by the built-in tracer (parentbased_always_on is used)`);
      return { root: ALWAYS, parentBased: true };
  }
}

// ---------------------------------------------------------------------------------------- resource

/** A Resource with fixed attributes (what `resourceFromAttributes` gives), without loading @opentelemetry/resources. */
export class FixedResource implements Resource {
  readonly asyncAttributesPending = false;
  readonly schemaUrl = undefined;
  constructor(readonly attributes: Attributes) {}
  waitForAsyncAttributes(): Promise<void> {
    return Promise.resolve();
  }
  merge(other: Resource | null): Resource {
    return other === null ? this : new FixedResource({ ...this.attributes, ...other.attributes });
  }
  getRawAttributes(): Array<[string, AttributeValue | undefined]> {
    return Object.entries(this.attributes);
  }
}

// -------------------------------------------------------------------------------------- propagation

/** How the tracer injects and extracts span contexts (see `propagation.ts`); built on first use. */
export interface Propagation {
  inject(context: LeanSpanContext, carrier: object): void;
  extract(carrier: object): LeanSpanContext | null;
  /** An empty OpenTelemetry Baggage (for setBaggageItem). */
  createBaggage(): Baggage;
}

// ------------------------------------------------------------------------------------ span context

/** The OpenTracing span context, and the OpenTelemetry SpanContext that exporters and propagators read. */
export class LeanSpanContext extends OpenTracingSpanContext implements SpanContext {
  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly traceFlags: number,
    readonly traceState: TraceState | undefined,
    readonly isRemote: boolean,
    /** OpenTelemetry Baggage, inherited by children; undefined until some is extracted or set. */
    public baggage: Baggage | undefined,
  ) {
    super();
  }

  override toTraceId(): string { return this.traceId; }
  override toSpanId(): string { return this.spanId; }
}

// --------------------------------------------------------------------------------------------- span

type Fields = { [key: string]: unknown };

function isPrimitiveAttribute(value: unknown): value is string | number | boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean';
}

/** A homogeneous array of strings, numbers or booleans (nulls allowed), as OpenTelemetry attributes take. */
function isAttributeArray(value: unknown): value is Array<string | number | boolean | null | undefined> {
  if (!Array.isArray(value)) return false;
  let type: string | undefined;
  for (const item of value) {
    if (item == null) continue;
    const itemType = typeof item;
    if (itemType !== 'string' && itemType !== 'number' && itemType !== 'boolean') return false;
    if (type === undefined) type = itemType;
    else if (itemType !== type) return false;
  }
  return true;
}

/** The value to store, or undefined to drop it: undefined, null, objects and functions are dropped. */
function attributeValue(value: unknown, lengthLimit: number): AttributeValue | undefined {
  if (typeof value === 'string') return value.length > lengthLimit ? value.slice(0, lengthLimit) : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (isAttributeArray(value)) {
    return (lengthLimit === Infinity ? value.slice() : value.map((v) => (typeof v === 'string' && v.length > lengthLimit ? v.slice(0, lengthLimit) : v))) as AttributeValue;
  }
  return undefined;
}

/** OpenTracing `error` tag → status, as the shim maps it (true/false); undefined: not a status, kept as an attribute. */
function errorStatus(value: unknown): SpanStatus | undefined {
  switch (value) {
    case true:
    case 'true':
      return STATUS_ERROR;
    case false:
    case 'false':
      return STATUS_OK;
    default:
      return undefined;
  }
}

const EXCEPTION_KEYS: { [key: string]: string } = {
  'error.kind': 'exception.type',
  message: 'exception.message',
  stack: 'exception.stacktrace',
};

export class LeanSpan extends OpenTracingSpan implements ReadableSpan {
  declare name: string;
  declare kind: SpanKind;
  declare readonly attributes: Attributes;
  declare status: SpanStatus;
  declare events: TimedEvent[];
  declare links: Link[];
  declare readonly parentSpanContext: LeanSpanContext | undefined;
  declare droppedAttributesCount: number;
  declare droppedEventsCount: number;
  declare droppedLinksCount: number;
  /** The tracer. */
  declare readonly _owner: LeanTracer;
  declare readonly _ctx: LeanSpanContext;
  /** Attributes stored (for the count limit). */
  declare _count: number;
  /** Wall time (ms since the epoch) of performance.now() === 0, for this span. */
  declare readonly _base: number;
  /** Start and end, in ms of performance.now() (end NaN until finished). */
  declare _start: number;
  declare _end: number;
  /** Finished, or never recording (not sampled): nothing more is recorded. */
  declare _closed: boolean;

  constructor(owner: LeanTracer, name: string, context: LeanSpanContext, parent: LeanSpanContext | undefined, tags: Fields | undefined, startTime: number | undefined, recording: boolean) {
    super();
    const now = performance.now();
    this._owner = owner;
    this._ctx = context;
    this.name = name;
    this.kind = KIND_INTERNAL;
    this.status = STATUS_UNSET;
    this.events = NO_EVENTS;
    this.links = NO_LINKS;
    this.parentSpanContext = parent;
    this.droppedAttributesCount = 0;
    this.droppedEventsCount = 0;
    this.droppedLinksCount = 0;
    this._base = currentAnchor(now);
    this._start = startTime === undefined ? now : relativeTime(startTime, this._base);
    this._end = NaN;
    this._closed = !recording;
    const attributes: Attributes = {};
    let count = 0;
    if (tags !== undefined && tags !== null) {
      const limits = owner.limits;
      for (const key in tags) {
        const value = tags[key];
        if (value === undefined || value === null) continue;
        if (key === 'span.kind') this.kind = kindOf(value);
        else if (key === 'error') {
          const status = errorStatus(value);
          if (status !== undefined) {
            this.status = status;
            continue;
          }
        }
        const stored = isPrimitiveAttribute(value) && (typeof value !== 'string' || value.length <= limits.attributeValueLengthLimit) ? value : attributeValue(value, limits.attributeValueLengthLimit);
        if (stored === undefined) continue;
        if (count >= limits.attributeCountLimit) {
          this.droppedAttributesCount++;
          continue;
        }
        attributes[key] = stored;
        count++;
      }
    }
    this.attributes = attributes;
    this._count = count;
  }

  // ------------------------------------------------------------------------------ OpenTracing Span

  override context(): LeanSpanContext { return this._ctx; }
  override tracer(): LeanTracer { return this._owner; }

  override setOperationName(name: string): this {
    if (!this._closed) this.name = name;
    return this;
  }

  override setTag(key: string, value: unknown): this {
    if (this._closed || value === undefined || value === null) return this;
    if (key === 'error') {
      const status = errorStatus(value);
      if (status !== undefined) {
        // As the SDK's setStatus: OK is final.
        if (this.status !== STATUS_OK) this.status = status;
        return this;
      }
    } else if (key === 'span.kind') {
      this.kind = kindOf(value);
    }
    const limits = this._owner.limits;
    const stored = isPrimitiveAttribute(value) && (typeof value !== 'string' || value.length <= limits.attributeValueLengthLimit) ? value : attributeValue(value, limits.attributeValueLengthLimit);
    if (stored === undefined) return this;
    const attributes = this.attributes;
    if (attributes[key] === undefined) {
      if (this._count >= limits.attributeCountLimit) {
        this.droppedAttributesCount++;
        return this;
      }
      this._count++;
    }
    attributes[key] = stored;
    return this;
  }

  override addTags(keyValueMap: Fields): this {
    for (const key in keyValueMap) this.setTag(key, keyValueMap[key]);
    return this;
  }

  override log(keyValuePairs: Fields, timestamp?: number): this {
    if (this._closed || keyValuePairs === null || typeof keyValuePairs !== 'object') return this;
    const event = keyValuePairs.event;
    this.record(event ? String(event) : 'log', keyValuePairs, timestamp);
    return this;
  }

  override logEvent(eventName: string, payload?: unknown): void {
    if (this._closed) return;
    this.record(String(eventName), payload !== null && typeof payload === 'object' ? (payload as Fields) : undefined, undefined);
  }

  override setBaggageItem(key: string, value: string): this {
    const context = this._ctx;
    context.baggage = (context.baggage ?? this._owner.propagation().createBaggage()).setEntry(key, { value: String(value) });
    return this;
  }

  override getBaggageItem(key: string): string | undefined {
    return this._ctx.baggage?.getEntry(key)?.value;
  }

  override finish(finishTime?: number): void {
    if (this._closed) return;
    this._closed = true;
    this._end = finishTime === undefined ? performance.now() : relativeTime(finishTime, this._base);
    this._owner.processor.onEnd(this);
  }

  /** Adds a span event; an `error` log becomes an `exception` event, as the OpenTracing shim maps it. */
  private record(name: string, fields: Fields | undefined, timestamp: number | undefined): void {
    let attributes: Attributes;
    let dropped = 0;
    const limits = this._owner.limits;
    const error = name === 'error' && fields !== undefined ? fields['error.object'] : undefined;
    if (typeof error === 'string') {
      // The shim's recordException(string): the message only, no event when it is empty.
      if (error === '') return;
      attributes = { 'exception.message': error };
    } else {
      attributes = {};
      let count = 0;
      const exception = name === 'error' && fields !== undefined;
      for (const key of fields === undefined ? [] : Object.keys(fields)) {
        const value = attributeValue((fields as Fields)[key], limits.attributeValueLengthLimit);
        if (value === undefined) continue;
        if (count >= limits.attributePerEventCountLimit) {
          dropped++;
          continue;
        }
        attributes[exception ? EXCEPTION_KEYS[key] ?? key : key] = value;
        count++;
      }
    }
    if (name === 'error' && fields !== undefined) name = 'exception';
    const time = toHrTime(this._base, timestamp === undefined ? performance.now() : relativeTime(timestamp, this._base));
    if (this.events === NO_EVENTS) this.events = [];
    if (this.events.length >= limits.eventCountLimit) {
      this.droppedEventsCount++;
      if (limits.eventCountLimit <= 0) return;
      this.events.shift();
    }
    this.events.push({ name, attributes, time, droppedAttributesCount: dropped });
  }

  // ----------------------------------------------------------------------- OpenTelemetry ReadableSpan

  spanContext(): LeanSpanContext {
    return this._ctx;
  }

  get startTime(): HrTime {
    return toHrTime(this._base, this._start);
  }

  get endTime(): HrTime {
    // Not finished: [0, 0], as the SDK. An end before the start is moved to the start.
    return Number.isNaN(this._end) ? [0, 0] : toHrTime(this._base, this._end < this._start ? this._start : this._end);
  }

  get duration(): HrTime {
    return Number.isNaN(this._end) ? [-1, -1] : durationToHrTime(this._end < this._start ? 0 : this._end - this._start);
  }

  get ended(): boolean {
    return !Number.isNaN(this._end);
  }

  get resource(): Resource {
    return this._owner.resource;
  }

  get instrumentationScope(): InstrumentationScope {
    return this._owner.instrumentationScope;
  }
}

// ------------------------------------------------------------------------------------------- tracer

export interface LeanTracerOptions {
  /** Receives every finished, sampled span (onEnd only: onStart is not called). */
  processor: SpanProcessor;
  /** Builds the propagation on the first inject or extract. */
  propagation: () => Propagation;
  resource: Resource;
  instrumentationScope?: InstrumentationScope;
  limits?: SpanLimits;
  sampling?: Sampling;
  /**
   * Called once, when the first span starts and before its start time is taken: what the tracer loads on
   * first use (exporter, propagators) then loads before any span is timed, so that no span's duration
   * includes our module loading.
   */
  onFirstSpan?: () => void;
}

function isLeanContext(value: unknown): value is LeanSpanContext {
  return value instanceof LeanSpanContext;
}

/** The context a `childOf`/reference target stands for, if it is one of ours. */
function contextOf(target: unknown): LeanSpanContext | undefined {
  if (target instanceof LeanSpan) return target._ctx;
  return isLeanContext(target) ? target : undefined;
}

export class LeanTracer extends OpenTracingTracer {
  readonly processor: SpanProcessor;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly limits: SpanLimits;
  private readonly sampling: Sampling;
  private readonly makePropagation: () => Propagation;
  private built: Propagation | undefined;
  private firstSpan: (() => void) | undefined;

  constructor(options: LeanTracerOptions) {
    super();
    this.processor = options.processor;
    this.resource = options.resource;
    this.instrumentationScope = options.instrumentationScope ?? { name: 'opentracing-client-hooks' };
    this.limits = options.limits ?? limitsFromEnv({});
    this.sampling = options.sampling ?? { root: ALWAYS, parentBased: true };
    this.makePropagation = options.propagation;
    this.firstSpan = options.onFirstSpan;
  }

  /** The propagators, loaded on first use. */
  propagation(): Propagation {
    return (this.built ??= this.makePropagation());
  }

  override startSpan(name: string, options?: SpanOptions): LeanSpan {
    if (this.firstSpan !== undefined) {
      const first = this.firstSpan;
      this.firstSpan = undefined;
      first();
    }
    let parent: LeanSpanContext | undefined;
    let references: Reference[] | undefined;
    if (options !== undefined) {
      const childOf = options.childOf;
      if (childOf !== undefined && childOf !== null) parent = contextOf(childOf);
      references = options.references;
      if (parent === undefined && references !== undefined && references.length > 0) {
        // No childOf: the first reference of ours is the parent (childOf before followsFrom).
        for (const type of ['child_of', 'follows_from']) {
          for (const reference of references) {
            if (reference.type() === type) parent = contextOf(reference.referencedContext());
            if (parent !== undefined) break;
          }
          if (parent !== undefined) break;
        }
      }
    }
    let context: LeanSpanContext;
    let recording: boolean;
    if (parent === undefined) {
      const traceId = randomHex(32);
      recording = this.sampling.root(traceId);
      context = new LeanSpanContext(traceId, randomHex(16), recording ? SAMPLED : 0, undefined, false, undefined);
    } else {
      recording = this.sampling.parentBased ? (parent.traceFlags & SAMPLED) === SAMPLED : this.sampling.root(parent.traceId);
      // The sampling decision only, as OpenTelemetry's SDK does: no other flag of the parent's is passed on
      // (W3C level 2's `random` would be Jaeger's `debug` through its propagator).
      const flags = recording ? SAMPLED : 0;
      context = new LeanSpanContext(parent.traceId, randomHex(16), flags, parent.traceState, false, parent.baggage);
    }
    const span = new LeanSpan(this, name, context, parent, options?.tags, options?.startTime, recording);
    if (references !== undefined && references.length > 0 && recording) this.addLinks(span, references);
    return span;
  }

  /**
   * Every reference in `references` (of ours) becomes a link, with its `opentracing.ref_type`, the one the
   * parent was taken from included: the OpenTelemetry specification's OpenTracing compatibility has "all
   * values in the list" added as links. A `childOf` option is the parent only.
   */
  private addLinks(span: LeanSpan, references: Reference[]): void {
    for (const reference of references) {
      const context = contextOf(reference.referencedContext());
      if (context === undefined) continue;
      if (span.links.length >= this.limits.linkCountLimit) {
        span.droppedLinksCount++;
        continue;
      }
      if (span.links === NO_LINKS) span.links = [];
      span.links.push({ context, attributes: { 'opentracing.ref_type': reference.type() } });
    }
  }

  override inject(spanContext: unknown, format: string, carrier: unknown): void {
    const context = contextOf(spanContext);
    if (context === undefined || carrier === null || typeof carrier !== 'object') return;
    if (format !== FORMAT_HTTP_HEADERS && format !== FORMAT_TEXT_MAP) return; // FORMAT_BINARY: not supported, as the shim
    this.propagation().inject(context, carrier);
  }

  override extract(format: string, carrier: unknown): LeanSpanContext | null {
    if (carrier === null || typeof carrier !== 'object') return null;
    if (format !== FORMAT_HTTP_HEADERS && format !== FORMAT_TEXT_MAP) return null;
    return this.propagation().extract(carrier);
  }
}
