/**
 * The SQL-call core, on the database-call core (./db-call): what every SQL hook does with one statement.
 * A driver (pg, mysql2, mysql, knex) says what it knows, the dialect, the statement text, how to read
 * the values and the connection's facts, and gets a call whose span has `db.statement` sanitised for
 * that dialect and cut to `maxStatementLength`, `db.params` only with `captureParameters`, the
 * `db.*`/`peer.*` tags, the hook's requestHook run with its query info, and failures logged as one
 * redacted copy (`redactedSqlError`) whichever the driver, unless `captureParameters` asks for values.
 */
import type { Span } from 'opentracing';
import type { ActiveHook } from '../registry/define';
import { runUserHook, setTag, tracingOff } from '../spans';
import { redactSqlMessage, sanitizedStatement, sanitizeSql, sqlVerb } from '../sql';
import type { SqlDialect } from '../sql';
import { storage } from '../context';
import { callbackWrapper } from '../registry/wrap';
import { DbCall, DbConnection, DbHookOptions, DbSpanSpec, inCallerContext, redactErrorText, runInContext, startDbCall, startDbCallUnder } from './db-call';
import { applyArgs } from '../apply-args';
import { echoedStrings, withoutValues } from './echoed-arguments';

/** Longest `db.statement` of every SQL hook, unless its `maxStatementLength` says otherwise. */
export const DEFAULT_MAX_SQL_STATEMENT = 2048;

/** What a SQL hook's requestHook gets; a hook's own info type adds its facts (a statement name, `prepared`). */
export interface SqlQueryInfo {
  /** The SQL as the app wrote it (placeholders, not values). */
  text: string;
  /** The values, only with `captureParameters`. */
  values?: unknown;
  database?: string;
}

/** The options every SQL hook takes; `I` is the query info its requestHook gets. */
export interface SqlHookOptions<I extends SqlQueryInfo = SqlQueryInfo> extends DbHookOptions {
  /** Record query values as `db.params` (default false). */
  captureParameters?: boolean;
  /** Replace SQL literals by `?` (default true). */
  sanitizeStatement?: boolean;
  requestHook?: (span: Span, query: I) => void;
  responseHook?: (span: Span, result: unknown) => void;
}

/** What a driver knows about one statement it is about to run. */
export interface SqlCallSpec<I extends SqlQueryInfo> {
  /** `component` tag. */
  component: string;
  dialect: SqlDialect;
  /** The operation name, `pg.query`; `:<label>` or `:<VERB>` is added when there is one. */
  operation: string;
  /** Names the operation instead of the statement's verb (pg's named statements). */
  label?: string;
  /** The whole operation name, instead of `operation` and a label (knex's `knex.select users`). */
  name?: string;
  /** The statement as the app wrote it, when it is a string. */
  text: string | undefined;
  /**
   * Reads the call's values: with `captureParameters`, and when the call fails, for its error's text
   * (`redactedSqlError`). What it reads is the library's or the hook's own copy, never an object of the
   * caller's the library read once: the caller's input is read no more than the library reads it.
   */
  values(): unknown;
  connection: DbConnection;
  /** The Unix socket the connection goes through, recorded as `peer.address`. */
  socketPath?: string;
  /** A prepared statement's execution: `db.prepared_statement`. */
  prepared?: boolean;
  /** The hook's own facts for its requestHook, besides `text`, `database` and `values`. */
  info: Omit<I, keyof SqlQueryInfo>;
  /** Whether the call's result goes to the responseHook (default true; false for a prepare). */
  result?: boolean;
}

/**
 * Starts the span of one statement under `parent` (what `clientParent` decided); undefined when the
 * tracer makes none.
 */
