import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span, SpanContext } from 'opentracing';

/**
 * What an outbound client call that is already being traced (axios, say) tells the lower transport
 * (http, undici) running inside it, so that one logical call yields one span.
 */
export interface OutboundCall {
  readonly span: Span;
  readonly component: string;
  /** Set by the transport once it has injected the trace headers. */
  injected?: boolean;
  /** Called by the transport with the status code it saw. */
  onStatus?(status: number): void;
}

export interface RequestContext {
  readonly span: Span | undefined;
  /** No span is made in a suppressed context (a tracer exporting its own spans). */
  readonly suppressed?: boolean;
  readonly outbound?: OutboundCall;
  /** An incoming request's trace context where no server span was made: outbound calls continue it. */
  readonly parentContext?: SpanContext;
}

export const storage = new AsyncLocalStorage<RequestContext>();

/** The active span of the current request context, if any. */
export function currentSpan(): Span | undefined {
  const store = storage.getStore();
  return store === undefined ? undefined : store.span;
}

/** Runs `fn` with `span` active, and everything asynchronous that `fn` starts. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return storage.run({ span }, fn);
}

/** Runs `fn` with tracing switched off, for a tracer's own export traffic. */
export function suppressTracing<T>(fn: () => T): T {
  const store = storage.getStore();
  return storage.run({ span: store?.span, suppressed: true }, fn);
}


/** Runs a transport call with `outbound` marking the client span that already covers it. */
export function withOutbound<T>(outbound: OutboundCall, fn: () => T): T {
  const store = storage.getStore();
  return storage.run({ span: store?.span, outbound }, fn);
}
