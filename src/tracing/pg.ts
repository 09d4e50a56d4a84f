/**
 * node-postgres span logic (declared in ../hooks/pg): `Client.prototype.query` in every call form, and
 * `Pool.prototype.connect`. Submittables (pg.Query, pg-cursor, pg-query-stream, custom ones) are traced
 * through the two methods pg itself calls on every submitted query when its cycle ends,
 * `handleReadyForQuery` and `handleError`; those and the ones pg calls as the rows come in run in the
 * context of the code that issued the query.
 */
import path from 'node:path';
import { types } from 'node:util';
import type { Span } from 'opentracing';
import { storage, RequestContext } from '../context';
import { connectOutside, DbCall, DbConnection, runInContext, startDbCallUnder } from '../cores/db-call';
import { entryClass } from '../registry/define';
import type { ActiveHook, PatchContext } from '../registry/define';
import { callerCallback, invokeCall, startSqlCall, sqlConnectionSpec } from '../cores/sql-call';
import { clientParent, tracingOff } from '../spans';
import type { PgOptions } from '../options/pg';
import { applyArgs } from '../apply-args';
import { callbackWrapper } from '../registry/wrap';
import { ownCopy } from '../own-copy';

export interface PgState {
  /** pg's own parser of connection settings (config, URL, environment), once pg is loaded. */
  ConnectionParameters?: new (config: unknown) => PgConnectionFacts;
  /** Whether pg reads a query config from its own clone (8.23.1 on) rather than from the caller's object. */
  clonesConfig?: boolean;
}

/** The hook's state, one per install. */
export function makeState(): PgState {
  return {};
}

interface PgConnectionFacts {
  database?: string;
  user?: string;
  host?: string;
  port?: number;
}

function connectionOf(facts: PgConnectionFacts): DbConnection {
  return { instance: facts.database, user: facts.user, host: facts.host, port: facts.port, address: true };
}

/** Text, name and values of a query, each property of the caller's config read once. */
function queryText(config: unknown): { text: string | undefined; name: string | undefined; values: unknown } {
  if (typeof config === 'string') return { text: config, name: undefined, values: undefined };
  if (config !== null && typeof config === 'object') {
    const c = config as { text?: unknown; name?: unknown; values?: unknown; cursor?: { text?: unknown; values?: unknown } };
    let text = c.text;
    let values = c.values;
    if (typeof text !== 'string') {
      // pg-query-stream keeps its text on the cursor.
      const cursor = c.cursor;
      text = cursor?.text;
      values ??= cursor?.values;
    }
    const name = c.name;
    return { text: typeof text === 'string' ? text : undefined, name: typeof name === 'string' ? name : undefined, values };
  }
  return { text: undefined, name: undefined, values: undefined };
}

function startQueryCall(hook: ActiveHook<PgOptions>, parent: Span | null, client: PgConnectionFacts, config: unknown, values: unknown): DbCall | undefined {
  const q = queryText(config);
  return startSqlCall(hook, parent, {
    component: 'pg',
    dialect: 'postgres',
    operation: 'pg.query',
    label: q.name,
    text: q.text,
    values: () => (Array.isArray(values) ? values : Array.isArray(q.values) ? q.values : undefined),
    connection: connectionOf(client),
    info: { name: q.name },
  });
}

/** The traced cycle of a Submittable, and the context its completion runs in. */
interface SubmittableCycle {
  /** Undefined for a submission that makes no span: its completion still runs in the caller's context. */
  call: DbCall | undefined;
  store: RequestContext | undefined;
}

const kCycle = Symbol('opentracing-client-hooks.pgCycle');
const kOriginal = Symbol('opentracing-client-hooks.pgOriginal');

type Handler = (...args: any[]) => unknown;

type Submittable = {
  [kCycle]?: SubmittableCycle;
  /** The methods the hook replaced on this object (undefined: it had none of that name). */
  [kOriginal]?: Record<string, Handler | undefined>;
  [name: string]: unknown;
};

function originalOf(target: Submittable, name: string): Handler {
  return (target[kOriginal] as Record<string, Handler>)[name];
}

/** Takes the cycle that is ending, so that a re-submit of the same object starts a fresh one. */
function takeCycle(submittable: Submittable): SubmittableCycle | undefined {
  const cycle = submittable[kCycle];
  // Not a throw inside pg's message handling for an object frozen since it was submitted.
  if (cycle !== undefined) Reflect.set(submittable, kCycle, undefined);
  return cycle;
}