export function startSqlCall<I extends SqlQueryInfo>(hook: ActiveHook<SqlHookOptions<I>>, parent: Span | null, spec: SqlCallSpec<I>): DbCall | undefined {
  const options = hook.options;
  const text = spec.text;
  let statement: string | undefined;
  let verb: string | undefined;
  if (text !== undefined) {
    if (options.sanitizeStatement === false) {
      statement = text;
      verb = sqlVerb(text);
    } else ({ statement, verb } = sanitizedStatement(text, spec.dialect));
  }
  const label = spec.name !== undefined ? undefined : spec.label ?? verb;
  const call = startDbCallUnder(
    hook,
    parent,
    {
      component: spec.component,
      dbType: 'sql',
      operationName: spec.name ?? (label === undefined ? spec.operation : `${spec.operation}:${label}`),
      connection: spec.connection,
      statement,
      maxStatementLength: DEFAULT_MAX_SQL_STATEMENT,
      keepErrorValues: options.captureParameters === true,
      loggedError: options.captureParameters === true ? undefined : redactedSqlError,
      sentValues: options.captureParameters === true ? undefined : spec.values,
    },
    spec.result === false ? undefined : options.responseHook,
  );
  if (call === undefined) return undefined;
  const span = call.span;
  if (spec.socketPath !== undefined) setTag(span, 'peer.address', spec.socketPath);
  if (spec.prepared === true) setTag(span, 'db.prepared_statement', true);
  const capture = options.captureParameters === true;
  const values = capture ? spec.values() : undefined;
  if (values !== undefined && values !== null && typeof values !== 'function') setTag(span, 'db.params', values);
  const requestHook = options.requestHook;
  if (requestHook !== undefined) {
    const info = { text: text ?? '', database: spec.connection.instance, ...spec.info } as I;
    if (capture) info.values = values;
    runUserHook(`${hook.name} requestHook`, () => requestHook(span, info));
  }
  return call;
}

/**
 * How a span logs each field of a SQL driver's error (pg's, mysql's, mysql2's, knex's): `kept` as it is (it
 * names what failed, never a value), `text` through `redactSqlErrorText`, `detail` so too when it is one
 * line (pg's: libxml's goes on with the XML document). Any other field is left out: mysql's
 * and mysql2's `sql` (the statement with the values put in: `db.statement` has it sanitised), pg's `where`
 * and `internalQuery` (context that repeats a JSON or XML parameter's text unquoted), knex's `bindings`.
 */
const SQL_ERROR_FIELDS = new Map<string, 'kept' | 'text' | 'detail'>([
  ...['name', 'code', 'errno', 'sqlState', 'fatal', 'index', 'severity', 'routine', 'constraint', 'table', 'column', 'schema', 'dataType'].map((field) => [field, 'kept'] as const),
  ...['position', 'internalPosition', 'file', 'line', 'length', 'syscall', 'address', 'port'].map((field) => [field, 'kept'] as const),
  ['message', 'text'],
  ['sqlMessage', 'text'],
  ['hint', 'text'],
  ['detail', 'detail'],
]);

/** Where a stack's frames start, after its head (`Error: <message>`). */
const FRAMES = /\n\s+at /;

/**
 * What a span logs of a SQL driver's error: a copy (same prototype) with only the fields of
 * `SQL_ERROR_FIELDS`, and the stack's head through `redactSqlErrorText`, after each of the call's values
 * (`sentValues`, read safely: `echoedStrings`) that the text repeats became `?` (a function's `RAISE`
 * or `SIGNAL` that names its argument). An accessor is not read, a field holding an object is left out.
 * The app gets the original.
 */
export function redactedSqlError(err: unknown, sentValues?: () => unknown): unknown {
  const values = sentValues === undefined ? [] : echoedStrings(sentValues());
  const redact = values.length === 0 ? redactSqlErrorText : (text: string): string => redactSqlErrorText(withoutValues(text, values));
  if (typeof err === 'string') return redact(err);
  if (err === null || typeof err !== 'object') return err;
  const descriptors: PropertyDescriptorMap = {};
  let message: unknown;
  for (const name of Object.getOwnPropertyNames(err)) {
    const how = SQL_ERROR_FIELDS.get(name);
    if (how === undefined) continue;
    const descriptor = Object.getOwnPropertyDescriptor(err, name)!;
    if (!('value' in descriptor)) continue;
    const value: unknown = descriptor.value;
    if (name === 'message') message = value;
    if (how !== 'kept' && typeof value === 'string') {
      if (how === 'detail' && value.includes('\n')) continue;
      descriptor.value = redact(value);
    } else if (how !== 'kept' || (value !== null && typeof value === 'object')) continue;
    descriptors[name] = descriptor;
  }
  // Read once (an accessor on newer V8). The frames stay; the head, up to the end of the message it
  // repeats (or as it was before knex rewrote the message), is redacted.
  const stack = (err as { stack?: unknown }).stack;
  if (typeof stack === 'string') {
    let head = stack.search(FRAMES);
    if (typeof message === 'string' && message !== '') {
      const at = stack.indexOf(message);
      if (at !== -1 && (head === -1 || at + message.length > head)) head = at + message.length;
    }
    const redacted = head === -1 ? redact(stack) : redact(stack.slice(0, head)) + stack.slice(head);
    descriptors.stack = { value: redacted, writable: true, configurable: true };
  }
  return Object.create(Object.getPrototypeOf(err), descriptors);
}

