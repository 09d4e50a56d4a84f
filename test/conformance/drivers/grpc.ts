import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as clientInterceptors from '@grpc/grpc-js/build/src/client-interceptors';
import * as protoLoader from '@grpc/proto-loader';
import { FORMAT_HTTP_HEADERS } from 'opentracing';
import { currentSpan, suppressTracing } from '../../../src';
import type { RecordedSpan } from '../../helpers/tracer';
import type { Driver } from '../driver';

export const ECHO_PROTO = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'echo.proto');

export interface EchoRequest {
  text?: string;
  delay_ms?: number;
  fail_code?: number;
  count?: number;
}

export interface EchoReply {
  text: string;
  traceparent: string;
  active_span: string;
  caller_key: string;
  active_later: string;
}

/** The generated client of `conformance.Echo`. */
export type EchoClient = grpc.Client & { [method: string]: any };

/** Loads the service definition; after OpenTelemetry registered, so that its patch of grpc-js sees it. */
export function loadEcho(): { Echo: grpc.ServiceClientConstructor } {
  const definition = protoLoader.loadSync(ECHO_PROTO, { keepCase: true, defaults: true });
  return (grpc.loadPackageDefinition(definition) as any).conformance;
}

function activeId(): string {
  return (currentSpan() as RecordedSpan | undefined)?.id ?? '';
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface EchoServer {
  server: grpc.Server;
  port: number;
  address: string;
  /** Called when a call reaches its handler (it is then in flight). */
  onArrival?: () => void;
  /** Called when the handler of a call sees it cancelled. */
  onCancelled?: () => void;
  close(): Promise<void>;
}

/**
 * A real grpc-js server on 127.0.0.1 serving `conformance.Echo`. Each reply says what the handler saw: the
 * `traceparent` and `x-caller` metadata, the span active when the handler started and after an await (or
 * in a stream event). `text: 'nested'` makes the handler call Unary on itself after an await, `text:
 * 'throw'` makes it throw. It keeps nothing per call, so that the heap check measures the hook alone.
 */
export async function startEchoServer(options: { suppressed?: boolean } = {}): Promise<EchoServer> {
  const { Echo } = loadEcho();
  const server = new grpc.Server();
  // eslint-disable-next-line prefer-const -- assigned below, once the server listens; the closures above read it later
  let self: EchoClient | undefined;
  const echo: EchoServer = {
    server,
    port: 0,
    address: '',
    close: async () => {
      self?.close();
      server.forceShutdown();
    },
  };
  const seen = (metadata: grpc.Metadata): Pick<EchoReply, 'traceparent' | 'caller_key'> => ({
    traceparent: String(metadata.get('traceparent')[0] ?? ''),
    caller_key: String(metadata.get('x-caller')[0] ?? ''),
  });
  const failure = (code: number): Partial<grpc.ServiceError> => ({ code, details: 'failed on purpose' });
  server.addService(Echo.service, {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const request = call.request;
      if (request.text === 'throw') throw new Error('the handler threw');
      const activeSpan = activeId();
      echo.onArrival?.();
      call.on('cancelled', () => echo.onCancelled?.());
      (async () => {
        if ((request.delay_ms ?? 0) > 0) await delay(request.delay_ms!);
        else await Promise.resolve();
        let text = request.text ?? '';
        if (text === 'nested') {
          const inner = await new Promise<EchoReply>((resolve, reject) =>
            self!.Unary({ text: 'inner' }, (err: Error | null, reply: EchoReply) => (err ? reject(err) : resolve(reply))),
          );
          text = `nested:${inner.text}`;
        }
        if ((request.fail_code ?? 0) !== 0) return callback(failure(request.fail_code!));
        callback(null, { text, ...seen(call.metadata), active_span: activeSpan, active_later: activeId() });
      })().catch((err) => callback(err));
    },
    ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const activeSpan = activeId();
      const texts: string[] = [];
      let failCode = 0;
      call.on('data', (request: EchoRequest) => {
        texts.push(request.text ?? '');
        failCode ||= request.fail_code ?? 0;
      });
      call.on('end', () => {
        if (failCode !== 0) return callback(failure(failCode));
        callback(null, { text: texts.join(','), ...seen(call.metadata), active_span: activeSpan, active_later: activeId() });
      });
    },
    ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      const request = call.request;
      const activeSpan = activeId();
      echo.onArrival?.();
      call.on('cancelled', () => echo.onCancelled?.());
      (async () => {
        for (let i = 0; i < (request.count ?? 0); i++) {
          if ((request.delay_ms ?? 0) > 0) await delay(request.delay_ms!);
          if (call.cancelled) return;
          call.write({ text: `${request.text}-${i}`, ...seen(call.metadata), active_span: activeSpan, active_later: activeId() });
        }
        if ((request.fail_code ?? 0) !== 0) return call.destroy(Object.assign(new Error('failed on purpose'), failure(request.fail_code!)));
        call.end();
      })().catch((err) => call.destroy(err));
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      const activeSpan = activeId();
      call.on('data', (request: EchoRequest) => {
        call.write({ text: request.text ?? '', ...seen(call.metadata), active_span: activeSpan, active_later: activeId() });
      });
      call.on('end', () => call.end());
    },
  });
  const bind = (): Promise<number> =>
    new Promise((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  // A suppressed server (everything it does runs in the context it was started in) makes no spans.
  echo.port = await (options.suppressed === true ? suppressTracing(bind) : bind());
  echo.address = `127.0.0.1:${echo.port}`;
  self = new Echo(echo.address, grpc.credentials.createInsecure()) as EchoClient;
  return echo;
}

/** The promise form of a unary call, as an app would write it. */
export function unary(client: EchoClient, request: EchoRequest, metadata: grpc.Metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    client.Unary(request, metadata, options, (err: grpc.ServiceError | null, reply: EchoReply) => (err ? reject(err) : resolve(reply)));
  });
}

