import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as opentracing from 'opentracing';
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { batchSpanProcessor } from '../../src/tracer';
import { FixedResource, LeanSpan, LeanSpanContext, LeanTracer, limitsFromEnv, samplingFromEnv } from '../../src/tracer/lean';
import { createPropagation, isW3COnly, propagationNames, propagatorFor } from '../../src/tracer/propagation';
import { toRecord } from '../../src/tracer/records';
import { tempFiles } from '../helpers/child';

const root = path.join(__dirname, '..', '..', '..');

function collecting(): { spans: ReadableSpan[]; processor: SpanProcessor } {
  const spans: ReadableSpan[] = [];
  return {
    spans,
    processor: { onStart() {}, onEnd: (span) => void spans.push(span), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() },
  };
}

function leanTracer(processor: SpanProcessor, env: NodeJS.ProcessEnv = {}): LeanTracer {
  return new LeanTracer({
    processor,
    resource: new FixedResource({ 'service.name': 'svc' }),
    limits: limitsFromEnv(env),
    sampling: samplingFromEnv(env),
    propagation: () => createPropagation(propagatorFor(env), isW3COnly(propagationNames(env))),
  });
}

/** The spans as the OTLP/HTTP exporter sends them (its JSON serializer). */
function otlp(spans: ReadableSpan[]): any {
  const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
  return JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(spans)).toString('utf8'));
}

function otlpSpans(spans: ReadableSpan[]): any[] {
  return otlp(spans).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans));
}

