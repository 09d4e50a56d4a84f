/**
 * What the built-in tracer's exporters read from OpenTelemetry's environment variables: the OTLP protocol
 * (each official exporter loaded only when chosen), the Zipkin endpoint, and the resource (service name,
 * OTEL_RESOURCE_ATTRIBUTES and the SDK's host, process and environment detectors). Nothing here loads
 * @opentelemetry/* until an exporter is built, at the first span.
 */
import { createRequire } from 'node:module';
import type { Attributes } from '@opentelemetry/api';
import type { RawResourceAttribute, Resource, ResourceDetector } from '@opentelemetry/resources';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { eitherEnv } from '../otel-env';
import { warnOnce } from '../logger';
import { routeOpenTelemetryDiagnostics } from './diagnostics';

/* eslint-disable @typescript-eslint/no-require-imports */

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else `http/protobuf` (the specification's default). */
export function otlpProtocol(env: NodeJS.ProcessEnv = process.env): OtlpProtocol {
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const value = env[name]?.trim().toLowerCase();
    if (value === undefined || value === '') continue;
    if ((OTLP_PROTOCOLS as readonly string[]).includes(value)) return value as OtlpProtocol;
    warnOnce(`${name}=${value} is not one of ${OTLP_PROTOCOLS.join(', ')} (http/protobuf is used)`);
    return 'http/protobuf';
  }
  return 'http/protobuf';
}

/**
 * Where the OTLP exporter sends, as it reads the variables: blank counts as unset, and the general
 * endpoint gets `/v1/traces` appended (not for grpc). What the message about a failed set-up shows; the
 * HTTP exporters' own URL, as they built it, is what `otlpExporter` gives.
 */
