/**
 * bullmq span logic (declared in ../hooks/bullmq), for bullmq 5 and 6, on the messaging core.
 *
 * Producer: `Queue.add`, `Queue.addBulk`, `FlowProducer.add` and `FlowProducer.addBulk` run bullmq's work
 * in a suppressed context that names the add call; every job that bullmq serializes for storage within it
 * (`Job.prototype.asJSON`, once per job in both majors) gets a `bullmq.add <queue>` producer span, started
 * in the app's context, and the span's context goes into what is stored: bullmq's own field for it,
 * `opts.telemetry.metadata` (stored as `tm`), as a JSON text map. The Job object the app holds, its `data`
 * and its `opts` are not changed: only the stored copy carries the context, so that a worker started later
 * (or elsewhere) still finds it. A job whose metadata the app (or bullmq's own telemetry) set, or that
 * says `telemetry.omitContext`, keeps it so; metadata the hook stored for an earlier add (a job's opts
 * passed on to another add) is replaced. The spans carry the peer tags of the Redis server the queue's
 * connection goes to, and finish when the add call settles, tagged with the ids bullmq gave the jobs. The
 * Redis commands of an add make no span: its spans cover them.
 *
 * Consumer: `Worker.prototype.callProcessJob`, through which bullmq calls the processor for each attempt,
 * runs it in a `bullmq.process <queue>` consumer span that follows from the job's context (a new trace
 * when it has none); the span finishes with the processor's outcome, which reaches bullmq unchanged. A
 * sandboxed processor's requests (progress, log, moves), which bullmq's parent side sends for it, run in
 * that span too.
 *
 * bullmq's own work (a Worker's loops, lock renewal and stalled checks, QueueEvents' stream reading,
 * connection set-up, a sandbox's child process, closing) runs in a suppressed context of its own, so that
 * no hook makes a span for it and none of it becomes a child of a request; the events bullmq emits from
 * there reach the app's listeners outside any request, as the processor does.
 */
import type { Span } from 'opentracing';
import { isSuppressed, RequestContext, storage } from '../context';
import { addPeerTags, DbCall, DbConnection, inCallerContext, redactedErrorCopy, runInContext } from '../cores/db-call';
import { extractMessageContext, injectMessageContext, MessageSpanSpec, objectHeaders, runConsumer, startConsumer, startProducer } from '../cores/messaging';
import type { ActiveHook, PatchContext } from '../registry/define';
import { setTag, TagMap, tracingOff } from '../spans';
import { tracerIsDefaultNoop } from '../hook-tracer';
import type { BullmqOptions } from '../options/bullmq';
import { applyArgs } from '../apply-args';
import { raiseStackLimit, restoreStackLimit } from '../stack-limit';
import { copyWith } from '../own-copy';

type AnyFunction = (...args: any[]) => any;

const COMPONENT = 'bullmq';
export const JOB_NAME = 'bullmq.job.name';
export const JOB_ID = 'bullmq.job.id';
export const JOB_ATTEMPT = 'bullmq.job.attempt';
/** Where an attempt moved its job instead of failing (`delayed`, `waiting`, `waiting-children`, `rate-limited`). */
export const JOB_MOVED = 'bullmq.job.moved';
export const JOB_DELAY = 'bullmq.job.delay';
export const JOB_PRIORITY = 'bullmq.job.priority';

interface JobOptions {
  delay?: unknown;
  priority?: unknown;
  telemetry?: { metadata?: unknown; omitContext?: unknown } | null;
  /** bullmq 5's stored form of `telemetry.metadata` and `telemetry.omitContext`. */
  tm?: unknown;
  omc?: unknown;
}

interface JobLike {
  id?: unknown;
  /** Set on each job of a repeatable job or a job scheduler. */
  repeatJobKey?: unknown;
  name?: unknown;
  queueName?: unknown;
  opts?: JobOptions | null;
  attemptsMade?: unknown;
}

/** One add call in progress: the app's context it was made in, and the span of each job it stores. */
interface AddCall {
  readonly appStore: RequestContext | undefined;
  /** The Redis server the add goes to, for its spans' peer tags. */
  readonly peer: DbConnection | undefined;
  readonly jobs: Map<object, DbCall>;
  /** `Queue.add`'s span, made when it was called, for the one job it adds. */
  first: DbCall | undefined;
}