function attrs(list: any[]): Record<string, unknown> {
  return Object.fromEntries(list.map((a: any) => [a.key, a.value]));
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

describe('lean tracer: spans as the OpenTelemetry exporters see them', () => {
  it('ids, parent, kind, times, attributes, resource and scope in OTLP', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const server = tracer.startSpan('HTTP GET', { tags: { 'span.kind': 'server', 'http.method': 'GET' } });
    const client = tracer.startSpan('pg.query:SELECT', { childOf: server, tags: { 'span.kind': 'client', component: 'pg' } });
    client.setTag('db.statement', 'SELECT ?').setTag('peer.port', 5432).setTag('ratio', 0.5).setTag('cached', false);
    client.finish();
    server.finish();
    assert.equal(spans.length, 2);
    const body = otlp(spans);
    assert.deepEqual(body.resourceSpans.length, 1);
    assert.deepEqual(attrs(body.resourceSpans[0].resource.attributes), { 'service.name': { stringValue: 'svc' } });
    assert.equal(body.resourceSpans[0].scopeSpans[0].scope.name, 'opentracing-client-hooks');
    const [c, s] = body.resourceSpans[0].scopeSpans[0].spans;
    assert.match(s.traceId, HEX32);
    assert.match(s.spanId, HEX16);
    assert.equal(s.parentSpanId, undefined);
    assert.equal(c.traceId, s.traceId);
    assert.equal(c.parentSpanId, s.spanId);
    assert.notEqual(c.spanId, s.spanId);
    assert.equal(s.kind, 2); // SERVER (+1 in OTLP)
    assert.equal(c.kind, 3); // CLIENT
    assert.equal(c.flags, 0x101); // sampled, parent known to be local
    assert.equal(s.flags, 0x101);
    assert.deepEqual(attrs(c.attributes), {
      'span.kind': { stringValue: 'client' },
      component: { stringValue: 'pg' },
      'db.statement': { stringValue: 'SELECT ?' },
      'peer.port': { intValue: 5432 },
      ratio: { doubleValue: 0.5 },
      cached: { boolValue: false },
    });
    assert.deepEqual(c.status, { code: 0 });
    assert.deepEqual(c.events, []);
    assert.deepEqual(c.links, []);
    const start = BigInt(c.startTimeUnixNano);
    const end = BigInt(c.endTimeUnixNano);
    assert.ok(end >= start);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    assert.ok(nowNs - start < 5_000_000_000n && start - nowNs < 5_000_000_000n, 'start is wall-clock time');
    assert.ok(BigInt(s.startTimeUnixNano) <= start && BigInt(s.endTimeUnixNano) >= end, 'the child lies within its parent');
  });

  it('span.kind maps to the OpenTelemetry kind (client, server, producer, consumer; else internal)', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    for (const kind of ['client', 'server', 'producer', 'consumer', 'rpc', undefined]) tracer.startSpan(String(kind), { tags: { 'span.kind': kind } }).finish();
    const late = tracer.startSpan('late');
    late.setTag('span.kind', 'producer');
    late.finish();
    assert.deepEqual(spans.map((s) => [s.name, s.kind]), [['client', 2], ['server', 1], ['producer', 3], ['consumer', 4], ['rpc', 0], ['undefined', 0], ['late', 3]]);
    assert.deepEqual(otlpSpans(spans).map((s) => s.kind), [3, 2, 4, 5, 1, 1, 4]);
  });

  it('an extracted parent is remote: parentSpanContext.isRemote, OTLP flags, and a local root for the console', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const parent = tracer.extract(opentracing.FORMAT_HTTP_HEADERS, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    assert.ok(parent instanceof LeanSpanContext);
    assert.equal(parent.toTraceId(), '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(parent.toSpanId(), '00f067aa0ba902b7');
    const span = tracer.startSpan('HTTP GET', { childOf: parent, tags: { 'span.kind': 'server' } });
    const child = tracer.startSpan('child', { childOf: span });
    child.finish();
    span.finish();
    assert.equal(span.parentSpanContext?.isRemote, true);
    assert.equal(child.parentSpanContext?.isRemote, false);
    const [c, s] = otlpSpans(spans);
    assert.equal(s.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(s.parentSpanId, '00f067aa0ba902b7');
    assert.equal(s.flags, 0x301); // sampled, has is_remote, is_remote
    assert.equal(c.flags, 0x101);
    assert.equal(toRecord(span, 'svc').parentId, '00f067aa0ba902b7');
  });

  it('error=true is status ERROR (no attribute); an error log is an exception event, as the shim maps them', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const span = tracer.startSpan('pg.query', { tags: { 'span.kind': 'client' } });
    const err = new TypeError('boom');
    span.setTag('error', true);
    span.log({ event: 'error', 'error.object': err, message: err.message, stack: err.stack, 'error.kind': 'TypeError' });
    span.log({ event: 'timeout', after: 100 });
    span.log({ note: 'no event name' });
    span.log({ event: 'error', 'error.object': 'plain string' });
    span.finish();
    const [s] = otlpSpans(spans);
    assert.deepEqual(s.status, { code: 2 });
    assert.equal(attrs(s.attributes).error, undefined);
    assert.deepEqual(s.events.map((e: any) => e.name), ['exception', 'timeout', 'log', 'exception']);
    assert.deepEqual(attrs(s.events[0].attributes), {
      event: { stringValue: 'error' },
      'exception.message': { stringValue: 'boom' },
      'exception.stacktrace': { stringValue: err.stack },
      'exception.type': { stringValue: 'TypeError' },
    });
    assert.deepEqual(attrs(s.events[1].attributes), { event: { stringValue: 'timeout' }, after: { intValue: 100 } });
    assert.deepEqual(attrs(s.events[3].attributes), { 'exception.message': { stringValue: 'plain string' } });
    for (const e of s.events) assert.ok(BigInt(e.timeUnixNano) >= BigInt(s.startTimeUnixNano) && BigInt(e.timeUnixNano) <= BigInt(s.endTimeUnixNano));
    assert.equal(toRecord(spans[0], 'svc').tags.error, true);
  });

  it('error=false is status OK, which is final (as the SDK); error in the start tags counts too', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const ok = tracer.startSpan('ok');
    ok.setTag('error', false).setTag('error', true);
    ok.finish();
    tracer.startSpan('failed', { tags: { error: true } }).finish();
    tracer.startSpan('odd', { tags: { error: 'maybe' } }).finish();
    assert.deepEqual(spans.map((s) => s.status.code), [1, 2, 0]);
    assert.deepEqual(spans.map((s) => s.attributes.error), [undefined, undefined, 'maybe']);
  });

  it('attribute types: primitives and homogeneous arrays are kept; undefined, null, objects and functions dropped', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const span = tracer.startSpan('x', { tags: { a: undefined, b: null, c: { nested: 1 }, d: 'kept' } });
    span.addTags({ e: [1, 2, 3], f: ['x', null, 'y'], g: [1, 'mixed'], h: () => 1, i: new Date(0), j: 12n as unknown, k: Number.NaN });
    span.setTag('l', undefined).setTag('m', 'ok');
    span.finish();
    assert.deepEqual(spans[0].attributes, { d: 'kept', e: [1, 2, 3], f: ['x', null, 'y'], k: Number.NaN, m: 'ok' });
    const [s] = otlpSpans(spans);
    assert.deepEqual(attrs(s.attributes).e, { arrayValue: { values: [{ intValue: 1 }, { intValue: 2 }, { intValue: 3 }] } });
  });

  it('attribute and event limits from OTEL_SPAN_* (dropped counts reach the exporter)', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor, { OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '3', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4', OTEL_SPAN_EVENT_COUNT_LIMIT: '2' });
    const span = tracer.startSpan('x', { tags: { a: 'abcdefgh', b: 1 } });
    span.setTag('c', 2).setTag('d', 3).setTag('a', 'xy');
    for (let i = 0; i < 3; i++) span.log({ event: `e${i}` });
    span.finish();
    assert.deepEqual(spans[0].attributes, { a: 'xy', b: 1, c: 2 });
    const [s] = otlpSpans(spans);
    assert.equal(s.droppedAttributesCount, 1);
    assert.equal(s.droppedEventsCount, 1);
    assert.deepEqual(s.events.map((e: any) => e.name), ['e1', 'e2']);
  });

  it('limits the SDK cannot use: a length limit of -1 or 0 truncates nothing, a value that is not a number is skipped; each warned', () => {
    const cases: Array<[NodeJS.ProcessEnv, number, RegExp]> = [
      [{ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '-1' }, Infinity, /^OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=-1: the limit must be positive/],
      [{ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '0' }, Infinity, /^OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=0: the limit must be positive/],
      [{ OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '-1', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '5' }, Infinity, /^OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT=-1/],
      [{ OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '1k', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '5' }, 5, /^OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT="1k" is not a number/],
    ];
    for (const [env, limit, warning] of cases) {
      const warnings: string[] = [];
      assert.equal(limitsFromEnv(env, (m) => warnings.push(m)).attributeValueLengthLimit, limit, JSON.stringify(env));
      assert.equal(warnings.length, 1, JSON.stringify(env));
      assert.match(warnings[0], warning);
      const { spans, processor } = collecting();
      const tracer = new LeanTracer({ processor, resource: new FixedResource({}), limits: limitsFromEnv(env), propagation: () => createPropagation(propagatorFor({})) });
      const span = tracer.startSpan('x', { tags: { url: 'http://example.com/orders/42' } });
      span.setTag('other', 'abcdefgh').setTag('list', ['abcdefgh']);
      span.log({ event: 'e', message: 'abcdefgh' });
      span.finish();
      const cut = (text: string) => text.slice(0, limit);
      assert.deepEqual(spans[0].attributes, { url: cut('http://example.com/orders/42'), other: cut('abcdefgh'), list: [cut('abcdefgh')] });
      assert.deepEqual(spans[0].events[0].attributes, { event: 'e', message: cut('abcdefgh') });
    }
    const warnings: string[] = [];
    assert.equal(limitsFromEnv({ OTEL_SPAN_EVENT_COUNT_LIMIT: 'many' }, (m) => warnings.push(m)).eventCountLimit, 128);
    assert.deepEqual(warnings, ['OTEL_SPAN_EVENT_COUNT_LIMIT="many" is not a number (ignored)']);
  });

  it('duration and times: explicit start/finish times (ms since the epoch) are exact; a real span measures its time', async () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const t0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678) + 0.25;
    tracer.startSpan('explicit', { startTime: t0 }).finish(t0 + 1234.5);
    const real = tracer.startSpan('real');
    assert.equal(real.ended, false);
    await new Promise((r) => setTimeout(r, 25));
    real.finish();
    real.finish(); // a second finish is ignored
    assert.equal(spans.length, 2);
    const [explicit] = spans;
    assert.deepEqual(explicit.startTime, [Math.floor(t0 / 1000), 678_250_000]);
    assert.deepEqual(explicit.duration, [1, 234_500_000]);
    assert.deepEqual(explicit.endTime, [Math.floor(t0 / 1000) + 1, 912_750_000]);
    assert.equal(explicit.ended, true);
    const ms = real.duration[0] * 1e3 + real.duration[1] / 1e6;
    assert.ok(ms >= 20 && ms < 2000, `duration ${ms} ms`);
    const record = toRecord(real, 'svc');
    assert.ok(Math.abs(record.start - (Date.now() - ms)) < 200, 'start is wall-clock time');
    assert.ok(Math.abs(record.duration - ms) < 1e-6);
    const backwards = tracer.startSpan('backwards', { startTime: t0 });
    backwards.finish(t0 - 10);
    assert.deepEqual(backwards.duration, [0, 0]);
    assert.deepEqual(backwards.endTime, backwards.startTime);
  });

  it('the jsonl record of a lean span keeps its stable fields', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const span = tracer.startSpan('x', { tags: { 'span.kind': 'client' } });
    span.log({ event: 'retry', attempt: 2 });
    span.finish();
    const record = toRecord(spans[0], 'shop');
    assert.deepEqual(Object.keys(record).sort(), ['duration', 'logs', 'name', 'parentId', 'service', 'spanId', 'start', 'tags', 'traceId']);
    assert.equal(record.parentId, null);
    assert.deepEqual(record.logs.map((l) => [l.name, l.fields]), [['retry', { event: 'retry', attempt: 2 }]]);
  });

  it('the Zipkin exporter’s transform reads it (kind, parent, µs times, tags, service)', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const parent = tracer.startSpan('parent', { tags: { 'span.kind': 'server' } });
    const child = tracer.startSpan('child', { childOf: parent, tags: { 'span.kind': 'client', 'peer.port': 80 }, startTime: 1_700_000_000_000 });
    child.setTag('error', true);
    child.finish(1_700_000_000_012.5);
    const dir = path.dirname(require.resolve('@opentelemetry/exporter-zipkin/package.json'));
    const { toZipkinSpan } = require(path.join(dir, 'build/src/transform.js'));
    const z = toZipkinSpan(spans[0], 'svc', 'otel.status_code', 'error');
    assert.equal(z.kind, 'CLIENT');
    assert.equal(z.parentId, parent.context().toSpanId());
    assert.equal(z.traceId, parent.context().toTraceId());
    assert.equal(z.timestamp, 1_700_000_000_000_000);
    assert.equal(z.duration, 12_500);
    assert.equal(z.tags['peer.port'], '80');
    assert.equal(z.tags['otel.status_code'], 'ERROR');
    assert.equal(z.tags['service.name'], 'svc');
  });

  it('the SDK’s BatchSpanProcessor takes the spans and hands them to the exporter; protobuf serializes them too', async () => {
    const exported: ReadableSpan[] = [];
    const exporter: SpanExporter = { export: (batch, done) => { exported.push(...batch); done({ code: 0 }); }, shutdown: () => Promise.resolve() };
    const tracer = leanTracer(batchSpanProcessor(exporter, {}));
    const span = tracer.startSpan('batched', { tags: { 'span.kind': 'client' } });
    span.finish();
    await tracer.processor.forceFlush();
    assert.deepEqual(exported, [span]);
    const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
    assert.ok(ProtobufTraceSerializer.serializeRequest(exported).length > 40);
  });
});

