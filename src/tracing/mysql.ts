/**
 * mysql span logic (declared in ../hooks/mysql). mysql puts the values into the SQL text itself before it
 * sends it (`Connection#format`), so the statement is taken before that: the wrapper builds the Query as
 * `query` would (`Connection.createQuery`, which reads the caller's input once, as `query` does) and hands
 * that Query to `query`, which then reads nothing of the caller's again. Completion comes through the
 * callback when there is one, else through the Query's own emit ('error', then 'end'). A connection the app
 * destroys drops its queries without either: their spans finish then (`wrapDestroy`).
 */
import type { Span } from 'opentracing';
import type { DbCall } from '../cores/db-call';
import { traceEmitter } from '../cores/emitter-call';
import { callerCallback, mysqlConnection, startSqlCall, wrapPoolGetConnection, wrapPoolStatement } from '../cores/sql-call';
import type { MysqlConfig } from '../cores/sql-call';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, tracingOff } from '../spans';
import type { MysqlOptions } from '../options/mysql';
import { applyArgs } from '../apply-args';
import { raiseStackLimit, restoreStackLimit } from '../stack-limit';

const COMPONENT = 'mysql';

type AnyFunction = (...args: any[]) => any;

/** The traced call of a Query, on the Query, for a destroyed connection to find (`wrapDestroy`). */
const kCall = Symbol('opentracing-client-hooks.mysqlCall');

interface MysqlQuery {
  sql?: unknown;
  values?: unknown;
  typeCast?: unknown;
  _callback?: AnyFunction;
  [kCall]?: DbCall;
}

interface MysqlProtocol {
  _destroyed?: unknown;
  _fatalError?: unknown;
  _queue?: unknown;
}

interface MysqlConnectionClass {
  createQuery(sql: unknown, values: unknown, callback: unknown): MysqlQuery;
  prototype: object;
}

function startQuery(hook: ActiveHook<MysqlOptions>, parent: Span | null, config: MysqlConfig | undefined, query: MysqlQuery): DbCall | undefined {
  const { connection, socketPath } = mysqlConnection(config);
  return startSqlCall(hook, parent, {
    component: COMPONENT,
    dialect: 'mysql',
    operation: 'mysql.query',
    text: typeof query.sql === 'string' ? query.sql : undefined,
    values: () => query.values,
    connection,
    socketPath,
    info: {},
  });
}

/**
 * `Connection.prototype.query(sql | options | Query, values?, callback?)`. The install is looked up per
 * call: OpenTelemetry's instrumentation wraps each connection's `query` over whatever the prototype had,
 * so a layer of ours it holds on to serves whichever install is current.
 */
function wrapQuery(current: () => ActiveHook<MysqlOptions> | undefined, Connection: MysqlConnectionClass) {
  return (original: AnyFunction) =>
    function query(this: { config?: MysqlConfig & { typeCast?: unknown } }, sql: unknown, values?: unknown, callback?: unknown): unknown {
      const hook = current();
      // With no tracer nothing is traced: not even a callback's context needs keeping.
      if (hook === undefined || sql == null || tracingOff(hook)) return applyArgs(original, this, arguments);
      // Without a span (requireParent, suppressTracing), the callback or events still run in the caller's context.
      const parent = clientParent(hook);
      // What `query` itself does first; a callback that is not a function throws here as it would there.
      const built = Connection.createQuery(sql, values, callback);
      // `query` leaves a Query's own typeCast alone: the connection's applies as it would have to `sql`.
      if (!(typeof sql === 'object' && 'typeCast' in sql)) built.typeCast = this.config?.typeCast;
      let call: DbCall | undefined;
      try {
        call = parent === undefined ? undefined : startQuery(hook, parent, this.config, built);
      } catch {
        call = undefined;
      }
      if (call !== undefined) Object.defineProperty(built, kCall, { value: call, configurable: true });
      const done = built._callback;
      if (typeof done === 'function') built._callback = callerCallback(call, done);
      else traceEmitter(built, call);
      // mysql keeps the call site's stack for its errors, cut at Error.stackTraceLimit: called here, not
      // through `call.invoke`, and with room for this one frame, the caller's frames there stay the same.
      const limit = raiseStackLimit(1);
      try {
        return original.call(this, built);
      } catch (err) {
        call?.fail(err);
        throw err;
      } finally {
        restoreStackLimit(limit, 1);
      }
    };
}

/**
 * `Connection.prototype.destroy()` (a pool connection's calls it too): mysql drops the queries in flight
 * and queued, with no callback and no event, ever. Their spans finish here, as aborted; the app sees
 * nothing, as untraced. After a fatal error mysql ends those queries itself, with that error.
 */
function wrapDestroy(original: AnyFunction) {
  return function destroy(this: { _protocol?: MysqlProtocol }): unknown {
    const result = applyArgs(original, this, arguments);
    try {
      const protocol = this._protocol;
      if (protocol?._destroyed === true && protocol._fatalError == null && Array.isArray(protocol._queue)) {
        for (const sequence of protocol._queue as MysqlQuery[]) sequence?.[kCall]?.fail(new Error('connection destroyed'), 'abort');
      }
    } catch {
      // Internals not as expected: those spans stay open.
    }
    return result;
  };
}

export function patchConnection(exports: unknown, { current, wrap }: PatchContext<MysqlOptions, undefined>): void {
  const Connection = exports as MysqlConnectionClass;
  if (typeof exports !== 'function' || typeof Connection.createQuery !== 'function') return;
  wrap(Connection.prototype, 'query', wrapQuery(current, Connection));
  if (typeof (Connection.prototype as { destroy?: unknown }).destroy === 'function') wrap(Connection.prototype, 'destroy', wrapDestroy);
}

export function patchPool(exports: unknown, { current, wrap }: PatchContext<MysqlOptions, undefined>): void {
  const Pool = exports as { prototype?: object };
  if (typeof exports !== 'function' || Pool.prototype === undefined) return;
  wrap(Pool.prototype, 'getConnection', wrapPoolGetConnection(current, COMPONENT, (pool: { config?: { connectionConfig?: MysqlConfig } }) => pool.config?.connectionConfig));
  wrap(Pool.prototype, 'query', wrapPoolStatement(current));
}

/** A pool cluster's `of(pattern).query`: like a pool's, one statement whose connection makes no span of its own. */
export function patchPoolNamespace(exports: unknown, { current, wrap }: PatchContext<MysqlOptions, undefined>): void {
  const proto = (exports as { prototype?: { query?: unknown } } | undefined)?.prototype;
  if (typeof exports === 'function' && typeof proto?.query === 'function') wrap(proto, 'query', wrapPoolStatement(current));
}
