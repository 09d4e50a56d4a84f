/**
 * OpenTelemetry's environment variables, end to end: the traced app runs under the preload in a child
 * process, and what it exports is received by local OTLP (HTTP, gRPC) and Zipkin receivers and decoded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { childEnv, readJsonl, responseOf, root, runNode, serve, tempFiles } from '../helpers/child';
import { startOtlpGrpcReceiver, startOtlpHttpReceiver } from '../helpers/otlp';
import type { OtlpSpan } from '../helpers/otlp';
import { headersHandler, readBody, serverForSuite, startServer } from '../helpers/servers';
import { HOOK_NAMES } from '../../src/config';
import { OTEL_INSTRUMENTATION_HOOKS, sdkDisabled, tracerSpec } from '../../src/otel-env';
import { otlpExporter, otlpProtocol, otlpTarget, resourceServiceName, zipkinTimeout, zipkinUrl } from '../../src/tracer/exporters';
import { propagationNames } from '../../src/tracer/propagation';

const tmpFile = tempFiles('otch-otel-env-');

interface JsonlSpan {
  traceId: string;
  spanId: string;
  parentId: string | null;
  service: string;
  tags: Record<string, string | number | boolean | undefined>;
}
/** A span of the OpenTelemetry peer (test/fixtures/otel-peer.js): kind 1 server, 2 client. */
interface PeerSpan {
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}
interface ZipkinSpan {
  kind: string;
  id: string;
  parentId?: string;
  localEndpoint: { serviceName: string };
}

/** The app's server span and its client span to the downstream, which must be its child. */
function serverAndClient(spans: OtlpSpan[]): { server: OtlpSpan; client: OtlpSpan } {
  const server = spans.find((s) => s.kind === 2);
  const client = spans.find((s) => s.kind === 3 && String(s.attributes['http.url'] ?? s.attributes['url.full']).includes('/downstream/'));
  assert.ok(server && client, JSON.stringify(spans));
  assert.equal(client.traceId, server.traceId);
  assert.equal(client.parentSpanId, server.spanId);
  return { server, client };
}

const base = { OT_SERVICE_NAME: 'app' };
const downstream = serverForSuite(() => startServer(headersHandler));