export function otlpTarget(protocol: OtlpProtocol, env: NodeJS.ProcessEnv = process.env): string {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (specific !== undefined && specific.trim() !== '') return specific;
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const base = general !== undefined && general.trim() !== '' ? general : protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318';
  return protocol === 'grpc' ? base : `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

const OTLP_PACKAGES: Record<OtlpProtocol, string> = {
  'http/protobuf': '@opentelemetry/exporter-trace-otlp-proto',
  'http/json': '@opentelemetry/exporter-trace-otlp-http',
  grpc: '@opentelemetry/exporter-trace-otlp-grpc',
};

/** An OTLP exporter and the URL it sends to. */
export interface OtlpExporter {
  exporter: SpanExporter;
  url: string;
}

/**
 * The OTLP trace exporter for `protocol` (only its package is loaded); it reads its endpoint, headers,
 * compression and timeout from the environment. `http/protobuf` is OpenTelemetry's exporter with the
 * built-in tracer's own serialiser (./otlp-proto: the same bytes, written for less), `http/json` its JSON
 * exporter, both assembled as their packages assemble them, so that the URL they send to is the one their
 * transport was given; `grpc` is the official exporter as it is (its URL, as `otlpTarget` reads it).
 */
export function otlpExporter(protocol: OtlpProtocol, env: NodeJS.ProcessEnv = process.env): OtlpExporter {
  if (protocol === 'grpc') {
    const { OTLPTraceExporter } = require(OTLP_PACKAGES.grpc);
    return { exporter: new OTLPTraceExporter() as SpanExporter, url: otlpTarget(protocol, env) };
  }
  return httpExporter(protocol);
}

/**
 * What `@opentelemetry/exporter-trace-otlp-proto` (`-http` for `http/json`) builds, with, for protobuf,
 * ./otlp-proto's `serializeRequest` in place of its serialiser: it takes spans, or the batches of spans
 * written in advance that ./batch-processor sends.
 */
function httpExporter(protocol: 'http/protobuf' | 'http/json'): OtlpExporter {
  // Its own dependencies, from where it is installed: the same versions it is built with.
  const load = createRequire(require.resolve(OTLP_PACKAGES[protocol])) as (id: string) => any;
  const { OTLPExporterBase } = load('@opentelemetry/otlp-exporter-base');
  const http = load('@opentelemetry/otlp-exporter-base/node-http');
  const transformer = load('@opentelemetry/otlp-transformer');
  const json = protocol === 'http/json';
  const serializer = json
    ? transformer.JsonTraceSerializer
    : { serializeRequest: (require('./otlp-proto') as typeof import('./otlp-proto')).serializeRequest, deserializeResponse: transformer.ProtobufTraceSerializer.deserializeResponse };
  const options = http.convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' });
  const delegate = http.createOtlpHttpExportDelegate(options, serializer, 'otlp_http_span_exporter', transformer.TraceExporterMetricsHelper, undefined);
  return { exporter: new OTLPExporterBase(delegate) as SpanExporter, url: String(options.url) };
}

/** OT_ZIPKIN_URL, else OTEL_EXPORTER_ZIPKIN_ENDPOINT, else Zipkin's default on localhost. */
export function zipkinUrl(env: NodeJS.ProcessEnv = process.env): string {
  return eitherEnv(env, 'OT_ZIPKIN_URL', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT')?.trim() ?? 'http://localhost:9411/api/v2/spans';
}

/** The longest delay a Node.js timer takes (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2147483647;

/** OTEL_EXPORTER_ZIPKIN_TIMEOUT: how long a Zipkin export may wait for its answer, in ms (10 s, as the spec says). */
export function zipkinTimeout(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.OTEL_EXPORTER_ZIPKIN_TIMEOUT;
  if (raw === undefined || raw.trim() === '') return 10000;
  const value = Number(raw);
  // Node runs a longer timer at once (1 ms): every export would fail.
  if (Number.isFinite(value) && value > 0 && value <= MAX_TIMER_MS) return value;
  warnOnce(`OTEL_EXPORTER_ZIPKIN_TIMEOUT=${raw}: not a number of milliseconds from 1 to ${MAX_TIMER_MS}; 10000 is used`);
  return 10000;
}

/** Left out of the process detector's attributes: a command line can carry secrets (`--password=...`). */
const UNSAFE_PROCESS_ATTRIBUTES = ['process.command_args', 'process.command_line'];

/**
 * The resource of exported spans: the SDK's host and process detectors, then OTEL_RESOURCE_ATTRIBUTES
 * (the env detector: `service.version`, `deployment.environment.name`, ...), then `service.name`.
 */
export function detectedResource(service: string): Resource {
  routeOpenTelemetryDiagnostics();
  const resources = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const processWithoutCommandLine = {
    detect(): { attributes?: Record<string, unknown> } {
      const attributes = { ...resources.processDetector.detect().attributes };
      for (const key of UNSAFE_PROCESS_ATTRIBUTES) delete attributes[key];
      return { attributes };
    },
  };
  return resources
    .detectResources({ detectors: [resources.hostDetector, processWithoutCommandLine as ResourceDetector, resources.envDetector] })
    .merge(resources.resourceFromAttributes({ 'service.name': service }));
}

/** A Resource built when first read (with the exporter, at the first span), not at start-up. */
export class DeferredResource implements Resource {
  private built: Resource | undefined;
  constructor(private readonly build: () => Resource, private readonly fallback: () => Resource) {}
  private resolve(): Resource {
    if (this.built === undefined) {
      try {
        this.built = this.build();
      } catch (err) {
        warnOnce(`cannot detect the resource: ${(err as Error).message} (service.name only)`);
        this.built = this.fallback();
      }
    }
    return this.built;
  }
  /** Builds it now (before the first span is timed). */
  prepare(): void {
    this.resolve();
  }
  get attributes(): Attributes {
    return this.resolve().attributes;
  }
  get asyncAttributesPending(): boolean | undefined {
    return this.resolve().asyncAttributesPending;
  }
  get schemaUrl(): string | undefined {
    return this.resolve().schemaUrl;
  }
  waitForAsyncAttributes(): Promise<void> {
    return this.resolve().waitForAsyncAttributes?.() ?? Promise.resolve();
  }
  merge(other: Resource | null): Resource {
    return this.resolve().merge(other);
  }
  getRawAttributes(): RawResourceAttribute[] {
    return this.resolve().getRawAttributes();
  }
}

/**
 * The service.name in OTEL_RESOURCE_ATTRIBUTES (`key=value` pairs, comma-separated, percent-encoded), by
 * the rule of the SDK's env detector: one entry that is not `key=value` (an `=` or `,` not encoded), has
 * an empty key, is not percent-encoded correctly or is longer than 255 characters makes it drop the whole
 * variable, service.name included (reported once here; the SDK says so in its debug log only).
 */
export function resourceServiceName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env.OTEL_RESOURCE_ATTRIBUTES;
  if (raw === undefined || raw.trim() === '') return undefined;
  let name: string | undefined;
  for (const entry of raw.split(',')) {
    if (entry.trim() === '') continue;
    const pair = entry.split('=');
    if (pair.length !== 2) return dropped('an entry is not key=value (an "=" or "," in a key or value must be percent-encoded)');
    if (pair[0].trim() === '') return dropped('an entry has an empty key');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(pair[0].trim());
      value = decodeURIComponent(pair[1].trim());
    } catch {
      return dropped('an entry is not percent-encoded correctly');
    }
    if (key.length > 255 || value.length > 255) return dropped('a key or value is longer than 255 characters');
    if (key === 'service.name') name = value; // the last one, as the detector keeps it
  }
  return name === '' ? undefined : name;
}

function dropped(why: string): undefined {
  warnOnce(`OTEL_RESOURCE_ATTRIBUTES is not valid (${why}): OpenTelemetry ignores all of it, service.name included`);
  return undefined;
}