function handleReadyForQuery(this: Submittable): unknown {
  const original = originalOf(this, 'handleReadyForQuery');
  const cycle = takeCycle(this);
  if (cycle === undefined) return applyArgs(original, this, arguments);
  cycle.call?.succeed();
  // Its callback and 'end' listeners run in the context of the code that issued the query.
  return runInContext(cycle.store, original, this, arguments);
}

function handleError(this: Submittable, err: unknown): unknown {
  const original = originalOf(this, 'handleError');
  const cycle = takeCycle(this);
  if (cycle === undefined) return applyArgs(original, this, arguments);
  cycle.call?.fail(err);
  return runInContext(cycle.store, original, this, arguments);
}

/**
 * A method pg calls while the rows come in, run in the context of the code that issued the query too:
 * pg-cursor calls its `read` callbacks from them, pg-query-stream pushes its 'data' there.
 */
function rowTimeHandler(name: string): Handler {
  return function (this: Submittable): unknown {
    const original = originalOf(this, name);
    const cycle = this[kCycle];
    return cycle === undefined ? applyArgs(original, this, arguments) : runInContext(cycle.store, original, this, arguments);
  };
}

/** pg-cursor's `close(callback)`: the callback, which it calls from the connection's next readyForQuery, in its caller's context. */
function close(this: Submittable, callback?: unknown): unknown {
  const original = originalOf(this, 'close');
  if (typeof callback !== 'function') return applyArgs(original, this, arguments);
  const args = Array.prototype.slice.call(arguments);
  args[0] = callerCallback(undefined, callback as Handler);
  return Reflect.apply(original, this, args);
}

const ROW_TIME = ['handleRowDescription', 'handleDataRow', 'handlePortalSuspended', 'handleCommandComplete', 'handleEmptyQuery', 'handleCopyInResponse', 'handleCopyData'];

/** What the hook puts in place of a Submittable's methods of these names. */
const WRAPPERS: Record<string, Handler> = { handleReadyForQuery, handleError, close };
for (const name of ROW_TIME) WRAPPERS[name] = rowTimeHandler(name);
const SUBMITTABLE_METHODS = Object.keys(WRAPPERS);

/** Puts the wrappers of `names` in place of `target`'s methods, once per object and name; throws if it cannot. */
function wrapMethods(target: Submittable, names: readonly string[]): void {
  let originals = target[kOriginal];
  if (originals === undefined) {
    originals = {};
    hidden(target, kOriginal, originals);
  }
  for (const name of names) {
    if (Object.prototype.hasOwnProperty.call(originals, name)) continue;
    const method = target[name];
    if (typeof method === 'function') hidden(target, name, WRAPPERS[name]);
    originals[name] = typeof method === 'function' ? (method as Handler) : undefined;
  }
}

/**
 * Whether `submittable` can be traced in place (the caller keeps the very same object): its methods are
 * wrapped once per object (pg-query-stream's cursor's `close` too, which its destroy calls), and it holds
 * its cycle. Not an object that cannot take them (frozen, sealed, a Proxy that refuses): that one runs as
 * untraced, with no span, rather than fail.
 */
function preparedSubmittable(submittable: Submittable): boolean {
  try {
    const own = Object.getOwnPropertyDescriptor(submittable, kCycle);
    if (own !== undefined) return own.writable === true;
    if (!Object.isExtensible(submittable)) return false;
    wrapMethods(submittable, SUBMITTABLE_METHODS);
    const cursor = Object.getOwnPropertyDescriptor(submittable, 'cursor')?.value as unknown;
    if (cursor !== null && typeof cursor === 'object') {
      try {
        wrapMethods(cursor as Submittable, ['close']);
      } catch {
        // A cursor that cannot take it: its close callback runs where pg-cursor calls it.
      }
    }
    hidden(submittable, kCycle, undefined);
    return true;
  } catch {
    return false;
  }
}

/** Starts one submission's cycle on a prepared Submittable; false if it could not be set. */
function startCycle(submittable: Submittable, call: DbCall | undefined): boolean {
  const previous = submittable[kCycle];
  // Submitted again before its last cycle ended (pg would fail it): that cycle's span ends now.
  if (previous !== undefined) previous.call?.succeed();
  return Reflect.set(submittable, kCycle, { call, store: storage.getStore() });
}

