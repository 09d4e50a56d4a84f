/**
 * A conformance driver: what the shared contract (conformance.test.ts) needs to know of one hook and one
 * major version of its library. Adding a hook means adding its drivers in drivers/<hook>.ts, which
 * drivers/index.ts finds by the hook's name.
 */
import type { HookName, HooksConfig } from '../../src';
import type { RecordedSpan } from '../helpers/tracer';

export interface Driver {
  /** Shown in test titles, e.g. `pg`, `redis@4`. */
  readonly name: string;
  readonly hook: HookName;
  /** Hooks installed with this one (a framework hook adds to the span httpServer opens). */
  readonly alsoInstall?: HookName[];
  /** Extra install config for this driver (npm aliases of a second major). */
  readonly config?: Omit<HooksConfig, 'tracer' | 'hooks'>;
  /**
   * The span's `span.kind` (default `client`; `internal`: no span.kind tag, as for work inside a process). For `server` and `consumer` the parent arrives with the
   * request or message: `call(parent)` sends `parent`'s context along.
   */
  readonly kind?: 'client' | 'server' | 'producer' | 'consumer' | 'internal';
  /** Operation name of the span one call makes. */
  readonly operation: string | RegExp;
  /** Tags that span carries, at least (span.kind and component are checked for every driver). */
  tags(): Record<string, unknown>;
  /** The functions this hook replaces, to check that uninstall puts back the very same ones. */
  targets(): Array<[object, PropertyKey]>;

  /** Opens connections and servers; called once, before any hook is installed. */
  start(): Promise<void>;
  stop(): Promise<void>;

  /**
   * One call that succeeds, written as an app would, returning what the library returned. A server
   * driver sends `parent`'s context in the request headers; client drivers ignore it (the active span
   * is the parent).
   */
  call(parent?: RecordedSpan): Promise<unknown>;
  /** One call that fails (an error from the server or the transport): the library's own rejection. */
  failingCall(): Promise<unknown>;
  /** Makes results comparable between a traced and an untraced run (drop timings, ids, sockets). */
  normalize?(result: unknown): unknown;
  /** The callback style, where the library has one. */
  callbackCall?(callback: (err: unknown, result?: unknown) => void): void;
  /**
   * A call whose input reports each property read through `onRead`, so that the contract can check that
   * the hook reads the caller's input no more often than the library does.
   */
  countedCall?(onRead: (property: string) => void): Promise<unknown>;
  /**
   * Starts a call and resolves once it is on the wire (in flight), with a promise of its outcome; the
   * contract uninstalls in between.
   */
  inFlightCall?(): Promise<{ outcome: Promise<unknown> }>;

  /** OpenTelemetry's instrumentation of the same library, for the coexistence contract. */
  readonly otel?: OtelCounterpart;
  /**
   * How long the heap check's tens of thousands of calls may take, when each is slower than a round
   * trip (a job through a queue and its worker); default 60 s.
   */
  readonly heapCheckMs?: number;
}

export interface OtelCounterpart {
  /** Package and export of the instrumentation class, e.g. `@opentelemetry/instrumentation-pg`, `PgInstrumentation`. */
  readonly module: string;
  readonly export: string;
  /** Modules to require again after OpenTelemetry registered, so that its require hook patches them. */
  readonly reload: string[];
  /** Options for the instrumentation's constructor. */
  readonly config?: object;
}
