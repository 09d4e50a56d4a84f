/**
 * Span-side state of the hooks: which tracer a hook's spans go to, and the window during which that
 * tracer is known to be a no-op. A leaf: it loads opentracing with the first span, not at start-up.
 */
import type { Tracer } from 'opentracing';
import { sharingCopy } from './active-copy';

/** What the lookup needs of an install: the tracer given at install, if any. */
export interface TracerChoice {
  readonly explicitTracer: Tracer | undefined;
}

/** opentracing's globalTracer, loaded with the first span rather than at install. */
let globalTracer: (() => Tracer) | undefined;
function loadGlobalTracer(): () => Tracer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- opentracing loads with the first span, not at start-up
  return (require('opentracing') as typeof import('opentracing')).globalTracer;
}

/** The tracer given at install, else the global one: resolved per span, so a tracer set after install gets every span. */
export function tracerOf(hook: TracerChoice): Tracer {
  return hook.explicitTracer ?? (globalTracer ??= loadGlobalTracer())();
}

/**
 * The tracer known to be a no-op (opentracing's default before initGlobalTracer), and until when
 * (Date.now()): calls of hooks that use it are then not traced at all, before any tag is built. 0: none known.
 */
let noopTracer: Tracer | undefined;
let noopUntil = 0;

/** Takes the hook's tracer for a no-op for `ms`, without asking it again. */
export function startNoopWindow(hook: TracerChoice, ms: number): void {
  noopTracer = tracerOf(hook);
  noopUntil = Date.now() + ms;
}

/** Whether the hook's tracer was found to be a no-op within the window (which ends by itself). */
export function inNoopWindow(hook: TracerChoice): boolean {
  if (noopUntil === 0) return false;
  if (Date.now() < noopUntil) return tracerOf(hook) === noopTracer;
  endNoopWindow();
  return false;
}

/** Ends the window: the app set a tracer (initGlobalTracer), which gets the very next call. */
export function endNoopWindow(): void {
  noopTracer = undefined;
  noopUntil = 0;
}

/**
 * Whether opentracing's global tracer is known to be its default no-op (the registry's watch on
 * initGlobalTracer says so). Unknown (opentracing was loaded before the hooks) counts as a real tracer.
 */
let globalTracerIsDefaultNoop = false;

/** What the registry's watch on initGlobalTracer learnt: a tracer set by the app also ends the window. */
export function onGlobalTracer(isDefaultNoop: boolean): void {
  globalTracerIsDefaultNoop = isDefaultNoop;
  endNoopWindow();
}

/**
 * Whether a no-op span from the hook's tracer may open the no-op window: only for opentracing's default
 * global no-op (no tracer given at install, and the global one known to be unset or a bare Tracer). A
 * tracer of the app's that answers some spans with the no-op span (a sampler) is asked every time.
 */
export function tracerIsDefaultNoop(hook: TracerChoice): boolean {
  return hook.explicitTracer === undefined && globalTracerIsDefaultNoop;
}

/** The tracer given to the latest install, for the app's own spans (traceFunction, startActiveSpan). */
let installTracer: Tracer | undefined;

export function setInstallTracer(tracer: Tracer | undefined): void {
  installTracer = tracer;
}

/** This copy's tracer for the app's own spans: the one given to its latest install, else the global one. */
export function ownAppTracer(): Tracer {
  return tracerOf({ explicitTracer: installTracer });
}

/**
 * The tracer for the app's own spans: this copy's, or that of another copy of the package that installed
 * the hooks (this one then installed none), so that the app's spans go where the hooks' go.
 */
export function appTracer(): Tracer {
  return sharingCopy()?.appTracer() ?? ownAppTracer();
}