const OPERATION = 'grpc conformance.Echo/Unary';
const methodTags = {
  component: 'grpc',
  'grpc.method': '/conformance.Echo/Unary',
  'grpc.status_code': 0,
  'rpc.system': 'grpc',
  'rpc.service': 'conformance.Echo',
  'rpc.method': 'Unary',
};
const targets = (): Array<[object, PropertyKey]> => [
  [clientInterceptors, 'getInterceptingCall'],
  [grpc.Server.prototype, '_runHandlerForCall'],
];
const otel = { module: '@opentelemetry/instrumentation-grpc', export: 'GrpcInstrumentation', reload: ['@grpc/grpc-js'] };
/** What the handler saw of the trace differs between runs: compare the answer itself. */
const normalize = (reply: unknown): unknown => (reply as EchoReply | undefined)?.text;

let clientSide: { echo: EchoServer; client: EchoClient };

/** Client calls; the server side is started suppressed, so that the span under test is the client's. */
export const grpcDriver: Driver = {
  name: 'grpc',
  hook: 'grpc',
  operation: OPERATION,
  tags: () => ({ ...methodTags, 'peer.hostname': '127.0.0.1', 'peer.port': clientSide.echo.port }),
  targets,
  async start() {
    const echo = await startEchoServer({ suppressed: true });
    clientSide = { echo, client: new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure()) as EchoClient };
  },
  async stop() {
    clientSide.client.close();
    await clientSide.echo.close();
  },
  call: () => unary(clientSide.client, { text: 'hello' }),
  failingCall: () => unary(clientSide.client, { text: 'hello', fail_code: grpc.status.NOT_FOUND }),
  normalize,
  callbackCall(callback) {
    clientSide.client.Unary({ text: 'hello' }, (err: Error | null, reply?: EchoReply) => callback(err, reply?.text));
  },
  async countedCall(onRead) {
    const request = {};
    Object.defineProperty(request, 'text', { enumerable: true, get: () => (onRead('text'), 'hello') });
    return unary(clientSide.client, request);
  },
  async inFlightCall() {
    const arrived = new Promise<void>((resolve) => (clientSide.echo.onArrival = resolve));
    const outcome = unary(clientSide.client, { text: 'hello', delay_ms: 50 });
    await arrived;
    clientSide.echo.onArrival = undefined;
    return { outcome };
  },
  otel,
};

let serverSide: { echo: EchoServer; client: EchoClient };

/** The parent's context in the metadata, written by its own tracer's inject. */
function metadataFrom(parent: RecordedSpan | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (parent === undefined) return metadata;
  const carrier: Record<string, string> = {};
  parent.tracer().inject(parent.context(), FORMAT_HTTP_HEADERS, carrier);
  for (const [key, value] of Object.entries(carrier)) metadata.set(key, value);
  return metadata;
}

/** Server calls; the client side calls from a suppressed context, so that the span under test is the server's. */
export const grpcServerDriver: Driver = {
  name: 'grpcServer',
  hook: 'grpc',
  kind: 'server',
  operation: OPERATION,
  tags: () => methodTags,
  targets,
  async start() {
    const echo = await startEchoServer();
    serverSide = { echo, client: new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure()) as EchoClient };
  },
  async stop() {
    serverSide.client.close();
    await serverSide.echo.close();
  },
  call: (parent) => suppressTracing(() => unary(serverSide.client, { text: 'hello' }, metadataFrom(parent))),
  failingCall: () => suppressTracing(() => unary(serverSide.client, { text: 'hello', fail_code: grpc.status.NOT_FOUND })),
  normalize,
  async inFlightCall() {
    const arrived = new Promise<void>((resolve) => (serverSide.echo.onArrival = resolve));
    const outcome = suppressTracing(() => unary(serverSide.client, { text: 'hello', delay_ms: 50 }));
    await arrived;
    serverSide.echo.onArrival = undefined;
    return { outcome };
  },
  otel,
};

export const grpcDrivers: Driver[] = [grpcDriver, grpcServerDriver];
