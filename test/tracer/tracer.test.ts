import assert from 'node:assert/strict';
import path from 'node:path';
import * as opentracing from 'opentracing';
import { readJsonl, root, runNode, serve, tempFiles, tracedApp as app } from '../helpers/child';
import type { Run } from '../helpers/child';
import { getReply, headersHandler, readBody, serverForSuite, startServer, TestServer } from '../helpers/servers';
import { renderTrace } from '../../src/tracer/waterfall';

const jaeger = require('jaeger-client');

/** The traced app's environment: its service name, then `extra`. */
function baseEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { OT_SERVICE_NAME: 'app', ...extra };
}

const tmpFile = tempFiles('otch-test-');

/** An HTTP receiver that keeps the JSON bodies posted to it. */
async function receiver(): Promise<TestServer & { bodies: any[] }> {
  const bodies: any[] = [];
  const server = await startServer((req, res) => {
    readBody(req).then((body) => {
      try {
        bodies.push(JSON.parse(body));
      } catch {
        bodies.push(body);
      }
      res.statusCode = 200;
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  return Object.assign(server, { bodies });
}

describe('OT_TRACER modes (end to end, in a child process)', function () {
  this.timeout(60000);
  const downstream = serverForSuite(() => startServer(headersHandler));

  it('unset: no tracer is set up, no header, the app runs as usual', async () => {
    const r = await runAsync({ TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    const headers = JSON.parse(r.stdout.split('response ')[1]);
    assert.equal(headers.traceparent, undefined);
    assert.equal(headers['x-from'], 'app');
    assert.equal(r.stderr, '');
  });

  it('jsonl: one JSON object per span with ids, parent, service, timing and tags; the header reaches downstream', async () => {
    const file = tmpFile('spans.jsonl');
    const r = await runAsync({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file, TARGET_URL: downstream().url, OT_SERVICE_NAME: 'shop' });
    assert.equal(r.status, 0, r.stderr);
    const spans = readJsonl(file);
    for (const s of spans) {
      assert.deepEqual(Object.keys(s).sort(), ['duration', 'logs', 'name', 'parentId', 'service', 'spanId', 'start', 'tags', 'traceId']);
      assert.equal(s.service, 'shop');
      assert.match(s.traceId, /^[0-9a-f]{32}$/);
      assert.ok(s.duration >= 0 && s.start > 1.6e12);
    }
    const outbound = spans.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].includes('/downstream/'));
    const handling = spans.find((s) => s.tags['span.kind'] === 'server');
    assert.equal(outbound.parentId, handling.spanId);
    const received = JSON.parse(r.stdout.split('response ')[1]);
    assert.equal(received.traceparent, `00-${outbound.traceId}-${outbound.spanId}-01`);
  });

  it('console: each trace as a waterfall on stderr, no colour when stderr is not a TTY', async () => {
    const r = await runAsync({ OT_TRACER: 'console', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^trace [0-9a-f]{32} {2}\d+ spans {2}[\d.]+ms {2}app$/m);
    assert.match(r.stderr, /^HTTP GET +app +\|█+ *\| +[\d.]+ms {2}200 {2}\/start$/m);
    assert.match(r.stderr, /^ {2}HTTP GET +app +\|[ █]+\| +[\d.]+ms {2}200 {2}http -> http:\/\/127\.0\.0\.1:\d+\/downstream\/start$/m);
    assert.ok(!r.stderr.includes('\x1b['));
  });

  it('otlp: a local OTLP/HTTP receiver gets the spans with ids, parents, kinds and attributes; export traffic is not traced', async () => {
    const collector = await receiver();
    try {
      const r = await runAsync({ OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      const spans = collector.bodies.flatMap((b) => b.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)));
      const attrs = (s: any) => Object.fromEntries(s.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
      const client = spans.find((s: any) => attrs(s)['http.url']?.includes('/downstream/'));
      const server = spans.find((s: any) => attrs(s)['span.kind'] === 'server');
      assert.ok(client && server);
      assert.equal(client.parentSpanId, server.spanId);
      assert.equal(client.traceId, server.traceId);
      assert.equal(client.kind, 3); // CLIENT
      assert.equal(server.kind, 2); // SERVER
      const service = collector.bodies[0].resourceSpans[0].resource.attributes.find((a: any) => a.key === 'service.name');
      assert.equal(service.value.stringValue, 'app');
      assert.ok(!spans.some((s: any) => String(attrs(s)['http.url']).includes('/v1/traces')), 'the exporter itself is not traced');
      assert.ok(collector.received.every((x) => x.headers.traceparent === undefined), 'no trace header on export requests');
    } finally {
      await collector.close();
    }
  });

  // A blank variable counts as unset, as the exporter reads it (docker-compose and Helm templates leave them blank).
  const endpoints: Array<[string, (collector: string) => NodeJS.ProcessEnv]> = [
    ['OTEL_EXPORTER_OTLP_ENDPOINT', (collector) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: collector })],
    ['a blank OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', (collector) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' })],
    ['a whitespace OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', (collector) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: `${collector}/`, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '  ' })],
    ['a blank OTEL_EXPORTER_OTLP_ENDPOINT', (collector) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector}/v1/traces` })],
  ];
  for (const [label, endpoint] of endpoints) it(`otlp in an app with no request context (${label}): exports are not traced and enter no async context`, async () => {
    // Entering one would switch AsyncLocalStorage on for the whole process (a hook on every promise).
    const collector = await receiver();
    const script = `const http = require('node:http');
      let n = 0;
      const next = () => n++ < 6 && http.get(process.env.TARGET_URL + '/call' + n, (r) => { r.resume(); r.on('end', () => setTimeout(next, 30)); });
      next();`;
    try {
      const r = await runAsync(
        { OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', ...endpoint(collector.url), TARGET_URL: downstream().url, OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2' },
        ['-r', path.join(root, 'test', 'fixtures', 'context-probe.js'), '-r', './register', '-e', script],
      );
      assert.equal(r.status, 0, r.stderr);
      const spans = collector.bodies.flatMap((b) => b.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)));
      const urls = spans.map((s: any) => s.attributes.find((a: any) => a.key === 'http.url')?.value.stringValue).sort();
      assert.deepEqual(urls, [1, 2, 3, 4, 5, 6].map((n) => `${downstream().url}/call${n}`));
      assert.ok(collector.received.length > 1, 'exported while the app ran, not only at exit');
      assert.ok(collector.received.every((x) => x.headers.traceparent === undefined), 'no trace header on export requests');
      assert.match(r.stdout, /^contexts entered 0$/m);
    } finally {
      await collector.close();
    }
  });

  it('zipkin: the official exporter delivers spans with parents, kinds and tags', async () => {
    const zipkin = await receiver();
    try {
      const r = await runAsync({ OT_TRACER: 'zipkin', OT_ZIPKIN_URL: `${zipkin.url}/api/v2/spans`, TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      const spans = zipkin.bodies.flat();
      const client = spans.find((s: any) => s.tags['http.url']?.includes('/downstream/'));
      const server = spans.find((s: any) => s.kind === 'SERVER');
      assert.equal(client.kind, 'CLIENT');
      assert.equal(client.parentId, server.id);
      assert.equal(client.traceId, server.traceId);
      assert.equal(client.localEndpoint.serviceName, 'app');
      assert.equal(zipkin.received[0].url, '/api/v2/spans');
    } finally {
      await zipkin.close();
    }
  });

  it('a module path: the module’s tracer gets the spans', async () => {
    const r = await runAsync({ OT_TRACER: './test/fixtures/custom-tracer.js', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    const spans = JSON.parse(r.stdout.split('SPANS ')[1]);
    assert.ok(spans.some((s: any) => s.tags['span.kind'] === 'client'));
  });

  it('an invalid OT_TRACER: one clear message on stderr, and the app still runs', async () => {
    const r = await runAsync({ OT_TRACER: 'no-such-tracer', TARGET_URL: downstream().url });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /response /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /OT_TRACER=no-such-tracer: not one of console, otlp, zipkin, jsonl, none/);
  });

  for (const exporter of ['otlp', 'zipkin']) {
    it(`${exporter}: a collector URL's credentials and query string are in no message, the debug log's included`, async () => {
      const collector = await startServer((req, res) => {
        res.statusCode = 401;
        res.end('{}');
      });
      try {
        const secretUrl = (path: string) => `http://tenant42:s3cr3t-pw@127.0.0.1:${collector.port}${path}?api-key=s3cr3t-key`;
        const r = await runAsync({
          OT_TRACER: exporter,
          OTEL_LOG_LEVEL: 'debug',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: secretUrl('/v1/traces'),
          // Both set: the debug log says which wins.
          OT_ZIPKIN_URL: secretUrl('/api/v2/spans'),
          OTEL_EXPORTER_ZIPKIN_ENDPOINT: secretUrl('/zipkin'),
          TARGET_URL: downstream().url,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.ok(collector.received.length > 0 && collector.received.every((x) => x.headers.authorization !== undefined), 'the exporter sent its credentials');
        const path = exporter === 'otlp' ? '/v1/traces' : '/api/v2/spans';
        assert.match(r.stderr, new RegExp(`cannot export spans to http://127\\.0\\.0\\.1:${collector.port}${path}: `));
        if (exporter === 'zipkin') assert.match(r.stderr, /OT_ZIPKIN_URL=http:\/\/127\.0\.0\.1:\d+\/api\/v2\/spans wins over OTEL_EXPORTER_ZIPKIN_ENDPOINT=http:\/\/127\.0\.0\.1:\d+\/zipkin/);
        assert.ok(!r.stderr.includes('s3cr3t'), r.stderr);
      } finally {
        await collector.close();
      }
    });
  }
});

function runAsync(env: NodeJS.ProcessEnv, args?: string[]): Promise<Run> {
  return runNode(baseEnv(env), args);
}

/** Starts the fixture app serving (SERVE_ONLY) and resolves with its URL and a stop function. */
function serveApp(env: NodeJS.ProcessEnv): Promise<{ url: string; stop(): Promise<void> }> {
  return serve(['-r', './register', app], baseEnv({ ...env, SERVE_ONLY: '1' }));
}


describe('propagation interop (default tracer)', function () {
  this.timeout(60000);
  const jaegerTracer = new jaeger.Tracer('jaeger-peer', new jaeger.InMemoryReporter(), new jaeger.ConstSampler(true));

  it('our spans continue in a jaeger-client service (uber-trace-id out)', async () => {
    let extracted: any;
    const peer = await startServer((req, res) => {
      extracted = jaegerTracer.extract(opentracing.FORMAT_HTTP_HEADERS, req.headers);
      res.end('{}');
    });
    const file = tmpFile('spans.jsonl');
    try {
      const r = await runAsync({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OT_PROPAGATION: 'jaeger', TARGET_URL: peer.url });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(peer.received[0].headers['uber-trace-id'], 'uber-trace-id sent');
      assert.equal(peer.received[0].headers.traceparent, undefined, 'only the chosen format');
      const client = readJsonl(file).find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].includes('/downstream/'));
      assert.equal(extracted.toTraceId().padStart(32, '0'), client.traceId);
      assert.equal(extracted.toSpanId().padStart(16, '0'), client.spanId);
    } finally {
      await peer.close();
    }
  });

  it('a jaeger-client service continues into ours (uber-trace-id in)', async () => {
    const file = tmpFile('spans.jsonl');
    const served = await serveApp({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OT_PROPAGATION: 'jaeger,tracecontext' });
    try {
      const span = jaegerTracer.startSpan('jaeger-client-call');
      const headers: Record<string, string> = {};
      jaegerTracer.inject(span.context(), opentracing.FORMAT_HTTP_HEADERS, headers);
      const { status } = await getReply(`${served.url}/from-jaeger`, headers);
      span.finish();
      assert.equal(status, 200);
    } finally {
      await served.stop();
    }
    const [server] = readJsonl(file).filter((s) => s.tags['span.kind'] === 'server');
    const sent = jaegerTracer._reporter.spans[jaegerTracer._reporter.spans.length - 1];
    assert.equal(server.traceId, sent.context().toTraceId().padStart(32, '0'));
    assert.equal(server.parentId, sent.context().toSpanId().padStart(16, '0'));
  });

  it('W3C traceparent in: a valid header continues the trace; malformed ones give a new root, never a throw', async () => {
    const file = tmpFile('spans.jsonl');
    const served = await serveApp({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file });
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const malformed = [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-' + '4bf92f3577b34da6'.repeat(40) + '-00f067aa0ba902b7-01',
      'garbage',
    ];
    try {
      for (const [i, header] of [valid, ...malformed].entries()) {
        const { status } = await getReply(`${served.url}/h${i}`, { traceparent: header });
        assert.equal(status, 200);
      }
    } finally {
      await served.stop();
    }
    const spans = readJsonl(file).filter((s) => s.tags['span.kind'] === 'server');
    const byPath = new Map(spans.map((s) => [new URL(s.tags['http.url']).pathname, s]));
    assert.equal(byPath.get('/h0').traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(byPath.get('/h0').parentId, '00f067aa0ba902b7');
    for (let i = 1; i <= malformed.length; i++) {
      const s = byPath.get(`/h${i}`);
      assert.ok(s, `span for malformed header ${i}`);
      assert.equal(s.parentId, null, `malformed header ${i} gives a root`);
      assert.notEqual(s.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    }
  });
});

describe('waterfall rendering', () => {
  it('indents children under parents with proportional bars', () => {
    const out = renderTrace([
      { traceId: 't', spanId: 'a', parentId: null, service: 'front', name: 'HTTP GET', start: 0, duration: 100, tags: { 'http.status_code': 200 }, logs: [] },
      { traceId: 't', spanId: 'b', parentId: 'a', service: 'back', name: 'pg.query:SELECT', start: 50, duration: 50, tags: { 'db.statement': 'SELECT ?', error: true }, logs: [] },
    ]);
    const lines = out.trim().split('\n');
    assert.match(lines[0], /^trace t {2}2 spans {2}100ms {2}front, back$/);
    assert.match(lines[1], /^HTTP GET {11}front {2}\|█{30}\|/);
    assert.match(lines[2], /^ {2}pg\.query:SELECT {2}back {3}\| {15}█{15}\| +50\.0ms {2}SELECT \? {2}ERROR$/);
  });
});
