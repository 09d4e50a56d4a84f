import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runNode } from '../helpers/child';
import { startOtlpHttpReceiver } from '../helpers/otlp';
import type { OtlpSpan } from '../helpers/otlp';
import { closedPort, headersHandler, serverForSuite, startServer } from '../helpers/servers';
import { attributeNaming, renameAttributes } from '../../src/tracer/attribute-names';

const SERVER = 1;
const CLIENT = 2;
const PRODUCER = 3;

describe('OT_ATTRIBUTE_NAMES: the mapping table', () => {
  it('http client: url.full, http.request.method, http.response.status_code, server.address, server.port', () => {
    const tags = { 'span.kind': 'client', component: 'fetch', 'http.method': 'GET', 'http.url': 'https://api.example.com:8443/v1/items', 'http.status_code': 200, 'peer.hostname': 'api.example.com', 'peer.port': 8443 };
    assert.deepEqual(renameAttributes(tags, CLIENT, 'otel'), {
      component: 'fetch',
      'http.request.method': 'GET',
      'url.full': 'https://api.example.com:8443/v1/items',
      'http.response.status_code': 200,
      'server.address': 'api.example.com',
      'server.port': 8443,
    });
  });

  it('http server: url.scheme, url.path, url.query, client.address; http.route stays', () => {
    const tags = { 'span.kind': 'server', component: 'http', 'http.method': 'POST', 'http.url': 'http://shop.local/orders/7?x=1', 'peer.address': '10.0.0.9', 'http.route': '/orders/:id', 'http.status_code': 201 };
    assert.deepEqual(renameAttributes(tags, SERVER, 'otel'), {
      component: 'http',
      'http.request.method': 'POST',
      'http.route': '/orders/:id',
      'http.response.status_code': 201,
      'url.scheme': 'http',
      'url.path': '/orders/7',
      'url.query': 'x=1',
      'client.address': '10.0.0.9',
    });
  });

  it('databases: db.system.name from db.type and component, db.namespace, db.query.text', () => {
    const sql = { component: 'pg', 'db.type': 'sql', 'db.instance': 'shop', 'db.user': 'app', 'db.statement': 'SELECT 1', 'peer.hostname': 'db', 'peer.port': 5432 };
    assert.deepEqual(renameAttributes(sql, CLIENT, 'otel'), {
      component: 'pg',
      'db.namespace': 'shop',
      'db.user': 'app',
      'db.query.text': 'SELECT 1',
      'server.address': 'db',
      'server.port': 5432,
      'db.system.name': 'postgresql',
    });
    assert.equal(renameAttributes({ component: 'mysql2', 'db.type': 'sql' }, CLIENT, 'otel')['db.system.name'], 'mysql');
    assert.equal(renameAttributes({ component: 'ioredis', 'db.type': 'redis', 'db.instance': '2' }, CLIENT, 'otel')['db.system.name'], 'redis');
    assert.equal(renameAttributes({ component: 'mongodb', 'db.type': 'mongo' }, CLIENT, 'otel')['db.system.name'], 'mongodb', "the mongodb hook's db.type");
    assert.equal(renameAttributes({ component: 'mongodb', 'db.type': 'mongodb' }, CLIENT, 'otel')['db.system.name'], 'mongodb');
    assert.equal(renameAttributes({ component: 'x', 'db.type': 'toString' }, CLIENT, 'otel')['db.system.name'], 'toString');
    assert.equal(renameAttributes({ component: 'other', 'db.type': 'sql' }, CLIENT, 'otel')['db.system.name'], 'other_sql');
  });

  it("tags and components named like Object.prototype's keys (toString, constructor) keep their names and values", () => {
    assert.deepEqual(renameAttributes({ toString: 'a', constructor: 'b' }, CLIENT, 'otel'), { toString: 'a', constructor: 'b' });
    assert.deepEqual(renameAttributes({ component: 'constructor', 'db.type': 'sql' }, CLIENT, 'otel'), { component: 'constructor', 'db.system.name': 'other_sql' });
    assert.deepEqual(renameAttributes({ component: 'toString', 'message_bus.destination': 'q' }, PRODUCER, 'otel'), { component: 'toString', 'messaging.destination.name': 'q' });
  });

  it('messaging and rpc: messaging.system, messaging.destination.name; rpc.* for grpc and the AWS SDK', () => {
    const amqp = renameAttributes({ component: 'amqplib', 'message_bus.destination': 'orders', 'amqp.routing_key': 'new' }, PRODUCER, 'otel');
    assert.equal(amqp['messaging.system'], 'rabbitmq');
    assert.equal(amqp['messaging.destination.name'], 'orders');
    assert.equal(amqp['messaging.rabbitmq.destination.routing_key'], 'new');
    const grpc = renameAttributes({ component: 'grpc', 'rpc.system': 'grpc', 'rpc.service': 'echo.Echo', 'rpc.method': 'Say', 'grpc.status_code': 0 }, CLIENT, 'otel');
    assert.deepEqual([grpc['rpc.system'], grpc['rpc.service'], grpc['rpc.method'], grpc['rpc.grpc.status_code']], ['grpc', 'echo.Echo', 'Say', 0]);
    const aws = renameAttributes({ component: 'aws-sdk', 'aws.service': 'S3', 'aws.operation': 'GetObject', 'aws.region': 'eu-west-1' }, CLIENT, 'otel');
    assert.deepEqual([aws['rpc.system'], aws['rpc.service'], aws['rpc.method'], aws['cloud.region']], ['aws-api', 'S3', 'GetObject', 'eu-west-1']);
  });

  it('both: the OpenTracing names and the OpenTelemetry ones', () => {
    const tags = { 'span.kind': 'client', 'http.method': 'GET', 'http.url': 'http://a/b' };
    assert.deepEqual(renameAttributes(tags, CLIENT, 'both'), { ...tags, 'http.request.method': 'GET', 'url.full': 'http://a/b' });
  });

  it('OT_ATTRIBUTE_NAMES: opentracing by default, case-insensitive', () => {
    assert.equal(attributeNaming({}), 'opentracing');
    assert.equal(attributeNaming({ OT_ATTRIBUTE_NAMES: 'OTel' }), 'otel');
    assert.equal(attributeNaming({ OT_ATTRIBUTE_NAMES: 'both' }), 'both');
  });
});

