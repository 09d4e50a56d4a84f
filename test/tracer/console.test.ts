import assert from 'node:assert/strict';
import * as opentracing from 'opentracing';
import { FixedResource, LeanTracer, limitsFromEnv, samplingFromEnv } from '../../src/tracer/lean';
import { createPropagation, propagatorFor } from '../../src/tracer/propagation';
import { ConsoleWaterfallProcessor } from '../../src/tracer/processors';

/** A console processor writing to a buffer (not a TTY: no colour), and a built-in tracer whose spans go to it. */
function setup() {
  const written: string[] = [];
  const out = { isTTY: false, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
  const processor = new ConsoleWaterfallProcessor('svc', out);
  const tracer = new LeanTracer({
    processor,
    resource: new FixedResource({ 'service.name': 'svc' }),
    limits: limitsFromEnv({}),
    sampling: samplingFromEnv({}),
    propagation: () => createPropagation(propagatorFor({ OT_PROPAGATION: 'tracecontext' })),
  });
  /** Each waterfall printed: its heading and its span names (indented as printed). */
  const waterfalls = () =>
    written.map((text) => {
      const [heading, ...rows] = text.trimEnd().split('\n');
      return { heading, names: rows.map((row) => row.split('  svc')[0].trimEnd()) };
    });
  const held = () => (processor as unknown as { pending: Map<string, unknown[]> }).pending.size;
  return { tracer, waterfalls, held };
}

describe('built-in tracer: OT_TRACER=console', () => {
  it('a span that ends after its local root was printed is printed then, continuing the trace, and not kept', () => {
    const { tracer, waterfalls, held } = setup();
    const root = tracer.startSpan('GET /', { tags: { 'span.kind': 'server' } });
    const job = tracer.startSpan('background job', { childOf: root });
    const step = tracer.startSpan('step', { childOf: job });
    root.finish(); // the response is sent: the waterfall prints now
    assert.deepEqual(waterfalls().map((w) => w.names), [['GET /']]);
    step.finish(); // its parent has not ended: it waits for it
    assert.equal(waterfalls().length, 1);
    job.finish();
    const [first, late] = waterfalls();
    assert.match(late.heading, new RegExp(`^trace ${first.heading.split(' ')[1]} \\(continued\\)  2 spans`));
    assert.deepEqual(late.names, ['background job', '  step']);
    tracer.startSpan('later still', { childOf: step }).finish();
    assert.deepEqual(waterfalls()[2].names, ['later still']);
    assert.equal(held(), 0, 'no span of the trace kept');
  });

  it('a service that calls itself: the outer request’s spans still wait for its own local root', () => {
    const { tracer, waterfalls, held } = setup();
    const outer = tracer.startSpan('GET /outer', { tags: { 'span.kind': 'server' } });
    const call = tracer.startSpan('GET /inner (client)', { childOf: outer, tags: { 'span.kind': 'client' } });
    const headers: Record<string, string> = {};
    tracer.inject(call.context(), opentracing.FORMAT_HTTP_HEADERS, headers);
    const inner = tracer.startSpan('GET /inner', { childOf: tracer.extract(opentracing.FORMAT_HTTP_HEADERS, headers)!, tags: { 'span.kind': 'server' } });
    inner.finish();
    call.finish();
    assert.deepEqual(waterfalls().map((w) => w.names), [['GET /inner']]);
    outer.finish();
    assert.deepEqual(waterfalls().map((w) => w.names), [['GET /inner'], ['GET /outer', '  GET /inner (client)']]);
    assert.doesNotMatch(waterfalls()[1].heading, /continued/);
    assert.equal(held(), 0);
  });

  it('a local root that never ends keeps 1000 of its spans at most: then they print as they are', () => {
    const { tracer, waterfalls, held } = setup();
    const root = tracer.startSpan('worker loop', { tags: { 'span.kind': 'consumer' } });
    for (let i = 0; i < 1500; i++) tracer.startSpan(`task ${i}`, { childOf: root }).finish();
    const [partial] = waterfalls();
    assert.match(partial.heading, /\(its local root has not ended yet\)  1000 spans/);
    assert.equal(waterfalls().length, 1);
    assert.equal(held(), 1, 'the other 500 wait for their root');
    root.finish();
    assert.match(waterfalls()[1].heading, /  501 spans/);
    assert.equal(held(), 0);
  });
});
