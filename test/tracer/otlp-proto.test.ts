import assert from 'node:assert/strict';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { FixedResource, LeanTracer, limitsFromEnv, samplingFromEnv } from '../../src/tracer/lean';
import { createPropagation, propagatorFor } from '../../src/tracer/propagation';
import { EncodedSpans, serializeRequest, serializeTraceRequest } from '../../src/tracer/otlp-proto';
import { renameAttributes } from '../../src/tracer/attribute-names';


/** OpenTelemetry's own serialiser: what a collector gets from its exporter. */
function official(spans: ReadableSpan[]): Buffer {
  const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans));
}

function tracerWith(spans: ReadableSpan[], resource = new FixedResource({ 'service.name': 'svc', 'host.name': 'h' }), env: NodeJS.ProcessEnv = {}): LeanTracer {
  const processor: SpanProcessor = { onStart() {}, onEnd: (span) => void spans.push(span), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  return new LeanTracer({ processor, resource, limits: limitsFromEnv(env), sampling: samplingFromEnv(env), propagation: () => createPropagation(propagatorFor({ OT_PROPAGATION: 'tracecontext,baggage' })) });
}

function assertSameBytes(spans: ReadableSpan[]): void {
  const ours = Buffer.from(serializeTraceRequest(spans));
  assert.equal(ours.toString('hex'), official(spans).toString('hex'));
}

describe('built-in tracer: its OTLP/protobuf serialiser writes what OpenTelemetry’s does', () => {
  it('the spans of a request: kinds, parents, tags of every type, status, logs and links', () => {
    const spans: ReadableSpan[] = [];
    const tracer = tracerWith(spans);
    const server = tracer.startSpan('GET /users/:id', { tags: { 'span.kind': 'server', 'http.method': 'GET', 'http.status_code': 200, 'http.url': 'http://127.0.0.1:8080/users/7?x=1' } });
    const query = tracer.startSpan('pg.query', {
      childOf: server,
      tags: { 'span.kind': 'client', component: 'pg', 'db.type': 'sql', 'db.statement': 'SELECT * FROM t WHERE id = $1', 'peer.port': 5432, ratio: 0.25, big: 2 ** 40, negative: -3, huge: -(2 ** 62), flag: false, list: ['a', 'b'], numbers: [1, 2.5, null] },
    });
    query.log({ event: 'error', 'error.object': new Error('boom'), message: 'boom', stack: 'Error: boom\n    at x', 'error.kind': 'Error' });
    query.log({ event: 'retry', attempt: 2 });
    query.setTag('error', true);
    query.finish();
    const follower = tracer.startSpan('after', { references: [opentracingRef('follows_from', query), opentracingRef('child_of', server)] });
    follower.finish();
    server.setTag('error', false);
    server.finish();
    assert.equal(spans.length, 3);
    assertSameBytes(spans);
  });

  it('strings: empty, long, non-ASCII, emoji and a lone surrogate; a 300-byte message needs a 2-byte length', () => {
    const spans: ReadableSpan[] = [];
    const tracer = tracerWith(spans);
    tracer.startSpan('', { tags: { e: '', long: 'x'.repeat(5000), accent: 'café', emoji: '👋 hi', lone: 'a\ud800b', 'clé': 'valeur' } }).finish();
    tracer.startSpan('n'.repeat(300)).finish();
    assertSameBytes(spans);
  });

  it('a remote parent with a tracestate, baggage, and an unsampled flag passed on', () => {
    const spans: ReadableSpan[] = [];
    const tracer = tracerWith(spans);
    const parent = tracer.extract('http_headers', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=abc,other=1', baggage: 'k=v' });
    tracer.startSpan('child of remote', { childOf: parent ?? undefined, tags: { 'span.kind': 'consumer' } }).finish();
    assertSameBytes(spans);
  });

  it('several resources and scopes in one batch are grouped as OpenTelemetry groups them', () => {
    const spans: ReadableSpan[] = [];
    const a = tracerWith(spans, new FixedResource({ 'service.name': 'a', 'service.version': '1.2.3', 'process.pid': 42 }));
    const b = tracerWith(spans, new FixedResource({ 'service.name': 'b' }));
    a.startSpan('a1').finish();
    b.startSpan('b1').finish();
    a.startSpan('a2').finish();
    const renamed = Object.create(spans[0], { attributes: { value: renameAttributes({ 'db.statement': 'SELECT 1', 'peer.hostname': 'db' }, 2, 'otel'), enumerable: true } });
    assertSameBytes([...spans, renamed]);
  });

  it('dropped counts, explicit times before 1970 + 2^32 s and after, many spans (a request of several KiB, written again after)', () => {
    const spans: ReadableSpan[] = [];
    const tracer = tracerWith(spans, undefined, { OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '2', OTEL_SPAN_EVENT_COUNT_LIMIT: '1' });
    const limited = tracer.startSpan('limited', { tags: { a: 1, b: 2, c: 3 }, startTime: 1_700_000_000_123.456 });
    limited.log({ event: 'one' });
    limited.log({ event: 'two' });
    limited.finish(1_700_000_001_000.5);
    tracer.startSpan('far', { startTime: 5_000_000_000_000 }).finish(5_000_000_000_001);
    for (let i = 0; i < 600; i++) tracer.startSpan(`s${i}`, { tags: { 'span.kind': 'client', i, 'db.statement': `SELECT ${'x'.repeat(i % 50)}` } }).finish();
    assertSameBytes(spans);
    assertSameBytes(spans.slice(0, 3));
  });

  it('tags repeated from span to span (copied once seen twice), changed, moved between spans and logs, or too many to keep', () => {
    const spans: ReadableSpan[] = [];
    const tracer = tracerWith(spans, undefined, { OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '2000' });
    const values: unknown[] = ['redis', 'redis', 'redis', 'pg', 'redis', 0, -0, 0, 1.5, 1.5, true, true, false, 'x'.repeat(200), 'x'.repeat(200), 'é', 'é', 2 ** 40, 2 ** 40, NaN, NaN];
    for (const value of values) {
      // `db.type` and `logged` each keep their field (span tags, log fields), so each value seen twice in a
      // row is copied the second time; `component` moves between the two fields every time.
      const span = tracer.startSpan('s', { tags: { component: 'ioredis', 'db.type': value, 'peer.port': 6379 } });
      span.log({ component: 'ioredis', logged: value });
      span.finish();
    }
    // More keys than are kept: the pairs past the limit are encoded each time.
    for (let round = 0; round < 2; round++) {
      const tags: Record<string, string> = {};
      for (let i = 0; i < 1500; i++) tags[`k${i}`] = 'v';
      tracer.startSpan('many', { tags }).finish();
    }
    assert.equal(Object.keys(spans[spans.length - 1].attributes).length, 1500);
    assertSameBytes(spans);
    assertSameBytes(spans);
  });

  it('spans written as they end and taken in batches give the same requests; a burst’s room is given back', () => {
    const spans: ReadableSpan[] = [];
    const tracer = tracerWith(spans);
    for (let i = 0; i < 40; i++) tracer.startSpan(`q${i}`, { tags: { 'span.kind': 'client', 'db.statement': `SELECT '${'x'.repeat(i % 2 ? 100_000 : 10)}'` } }).finish();
    const queue = new EncodedSpans();
    for (const span of spans) queue.push(span);
    const room = (): number => (queue as unknown as { bytes: Buffer }).bytes.length;
    assert.ok(room() > 2_000_000);
    const { resource, instrumentationScope } = spans[0];
    for (const [from, to] of [[0, 15], [15, 30], [30, 40]]) {
      const batch = queue.take(15, resource, instrumentationScope);
      assert.equal(batch.length, to - from);
      assert.equal(Buffer.from(serializeRequest(batch)).toString('hex'), official(spans.slice(from, to)).toString('hex'));
    }
    assert.equal(queue.length, 0);
    assert.ok(room() <= 64 * 1024, `${room()} bytes kept`);
  });

  it('an SDK span (not ours) is written the same too', () => {
    const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
    const sdkSpans: ReadableSpan[] = [];
    const provider = new BasicTracerProvider({ spanProcessors: [{ onStart() {}, onEnd: (s: ReadableSpan) => sdkSpans.push(s), forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() }] });
    const span = provider.getTracer('scope', '1.0.0').startSpan('sdk', { attributes: { k: 'v', n: 3 } });
    span.addEvent('evt', { a: true });
    span.setStatus({ code: 2, message: 'failed' });
    span.end();
    assertSameBytes(sdkSpans);
  });
});

function opentracingRef(type: 'child_of' | 'follows_from', span: { context(): unknown }): any {
  const { Reference } = require('opentracing');
  return new Reference(type, span.context());
}