describe('OT_ATTRIBUTE_NAMES end to end (the built-in tracer’s OTLP export)', function () {
  this.timeout(60000);
  const downstream = serverForSuite(() => startServer(headersHandler));

  async function exported(env: NodeJS.ProcessEnv): Promise<{ server: OtlpSpan; client: OtlpSpan }> {
    const collector = await startOtlpHttpReceiver();
    try {
      const r = await runNode({ OT_SERVICE_NAME: 'app', OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, TARGET_URL: downstream().url, ...env });
      assert.equal(r.status, 0, r.stderr);
      const spans = collector.spans();
      const server = spans.find((s) => s.kind === 2)!;
      const client = spans.find((s) => s.kind === 3)!;
      assert.ok(server && client);
      assert.equal(client.parentSpanId, server.spanId, 'kind and parent as always');
      return { server, client };
    } finally {
      await collector.close();
    }
  }

  it('otel: OpenTelemetry names only; span kind and status are the span’s', async () => {
    const { server, client } = await exported({ OT_ATTRIBUTE_NAMES: 'otel' });
    assert.equal(client.attributes['url.full'], `${downstream().url}/downstream/start`);
    assert.equal(client.attributes['http.request.method'], 'GET');
    assert.equal(client.attributes['server.address'], '127.0.0.1');
    assert.equal(client.attributes['server.port'], downstream().port);
    assert.equal(server.attributes['url.path'], '/start');
    assert.equal(server.attributes['client.address'], '127.0.0.1');
    for (const span of [client, server]) {
      for (const old of ['http.url', 'http.method', 'http.status_code', 'peer.hostname', 'peer.port', 'peer.address', 'span.kind']) assert.equal(span.attributes[old], undefined, old);
      assert.equal(span.attributes['http.response.status_code'], 200);
    }
  });

  it('otel: a failed call keeps its ERROR status and exception event', async () => {
    const collector = await startOtlpHttpReceiver();
    try {
      const r = await runNode({ OT_SERVICE_NAME: 'app', OT_TRACER: 'otlp', OT_ATTRIBUTE_NAMES: 'otel', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, TARGET_URL: `http://127.0.0.1:${await closedPort()}` });
      assert.equal(r.status, 0, r.stderr);
      const client = collector.spans().find((s) => s.kind === 3)!;
      assert.equal(client.status.code, 2);
      assert.equal(client.attributes.error, undefined);
      assert.ok(client.events.some((e) => e.name === 'exception'));
      assert.ok(client.attributes['url.full']);
    } finally {
      await collector.close();
    }
  });

  it('both: each span has both names', async () => {
    const { client } = await exported({ OT_ATTRIBUTE_NAMES: 'both' });
    assert.equal(client.attributes['http.url'], client.attributes['url.full']);
    assert.equal(client.attributes['http.method'], client.attributes['http.request.method']);
  });

  it('default: the OpenTracing names, as before', async () => {
    const { client } = await exported({});
    assert.equal(client.attributes['url.full'], undefined);
    assert.ok(String(client.attributes['http.url']).endsWith('/downstream/start'));
  });

  it('jsonl and a tracer of the app’s own keep the OpenTracing names', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'otch-names-')), 'spans.jsonl');
    try {
      const r = await runNode({ OT_SERVICE_NAME: 'app', OT_TRACER: 'jsonl', OT_TRACER_FILE: file, OT_ATTRIBUTE_NAMES: 'otel', TARGET_URL: downstream().url });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(fs.readFileSync(file, 'utf8').includes('"http.url"'));
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
    const own = await runNode({ OT_TRACER: './test/fixtures/custom-tracer.js', OT_ATTRIBUTE_NAMES: 'otel', TARGET_URL: downstream().url });
    assert.equal(own.status, 0, own.stderr);
    const spans = JSON.parse(own.stdout.split('SPANS ')[1]) as Array<{ tags: Record<string, unknown> }>;
    assert.ok(spans.some((s) => s.tags['http.url'] !== undefined && s.tags['url.full'] === undefined));
  });
});
