import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as opentracing from 'opentracing';
import { installPatches, uninstallAllPatches } from '../../src';
import { createTracerFromEnv } from '../../src/tracer';
import { tempFiles } from '../helpers/child';
import { readBody, startServer, TestServer } from '../helpers/servers';
import { RecordingTracer } from '../helpers/tracer';

 
const jaeger = require('jaeger-client');
const tmpFile = tempFiles('otch-harm-');

function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => readBody(res).then(resolve, reject)).on('error', reject);
  });
}

/**
 * traceAllRequests: false, an untraced route calling downstream: the downstream call must carry the
 * incoming trace, with whichever tracer (issue 18, defect 2).
 */
describe('traceAllRequests: false passes the incoming context on (issue 18, defect 2)', function () {
  this.timeout(30000);
  let downstream: TestServer;
  let app: http.Server;
  let url: string;

  before(async () => {
    downstream = await startServer();
    app = http.createServer((_req, res) => {
      void get(`${downstream.url}/down`).then(() => res.end('ok'));
    });
  });
  after(async () => {
    await downstream.close();
  });
  afterEach(async () => {
    uninstallAllPatches();
    app.closeAllConnections();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });

  async function serve(tracer: opentracing.Tracer): Promise<void> {
    installPatches(['http', 'httpServer'], { tracer, hooks: { httpServer: { traceAllRequests: false } } });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  }

  it('jaeger-client: downstream sees the incoming uber-trace-id trace, and no server span is made', async () => {
    const reporter = new jaeger.InMemoryReporter();
    const tracer = new jaeger.Tracer('svc', reporter, new jaeger.ConstSampler(true));
    await serve(tracer);
    await get(`${url}/not-opted-in`, { 'uber-trace-id': 'abcdef0123456789:1234567890abcdef:0:1' });
    const sent = String(downstream.received.at(-1)?.headers['uber-trace-id']);
    assert.match(sent, /^abcdef0123456789:[0-9a-f]+:1234567890abcdef:1$/);
    const tag = (s: any, key: string): unknown => s._tags.find((t: any) => t.key === key)?.value;
    const spans = reporter.spans.filter((s: any) => String(tag(s, 'http.url')).includes('/down'));
    assert.equal(spans.length, 1);
    assert.equal(spans[0].context().toTraceId(), 'abcdef0123456789');
    assert.ok(!reporter.spans.some((s: any) => tag(s, 'span.kind') === 'server'), 'no server span');
  });

  it('the recording tracer: the client span is a child of the incoming context', async () => {
    const tracer = new RecordingTracer();
    await serve(tracer);
    await get(`${url}/not-opted-in`, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    await tracer.settle();
    const spans = tracer.finished.filter((s) => String(s.tags['http.url']).includes('/down'));
    assert.deepEqual(spans.map((s) => [s.tags['span.kind'], s.traceId, s.parentId]), [['client', '0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331']]);
    assert.ok(!tracer.finished.some((s) => s.tags['span.kind'] === 'server'), 'no server span');
  });

  it('the built-in tracer: downstream sees the incoming trace id', async () => {
    const file = tmpFile('spans.jsonl');
    const builtIn = createTracerFromEnv({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file })!;
    await serve(builtIn.tracer);
    await get(`${url}/not-opted-in`, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    assert.match(String(downstream.received.at(-1)?.headers.traceparent), /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    await builtIn.shutdown();
  });
});