/** `client.query(submittable)`: the Submittable traced in place, pg given that very object. */
function querySubmittable(hook: ActiveHook<PgOptions>, parent: Span | null | undefined, client: PgConnectionFacts, original: Handler, submittable: Submittable, args: IArguments): unknown {
  // Nothing pg calls on it at the end: there is no end to observe.
  const ends = typeof submittable.handleReadyForQuery === 'function' || typeof submittable.handleError === 'function';
  if (ends && !preparedSubmittable(submittable)) return Reflect.apply(original, client, args);
  let call: DbCall | undefined;
  try {
    call = parent === undefined ? undefined : startQueryCall(hook, parent, client, submittable, args[1]);
  } catch {
    call = undefined;
  }
  let started = false;
  try {
    started = ends && startCycle(submittable, call);
  } catch {
    started = false;
  }
  if (!started) {
    call?.succeed();
    return Reflect.apply(original, client, args);
  }
  return invokeCall(call, original, client, args);
}

/** An own property the caller's Object.keys, spread and JSON never see (the hooks' wrappers and state). */
function hidden(target: object, key: PropertyKey, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: false, configurable: true });
}

/** Whether every own property is an enumerable data property (no getter, nothing a copy would leave out). */
function enumerableData(descriptors: PropertyDescriptorMap): boolean {
  for (const key of Reflect.ownKeys(descriptors)) {
    const descriptor = descriptors[key as string];
    if (descriptor.get !== undefined || descriptor.set !== undefined || descriptor.enumerable !== true) return false;
  }
  return true;
}

/** The fields pg's Query constructor reads, in its order, and whether the hook reads them too (for its span). */
const QUERY_FIELDS: ReadonlyArray<readonly [string, boolean]> = [
  ['text', true],
  ['values', true],
  ['rows', false],
  ['types', false],
  ['name', true],
  ['queryMode', false],
  ['binary', false],
  ['portal', false],
  ['callback', true],
  ['rowMode', false],
];

/**
 * A plain query config as pg is to get it: a copy (same prototype and property descriptors, so pg never
 * writes to the caller's object either), in which each property that both pg and the hook read (`submit`,
 * `text`, `values`, `name`, `callback`; `values` and `callback` only when pg reads them, not given as
 * arguments) was read once, in pg's order, and is plain data from then on. The reads run where pg runs
 * them: pg 8.23.1 and later read the fields from a clone of the config (`clones`: a getter runs with the
 * clone as `this`), earlier versions from the caller's object itself, so there every field pg reads is
 * read from it here (a getter backed by a private field or a WeakMap keeps working); `query_timeout` is
 * read from the caller's object by every version. A getter that throws throws here, before any span
 * starts, as it would in pg. A Submittable (its `submit` a function) is pg's to keep: that very object is
 * returned.
 */
function readConfigOnce(config: object, values: unknown, callback: unknown, clones: boolean): object {
  const submit = (config as { submit?: unknown }).submit;
  if (typeof submit === 'function') return config;
  if (!clones) copyArgsOnto(config as Record<string, unknown>, values, callback);
  const descriptors = Object.getOwnPropertyDescriptors(config);
  // A plain object of data properties (knex's, most apps'): reading it runs nothing, so a plain copy does.
  if (Object.getPrototypeOf(config) === Object.prototype && !types.isProxy(config) && enumerableData(descriptors)) return ownCopy(config);
  const source = (clones ? Object.create(Object.getPrototypeOf(config), descriptors) : config) as Record<string, unknown>;
  const read: Record<string, unknown> = { submit };
  for (const [key, byHook] of QUERY_FIELDS) {
    // What pg reads on its own clone runs there; the hook reads only its own fields, unless given as arguments.
    if (clones && !byHook) continue;
    if ((key === 'values' && values) || (key === 'callback' && (typeof values === 'function' || callback))) continue;
    read[key] = source[key];
  }
  read.query_timeout = (config as { query_timeout?: unknown }).query_timeout;
  for (const key of Object.keys(read)) {
    if (!(key in config)) continue;
    descriptors[key] = { value: read[key], writable: true, enumerable: descriptors[key]?.enumerable ?? false, configurable: true };
  }
  return Object.create(Object.getPrototypeOf(config), descriptors) as object;
}

/**
 * What pg before 8.23.1 (utils.normalizeQueryConfig) writes onto the caller's config, the caller's own
 * callback (pg gets the copy and the traced callback); a frozen config throws here, as it does there.
 */
function copyArgsOnto(config: Record<string, unknown>, values: unknown, callback: unknown): void {
  if (values) {
    if (typeof values === 'function') config.callback = values;
    else config.values = values;
  }
  if (callback) config.callback = callback;
}