/** The suppressed store an add call runs in (bullmq's Redis traffic makes no span), naming the call until it settles. */
class AddContext implements RequestContext {
  readonly suppressed = true;
  constructor(
    readonly span: Span | undefined,
    public call: AddCall | undefined,
  ) {}
}

/** The add call in progress whose store `store` is, if any. */
function addCallOf(store: RequestContext | undefined): AddCall | undefined {
  return store instanceof AddContext ? store.call : undefined;
}

/** Where bullmq's own work runs: no span, no request. */
const OWN_WORK: RequestContext = Object.freeze({ span: undefined, suppressed: true });

/**
 * No span can be made: the hook is off, or its tracer is opentracing's default no-op (no tracer set).
 * Unlike `tracingOff`, known from the start and between the no-op window's rechecks, so that neither an
 * add nor a loop enters a context (which switches on Node 20's promise hooks) while no tracer is set.
 */
function untraceable(hook: ActiveHook): boolean {
  return tracingOff(hook) || tracerIsDefaultNoop(hook);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

function jobSpec(operation: 'add' | 'process', queue: string | undefined, name: string | undefined, tags: TagMap): MessageSpanSpec {
  if (name !== undefined) tags[JOB_NAME] = name;
  return { component: COMPONENT, system: COMPONENT, operationName: `bullmq.${operation} ${queue ?? ''}`.trimEnd(), destination: queue, tags };
}

// ---- producer -------------------------------------------------------------------------------------

function startAdd(hook: ActiveHook<BullmqOptions>, call: AddCall, queue: string | undefined, name: string | undefined): DbCall | undefined {
  const spec = jobSpec('add', queue, name, call.peer === undefined ? {} : addPeerTags({}, call.peer));
  // Redis's refusal comes as ioredis's error, whose `command` holds the add script's arguments (the job's
  // data): logged as the database hooks log it, without that.
  return runInContext(call.appStore, () => startProducer(hook, spec, { loggedError: redactedErrorCopy }), undefined, []);
}

/**
 * The Redis server that a Queue's or FlowProducer's connection goes to (its ioredis client's options, a
 * URL's host and port resolved by ioredis, never its credentials); none for a cluster or a socket path.
 */
function redisPeer(owner: unknown): DbConnection | undefined {
  type Connection = { _client?: { isCluster?: unknown; options?: { host?: unknown; port?: unknown; path?: unknown } } } | undefined;
  try {
    const { connection, backend } = owner as { connection?: Connection; backend?: { connection?: Connection } };
    const client = (connection ?? backend?.connection)?._client;
    const options = client?.isCluster === true ? undefined : client?.options;
    if (options == null || typeof options.host !== 'string' || options.path != null) return undefined;
    return { host: options.host, port: typeof options.port === 'number' ? options.port : undefined };
  } catch {
    return undefined;
  }
}

function tagScheduling(span: Span, opts: JobOptions | null | undefined): void {
  if (opts == null) return;
  if (typeof opts.delay === 'number' && opts.delay > 0) setTag(span, JOB_DELAY, opts.delay);
  if (typeof opts.priority === 'number' && opts.priority !== 0) setTag(span, JOB_PRIORITY, opts.priority);
}

/**
 * A key the hook adds to the metadata it stores, beside the tracer's: metadata so marked is an earlier
 * add's context, which a job's opts passed on to another add (`queueB.add(job.name, job.data, job.opts)`)
 * still hold, and which that add replaces with its own. Metadata without it (the app's, bullmq's own
 * telemetry's) is kept.
 */
const OWN_METADATA = 'opentracing-client-hooks';

/** The job's context as bullmq stores it: a JSON text map; undefined when the tracer gives none. */
function metadataOf(hook: ActiveHook, span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  if (!injectMessageContext(hook, span, (name, value) => (carrier[name] = value))) return undefined;
  carrier[OWN_METADATA] = '1';
  return JSON.stringify(carrier);
}

/** The text map of stored metadata (a JSON object, as bullmq's telemetry writes it), or undefined. */
function parseMetadata(metadata: unknown): Record<string, unknown> | undefined {
  if (typeof metadata !== 'string' || metadata.length > 8192 || metadata[0] !== '{') return undefined;
  try {
    const parsed: unknown = JSON.parse(metadata);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a job's options hold a context that is to stay: any but one the hook stored for an earlier add. */
function keptMetadata(metadata: unknown): boolean {
  return metadata != null && parseMetadata(metadata)?.[OWN_METADATA] !== '1';
}

/**
 * `json` (what asJSON returned) with the context of `call`'s span in its options, unless the job has
 * metadata already (other than an earlier add's of ours) or says to omit it. bullmq 5 returns its stored
 * form of the options (a fresh object, `tm`/`omc`); bullmq 6 returns the job's own `opts`, which is never
 * written: the copy gets a copy.
 */
function withContext(hook: ActiveHook, job: JobLike, json: { opts?: unknown }, span: Span): void {
  const opts = json.opts as JobOptions | null | undefined;
  if (opts == null || typeof opts !== 'object') return;
  if (opts === job.opts) {
    const telemetry = opts.telemetry;
    if (telemetry != null && (keptMetadata(telemetry.metadata) || telemetry.omitContext === true)) return;
    const metadata = metadataOf(hook, span);
    if (metadata !== undefined) json.opts = copyWith(opts, 'telemetry', copyWith(telemetry, 'metadata', metadata));
    return;
  }
  if (keptMetadata(opts.tm) || opts.omc === true) return;
  const metadata = metadataOf(hook, span);
  if (metadata !== undefined) opts.tm = metadata;
}

function wrapAsJSON(hook: ActiveHook<BullmqOptions>) {
  return (original: AnyFunction) =>
    function asJSON(this: JobLike): unknown {
      const json = applyArgs(original, this, arguments);
      const store = storage.getStore();
      const call = addCallOf(store);
      if (call === undefined || json === null || typeof json !== 'object' || !hook.enabled) return json;
      let job = call.jobs.get(this);
      if (job === undefined) {
        job = call.first ?? startAdd(hook, call, text(this.queueName), text(this.name));
        call.first = undefined;
        if (job === undefined) return json;
        call.jobs.set(this, job);
        tagScheduling(job.span, this.opts);
      }
      // A repeatable job's runs (bullmq 5's `repeat` option) copy its options, stored context included,
      // run after run for as long as it repeats: none is stored, each run is a trace of its own (as a job
      // scheduler's, which no add makes).
      if (typeof this.repeatJobKey !== 'string' || this.repeatJobKey === '') withContext(hook, this, json, job.span);
      return json;
    };
}

/** Finishes the spans of `call`'s jobs, and lets go of them and of its store. */
function settleAdd(store: AddContext, call: AddCall, err: unknown): void {
  store.call = undefined;
  // Queue.add's span when no job reached storage (an option bullmq refused first).
  if (err !== undefined) call.first?.fail(err);
  else call.first?.succeed();
  for (const [job, span] of call.jobs) {
    if (err !== undefined) {
      span.fail(err);
      continue;
    }
    const id = text((job as JobLike).id);
    if (id !== undefined) setTag(span.span, JOB_ID, id);
    span.succeed();
  }
  call.jobs.clear();
}

/**
 * Runs an add call (`original`) in a suppressed store that names it; `first` is the span of the one job
 * of `Queue.add`. The promise handed back is the library's, chained once.
 */
function runAdd(hook: ActiveHook<BullmqOptions>, original: AnyFunction, thisArg: unknown, args: IArguments, first?: (call: AddCall) => DbCall | undefined): unknown {
  const appStore = storage.getStore();
  if (untraceable(hook) || isSuppressed(appStore)) return applyArgs(original, thisArg, args);
  const call: AddCall = { appStore, peer: redisPeer(thisArg), jobs: new Map(), first: undefined };
  call.first = first?.(call);
  const store = new AddContext(appStore?.span, call);
  let result: unknown;
  try {
    result = storage.run(store, () => applyArgs(original, thisArg, args));
  } catch (err) {
    settleAdd(store, call, err);
    throw err;
  }
  if (result === null || typeof result !== 'object' || typeof (result as PromiseLike<unknown>).then !== 'function') {
    settleAdd(store, call, undefined);
    return result;
  }
  return (result as PromiseLike<unknown>).then(
    (value) => {
      settleAdd(store, call, undefined);
      return value;
    },
    (err: unknown) => {
      settleAdd(store, call, err ?? new Error(String(err)));
      throw err;
    },
  );
}

function wrapQueueAdd(hook: ActiveHook<BullmqOptions>) {
  return (original: AnyFunction) =>
    function add(this: { name?: unknown }, name: unknown): unknown {
      return runAdd(hook, original, this, arguments, (call) => startAdd(hook, call, text(this.name), text(name)));
    };
}

function wrapBulkAdd(hook: ActiveHook<BullmqOptions>) {
  return (original: AnyFunction) =>
    function addMany(this: unknown): unknown {
      return runAdd(hook, original, this, arguments);
    };
}

// ---- consumer -------------------------------------------------------------------------------------

/** The context a job carries: ours (a JSON text map in `telemetry.metadata`, or `tm` where bullmq does not decode it). */
function jobContext(hook: ActiveHook, job: JobLike) {
  const opts = job.opts;
  if (opts == null || typeof opts !== 'object') return null;
  const headers = parseMetadata(opts.telemetry?.metadata ?? opts.tm);
  if (headers === undefined) return null;
  delete headers[OWN_METADATA];
  return extractMessageContext(hook, headers, objectHeaders);
}

/**
 * The hook's frames below the processor, on each path (the wrapper's own included): an error the processor
 * makes synchronously keeps the frames it has untraced (bullmq stores its stack in `job.stacktrace`) when
 * Error.stackTraceLimit has room for these. Traced: the wrapper, runConsumer, AsyncLocalStorage.run,
 * invokeAndChain and invoke; in bullmq's own context untraced: the wrapper, runInContext and AsyncLocalStorage.run.
 */
const TRACED_FRAMES = 5;
const OWN_WORK_FRAMES = 3;

function wrapCallProcessJob(hook: ActiveHook<BullmqOptions>, jobMoved: (err: unknown) => TagMap | undefined) {
  return (original: AnyFunction) =>
    function callProcessJob(this: { name?: unknown }, job: JobLike | null | undefined): unknown {
      let call: DbCall | undefined;
      if (!tracingOff(hook) && job != null && typeof job === 'object') {
        const tags: TagMap = {};
        const id = text(job.id);
        if (id !== undefined) tags[JOB_ID] = id;
        if (typeof job.attemptsMade === 'number') tags[JOB_ATTEMPT] = job.attemptsMade + 1;
        const spec = jobSpec('process', text(this.name), text(job.name), tags);
        // Started outside bullmq's suppressed context; the processor then runs in its span.
        call = runInContext(undefined, startConsumer, undefined, [hook, spec, jobContext(hook, job), jobMoved]);
      }
      const own = call === undefined && storage.getStore() === OWN_WORK;
      const frames = call !== undefined ? TRACED_FRAMES : own ? OWN_WORK_FRAMES : 1;
      const limit = raiseStackLimit(frames);
      try {
        if (call !== undefined) return runConsumer(call, original, this, arguments);
        // The processor is the app's work: never in the worker's suppressed context, traced or not.
        return own ? runInContext(undefined, original, this, arguments) : applyArgs(original, this, arguments);
      } finally {
        restoreStackLimit(limit, frames);
      }
    };
}

/** What bullmq's control errors (Worker's handleFailed) move a job to; such an attempt did not fail. */
const MOVED = { DelayedError: 'delayed', WaitingError: 'waiting', WaitingChildrenError: 'waiting-children' } as const;
/** bullmq's RATE_LIMIT_ERROR, the message of `Worker.RateLimitError()`. */
const RATE_LIMITED = 'bullmq:rateLimitExceeded';

/** bullmq's "move this job" error classes, as the loaded bullmq exports them. */
type MoveErrors = Partial<Record<keyof typeof MOVED, unknown>>;

/**
 * The outcome of an attempt whose processor threw: the tags of one of bullmq's "move this job" errors
 * (matched as Worker's handleFailed does: by `name`, or `instanceof` the loaded bullmq's classes, an app's
 * subclass included), or undefined for a failure.
 */
function jobMovedBy(classes: MoveErrors): (err: unknown) => TagMap | undefined {
  const known: Array<readonly [AnyFunction, string]> = [];
  for (const [name, to] of Object.entries(MOVED)) {
    const cls = classes[name as keyof typeof MOVED];
    if (typeof cls === 'function') known.push([cls as AnyFunction, to]);
  }
  return (err) => {
    if (err === null || typeof err !== 'object') return undefined;
    const { name, message } = err as { name?: unknown; message?: unknown };
    if (message === RATE_LIMITED) return { [JOB_MOVED]: 'rate-limited' };
    if (typeof name === 'string' && Object.prototype.hasOwnProperty.call(MOVED, name)) return { [JOB_MOVED]: MOVED[name as keyof typeof MOVED] };
    for (const [cls, to] of known) if (err instanceof cls) return { [JOB_MOVED]: to };
    return undefined;
  };
}

// ---- bullmq's own work ----------------------------------------------------------------------------

/**
 * Runs `original` (a loop, a connection's set-up, a close) as bullmq's own work. Not while untraceable:
 * no span can be made, and entering a context would switch on Node 20's promise hooks for the whole
 * process (+160 µs a job). A worker started then and a tracer set after: see docs/hooks.md (bullmq).
 */
function wrapOwnWork(hook: ActiveHook) {
  return (original: AnyFunction) =>
    function ownWork(this: unknown): unknown {
      if (untraceable(hook)) return applyArgs(original, this, arguments);
      return runInContext(OWN_WORK, original, this, arguments);
    };
}

/**
 * A sandboxed processor's child (kept and reused for job after job) reports its requests (progress, log,
 * a move) in 'message' events, which the sandbox's listener for the job runs on the parent's side: that
 * listener runs in the context it was added in, the job's span, not in that of the job the child was forked
 * for (what its IPC channel carries). `listener` on the wrapper lets `off(listener)` remove it, as for `once`.
 */
function wrapChildOn(hook: ActiveHook) {
  return (original: AnyFunction) =>
    function on(this: unknown, event: unknown, listener: unknown): unknown {
      if (event !== 'message' || typeof listener !== 'function' || untraceable(hook)) return applyArgs(original, this, arguments);
      const inContext = inCallerContext(listener as AnyFunction);
      Object.defineProperty(inContext, 'listener', { value: listener });
      const args = Array.prototype.slice.call(arguments);
      args[1] = inContext;
      return Reflect.apply(original, this, args);
    };
}

/**
 * A field of the Start message a sandbox's child gets for a job, beside bullmq's own (`cmd`, `job`,
 * `token`): the job's process span context, as a text map, which a child with the hooks continues.
 */
const SANDBOX_CONTEXT = 'opentracingContext';

/**
 * The Start message bullmq sends a sandbox's child for a job goes as a copy with the context of the span
 * active here, the job's process span; a child without the hooks never reads the field.
 */
function wrapChildSend(hook: ActiveHook, start: unknown) {
  return (original: AnyFunction) =>
    function send(this: unknown, msg: unknown): unknown {
      const span = untraceable(hook) ? undefined : storage.getStore()?.span;
      if (span === undefined || msg === null || typeof msg !== 'object' || (msg as { cmd?: unknown }).cmd !== start) return applyArgs(original, this, arguments);
      const carrier: Record<string, string> = {};
      if (!injectMessageContext(hook, span, (name, value) => (carrier[name] = value))) return applyArgs(original, this, arguments);
      const args = Array.prototype.slice.call(arguments);
      args[0] = copyWith(msg, SANDBOX_CONTEXT, carrier);
      return Reflect.apply(original, this, args);
    };
}

/** Runs `listener` (the sandbox child's, for the parent's messages) in the context a Start message brings. */
function inSandboxContext(hook: ActiveHook, listener: AnyFunction): AnyFunction {
  return function (this: unknown, msg: unknown): unknown {
    const carrier = msg !== null && typeof msg === 'object' ? (msg as Record<string, unknown>)[SANDBOX_CONTEXT] : undefined;
    const context = carrier === undefined || tracingOff(hook) ? null : extractMessageContext(hook, carrier, objectHeaders);
    if (context === null) return applyArgs(listener, this, arguments);
    // No span of its own: the processor's calls are children of the job's process span, in the parent.
    return runInContext({ span: undefined, parentContext: context }, listener, this, arguments);
  };
}

/** Events bullmq emits from its own work or an add reach the app's listeners in the app's context. */
function wrapEmit() {
  return (original: AnyFunction) =>
    function emit(this: unknown): unknown {
      const store = storage.getStore();
      if (store === OWN_WORK) return runInContext(undefined, original, this, arguments);
      const call = addCallOf(store);
      if (call !== undefined) return runInContext(call.appStore, original, this, arguments);
      return applyArgs(original, this, arguments);
    };
}

type BullmqClass = 'Queue' | 'QueueBase' | 'QueueEvents' | 'Worker' | 'Job' | 'FlowProducer' | 'RedisConnection' | 'RedisQueueBackend' | 'PostgresQueueBackend' | 'Child';

export function patchBullmq(exports: Partial<Record<BullmqClass, { prototype: object }>> & MoveErrors & { ChildCommand?: { Start?: unknown } }, { hook, wrap }: PatchContext<BullmqOptions, undefined>): void {
  const on = (cls: BullmqClass, name: string, makeWrapper: (original: AnyFunction) => AnyFunction): void => {
    const prototype = exports[cls]?.prototype;
    // Only a class's own method: bullmq 5 has no createBackend, and a subclass's would wrap its base's twice.
    if (prototype != null && Object.prototype.hasOwnProperty.call(prototype, name)) wrap(prototype, name, makeWrapper);
  };
  const own = wrapOwnWork(hook);
  on('Queue', 'add', wrapQueueAdd(hook));
  on('Queue', 'addBulk', wrapBulkAdd(hook));
  on('FlowProducer', 'add', wrapBulkAdd(hook));
  on('FlowProducer', 'addBulk', wrapBulkAdd(hook));
  on('Job', 'asJSON', wrapAsJSON(hook));
  on('Worker', 'callProcessJob', wrapCallProcessJob(hook, jobMovedBy(exports)));
  for (const name of ['run', 'close']) {
    on('Worker', name, own);
    on('QueueEvents', name, own);
  }
  // The stalled-job checker, which `run` starts, `resume()` restarts after `pause(true)` and an app that
  // fetches jobs by hand starts itself: its loop runs for good, never in the caller's context.
  on('Worker', 'startStalledCheckTimer', own);
  // bullmq 6 makes each instance's connections in createBackend, bullmq 5 in RedisConnection.init.
  on('QueueBase', 'createBackend', own);
  on('Worker', 'createBackend', own);
  for (const name of ['init', 'close', 'disconnect']) on('RedisConnection', name, own);
  // bullmq 6's backends: what a new Queue writes to its meta key (bullmq 5 does it in its constructor, which stays as it is).
  on('RedisQueueBackend', 'setQueueMeta', own);
  on('PostgresQueueBackend', 'setQueueMeta', own);
  on('QueueBase', 'emit', wrapEmit());
  on('FlowProducer', 'emit', wrapEmit());
  // A sandbox's child is forked outside any job (its channel would carry the first job's context for good).
  on('Child', 'init', own);
  const child = exports.Child?.prototype;
  if (child != null) wrap(child, 'on', wrapChildOn(hook));
  const start = exports.ChildCommand?.Start;
  if (child != null && start !== undefined) wrap(child, 'send', wrapChildSend(hook, start));
}

/**
 * A sandbox's child (bullmq's CommonJS main-base, which the child runs with its channel to the parent,
 * `process` or a worker thread's `parentPort`): the listener it adds for the parent's messages runs a job's
 * processor in the context that came with the job, so that the processor's calls continue the job's trace.
 * That listener is added by `receiver.on('message', …)` as main-base runs: for that run only, the
 * receiver's `on` gives the listener ours.
 */
export function patchSandboxChild(exports: { default?: unknown }, { hook, wrap }: PatchContext<BullmqOptions, undefined>): void {
  wrap(exports, 'default', (original: AnyFunction) =>
    function mainBase(this: unknown, _send: unknown, receiver: unknown): unknown {
      const target = receiver as { on?: unknown } | null;
      if (target === null || typeof target !== 'object' || typeof target.on !== 'function' || !Object.isExtensible(target)) return applyArgs(original, this, arguments);
      const on = target.on as AnyFunction;
      const own = Object.getOwnPropertyDescriptor(target, 'on');
      if (own !== undefined && own.configurable !== true) return applyArgs(original, this, arguments);
      Object.defineProperty(target, 'on', {
        configurable: true,
        writable: true,
        value: function (this: unknown, event: unknown, listener: unknown): unknown {
          if (event !== 'message' || typeof listener !== 'function') return applyArgs(on, this, arguments);
          const args = Array.prototype.slice.call(arguments);
          args[1] = inSandboxContext(hook, listener as AnyFunction);
          return Reflect.apply(on, this, args);
        },
      });
      try {
        return applyArgs(original, this, arguments);
      } finally {
        if (own !== undefined) Object.defineProperty(target, 'on', own);
        else delete target.on;
      }
    },
  );
}
