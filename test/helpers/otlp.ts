/**
 * Local OTLP trace receivers for the tests: over HTTP (protobuf or JSON, as the request's content-type
 * says) and over gRPC. Both decode what they get into one shape, so that a test reads spans the same way
 * whatever the protocol.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import { startServer } from './servers';
import type { TestServer } from './servers';

const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
const root = protobuf.loadSync(path.join(fixtures, 'otlp-trace.proto'));
const ExportRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's numbering: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  resource: Record<string, unknown>;
  scope: string;
}

export interface OtlpExport {
  /** `protobuf` or `json` (HTTP, by content-type), `grpc`. */
  format: 'protobuf' | 'json' | 'grpc';
  /** HTTP headers, or gRPC metadata (each as its first value). */
  headers: Record<string, string | string[] | undefined>;
  url?: string;
  spans: OtlpSpan[];
}

/** Hex of an id: JSON has it as hex already, protobuf as bytes. */
function hex(id: unknown): string {
  if (id === undefined || id === null) return '';
  if (typeof id === 'string') return id;
  return Buffer.from(id as Uint8Array).toString('hex');
}

/** OTLP/JSON, or protobuf decoded to an object with camelCase names: the fields read here. */
interface AnyValueObject {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValueObject[] };
  bytesValue?: unknown;
}
interface KeyValueObject {
  key: string;
  value?: AnyValueObject;
}
interface SpanObject {
  traceId?: unknown;
  spanId?: unknown;
  parentSpanId?: unknown;
  name: string;
  kind?: number;
  attributes?: KeyValueObject[];
  status?: { code?: number; message?: string };
  events?: Array<{ name: string; attributes?: KeyValueObject[] }>;
}
interface ExportRequestObject {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValueObject[] }; scopeSpans?: Array<{ scope?: { name?: string }; spans?: SpanObject[] }> }>;
}

function anyValue(value: AnyValueObject | undefined): unknown {
  if (value === undefined || value === null) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(anyValue);
  return value.bytesValue;
}

function attributesOf(list: KeyValueObject[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

/** The spans of an ExportTraceServiceRequest. */
export function spansOfRequest(request: ExportRequestObject): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name,
          kind: Number(s.kind ?? 0),
          attributes: attributesOf(s.attributes),
          status: { code: Number(s.status?.code ?? 0), message: s.status?.message },
          events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
          resource,
          scope: ss.scope?.name ?? '',
        });
      }
    }
  }
  return spans;
}

export function decodeProtobuf(body: Buffer): OtlpSpan[] {
  return spansOfRequest(ExportRequest.toObject(ExportRequest.decode(body), { longs: Number, enums: Number }));
}

export interface OtlpReceiver {
  url: string;
  exports: OtlpExport[];
  spans(): OtlpSpan[];
  close(): Promise<void>;
}

/** An OTLP/HTTP receiver on 127.0.0.1: decodes protobuf (`application/x-protobuf`) and JSON bodies. */
export async function startOtlpHttpReceiver(): Promise<OtlpReceiver> {
  const received: OtlpExport[] = [];
  const server: TestServer = await startServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const json = String(req.headers['content-type']).includes('json');
      received.push({
        format: json ? 'json' : 'protobuf',
        headers: req.headers,
        url: req.url,
        spans: json ? spansOfRequest(JSON.parse(body.toString('utf8'))) : decodeProtobuf(body),
      });
      res.statusCode = 200;
      res.setHeader('content-type', json ? 'application/json' : 'application/x-protobuf');
      res.end(json ? '{}' : Buffer.alloc(0));
    });
  });
  return { url: server.url, exports: received, spans: () => received.flatMap((e) => e.spans), close: () => server.close() };
}

/** An OTLP/gRPC receiver on 127.0.0.1 (insecure): the TraceService's Export, decoded with the same proto. */
export async function startOtlpGrpcReceiver(): Promise<OtlpReceiver> {
  const received: OtlpExport[] = [];
  const server = new grpc.Server();
  const raw = (b: Buffer): Buffer => b;
  const definition = {
    export: { path: TRACE_EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  };
  server.addService(definition as unknown as grpc.ServiceDefinition, {
    export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const headers = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
      received.push({ format: 'grpc', headers, spans: decodeProtobuf(call.request) });
      callback(null, Buffer.alloc(0));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    url: `http://127.0.0.1:${port}`,
    exports: received,
    spans: () => received.flatMap((e) => e.spans),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
