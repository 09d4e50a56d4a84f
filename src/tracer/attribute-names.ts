/**
 * OT_ATTRIBUTE_NAMES: the names the built-in tracer's exported spans carry. `opentracing` (the default)
 * keeps the hooks' OpenTracing tags; `otel` renames them to OpenTelemetry's semantic conventions; `both`
 * keeps them and adds OpenTelemetry's. One table, applied where spans are exported (OTLP, Zipkin), so
 * that the hooks and the span itself stay as they are. Span kind and status are the span's own, as always.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { warnOnce } from '../logger';

export const ATTRIBUTE_NAMINGS = ['opentracing', 'otel', 'both'] as const;
export type AttributeNaming = (typeof ATTRIBUTE_NAMINGS)[number];

/** OT_ATTRIBUTE_NAMES, default `opentracing`; another value warns once and keeps the default. */
export function attributeNaming(env: NodeJS.ProcessEnv = process.env): AttributeNaming {
  const value = (env.OT_ATTRIBUTE_NAMES ?? '').trim().toLowerCase();
  if (value === '') return 'opentracing';
  if ((ATTRIBUTE_NAMINGS as readonly string[]).includes(value)) return value as AttributeNaming;
  warnOnce(`OT_ATTRIBUTE_NAMES=${value} is not one of ${ATTRIBUTE_NAMINGS.join(', ')} (opentracing is used)`);
  return 'opentracing';
}

/** A lookup table keyed by tag names and values, which never answers for `Object.prototype`'s keys (`toString`, `constructor`). */
function table(entries: Record<string, string>): Readonly<Record<string, string | undefined>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, entries));
}

/** OpenTracing tags with one OpenTelemetry name whatever the span. */
export const RENAMED = table({
  'http.method': 'http.request.method',
  'http.status_code': 'http.response.status_code',
  'db.instance': 'db.namespace',
  'db.statement': 'db.query.text',
  'message_bus.destination': 'messaging.destination.name',
  'amqp.routing_key': 'messaging.rabbitmq.destination.routing_key',
  'grpc.status_code': 'rpc.grpc.status_code',
  'aws.service': 'rpc.service',
  'aws.operation': 'rpc.method',
  'aws.region': 'cloud.region',
});

/** `db.system.name` for `db.type` `sql`, by component. */
const SQL_SYSTEMS = table({ pg: 'postgresql', mysql2: 'mysql', mysql: 'mysql' });
/** `db.system.name` for the other `db.type`s whose OpenTracing name is not OpenTelemetry's (the mongodb hook's `mongo`). */
const DB_SYSTEMS = table({ mongo: 'mongodb' });
/** `messaging.system`, by component. */
const MESSAGING_SYSTEMS = table({ amqplib: 'rabbitmq', kafkajs: 'kafka', nats: 'nats' });
/** Tags whose OpenTelemetry name depends on the span (read below), and `span.kind`, which is the span's kind. */
const BY_SPAN = new Set(['span.kind', 'http.url', 'peer.hostname', 'peer.address', 'peer.port', 'db.type']);

const KIND_SERVER = 1;

/** `scheme://host/path?query`, or a path with an optional query. */
const URL_PARTS = /^(?:([a-z][a-z0-9+.-]*):\/\/[^/?#]*)?([^?#]*)(?:\?([^#]*))?/i;

function systemOfDb(dbType: AttributeValue, component: AttributeValue | undefined): AttributeValue {
  if (dbType === 'sql') return SQL_SYSTEMS[String(component)] ?? 'other_sql';
  return DB_SYSTEMS[String(dbType)] ?? dbType;
}

/** The OpenTelemetry attributes for `attributes` of a span of `kind` (`both`: the OpenTracing ones too). */
export function renameAttributes(attributes: Attributes, kind: number, naming: Exclude<AttributeNaming, 'opentracing'>): Attributes {
  const out: Attributes = {};
  const set = (key: string, value: AttributeValue | undefined): void => {
    if (value !== undefined && !Object.hasOwn(out, key)) out[key] = value;
  };
  const server = kind === KIND_SERVER;
  const component = attributes.component;
  for (const key in attributes) {
    const value = attributes[key];
    if (naming === 'both') out[key] = value;
    const renamed = RENAMED[key];
    if (renamed !== undefined) set(renamed, value);
    else if (!BY_SPAN.has(key)) set(key, value);
  }
  const url = attributes['http.url'];
  if (url !== undefined) {
    if (!server) set('url.full', url);
    else {
      const parts = URL_PARTS.exec(String(url));
      set('url.scheme', parts?.[1]);
      set('url.path', parts?.[2] || '/');
      set('url.query', parts?.[3]);
    }
  }
  const hostname = attributes['peer.hostname'];
  const address = attributes['peer.address'];
  const port = attributes['peer.port'];
  if (server) {
    set('client.address', address ?? hostname);
    set('client.port', port);
  } else {
    set('server.address', hostname ?? address);
    if (hostname !== undefined && address !== undefined) set('network.peer.address', address);
    set('server.port', port);
  }
  const dbType = attributes['db.type'];
  if (dbType !== undefined) set('db.system.name', systemOfDb(dbType, component));
  const messaging = component === undefined ? undefined : MESSAGING_SYSTEMS[String(component)];
  if (messaging !== undefined) set('messaging.system', messaging);
  if (component === 'aws-sdk') set('rpc.system', 'aws-api');
  return out;
}

/** The span as exporters read it, with its attributes renamed (the span itself is left as it is). */
function renamed(span: ReadableSpan, naming: Exclude<AttributeNaming, 'opentracing'>): ReadableSpan {
  return Object.create(span, { attributes: { value: renameAttributes(span.attributes, span.kind, naming), enumerable: true } }) as ReadableSpan;
}

/** What gives exporters a span with OT_ATTRIBUTE_NAMES' names; undefined when they keep OpenTracing's. */
export function spanRenamer(naming: AttributeNaming): ((span: ReadableSpan) => ReadableSpan) | undefined {
  return naming === 'opentracing' ? undefined : (span) => renamed(span, naming);
}

/** `exporter`, given the spans with OT_ATTRIBUTE_NAMES' names. */
export function withAttributeNames(exporter: SpanExporter, naming: AttributeNaming): SpanExporter {
  const rename = spanRenamer(naming);
  if (rename === undefined) return exporter;
  return {
    export: (spans, done) => exporter.export(spans.map(rename), done),
    shutdown: () => exporter.shutdown(),
    forceFlush: exporter.forceFlush ? () => exporter.forceFlush!() : undefined,
  };
}