describe('lean tracer: sampling, propagation and baggage', () => {
  it('an incoming sampled=0 flag: nothing is recorded, and the flag is passed on', () => {
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const parent = tracer.extract(opentracing.FORMAT_HTTP_HEADERS, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' });
    const span = tracer.startSpan('HTTP GET', { childOf: parent ?? undefined, tags: { 'span.kind': 'server' } });
    const child = tracer.startSpan('child', { childOf: span });
    const headers: Record<string, string> = {};
    tracer.inject(child.context(), opentracing.FORMAT_HTTP_HEADERS, headers);
    child.finish();
    span.finish();
    assert.equal(spans.length, 0);
    assert.match(headers.traceparent, new RegExp(`^00-4bf92f3577b34da6a3ce929d0e0e4736-${child.context().toSpanId()}-00$`));
  });

  it('incoming unknown trace flags are not passed on: a child injects its sampled flag only, as two hex digits, as OpenTelemetry’s SDK does', () => {
    const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
    const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
    const acceptedDownstream = (traceparent: string) =>
      api.trace.getSpanContext(new W3CTraceContextPropagator().extract(api.ROOT_CONTEXT, { traceparent }, api.defaultTextMapGetter)) !== undefined;
    const cases: Array<[string, string]> = [['ff', '01'], ['81', '01'], ['fe', '00'], ['10', '00'], ['09', '01'], ['03', '01'], ['02', '00'], ['01', '01']];
    // Through the tracer's own W3C writer, and through OpenTelemetry's propagators (b3 beside).
    for (const formats of ['tracecontext,baggage', 'tracecontext,b3multi']) {
      const tracer = leanTracer(collecting().processor, { OT_PROPAGATION: formats });
      for (const [incoming, outgoing] of cases) {
        const parent = tracer.extract(opentracing.FORMAT_TEXT_MAP, { traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-${incoming}` });
        assert.ok(parent, incoming);
        const child = tracer.startSpan('child', { childOf: parent });
        for (const context of [child.context(), parent]) {
          const headers: Record<string, string> = {};
          tracer.inject(context, opentracing.FORMAT_TEXT_MAP, headers);
          assert.match(headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/, `${formats}: -${incoming}`);
          assert.ok(acceptedDownstream(headers.traceparent), headers.traceparent);
        }
        const headers: Record<string, string> = {};
        tracer.inject(child, opentracing.FORMAT_TEXT_MAP, headers);
        assert.equal(headers.traceparent.slice(-3), `-${outgoing}`, `${formats}: -${incoming}`);
        child.finish();
      }
    }
  });

  it('OTEL_TRACES_SAMPLER=always_off records nothing; traceidratio samples by trace id', () => {
    const off = collecting();
    leanTracer(off.processor, { OTEL_TRACES_SAMPLER: 'always_off' }).startSpan('x').finish();
    assert.equal(off.spans.length, 0);
    const ratio = collecting();
    const tracer = leanTracer(ratio.processor, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' });
    for (let i = 0; i < 400; i++) tracer.startSpan('x').finish();
    assert.ok(ratio.spans.length > 100 && ratio.spans.length < 300, `${ratio.spans.length} of 400`);
  });

  it('OTEL_TRACES_SAMPLER_ARG that is not a number in [0, 1]: 1, with a warning, as in the SDK', () => {
    const ids = Array.from({ length: 64 }, (_, i) => `${i.toString(16).padStart(2, '0')}${'5a'.repeat(15)}`);
    for (const arg of ['-0.5', '1.5', '25%', 'abc', 'Infinity']) {
      const warnings: string[] = [];
      const sampling = samplingFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: arg }, (m) => warnings.push(m));
      assert.ok(ids.every((id) => sampling.root(id)), arg);
      assert.deepEqual(warnings, [`OTEL_TRACES_SAMPLER_ARG=${JSON.stringify(arg)} is not a number in [0, 1] (1 is used)`]);
    }
    for (const [arg, sampled] of [['0', 0], ['1', 64], ['', 64], [' ', 64]] as const) {
      const warnings: string[] = [];
      const sampling = samplingFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: arg }, (m) => warnings.push(m));
      assert.equal(ids.filter((id) => sampling.root(id)).length, sampled, arg);
      assert.deepEqual(warnings, []);
    }
  });

  it('inject: W3C traceparent with the span’s ids and sampled flag; a Span may stand for its context', () => {
    const tracer = leanTracer(collecting().processor);
    const span = tracer.startSpan('x');
    const a: Record<string, string> = {};
    const b: Record<string, string> = {};
    tracer.inject(span.context(), opentracing.FORMAT_HTTP_HEADERS, a);
    tracer.inject(span, opentracing.FORMAT_TEXT_MAP, b);
    assert.equal(a.traceparent, `00-${span.context().toTraceId()}-${span.context().toSpanId()}-01`);
    assert.deepEqual(b, a);
    tracer.inject(span.context(), opentracing.FORMAT_BINARY, a); // not supported: ignored, as the shim
    tracer.inject(new opentracing.SpanContext(), opentracing.FORMAT_HTTP_HEADERS, b); // not ours: ignored
  });

  it('inject writes W3C headers itself exactly as OpenTelemetry’s propagators do (flags, tracestate; baggage through them)', () => {
    for (const formats of ['tracecontext,baggage', 'tracecontext']) {
      const env = { OT_PROPAGATION: formats };
      const direct = createPropagation(propagatorFor(env), true);
      const throughOtel = createPropagation(propagatorFor(env), false);
      assert.equal(isW3COnly(propagationNames(env)), true);
      const tracer = leanTracer(collecting().processor, env);
      const root = tracer.startSpan('root');
      const unsampled = tracer.startSpan('c', { childOf: tracer.extract(opentracing.FORMAT_HTTP_HEADERS, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' }) ?? undefined });
      const flagged = tracer.startSpan('f', {
        childOf: tracer.extract(opentracing.FORMAT_HTTP_HEADERS, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03', tracestate: 'a=1,b=2' }) ?? undefined,
      });
      const withBaggage = tracer.startSpan('b');
      withBaggage.setBaggageItem('user', 'alice');
      for (const span of [root, unsampled, flagged, withBaggage]) {
        const a: Record<string, string> = {};
        const b: Record<string, string> = {};
        direct.inject(span.context(), a);
        throughOtel.inject(span.context(), b);
        assert.deepEqual(a, b);
        assert.match(a.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-9a-f]$/);
      }
    }
    for (const formats of ['b3', 'jaeger', 'tracecontext,b3', 'none']) assert.equal(isW3COnly(propagationNames({ OT_PROPAGATION: formats })), false, formats);
  });

  it('extract reads W3C headers itself exactly as OpenTelemetry’s propagators do, each header once', () => {
    const id = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const carriers: Record<string, unknown>[] = [
      { traceparent: `00-${id}-${parent}-01` },
      { traceparent: `00-${id}-${parent}-00` },
      { traceparent: `00-${id}-${parent}-ff` },
      { traceparent: ` 00-${id}-${parent}-01 ` },
      { traceparent: `00-${id}-${parent}-01-` },
      { traceparent: `00-${id}-${parent}-01-extra` },
      { traceparent: `01-${id}-${parent}-01-extra` },
      { traceparent: `ff-${id}-${parent}-01` },
      { traceparent: `00-${id.toUpperCase()}-${parent}-01` },
      { traceparent: `00-${'0'.repeat(32)}-${parent}-01` },
      { traceparent: `00-${id}-${'0'.repeat(16)}-01` },
      { traceparent: [`00-${id}-${parent}-01`, 'garbage'] },
      { traceparent: ['garbage', `00-${id}-${parent}-01`] },
      { traceparent: [] },
      { traceparent: 42 },
      { traceparent: '' },
      { Traceparent: `00-${id}-${parent}-01` },
      {},
      { traceparent: `00-${id}-${parent}-01`, tracestate: 'a=1,b=2' },
      { traceparent: `00-${id}-${parent}-01`, tracestate: ['a=1', 'b=2'] },
      { traceparent: `00-${id}-${parent}-01`, baggage: 'user=alice' },
      { traceparent: `00-${id}-${parent}-01`, tracestate: '', baggage: '' },
      { baggage: 'user=alice' },
    ];
    const fieldsOf = (context: LeanSpanContext | null) =>
      context && {
        traceId: context.traceId,
        spanId: context.spanId,
        traceFlags: context.traceFlags,
        traceState: context.traceState?.serialize(),
        isRemote: context.isRemote,
        baggage: context.baggage?.getAllEntries(),
      };
    const throwing = (key: string, rest: Record<string, unknown>) =>
      Object.defineProperty({ ...rest }, key, {
        enumerable: true,
        get() {
          throw new Error(`${key} getter`);
        },
      });
    const outcome = (extract: () => LeanSpanContext | null) => {
      try {
        return fieldsOf(extract());
      } catch (err) {
        return `throws ${(err as Error).message}`;
      }
    };
    for (const formats of ['tracecontext,baggage', 'baggage,tracecontext', 'tracecontext']) {
      const env = { OT_PROPAGATION: formats };
      const propagator = propagatorFor(env);
      let propagatorExtracts = 0;
      const counting: typeof propagator = {
        inject: (...args) => propagator.inject(...args),
        fields: () => propagator.fields(),
        extract: (...args) => {
          propagatorExtracts++;
          return propagator.extract(...args);
        },
      };
      const direct = createPropagation(counting, true);
      const throughOtel = createPropagation(propagatorFor(env), false);
      for (const carrier of carriers) {
        const reads = new Map<string, number>();
        const counted = new Proxy(carrier, {
          get(target, key) {
            if (typeof key === 'string') reads.set(key, (reads.get(key) ?? 0) + 1);
            return target[key as string];
          },
        });
        propagatorExtracts = 0;
        assert.deepEqual(fieldsOf(direct.extract(counted)), fieldsOf(throughOtel.extract(carrier)), `${formats}: ${JSON.stringify(carrier)}`);
        for (const [key, count] of reads) assert.equal(count, 1, `${key} read ${count} times`);
        // Only a carrier with a traceparent and tracestate or baggage goes through the propagators.
        assert.equal(propagatorExtracts, carrier.traceparent && (carrier.tracestate || carrier.baggage) ? 1 : 0, `${formats}: ${JSON.stringify(carrier)}`);
      }
      // A getter that throws: the same outcome as through the propagators.
      const valid = { traceparent: `00-${id}-${parent}-01` };
      for (const carrier of [throwing('traceparent', {}), throwing('tracestate', valid), throwing('baggage', valid), throwing('baggage', { ...valid, tracestate: 'a=1' })]) {
        assert.deepEqual(
          outcome(() => direct.extract(carrier)),
          outcome(() => throughOtel.extract(carrier)),
          `${formats}: ${Object.keys(carrier).join(',')}`,
        );
      }
    }
  });

  it('extract matches header names in any case (a message carrier keeps the case it was given)', () => {
    const id = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const carriers: Array<[string, Record<string, unknown>]> = [
      ['tracecontext,baggage', { Traceparent: `00-${id}-${parent}-01` }],
      ['tracecontext,baggage', { TRACEPARENT: `00-${id}-${parent}-01`, TraceState: 'a=1', Baggage: 'user=alice' }],
      ['tracecontext,b3multi', { Traceparent: `00-${id}-${parent}-01`, tracestate: 'a=1' }],
      ['b3multi', { 'X-B3-TraceId': id, 'X-B3-SpanId': parent, 'X-B3-Sampled': '1' }],
      ['b3', { B3: `${id}-${parent}-1` }],
      ['jaeger', { 'Uber-Trace-Id': `${id}:${parent}:0:1` }],
    ];
    for (const [formats, carrier] of carriers) {
      const tracer = leanTracer(collecting().processor, { OT_PROPAGATION: formats });
      for (const format of [opentracing.FORMAT_TEXT_MAP, opentracing.FORMAT_HTTP_HEADERS]) {
        const context = tracer.extract(format, carrier);
        assert.equal(context?.traceId, id, `${formats}: ${JSON.stringify(carrier)}`);
        assert.equal(context?.spanId, parent);
        assert.equal(context?.traceFlags, 1);
        if ('TraceState' in carrier) {
          assert.equal(context?.traceState?.get('a'), '1');
          assert.equal(context?.baggage?.getEntry('user')?.value, 'alice');
        }
      }
    }
  });

  it('extract: malformed or missing headers give null (a new root), never a throw', () => {
    const tracer = leanTracer(collecting().processor);
    for (const traceparent of ['garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']) {
      assert.equal(tracer.extract(opentracing.FORMAT_HTTP_HEADERS, { traceparent }), null);
    }
    assert.equal(tracer.extract(opentracing.FORMAT_HTTP_HEADERS, {}), null);
    assert.equal(tracer.extract(opentracing.FORMAT_BINARY, {}), null);
  });

  it('b3 and jaeger formats (OT_PROPAGATION) round-trip', () => {
    for (const format of ['b3', 'b3single', 'jaeger', 'tracecontext,b3,jaeger']) {
      const tracer = leanTracer(collecting().processor, { OT_PROPAGATION: format });
      const span = tracer.startSpan('x');
      const headers: Record<string, string> = {};
      tracer.inject(span, opentracing.FORMAT_HTTP_HEADERS, headers);
      const back = tracer.extract(opentracing.FORMAT_HTTP_HEADERS, headers);
      assert.equal(back?.toTraceId(), span.context().toTraceId(), format);
      assert.equal(back?.toSpanId(), span.context().toSpanId(), format);
      assert.equal(back?.isRemote, true);
    }
  });

  it('baggage (OT_PROPAGATION=tracecontext,baggage): set, inherited by children, injected and extracted', () => {
    const env = { OT_PROPAGATION: 'tracecontext,baggage' };
    const tracer = leanTracer(collecting().processor, env);
    const span = tracer.startSpan('x');
    assert.equal(span.getBaggageItem('user'), undefined);
    span.setBaggageItem('user', 'alice');
    const child = tracer.startSpan('y', { childOf: span });
    assert.equal(child.getBaggageItem('user'), 'alice');
    const headers: Record<string, string> = {};
    tracer.inject(child, opentracing.FORMAT_HTTP_HEADERS, headers);
    assert.equal(headers.baggage, 'user=alice');
    const remote = tracer.extract(opentracing.FORMAT_HTTP_HEADERS, headers);
    const server = tracer.startSpan('z', { childOf: remote ?? undefined });
    assert.equal(server.getBaggageItem('user'), 'alice');
  });

  it('references: the parent is the first child_of, else the first follows_from; every reference of ours is a link with opentracing.ref_type', () => {
    // The OpenTelemetry specification's OpenTracing compatibility: "All values in the list MUST be added as Links".
    const { spans, processor } = collecting();
    const tracer = leanTracer(processor);
    const a = tracer.startSpan('a');
    const b = tracer.startSpan('b');
    const links = (span: ReadableSpan) => span.links.map((l) => [l.context.spanId, l.attributes]);
    const viaRefs = tracer.startSpan('c', { references: [opentracing.followsFrom(a.context()), opentracing.childOf(b.context())] });
    viaRefs.finish();
    assert.equal(viaRefs.parentSpanContext, b.context());
    assert.deepEqual(links(spans[0]), [
      [a.context().toSpanId(), { 'opentracing.ref_type': 'follows_from' }],
      [b.context().toSpanId(), { 'opentracing.ref_type': 'child_of' }],
    ]);
    const followsOnly = tracer.startSpan('d', { references: [opentracing.followsFrom(a.context()), opentracing.followsFrom(b)] });
    followsOnly.finish();
    assert.equal(followsOnly.parentSpanContext, a.context());
    assert.deepEqual(links(spans[1]), [
      [a.context().toSpanId(), { 'opentracing.ref_type': 'follows_from' }],
      [b.context().toSpanId(), { 'opentracing.ref_type': 'follows_from' }],
    ]);
    const child = tracer.startSpan('e', { childOf: a });
    child.finish();
    assert.equal(child.parentSpanContext, a.context());
    assert.deepEqual(links(spans[2]), [], 'childOf alone: the parent, no link');
    const foreign = tracer.startSpan('d', { childOf: new opentracing.SpanContext() });
    assert.equal(foreign.parentSpanContext, undefined, 'a context of another tracer: a new root, as the shim');
  });

  it('spans are opentracing Spans; their tracer and context are ours', () => {
    const tracer = leanTracer(collecting().processor);
    const span = tracer.startSpan('x');
    assert.ok(span instanceof opentracing.Span && span instanceof LeanSpan);
    assert.equal(span.tracer(), tracer);
    assert.ok(span.context() instanceof opentracing.SpanContext);
    assert.equal(span.spanContext(), span.context());
    assert.equal(span.setOperationName('renamed').name, 'renamed');
  });
});

describe('lean tracer: same OTLP output as the OpenTelemetry shim it replaces', () => {
  let shimAvailable = true;
  try {
    require.resolve('@opentelemetry/shim-opentracing');
  } catch {
    shimAvailable = false;
  }

  /** The same OpenTracing calls on `tracer`; spans with parents, kinds, tags, logs and an error. */
  function scenario(tracer: opentracing.Tracer): void {
    const server = tracer.startSpan('HTTP GET', { tags: { 'span.kind': 'server', component: 'http', 'http.method': 'GET', 'http.url': 'http://h/p' } });
    const client = tracer.startSpan('pg.query:SELECT', { childOf: server, tags: { 'span.kind': 'client', component: 'pg', 'db.type': 'sql', 'peer.port': 5432 } });
    client.setTag('db.statement', 'SELECT ?');
    const err = new Error('connection reset');
    err.stack = 'Error: connection reset\n    at scenario (lean.test.ts:1:1)';
    client.setTag('error', true);
    client.log({ event: 'error', 'error.object': err, message: err.message, stack: err.stack });
    client.finish();
    const redis = tracer.startSpan('redis.GET', { childOf: server.context(), tags: { 'span.kind': 'client', 'db.type': 'redis', ratio: 0.25, flag: true } });
    redis.log({ event: 'retry', attempt: 1 });
    redis.setOperationName('redis.MGET');
    redis.finish();
    server.setTag('http.status_code', 500);
    server.finish();
  }

  /** OTLP JSON without what differs by nature (ids, times): parent links become names. */
  function comparable(spans: ReadableSpan[]): any {
    const body = otlp(spans);
    const all = body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans));
    const nameOf = new Map(all.map((s: any) => [s.spanId, s.name]));
    const traceId = all[0].traceId;
    for (const rs of body.resourceSpans) {
      rs.resource.attributes = rs.resource.attributes.filter((a: any) => a.key === 'service.name');
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          assert.equal(s.traceId, traceId);
          s.parentSpanId = s.parentSpanId === undefined ? undefined : nameOf.get(s.parentSpanId);
          for (const key of ['traceId', 'spanId', 'startTimeUnixNano', 'endTimeUnixNano']) delete s[key];
          for (const e of s.events) delete e.timeUnixNano;
        }
      }
    }
    return JSON.parse(JSON.stringify(body));
  }

  it('spans, kinds, parents, attributes, status and events match the shim over the SDK', function () {
    if (!shimAvailable) this.skip();
    const api = require('@opentelemetry/api');
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
    const { resourceFromAttributes } = require('@opentelemetry/resources');
    const { TracerShim } = require('@opentelemetry/shim-opentracing') as typeof import('@opentelemetry/shim-opentracing');
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'svc' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const otelTracer = provider.getTracer('opentracing-client-hooks');
    // As the previous built-in tracer: the span.kind tag picks the OpenTelemetry kind.
    const KINDS: Record<string, number> = { client: api.SpanKind.CLIENT, server: api.SpanKind.SERVER };
    const kindAware = {
      startSpan: (name: string, options: any, context: any) => otelTracer.startSpan(name, { ...options, kind: KINDS[pending] }, context),
    };
    let pending = '';
    class KindAwareShim extends TracerShim {
      override startSpan(name: string, options: opentracing.SpanOptions = {}): opentracing.Span {
        pending = options.tags?.['span.kind'];
        return super.startSpan(name, options);
      }
    }
    scenario(new KindAwareShim(kindAware as any) as unknown as opentracing.Tracer);
    const { spans, processor } = collecting();
    scenario(leanTracer(processor));
    assert.deepEqual(comparable(spans), comparable(exporter.getFinishedSpans()));
  });
});

describe('lean tracer: start-up loads nothing of @opentelemetry/* (child processes)', function () {
  this.timeout(60000);
  const tmpFile = tempFiles('otch-lean-');
  const probe = `
    const loaded = () => [...new Set(Object.keys(require.cache).map((f) => (/node_modules\\/(@opentelemetry\\/[^/]+)/.exec(f) || [])[1]).filter(Boolean))].sort();
    const atStart = loaded();
    const tracer = require(require.resolve('opentracing', { paths: [process.cwd()] })).globalTracer();
    const span = tracer.startSpan('x', { tags: { 'span.kind': 'client' } });
    const afterSpanStart = loaded();
    tracer.inject(span.context(), 'http_headers', {});
    span.finish();
    const durationMs = span.duration ? span.duration[0] * 1e3 + span.duration[1] / 1e6 : 0;
    console.log(JSON.stringify({ atStart, afterSpanStart, afterFinish: loaded(), durationMs }));
    process.exit(0); // no export at exit: the collector is not there
  `;
  function run(env: NodeJS.ProcessEnv): { atStart: string[]; afterSpanStart: string[]; afterFinish: string[]; durationMs: number } {
    const r = spawnSync(process.execPath, ['-r', './register', '-e', probe], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, OT_SERVICE_NAME: 'app', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OT_ZIPKIN_URL: 'http://127.0.0.1:9/api/v2/spans', OTEL_BSP_SCHEDULE_DELAY: '600000', OT_TRACER_FILE: tmpFile('spans.jsonl'), ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  }

  it('no OT_TRACER: none at all', () => {
    const r = run({});
    assert.deepEqual([r.atStart, r.afterFinish], [[], []]);
  });

  for (const mode of ['otlp', 'zipkin', 'console', 'jsonl']) {
    it(`OT_TRACER=${mode}: none at start; the propagator and the ${mode} exporter when the first span starts, before it is timed`, () => {
      const r = run({ OT_TRACER: mode });
      assert.deepEqual(r.atStart, []);
      // otlp (http/protobuf): OpenTelemetry's transport with our serialiser, not its exporter package.
      const exporter = mode === 'otlp' ? '@opentelemetry/otlp-exporter-base' : mode === 'zipkin' ? '@opentelemetry/exporter-zipkin' : undefined;
      if (exporter === undefined) assert.deepEqual(r.afterSpanStart, ['@opentelemetry/api', '@opentelemetry/core']);
      else assert.ok(r.afterSpanStart.includes(exporter) && r.afterSpanStart.includes('@opentelemetry/core'), r.afterSpanStart.join());
      assert.deepEqual(r.afterFinish, r.afterSpanStart, 'nothing more at inject or finish');
      const unexpected = ['@opentelemetry/shim-opentracing', '@opentelemetry/propagator-b3', '@opentelemetry/propagator-jaeger', '@opentelemetry/sdk-trace-base'];
      unexpected.push('@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-trace-otlp-proto'); // otlp is http/protobuf by default
      if (mode !== 'zipkin') unexpected.push('@opentelemetry/exporter-zipkin');
      if (mode === 'console' || mode === 'jsonl') unexpected.push('@opentelemetry/sdk-trace');
      assert.deepEqual(r.afterFinish.filter((p) => unexpected.includes(p)), []);
      assert.ok(r.durationMs < 15, `the first span (${r.durationMs} ms) does not include the loading`);
    });
  }

  it('OT_PROPAGATION=b3: the b3 propagator, not the W3C one nor jaeger', () => {
    const r = run({ OT_TRACER: 'jsonl', OT_PROPAGATION: 'b3' });
    assert.ok(r.afterSpanStart.includes('@opentelemetry/propagator-b3'));
    assert.ok(!r.afterSpanStart.includes('@opentelemetry/propagator-jaeger'));
  });
});
