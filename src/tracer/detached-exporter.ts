/**
 * Makes an OTLP exporter's own sockets and retry timers leave the event loop alone (unref'd), so that an
 * export under way never keeps the process alive by itself: at exit, the tracer's flush holds the process
 * for a bounded time (./exit), and past it the process ends as it would untraced. Without this, a
 * collector that refuses connections or answers 503 held the exit for the exporter's retries (up to
 * OTEL_EXPORTER_OTLP_TIMEOUT, 10 s), and one that never answers for its request timeout (10 s).
 *
 * It reaches into @opentelemetry/otlp-exporter-base's exporter: the OTLPExporterBase's delegate, whose
 * transport retries (its `retry` schedules each attempt on a timer) around the HTTP transport (whose
 * `agentFactory` makes the agent its requests go through). A shape it does not find (the gRPC transport,
 * another version) is left as it is, and the debug log says so.
 */
import type { Agent, ClientRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { log } from '../logger';

interface Transport {
  send(data: Uint8Array, timeoutMillis: number): Promise<unknown>;
}

interface RetryingTransport extends Transport {
  _transport?: Transport & { _parameters?: { agentFactory?: (protocol: string) => Agent | Promise<Agent> } };
  retry?(data: Uint8Array, timeoutMillis: number, inMillis: number): Promise<unknown>;
}

interface AgentInternals {
  createConnection(...args: unknown[]): Duplex | undefined;
  reuseSocket(socket: Duplex, request: ClientRequest): void;
}

/** `agent`, its sockets unref'd when made and again when reused (the agent refs a socket it reuses). */
function unrefSockets(agent: Agent): Agent {
  const internals = agent as unknown as AgentInternals;
  const createConnection = internals.createConnection;
  const reuseSocket = internals.reuseSocket;
  if (typeof createConnection !== 'function' || typeof reuseSocket !== 'function') {
    log('the OTLP exporter’s agent has no createConnection/reuseSocket: its sockets stay ref’d');
    return agent;
  }
  internals.createConnection = function (this: Agent, ...args: unknown[]) {
    const socket = createConnection.apply(this, args);
    (socket as { unref?: () => void } | undefined)?.unref?.();
    return socket;
  };
  internals.reuseSocket = function (this: Agent, socket: Duplex, request: ClientRequest) {
    reuseSocket.call(this, socket, request);
    (socket as { unref?: () => void }).unref?.();
  };
  return agent;
}

/** `exporter`, its sockets and retry timers unref'd where it has the shape of OpenTelemetry's OTLP/HTTP exporter. */
export function detachedFromEventLoop(exporter: SpanExporter): SpanExporter {
  const transport = (exporter as { _delegate?: { _transport?: RetryingTransport } })._delegate?._transport;
  if (transport === undefined || typeof transport.retry !== 'function') {
    log('the OTLP exporter has no retrying transport: its retries (if any) keep the process alive');
  } else {
    // As the transport's own `retry`, on a timer that does not keep the process alive.
    transport.retry = (data, timeoutMillis, inMillis) => delay(inMillis, undefined, { ref: false }).then(() => transport._transport!.send(data, timeoutMillis));
  }
  const parameters = transport?._transport?._parameters;
  const agentFactory = parameters?.agentFactory;
  if (parameters === undefined || typeof agentFactory !== 'function') {
    log('the OTLP exporter has no HTTP agent factory: its sockets keep the process alive while an export is under way');
  } else {
    parameters.agentFactory = async (protocol) => unrefSockets(await agentFactory(protocol));
  }
  return exporter;
}

/** What the Zipkin exporter's send is given: the spans it made of a batch, and its answer. */
type ZipkinSend = (zipkinSpans: unknown[], done: (result: ExportResult) => void) => void;

/**
 * The official Zipkin exporter, its send replaced by one that keeps the process alive no longer than the
 * exporter's own would have to (its socket unref'd: the flush at exit holds the process, ./exit) and gives up
 * after `timeoutMillis` (OTEL_EXPORTER_ZIPKIN_TIMEOUT): the exporter's own sets no timeout, so an endpoint
 * that accepted the connection and never answered kept a traced process from ending at all. It POSTs what the
 * exporter's own posts, as it does (same agent, headers and answer: 2xx and 3xx are success). It reaches the
 * exporter's `_send`; without one it is left as it is, and the debug log says so.
 */
export function detachedZipkinExporter(exporter: SpanExporter, url: string, timeoutMillis: number): SpanExporter {
  const internals = exporter as { _send?: ZipkinSend };
  if (typeof internals._send !== 'function') {
    log('the Zipkin exporter has no _send: its requests keep the process alive and have no timeout');
    return exporter;
  }
  const target = new URL(url);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- https (and TLS) only when the endpoint is https, as the exporter's own
  const { request } = (target.protocol === 'http:' ? require('node:http') : require('node:https')) as typeof import('node:http');
  internals._send = (zipkinSpans, done) => {
    if (zipkinSpans.length === 0) return done({ code: 0 });
    let answered = false;
    const answer = (result: ExportResult): void => {
      if (answered) return;
      answered = true;
      clearTimeout(deadline);
      done(result);
    };
    const req = request(target, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => answer((res.statusCode ?? 0) < 400 ? { code: 0 } : { code: 1, error: new Error(`Got unexpected status code from zipkin: ${res.statusCode}`) }));
    });
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMillis} ms (OTEL_EXPORTER_ZIPKIN_TIMEOUT)`)), timeoutMillis);
    deadline.unref();
    // On every request: an agent refs a socket it reuses.
    req.on('socket', (socket) => socket.unref());
    req.on('error', (error) => answer({ code: 1, error }));
    req.end(JSON.stringify(zipkinSpans), 'utf8');
  };
  return exporter;
}

/** A processor whose waits for exports under way can be given up (`release`). */
export interface Releasable {
  /** Answers the exports under way as failed: whoever waits for them stops waiting (the exports themselves go on). */
  release(): void;
}

/**
 * Between the SDK's BatchSpanProcessor and its exporter: the processor keeps a timer (OTEL_BSP_EXPORT_TIMEOUT,
 * 30 s) alive while it waits for each export, which keeps the process alive; at exit, past the flush's
 * budget, `release` answers them, so that it stops waiting.
 */
export class ReleasableExporter implements SpanExporter, Releasable {
  private readonly waiting = new Set<(result: ExportResult) => void>();
  constructor(private readonly exporter: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const answer = (result: ExportResult): void => {
      if (!this.waiting.delete(answer)) return;
      done(result);
    };
    this.waiting.add(answer);
    this.exporter.export(spans, answer);
  }
  release(): void {
    for (const answer of [...this.waiting]) answer({ code: 1, error: new Error('the process ended before the export finished') });
  }
  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve();
  }
  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