/** MySQL's syntax error, `… near '<the statement from there on>' at line <n>`: to the last such end. */
const NEAR_STATEMENT = /\bnear '([\s\S]*)' at line \d+/;

/**
 * A SQL error's text without the values it echoes: every quoted run and number becomes `?` (`X'…'` and
 * `0x…` too), PostgreSQL's rows and keys `(?)`, and the statement MySQL repeats in a syntax error (with
 * the values the driver put in) is sanitised as `db.statement` is.
 */
export function redactSqlErrorText(text: string): string {
  const near = NEAR_STATEMENT.exec(text);
  if (near === null) return redactSqlMessage(redactErrorText(text));
  const start = near.index + near[0].indexOf("'") + 1;
  const end = start + near[1].length;
  return redactSqlMessage(redactErrorText(text.slice(0, start - 1))) + `'${sanitizeSql(near[1], 'mysql')}` + text.slice(end);
}

type Callback = (...args: any[]) => unknown;

/**
 * A callback that finishes `call`'s span and runs in its caller's context (`DbCall.callback`); for a call
 * that makes no span (requireParent with no active span, suppressTracing), run in the caller's context all
 * the same, not in that of whichever request opened the connection the driver calls it from.
 */
export function callerCallback(call: DbCall | undefined, callback: Callback, store = storage.getStore()): Callback {
  return call !== undefined ? call.callback(callback, store) : inCallerContext(callback, store);
}

/** `call.invoke`, or `original` as it is for a call that makes no span. */
export function invokeCall(call: DbCall | undefined, original: (...args: any[]) => unknown, thisArg: unknown, args: ArrayLike<unknown>): any {
  return call === undefined ? Reflect.apply(original, thisArg, args) : call.invoke(original, thisArg, args);
}

/** The span of getting a connection (a pool's connect): the connection's tags, no statement. */
export function sqlConnectionSpec(component: string, operationName: string, connection: DbConnection): DbSpanSpec {
  return { component, dbType: 'sql', operationName, connection, maxStatementLength: DEFAULT_MAX_SQL_STATEMENT };
}

/** The part of a MySQL driver's connection config that is read (mysql, mysql2; never the password). */
export interface MysqlConfig {
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  socketPath?: string;
}

/** A MySQL connection's span facts; a socket path stands for the peer when there is one. */
export function mysqlConnection(config: MysqlConfig | undefined): { connection: DbConnection; socketPath?: string } {
  if (config === undefined || config === null) return { connection: {} };
  if (typeof config.socketPath === 'string') return { connection: { instance: config.database, user: config.user }, socketPath: config.socketPath };
  return { connection: { instance: config.database, user: config.user, host: config.host, port: config.port, address: true } };
}

type AnyFunction = (...args: any[]) => any;

/**
 * Marks the callbacks of ours: a pool (mysql's, mysql2's) hands a queued one to `getConnection` again when a
 * connection frees up. A mark on our own function, not a WeakSet entry per call, which the collector has to visit.
 */
const kPoolCallback = Symbol('opentracing-client-hooks.poolCallback');

/** Set while a pool's own `query` or `execute` runs: the connection it takes is part of that statement. */
let inPoolStatement = false;
/** Set while a statement's failed attempt to get a connection calls back (where a pool cluster retries). */
let inFailedAttempt = false;

/**
 * A MySQL pool's `query` / `execute` (mysql, mysql2), which take a connection for the statement with
 * `getConnection` before they return. That connection gets no span of its own (OpenTelemetry's and
 * dd-trace's make none either; the statement's span follows): only a failure to get one is recorded,
 * as no statement span will show it.
 */