describe('OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_PROTOCOL (exports decoded by local receivers)', function () {
  this.timeout(60000);
  const collector = serverForSuite(startOtlpHttpReceiver, true);

  it('otlp: http/protobuf by default, to /v1/traces, with OTEL_EXPORTER_OTLP_HEADERS and no trace header of its own', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k1', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(collector().exports.length > 0);
    for (const e of collector().exports) {
      assert.equal(e.format, 'protobuf');
      assert.equal(e.headers['content-type'], 'application/x-protobuf');
      assert.equal(e.url, '/v1/traces');
      assert.equal(e.headers['x-api-key'], 'k1');
      assert.equal(e.headers.traceparent, undefined);
    }
    const { server, client } = serverAndClient(collector().spans());
    assert.equal(server.resource['service.name'], 'app');
    assert.equal(client.attributes['http.method'], 'GET');
    assert.equal(client.attributes['http.status_code'], 200);
    assert.equal(responseOf(r).traceparent, `00-${client.traceId}-${client.spanId}-01`);
    assert.ok(!collector().spans().some((s) => String(s.attributes['http.url']).includes('/v1/traces')), 'the export is not traced');
  });

  it('OTEL_EXPORTER_OTLP_PROTOCOL=http/json: OTLP/JSON', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k2', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(collector().exports.length > 0);
    for (const e of collector().exports) {
      assert.equal(e.format, 'json');
      assert.equal(e.headers['content-type'], 'application/json');
      assert.equal(e.headers['x-api-key'], 'k2');
    }
    serverAndClient(collector().spans());
  });

  it('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL wins over OTEL_EXPORTER_OTLP_PROTOCOL', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([...new Set(collector().exports.map((e) => e.format))], ['json']);
  });

  it('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: a local gRPC collector gets the spans and the headers; the export makes no span', async () => {
    const grpcCollector = await startOtlpGrpcReceiver();
    try {
      const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: grpcCollector.url, OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=k3', TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(grpcCollector.exports.length > 0);
      for (const e of grpcCollector.exports) {
        assert.equal(e.headers['x-api-key'], 'k3');
        assert.equal(e.headers.traceparent, undefined);
      }
      const { server } = serverAndClient(grpcCollector.spans());
      assert.equal(server.resource['service.name'], 'app');
      assert.ok(!grpcCollector.spans().some((s) => s.attributes.component === 'grpc'), 'the gRPC export is not traced');
      assert.equal(collector().exports.length, 0);
    } finally {
      await grpcCollector.close();
    }
  });

  it('an unknown protocol: one warning, and http/protobuf', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.match(/OTEL_EXPORTER_OTLP_PROTOCOL=http\/xml is not one of http\/protobuf, http\/json, grpc/g)?.length, 1, r.stderr);
    assert.deepEqual([...new Set(collector().exports.map((e) => e.format))], ['protobuf']);
  });

  it('zipkin, with OTEL_EXPORTER_ZIPKIN_ENDPOINT', async () => {
    const zipkin = await startServer((req, res) => readBody(req).then(() => res.end('{}')));
    const bodies: ZipkinSpan[][] = [];
    zipkin.server.prependListener('request', (req: http.IncomingMessage) => void readBody(req).then((b) => bodies.push(JSON.parse(b) as ZipkinSpan[])));
    try {
      const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkin.url}/zipkin/spans`, TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual([...new Set(zipkin.received.map((x) => x.url))], ['/zipkin/spans']);
      const spans = bodies.flat();
      const server = spans.find((s) => s.kind === 'SERVER')!;
      const client = spans.find((s) => s.kind === 'CLIENT')!;
      assert.equal(client.parentId, server.id);
      assert.equal(server.localEndpoint.serviceName, 'app');
    } finally {
      await zipkin.close();
    }
  });

  it('OT_ZIPKIN_URL wins over OTEL_EXPORTER_ZIPKIN_ENDPOINT', async () => {
    const zipkin = await startServer((req, res) => readBody(req).then(() => res.end('{}')));
    try {
      const r = await runNode({ ...base, OT_TRACER: 'zipkin', OT_ZIPKIN_URL: `${zipkin.url}/ours`, OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkin.url}/theirs`, TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual([...new Set(zipkin.received.map((x) => x.url))], ['/ours']);
    } finally {
      await zipkin.close();
    }
  });

  it('console: our waterfall on stderr', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'console', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^trace [0-9a-f]{32} {2}\d+ spans/m);
  });

  it('otlp,console: both', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'otlp,console', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^trace [0-9a-f]{32} {2}\d+ spans/m);
    serverAndClient(collector().spans());
  });

  it('none: no tracer, no header, nothing exported', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(responseOf(r).traceparent, undefined);
    assert.equal(collector().exports.length, 0);
    assert.equal(r.stderr, '');
  });

  it('an unknown exporter name warns once and is left out', async () => {
    const r = await runNode({ ...base, OTEL_TRACES_EXPORTER: 'prometheus,otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.match(/OTEL_TRACES_EXPORTER names unknown exporter "prometheus"/g)?.length, 1, r.stderr);
    serverAndClient(collector().spans());
  });

  it('OT_TRACER wins over OTEL_TRACES_EXPORTER, and the debug log says so once', async () => {
    const file = tmpFile('spans.jsonl');
    const r = await runNode({ ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector().url, OTEL_LOG_LEVEL: 'debug', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(collector().exports.length, 0);
    assert.ok(readJsonl<JsonlSpan>(file).length >= 2);
    assert.equal(r.stderr.match(/OT_TRACER=jsonl wins over OTEL_TRACES_EXPORTER=otlp/g)?.length, 1, r.stderr);
  });
});

describe('OTEL_RESOURCE_ATTRIBUTES and the resource detectors', function () {
  this.timeout(60000);

  it('exported spans carry OTEL_RESOURCE_ATTRIBUTES, host and process attributes, never the command line', async () => {
    const collector = await startOtlpHttpReceiver();
    try {
      const r = await runNode(
        { OTEL_SERVICE_NAME: 'shop', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_RESOURCE_ATTRIBUTES: 'service.version=1.2.3,deployment.environment.name=staging,team=a%20b', TARGET_URL: downstream().url },
        ['-r', './register', path.join(root, 'test', 'fixtures', 'traced-app.js'), '--password=hunter2'],
      );
      assert.equal(r.status, 0, r.stderr);
      const resource = collector.spans()[0].resource;
      assert.equal(resource['service.name'], 'shop');
      assert.equal(resource['service.version'], '1.2.3');
      assert.equal(resource['deployment.environment.name'], 'staging');
      assert.equal(resource.team, 'a b');
      assert.equal(resource['host.name'], os.hostname());
      assert.equal(typeof resource['process.pid'], 'number');
      assert.equal(resource['process.runtime.name'], 'nodejs');
      assert.equal(resource['process.runtime.version'], process.versions.node);
      assert.equal(resource['process.command_args'], undefined);
      assert.ok(!JSON.stringify(resource).includes('hunter2'));
    } finally {
      await collector.close();
    }
  });

  it('service.name in OTEL_RESOURCE_ATTRIBUTES names the service when OT_SERVICE_NAME and OTEL_SERVICE_NAME are unset', async () => {
    const file = tmpFile('spans.jsonl');
    const r = await runNode({ OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OTEL_RESOURCE_ATTRIBUTES: 'service.name=billing', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([...new Set(readJsonl<JsonlSpan>(file).map((s) => s.service))], ['billing']);
  });
});

describe('start-up: each exporter and the resource load only when chosen, at the first span', function () {
  this.timeout(60000);
  const probe = `
    const loaded = () => [...new Set(Object.keys(require.cache).map((f) => (/node_modules\\/(@opentelemetry\\/[^/]+|@grpc\\/grpc-js)\\//.exec(f) || [])[1]).filter(Boolean))].sort();
    const atStart = loaded();
    const tracer = require(require.resolve('opentracing', { paths: [process.cwd()] })).globalTracer();
    tracer.startSpan('x').finish();
    console.log(JSON.stringify({ atStart, afterSpan: loaded() }));
    process.exit(0);
  `;
  function run(env: NodeJS.ProcessEnv): { atStart: string[]; afterSpan: string[] } {
    const r = spawnSync(process.execPath, ['-r', './register', '-e', probe], {
      cwd: root,
      encoding: 'utf8',
      env: childEnv({ OT_SERVICE_NAME: 'app', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_SCHEDULE_DELAY: '600000', OT_TRACER_FILE: tmpFile('x.jsonl'), ...env }),
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  }
  const exporters = ['@opentelemetry/exporter-trace-otlp-proto', '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-trace-otlp-grpc', '@opentelemetry/exporter-zipkin'];

  // http/protobuf: OpenTelemetry's transport (otlp-exporter-base) with our serialiser; http/json: that transport with
  // the JSON serialiser, as its exporter package assembles them (the package's own module is not loaded).
  for (const [protocol, exporter] of [['http/protobuf', '@opentelemetry/otlp-exporter-base'], ['http/json', '@opentelemetry/otlp-exporter-base'], ['grpc', exporters[2]]]) {
    it(`otlp over ${protocol}: nothing at start; ${exporter} and the resource at the first span, no other exporter`, () => {
      const r = run({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
      assert.deepEqual(r.atStart, []);
      assert.ok(r.afterSpan.includes(exporter) && r.afterSpan.includes('@opentelemetry/resources'), r.afterSpan.join());
      assert.deepEqual(r.afterSpan.filter((p) => exporters.includes(p)), exporters.includes(exporter) ? [exporter] : []);
      if (protocol !== 'grpc') assert.ok(!r.afterSpan.includes('@grpc/grpc-js'));
    });
  }

  for (const mode of ['console', 'jsonl']) {
    it(`${mode}: no exporter and no @opentelemetry/resources, even with OTEL_RESOURCE_ATTRIBUTES`, () => {
      const r = run({ OTEL_TRACES_EXPORTER: mode === 'console' ? 'console' : '', OT_TRACER: mode === 'jsonl' ? 'jsonl' : '', OTEL_RESOURCE_ATTRIBUTES: 'a=b' });
      assert.deepEqual(r.atStart, []);
      assert.deepEqual(r.afterSpan, ['@opentelemetry/api', '@opentelemetry/core']);
    });
  }
});

describe('OTEL_PROPAGATORS (and OT_PROPAGATION, same names)', function () {
  this.timeout(60000);

  /** An OpenTelemetry SDK service (test/fixtures/otel-peer.js) set up with `propagators`, calling `next`. */
  function otelPeer(propagators: string, next: string): ReturnType<typeof serve> {
    return serve([path.join(root, 'test', 'fixtures', 'otel-peer.js')], { OTEL_PROPAGATORS: propagators, NEXT_URL: next });
  }
  async function peerSpans(peer: { url: string }): Promise<PeerSpan[]> {
    const res = await fetch(`${peer.url}/spans`);
    return (await res.json()) as PeerSpan[];
  }

  for (const variable of ['OTEL_PROPAGATORS', 'OT_PROPAGATION']) {
    it(`${variable}=b3: one single b3 header, which an OpenTelemetry SDK service set up with OTEL_PROPAGATORS=b3 continues`, async () => {
      const peer = await otelPeer('b3', downstream().url);
      try {
        const file = tmpFile('spans.jsonl');
        const r = await runNode({ ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, [variable]: 'b3', TARGET_URL: peer.url });
        assert.equal(r.status, 0, r.stderr);
        const client = readJsonl<JsonlSpan>(file).find((s) => s.tags['span.kind'] === 'client')!;
        const { received, next } = responseOf<{ received: Record<string, string | undefined>; next: string }>(r);
        assert.equal(received.b3, `${client.traceId}-${client.spanId}-1`);
        for (const other of ['x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled', 'traceparent']) assert.equal(received[other], undefined, other);
        const spans = await peerSpans(peer);
        const peerServer = spans.find((s) => s.kind === 1)!;
        const peerClient = spans.find((s) => s.kind === 2)!;
        assert.equal(peerServer.traceId, client.traceId);
        assert.equal(peerServer.parentSpanId, client.spanId);
        assert.equal(JSON.parse(next).b3, `${client.traceId}-${peerClient.spanId}-1`);
      } finally {
        await peer.stop();
      }
    });
  }

  it('OTEL_PROPAGATORS=b3multi: the X-B3-* set and no b3 header; the OpenTelemetry service with b3multi continues', async () => {
    const peer = await otelPeer('b3multi', downstream().url);
    try {
      const file = tmpFile('spans.jsonl');
      const r = await runNode({ ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OTEL_PROPAGATORS: 'b3multi', TARGET_URL: peer.url });
      assert.equal(r.status, 0, r.stderr);
      const client = readJsonl<JsonlSpan>(file).find((s) => s.tags['span.kind'] === 'client')!;
      const { received } = responseOf<{ received: Record<string, string | undefined> }>(r);
      assert.equal(received['x-b3-traceid'], client.traceId);
      assert.equal(received['x-b3-spanid'], client.spanId);
      assert.equal(received['x-b3-sampled'], '1');
      assert.equal(received.b3, undefined);
      const peerServer = (await peerSpans(peer)).find((s) => s.kind === 1)!;
      assert.equal(peerServer.parentSpanId, client.spanId);
    } finally {
      await peer.stop();
    }
  });

  it('b3 extraction accepts both forms: an OpenTelemetry service’s single header, and the X-B3-* set', async () => {
    const file = tmpFile('spans.jsonl');
    const app = await serve(['-r', './register', path.join(root, 'test', 'fixtures', 'traced-app.js')], { ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OTEL_PROPAGATORS: 'b3', TARGET_URL: downstream().url, SERVE_ONLY: '1' });
    const peer = await otelPeer('b3', app.url);
    try {
      await (await fetch(`${peer.url}/from-otel`)).text();
      const multi = { 'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124', 'x-b3-spanid': '0020000000000001', 'x-b3-sampled': '1' };
      await (await fetch(`${app.url}/from-multi`, { headers: multi })).text();
    } finally {
      await peer.stop();
      await app.stop();
    }
    const servers = readJsonl<JsonlSpan>(file).filter((s) => s.tags['span.kind'] === 'server');
    const fromOtel = servers.find((s) => String(s.tags['http.url']).endsWith('/next'));
    const fromMulti = servers.find((s) => String(s.tags['http.url']).endsWith('/from-multi'));
    assert.ok(fromOtel && fromMulti, JSON.stringify(servers));
    assert.equal(fromMulti.traceId, '463ac35c9f6413ad48485a3953bb6124');
    assert.equal(fromMulti.parentId, '0020000000000001');
  });

  it('default (tracecontext,baggage): traceparent out, and incoming baggage passed on', async () => {
    const file = tmpFile('spans.jsonl');
    const app = await serve(['-r', './register', path.join(root, 'test', 'fixtures', 'traced-app.js')], { ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, TARGET_URL: downstream().url, SERVE_ONLY: '1' });
    try {
      const res = await fetch(`${app.url}/x`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', baggage: 'tenant=t1' } });
      const received = JSON.parse(await res.text());
      assert.match(received.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      assert.equal(received.baggage, 'tenant=t1');
    } finally {
      await app.stop();
    }
  });

  it('none: no trace header out, and an incoming one is not continued', async () => {
    const file = tmpFile('spans.jsonl');
    const app = await serve(['-r', './register', path.join(root, 'test', 'fixtures', 'traced-app.js')], { ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OTEL_PROPAGATORS: 'none', TARGET_URL: downstream().url, SERVE_ONLY: '1' });
    try {
      const res = await fetch(`${app.url}/x`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
      const received = JSON.parse(await res.text());
      for (const header of ['traceparent', 'b3', 'x-b3-traceid', 'uber-trace-id', 'baggage']) assert.equal(received[header], undefined, header);
    } finally {
      await app.stop();
    }
    const server = readJsonl<JsonlSpan>(file).find((s) => s.tags['span.kind'] === 'server')!;
    assert.notEqual(server.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('OT_PROPAGATION wins over OTEL_PROPAGATORS, said once in the debug log; an unknown name warns once', async () => {
    const r = await runNode({ ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: tmpFile('s.jsonl'), OT_PROPAGATION: 'b3multi,xray', OTEL_PROPAGATORS: 'b3', OTEL_LOG_LEVEL: 'debug', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    const received = responseOf(r);
    assert.match(String(received['x-b3-traceid']), /^[0-9a-f]{32}$/);
    assert.equal(received.b3, undefined);
    assert.equal(r.stderr.match(/OT_PROPAGATION=b3multi,xray wins over OTEL_PROPAGATORS=b3/g)?.length, 1, r.stderr);
    assert.equal(r.stderr.match(/OT_PROPAGATION names unknown format "xray"/g)?.length, 1, r.stderr);
  });

  it('b3single stays a synonym of b3', async () => {
    const r = await runNode({ ...base, OT_TRACER: 'jsonl', OT_TRACER_FILE: tmpFile('s.jsonl'), OT_PROPAGATION: 'b3single', TARGET_URL: downstream().url });
    assert.equal(r.status, 0, r.stderr);
    assert.match(String(responseOf(r).b3), /^[0-9a-f]{32}-[0-9a-f]{16}-1$/);
  });
});

describe('OTEL_NODE_ENABLED_INSTRUMENTATIONS / OTEL_NODE_DISABLED_INSTRUMENTATIONS', () => {
  const printHooks = "console.log(require('./dist').installedPatches().sort().join(','))";
  function hooks(env: NodeJS.ProcessEnv): { hooks: string[]; stderr: string } {
    const r = spawnSync(process.execPath, ['-r', './register', '-e', printHooks], { cwd: root, env: childEnv(env), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return { hooks: r.stdout.trim() === '' ? [] : r.stdout.trim().split(','), stderr: r.stderr };
  }

  it('enabled: OpenTelemetry names, mapped to our hooks (http covers http, httpServer and axios; undici is fetch)', () => {
    assert.deepEqual(hooks({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici,pg' }).hooks, ['axios', 'fetch', 'http', 'httpServer', 'pg']);
  });

  it('disabled: all but those', () => {
    const on = hooks({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http,ioredis' }).hooks;
    assert.deepEqual(on, HOOK_NAMES.filter((h) => !['http', 'httpServer', 'axios', 'ioredis'].includes(h)).sort());
  });

  it('both: enabled, less disabled; the @opentelemetry/instrumentation- prefix is accepted', () => {
    assert.deepEqual(hooks({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'redis,ioredis', OTEL_NODE_DISABLED_INSTRUMENTATIONS: '@opentelemetry/instrumentation-ioredis' }).hooks, ['redis']);
  });

  it('an unknown name warns once; a name we have no hook for warns once when enabled', () => {
    const r = hooks({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'pg,bogus,tedious,bogus' });
    assert.deepEqual(r.hooks, ['pg']);
    assert.equal(r.stderr.match(/OTEL_NODE_ENABLED_INSTRUMENTATIONS names unknown instrumentation "bogus"/g)?.length, 1, r.stderr);
    assert.equal(r.stderr.match(/"tedious", which opentracing-client-hooks does not trace/g)?.length, 1, r.stderr);
    assert.equal(hooks({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'tedious' }).stderr, '');
  });

  it('OT_HOOKS replaces OTEL_NODE_ENABLED_INSTRUMENTATIONS, OT_HOOKS_DISABLED replaces OTEL_NODE_DISABLED_INSTRUMENTATIONS', () => {
    assert.deepEqual(hooks({ OT_HOOKS: 'pg', OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http' }).hooks, ['pg']);
    assert.deepEqual(hooks({ OT_HOOKS: 'pg,redis', OT_HOOKS_DISABLED: 'redis', OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' }).hooks, ['pg']);
    assert.deepEqual(hooks({ OT_HOOKS: 'pg,redis', OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg' }).hooks, ['redis']);
  });

  it('every name maps to hooks that exist, and the table in docs/configuration.md is this table', () => {
    for (const mapped of Object.values(OTEL_INSTRUMENTATION_HOOKS)) for (const hook of mapped) assert.ok((HOOK_NAMES as readonly string[]).includes(hook), hook);
    const readme = fs.readFileSync(path.join(root, 'docs', 'configuration.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| OpenTelemetry instrumentation |'));
    const lines = table.split('\n').slice(2);
    const rows = lines.slice(0, lines.findIndex((line) => !line.startsWith('|')));
    const fromReadme = Object.fromEntries(rows.map((row) => {
      const [name, ours] = row.split('|').slice(1, 3).map((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
      return [name[0], ours];
    }));
    assert.deepEqual(fromReadme, OTEL_INSTRUMENTATION_HOOKS);
  });
});

describe('OTEL_SDK_DISABLED=true and OTEL_LOG_LEVEL=debug', function () {
  this.timeout(60000);

  it('OTEL_SDK_DISABLED=true: register installs no hook and sets up no tracer (-r and --import)', async () => {
    const collector = await startOtlpHttpReceiver();
    try {
      const env = { ...base, OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp', OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, TARGET_URL: downstream().url };
      for (const preload of [['-r', './register'], ['--import', './register.mjs']]) {
        const r = await runNode(env, [...preload, '-e', "const h=require('./dist'); const o=require('opentracing'); console.log(JSON.stringify({ hooks: h.installedPatches(), span: o.globalTracer().startSpan('x').constructor.name }))"]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { hooks: [], span: 'Span' });
        const app = await runNode(env, [...preload, path.join(root, 'test', 'fixtures', 'traced-app.js')]);
        assert.equal(responseOf(app).traceparent, undefined);
        assert.equal(app.stderr, '');
      }
      assert.equal(collector.exports.length, 0);
    } finally {
      await collector.close();
    }
  });

  it('OTEL_LOG_LEVEL=debug: our debug log, as DEBUG=opentracing-client-hooks* gives it; info: none', async () => {
    const debug = await runNode({ ...base, OTEL_LOG_LEVEL: 'debug', TARGET_URL: downstream().url });
    assert.equal(debug.status, 0, debug.stderr);
    assert.match(debug.stderr, /opentracing-client-hooks http: patched http@/);
    const viaDebug = await runNode({ ...base, DEBUG: 'opentracing-client-hooks*', TARGET_URL: downstream().url });
    const lines = (s: string): string[] => s.split('\n').filter(Boolean).map((l) => l.replace(/^\S+ /, '').replace(/^\s*opentracing-client-hooks /, '').replace(/ \+\d+m?s$/, ''));
    assert.deepEqual(lines(debug.stderr), lines(viaDebug.stderr));
    const info = await runNode({ ...base, OTEL_LOG_LEVEL: 'info', TARGET_URL: downstream().url });
    assert.equal(info.stderr, '');
  });
});

describe("OpenTelemetry's own diagnostics (its diag API) and the variables the SDK warns about", function () {
  this.timeout(60000);
  const exporterEnv = (collector: string) => ({ ...base, OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector, TARGET_URL: downstream().url });

  it("a configuration warning of the exporter reaches stderr once; OTEL_LOG_LEVEL=none silences it", async () => {
    const collector = await startOtlpHttpReceiver();
    try {
      const r = await runNode({ ...exporterEnv(collector.url), OTEL_EXPORTER_OTLP_TIMEOUT: '5s' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "opentracing-client-hooks: OpenTelemetry: Unknown value '5s' for OTEL_EXPORTER_OTLP_TIMEOUT, expected a number, using defaults\n");
      assert.ok(collector.spans().length > 0);
      const none = await runNode({ ...exporterEnv(collector.url), OTEL_EXPORTER_OTLP_TIMEOUT: '5s', OTEL_LOG_LEVEL: 'none' });
      assert.equal(none.stderr, '');
    } finally {
      await collector.close();
    }
  });

  it("an app's own diag logger is kept: it gets OpenTelemetry's warnings, and ours prints none", async () => {
    const collector = await startOtlpHttpReceiver();
    try {
      const app = `
        const api = require('@opentelemetry/api');
        const got = [];
        api.diag.setLogger({ error: (m) => got.push(m), warn: (m) => got.push(m), info() {}, debug() {}, verbose() {} }, api.DiagLogLevel.WARN);
        process.on('exit', () => console.log('app diag ' + JSON.stringify(got)));
        require(${JSON.stringify(path.join(root, 'test', 'fixtures', 'traced-app.js'))});`;
      const r = await runNode({ ...exporterEnv(collector.url), OTEL_EXPORTER_OTLP_TIMEOUT: '5s' }, ['-r', './register', '-e', app]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /app diag \["Unknown value '5s' for OTEL_EXPORTER_OTLP_TIMEOUT/);
    } finally {
      await collector.close();
    }
  });

  it('OTEL_LOG_LEVEL=debug: its debug messages in our debug log; a stray "=" in OTEL_RESOURCE_ATTRIBUTES drops all of it, service.name too, with a warning', async () => {
    const collector = await startOtlpHttpReceiver();
    try {
      const r = await runNode({ ...exporterEnv(collector.url), OT_SERVICE_NAME: '', OTEL_LOG_LEVEL: 'debug', OTEL_RESOURCE_ATTRIBUTES: 'service.name=billing,team=a,note=x=y' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /opentracing-client-hooks OpenTelemetry: EnvDetector failed: Invalid format for OTEL_RESOURCE_ATTRIBUTES/);
      assert.equal(r.stderr.match(/OTEL_RESOURCE_ATTRIBUTES is not valid \(an entry is not key=value.*\): OpenTelemetry ignores all of it, service.name included\n/g)?.length, 1, r.stderr);
      const resource = collector.spans()[0].resource;
      assert.equal(resource.team, undefined);
      assert.equal(resource['service.name'], 'opentracing-client-hooks', 'the package name, as the SDK drops the service.name given');
    } finally {
      await collector.close();
    }
  });

  it('OTEL_SDK_DISABLED that is neither true nor false: false, with one warning', async () => {
    for (const value of ['1', 'yes']) {
      const r = await runNode({ ...base, OTEL_SDK_DISABLED: value, OT_TRACER: 'jsonl', OT_TRACER_FILE: tmpFile('spans.jsonl'), TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      assert.match(responseOf(r).traceparent ?? '', /^00-/, 'the hooks are installed');
      assert.equal(r.stderr, `opentracing-client-hooks: OTEL_SDK_DISABLED="${value}" is neither true nor false: read as false (the hooks are installed)\n`);
    }
    const off = await runNode({ ...base, OTEL_SDK_DISABLED: ' FALSE ', TARGET_URL: downstream().url });
    assert.equal(off.stderr, '');
  });
});


describe('OpenTelemetry variables, read (unit)', () => {
  it('propagation names: synonyms resolved, each once; none wins; unset gives the default', () => {
    assert.deepEqual(propagationNames({ OTEL_PROPAGATORS: 'B3, b3single ,w3c,tracecontext' }), ['b3', 'tracecontext']);
    assert.deepEqual(propagationNames({ OTEL_PROPAGATORS: 'tracecontext,none' }), []);
    assert.deepEqual(propagationNames({}), ['tracecontext', 'baggage']);
    assert.deepEqual(propagationNames({ OT_PROPAGATION: 'jaeger', OTEL_PROPAGATORS: 'b3' }), ['jaeger']);
  });

  it('OTLP protocol: the traces form, else the general one, else http/protobuf', () => {
    assert.equal(otlpProtocol({}), 'http/protobuf');
    assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'GRPC' }), 'grpc');
    assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }), 'http/json');
  });

  it('OTLP endpoint: the URL the exporter sends to, blank variables unset, /v1/traces after the general endpoint', async () => {
    const cases: Array<[NodeJS.ProcessEnv, string]> = [
      [{}, 'http://localhost:4318/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, 'http://localhost:4318/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' }, 'http://localhost:4318/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ' ' }, 'http://c:4318/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/base/' }, 'http://c:4318/base/v1/traces'],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1234/x' }, 'http://t:1234/x'],
    ];
    const names = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
    const saved = names.map((name) => process.env[name]);
    try {
      for (const [env, url] of cases) {
        // The exporters read process.env themselves.
        for (const name of names) {
          if (env[name] === undefined) delete process.env[name];
          else process.env[name] = env[name];
        }
        for (const protocol of ['http/protobuf', 'http/json'] as const) {
          const built = otlpExporter(protocol, env);
          assert.equal(built.url, url, `${protocol} ${JSON.stringify(env)}`);
          assert.equal(otlpTarget(protocol, env), url, `${protocol} ${JSON.stringify(env)}`);
          await built.exporter.shutdown();
        }
      }
    } finally {
      names.forEach((name, i) => {
        if (saved[i] === undefined) delete process.env[name];
        else process.env[name] = saved[i];
      });
    }
    assert.equal(otlpTarget('grpc', { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }), 'http://localhost:4317');
    assert.equal(otlpTarget('grpc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://g:4317' }), 'http://g:4317');
  });

  it('Zipkin endpoint, tracer choice, service.name from OTEL_RESOURCE_ATTRIBUTES', () => {
    assert.equal(zipkinUrl({}), 'http://localhost:9411/api/v2/spans');
    assert.equal(zipkinUrl({ OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://z/s' }), 'http://z/s');
    assert.equal(zipkinTimeout({}), 10000);
    assert.equal(zipkinTimeout({ OTEL_EXPORTER_ZIPKIN_TIMEOUT: ' 2500 ' }), 2500);
    assert.equal(zipkinTimeout({ OTEL_EXPORTER_ZIPKIN_TIMEOUT: '2147483647' }), 2147483647);
    // Over Node's longest timer the export would be cut off after 1 ms.
    for (const bad of ['0', '-1', '5s', '3000000000']) assert.equal(zipkinTimeout({ OTEL_EXPORTER_ZIPKIN_TIMEOUT: bad }), 10000, bad);
    assert.deepEqual(tracerSpec({ OTEL_TRACES_EXPORTER: 'otlp' }), { variable: 'OTEL_TRACES_EXPORTER', value: 'otlp' });
    assert.deepEqual(tracerSpec({ OT_TRACER: ' ', OTEL_TRACES_EXPORTER: 'zipkin' }), { variable: 'OTEL_TRACES_EXPORTER', value: 'zipkin' });
    assert.equal(tracerSpec({}), undefined);
    assert.equal(resourceServiceName({ OTEL_RESOURCE_ATTRIBUTES: 'team=a, service.name=my%20shop' }), 'my shop');
    assert.equal(resourceServiceName({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=' }), undefined);
    assert.equal(resourceServiceName({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=a,,service.name=b, ' }), 'b', 'the last one, as the SDK keeps it');
    // What makes the SDK's env detector drop the whole variable drops service.name too.
    for (const value of ['service.name=a,b', 'service.name=a=b', 'service.name=a,=x', 'service.name=%E0%A4%A', `service.name=a,k=${'v'.repeat(256)}`]) {
      assert.equal(resourceServiceName({ OTEL_RESOURCE_ATTRIBUTES: value }), undefined, value);
    }
    assert.equal(sdkDisabled({ OTEL_SDK_DISABLED: 'TRUE' }), true);
    assert.equal(sdkDisabled({ OTEL_SDK_DISABLED: '1' }), false);
  });
});