function wrapQuery(hook: ActiveHook<PgOptions>, state: PgState) {
  return (original: (...args: any[]) => any) =>
    function query(this: PgConnectionFacts, input: any, values?: any, callback?: any): any {
      // With no tracer nothing is traced: not even a callback's context needs keeping.
      if (input == null || tracingOff(hook)) return applyArgs(original, this, arguments);
      // Decided before the statement is read or sanitised. Without a span (requireParent, suppressTracing)
      // the callbacks still run in the caller's context.
      const parent = clientParent(hook);
      // What the caller's config holds is read once (see readConfigOnce), before any span starts.
      const config = typeof input === 'object' ? readConfigOnce(input, values, callback, state.clonesConfig !== false) : input;
      if (config === input && typeof config === 'object') return querySubmittable(hook, parent, this, original, config, arguments);
      const args = config === input ? arguments : Array.prototype.slice.call(arguments);
      if (config !== input) (args as unknown[])[0] = config;
      let call: DbCall | undefined;
      try {
        call = parent === undefined ? undefined : startQueryCall(hook, parent, this, config, values);
      } catch {
        call = undefined;
      }
      if (typeof values === 'function') return invokeCall(call, original, this, [config, callerCallback(call, values)]);
      if (typeof callback === 'function') return invokeCall(call, original, this, [config, values, callerCallback(call, callback)]);
      if (typeof config === 'object' && typeof config.callback === 'function') {
        // The callback lives in the config: ours is the copy pg gets, never the caller's.
        config.callback = callerCallback(call, config.callback);
        return invokeCall(call, original, this, args);
      }
      return call === undefined ? Reflect.apply(original, this, args) : call.invokeAndChain(original, this, args);
    };
}

/** A pool's connection facts, worked out once per pool with pg's own parser (environment included). */
const poolConnections = new WeakMap<object, DbConnection>();

function poolConnection(state: PgState, pool: { options?: PgConnectionFacts }): DbConnection {
  let connection = poolConnections.get(pool);
  if (connection !== undefined) return connection;
  let facts: PgConnectionFacts = pool.options ?? {};
  if (state.ConnectionParameters !== undefined) {
    try {
      facts = new state.ConnectionParameters(pool.options ?? {});
    } catch {
      // Settings pg itself would reject: keep what the options say.
    }
  }
  connection = connectionOf(facts);
  poolConnections.set(pool, connection);
  return connection;
}

function wrapPoolConnect(hook: ActiveHook<PgOptions>, state: PgState) {
  return (original: (...args: any[]) => any) =>
    function connect(this: { options?: PgConnectionFacts }, callback?: any): any {
      // Nothing can be traced: not even the callback's context needs keeping.
      if (tracingOff(hook)) return applyArgs(original, this, arguments);
      const parent = clientParent(hook);
      let call: DbCall | undefined;
      try {
        call =
          parent === undefined
            ? undefined
            : startDbCallUnder(hook, parent, sqlConnectionSpec('pg', 'pg-pool.connect', poolConnection(state, this)));
      } catch {
        call = undefined;
      }
      if (typeof callback === 'function') {
        // The pool hands a released client to a waiting caller from the releaser's context: the
        // callback runs in its own caller's context, so that its queries get the right parent.
        const store = storage.getStore();
        return original.call(
          this,
          callbackWrapper(callback, (self, args) => {
            call?.settle(args[0]);
            return runInContext(store, callback, self, args);
          }),
        );
      }
      if (call === undefined) return applyArgs(original, this, arguments);
      return call.invokeAndChain(original, this, arguments);
    };
}

export function patchClient(exports: any, { hook, state, basedir, wrap }: PatchContext<PgOptions, PgState>): void {
  wrap(exports.prototype, 'query', wrapQuery(hook, state));
  // The socket outside the context that connects (a request's, a suppressed one, or a pool's caller's):
  // LISTEN's notifications, notices and a pooled client's 'error' belong to no request.
  wrap(exports.prototype, 'connect', (original) =>
    function connect(this: unknown): unknown {
      return hook.enabled ? connectOutside(original, this, arguments) : applyArgs(original, this, arguments);
    },
  );
  if (basedir !== undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- pg's own normalizer, from the very copy of pg being patched
      const utils = require(path.join(basedir, 'lib', 'utils')) as { normalizeQueryConfig?: (config: object) => unknown };
      const probe = { text: '' };
      if (typeof utils.normalizeQueryConfig === 'function') state.clonesConfig = utils.normalizeQueryConfig(probe) !== probe;
    } catch {
      // Read as pg 8.23.1 and later do.
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- pg's own parser, from the very copy of pg being patched
      state.ConnectionParameters = require(path.join(basedir, 'lib', 'connection-parameters'));
    } catch {
      // Pools then tag what their options say.
    }
  }
}

export function patchPool(exports: any, { hook, state, wrap }: PatchContext<PgOptions, PgState>): void {
  wrap(entryClass(exports)?.prototype, 'connect', wrapPoolConnect(hook, state));
}
