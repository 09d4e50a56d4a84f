/** headersToAdd: the tracer's headers never mix with a context the app sent itself. */
import assert from 'node:assert/strict';
import { headersToAdd } from '../../src/trace-headers';

describe('headersToAdd: which trace headers go onto a request or message', () => {
  const asked: string[] = [];
  const having = (...names: string[]) => (name: string): boolean => {
    asked.push(name);
    return names.includes(name);
  };
  beforeEach(() => (asked.length = 0));

  it('all of them when the app sent none', () => {
    assert.deepEqual(headersToAdd(['traceparent', 'tracestate', 'baggage'], having()), ['traceparent', 'tracestate', 'baggage']);
  });

  it("the app's traceparent keeps the tracer's tracestate out; its baggage is its own", () => {
    assert.deepEqual(headersToAdd(['traceparent', 'tracestate', 'baggage'], having('traceparent')), ['baggage']);
    assert.deepEqual(headersToAdd(['traceparent', 'tracestate', 'baggage'], having('baggage')), ['traceparent', 'tracestate']);
  });

  it("the app's tracestate alone (no traceparent) keeps only itself", () => {
    assert.deepEqual(headersToAdd(['traceparent', 'tracestate'], having('tracestate')), ['traceparent']);
  });

  it("any B3 context of the app's, single or multi, keeps every B3 header of the tracer's out", () => {
    const multi = ['X-B3-TraceId', 'X-B3-SpanId', 'X-B3-Sampled'];
    assert.deepEqual(headersToAdd(multi, having('x-b3-traceid')), []);
    assert.deepEqual(headersToAdd(multi, having('b3')), []);
    assert.deepEqual(headersToAdd(['b3'], having('x-b3-traceid')), []);
    assert.deepEqual(headersToAdd(multi, having('x-b3-sampled')), ['X-B3-TraceId', 'X-B3-SpanId']);
  });

  it('asks about each name once, in lower case', () => {
    headersToAdd(['traceparent', 'tracestate', 'X-B3-TraceId', 'X-B3-SpanId', 'uber-trace-id'], having());
    assert.deepEqual(asked, ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'uber-trace-id']);
  });
});