export function wrapPoolStatement(current: () => ActiveHook<DbHookOptions> | undefined) {
  return (original: AnyFunction) =>
    function poolStatement(this: unknown): unknown {
      const hook = current();
      // With tracing off its getConnection passes straight through: nothing needs the flag.
      if (hook === undefined || tracingOff(hook) || inPoolStatement) return applyArgs(original, this, arguments);
      return asPoolStatement(original, this, arguments);
    };
}

/** Runs `original` as a pool statement: the connection it takes is part of that statement. */
function asPoolStatement(original: AnyFunction, thisArg: unknown, args: IArguments): unknown {
  inPoolStatement = true;
  try {
    return applyArgs(original, thisArg, args);
  } finally {
    inPoolStatement = false;
  }
}

/**
 * A pool cluster namespace's `getConnection` (mysql2): called from a statement's failed attempt, it is
 * that statement's retry on the next node, and its connection is part of the statement too. Anywhere
 * else (the app's own, even inside that callback: the app's error callback runs there) it is left alone.
 */
export function wrapStatementRetry(current: () => ActiveHook<DbHookOptions> | undefined) {
  return (original: AnyFunction) =>
    function getConnection(this: unknown): unknown {
      const hook = current();
      if (hook === undefined || !inFailedAttempt || inPoolStatement) return applyArgs(original, this, arguments);
      return asPoolStatement(original, this, arguments);
    };
}

/**
 * A MySQL pool's `getConnection(callback)` (mysql, mysql2), with a `<component>`'s `mysql.pool.getConnection`
 * span: from the start when the app asks for a connection, and only on failure for a pool statement's
 * own (`wrapPoolStatement`). A busy pool hands a released connection to a waiting caller from the
 * releaser's context: the callback runs in its own caller's context, so that the queries it issues (pool
 * queries, pool clusters, the app's own) get the right parent. The install is looked up per call
 * (`current`): an instrumentation that wraps each pool's `getConnection` over the prototype's
 * (OpenTelemetry's mysql) keeps a layer of ours.
 */
export function wrapPoolGetConnection(
  current: () => ActiveHook<DbHookOptions> | undefined,
  component: string,
  configOf: (pool: any) => MysqlConfig | undefined,
  /**
   * Whether the pool is about to hand the callback a free connection on a later tick (mysql2's pool
   * does, and it cannot fail then): a pool statement's callback then needs nothing of ours.
   */
  servesAtOnce?: (pool: any) => boolean,
) {
  return (original: AnyFunction) =>
    function getConnection(this: unknown, callback?: unknown): unknown {
      const hook = current();
      // With tracing off (no tracer) nothing is traced: not even the callback's context needs keeping.
      if (hook === undefined || tracingOff(hook) || typeof callback !== 'function' || (callback as { [kPoolCallback]?: true })[kPoolCallback] === true) {
        return applyArgs(original, this, arguments);
      }
      // The tick carries the caller's context; no failure to record. (An app's own getConnection keeps its span.)
      if (inPoolStatement && servesAtOnce !== undefined && servesAtOnce(this)) return applyArgs(original, this, arguments);
      const spec = (): DbSpanSpec => sqlConnectionSpec(component, 'mysql.pool.getConnection', mysqlConnection(configOf(this)).connection);
      const startTime = inPoolStatement ? Date.now() : undefined;
      let call: DbCall | undefined;
      try {
        if (startTime === undefined) call = startDbCall(hook, spec());
      } catch {
        call = undefined;
      }
      const store = storage.getStore();
      const traced = callbackWrapper(callback as AnyFunction, (self, args) => {
        const err = args[0];
        if (startTime !== undefined && err != null) {
          try {
            call = runInContext(store, () => startDbCall(hook, { ...spec(), startTime }), undefined, []);
          } catch {
            call = undefined;
          }
        }
        call?.settle(err);
        if (startTime === undefined || err == null) return runInContext(store, callback as AnyFunction, self, args);
        // A pool cluster retries a statement's failed attempt from here (`wrapStatementRetry`).
        const outer = inFailedAttempt;
        inFailedAttempt = true;
        try {
          return runInContext(store, callback as AnyFunction, self, args);
        } finally {
          inFailedAttempt = outer;
        }
      });
      (traced as { [kPoolCallback]?: true })[kPoolCallback] = true;
      return original.call(this, traced);
    };
}
