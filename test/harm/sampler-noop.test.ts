import assert from 'node:assert/strict';
import http from 'node:http';
import * as opentracing from 'opentracing';
import { installPatches, uninstallAllPatches } from '../../src';
import { readBody, startServer, TestServer } from '../helpers/servers';
import { RecordingContext, RecordingTracer } from '../helpers/tracer';

/** A sampling wrapper: every other trace goes to opentracing's no-op tracer, the others are recorded. */
class EveryOtherTracer extends opentracing.Tracer {
  private calls = 0;
  private readonly noop = new opentracing.Tracer();
  constructor(readonly recording: RecordingTracer) {
    super();
  }
  override startSpan(name: string, options?: opentracing.SpanOptions): opentracing.Span {
    return this.calls++ % 2 === 0 ? this.noop.startSpan(name, options) : this.recording.startSpan(name, options);
  }
  override inject(ctx: opentracing.SpanContext | opentracing.Span, format: string, carrier: unknown): void {
    const context = ctx instanceof opentracing.Span ? ctx.context() : ctx;
    if (context instanceof RecordingContext) this.recording.inject(context, format, carrier);
  }
  override extract(format: string, carrier: unknown): opentracing.SpanContext | null {
    return this.recording.extract(format, carrier);
  }
}

async function get(url: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    http.get(url, (res) => void readBody(res).then(() => resolve(), reject)).on('error', reject);
  });
}

describe('a tracer that answers some spans with the no-op span (issue 18, defect 6)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });
  afterEach(() => {
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  async function fourCalls(): Promise<void> {
    for (let i = 0; i < 4; i++) await get(`${server.url}/call/${i}`);
  }

  it('a tracer passed in is asked for every span: the sampled calls after an unsampled one are recorded', async () => {
    const recording = new RecordingTracer();
    installPatches(['http'], { tracer: new EveryOtherTracer(recording) });
    await fourCalls();
    assert.equal(recording.finished.length, 2);
    assert.deepEqual(server.received.slice(-4).map((r) => r.headers.traceparent !== undefined), [false, true, false, true]);
  });

  it('a tracer set with initGlobalTracer after install is asked for every span', async () => {
    const recording = new RecordingTracer();
    installPatches(['http']);
    opentracing.initGlobalTracer(new EveryOtherTracer(recording));
    await fourCalls();
    assert.equal(recording.finished.length, 2);
  });

  it('a tracer set with initGlobalTracer before install is asked for every span', async () => {
    const recording = new RecordingTracer();
    opentracing.initGlobalTracer(new EveryOtherTracer(recording));
    installPatches(['http']);
    await fourCalls();
    assert.equal(recording.finished.length, 2);
  });
});
