/**
 * mysql2 span logic (declared in ../hooks/mysql2): `query` and `execute` of every connection (the
 * callback API, and the promise API, whose classes call the callback ones: one span per call), `prepare`
 * and the statements it hands out, `getConnection` of pools (which every pool query, pool execute and
 * pool cluster call goes through), and the pool statements whose connection makes no span of its own (a
 * pool's and a pool cluster namespace's `query` and `execute`).
 *
 * Completion is observed through the callback when there is one, else through the command's own
 * `emit` ('error', then 'end'), so that streaming queries (`query(sql).stream()`, 'result' listeners)
 * finish their span without a listener of ours changing how an unhandled 'error' behaves.
 */
import { EventEmitter } from 'node:events';
import type { Span } from 'opentracing';
import { storage } from '../context';
import type { DbCall } from '../cores/db-call';
import { takeEmitterCall, traceEmitter } from '../cores/emitter-call';
import { callerCallback, invokeCall, mysqlConnection, startSqlCall, wrapPoolGetConnection, wrapPoolStatement, wrapStatementRetry } from '../cores/sql-call';
import type { MysqlConfig } from '../cores/sql-call';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, tracingOff } from '../spans';
import type { Mysql2Options } from '../options/mysql2';
import { applyArgs } from '../apply-args';
import { asWrapperOf } from '../registry/wrap';
import { ownCopy } from '../own-copy';

const COMPONENT = 'mysql2';

type Mysql2Config = MysqlConfig;

interface Mysql2Connection {
  config?: Mysql2Config;
  addCommand?: unknown;
  _addCommandClosedState?: unknown;
  _fatalError?: unknown;
  _command?: unknown;
  _commands?: { length: number; get?(i: number): unknown };
}

type AnyFunction = (...args: any[]) => any;

function startCall(
  hook: ActiveHook<Mysql2Options>,
  parent: Span | null,
  config: Mysql2Config | undefined,
  kind: 'query' | 'prepare',
  text: unknown,
  prepared: boolean,
  values: unknown,
  holder: unknown,
): DbCall | undefined {
  return startSqlCall(hook, parent, {
    component: COMPONENT,
    dialect: 'mysql',
    operation: `mysql.${kind}`,
    text: typeof text === 'string' ? text : undefined,
    values: () => valuesOf(values, holder, prepared),
    ...mysqlConnection(config),
    prepared,
    info: { prepared },
    result: kind === 'query',
  });
}

/**
 * The values mysql2 binds (read only when captured): `query` takes the argument over its options
 * object's, unless it is undefined; `execute` the options object's over the argument, unless they are
 * falsy (`options.values || values`).
 */
function valuesOf(values: unknown, holder: unknown, prepared: boolean): unknown {
  const options = typeof holder === 'object' && holder !== null ? (holder as { values?: unknown }).values : undefined;
  if (typeof values === 'function') return options;
  if (prepared) return options || values;
  return values !== undefined ? values : options;
}

/** Whether the connection refuses new commands (ended or broken): it then emits the error itself. */
function isClosed(connection: Mysql2Connection | undefined): boolean {
  return connection != null && connection.addCommand !== undefined && connection.addCommand === connection._addCommandClosedState;
}

type TracedCommand = { onResult?: unknown };

/** Finishes the spans of emitter-mode commands that a dying connection drops without an event. */
function failDropped(connection: Mysql2Connection, err: unknown): void {
  const fail = (cmd: unknown): void => {
    // A command with a callback hears of the error through it.
    if (cmd !== null && typeof cmd === 'object' && typeof (cmd as TracedCommand).onResult === 'function') return;
    takeEmitterCall(cmd)?.fail(err);
  };
  fail(connection._command);
  const queue = connection._commands;
  if (queue != null && typeof queue.get === 'function') {
    for (let i = 0; i < queue.length; i++) fail(queue.get(i));
  }
}

function closedError(): Error {
  const err = new Error("Can't add new command when connection is in closed state") as Error & { fatal?: boolean };
  err.fatal = true;
  return err;
}

/**
 * Runs a call: with the callback at `cbIndex` wrapped (it finishes the span, then runs in the caller's
 * context), or, without one, observing the command the call returns. Without `call` (no span to make),
 * only the caller's context is kept.
 */
function runCall(call: DbCall | undefined, original: AnyFunction, thisArg: unknown, args: ArrayLike<any>, cbIndex: number, connection: Mysql2Connection | undefined): any {
  if (cbIndex >= 0) {
    const copy = Array.prototype.slice.call(args);
    copy[cbIndex] = callerCallback(call, args[cbIndex]);
    return invokeCall(call, original, thisArg, copy);
  }
  // A closed connection refuses the command with an 'error' of its own, never one of the command.
  if (isClosed(connection)) {
    call?.fail(closedError());
    return Reflect.apply(original, thisArg, args);
  }
  const store = storage.getStore();
  const cmd = invokeCall(call, original, thisArg, args);
  traceEmitter(cmd, call, store);
  return cmd;
}

/** The SQL of `query`/`execute`'s first argument: a string, an options object or a Query command. */
function sqlOf(sql: unknown): unknown {
  return typeof sql === 'object' && sql !== null ? (sql as { sql?: unknown }).sql : sql;
}


/**
 * An options object as mysql2's query/execute read it (`{ ...options, sql: options.sql, values:
 * options.values }`): read so once, here, and mysql2 gets the copy, so that the hook's own reads of `sql`
 * and `values` are no extra reads of the caller's object. A command (an EventEmitter) is mysql2's own.
 */
function readOptionsOnce(sql: any): any {
  if (typeof sql !== 'object' || sql === null || sql instanceof EventEmitter) return sql;
  const copy = ownCopy(sql);
  copy.sql = sql.sql;
  copy.values = sql.values;
  return copy;
}

/**
 * `Connection.prototype.query` and `execute`: (sql | options | command, values?, callback?). A call that
 * makes no span (requireParent, suppressTracing) still has its callback or events in the caller's context.
 */
function wrapQuery(hook: ActiveHook<Mysql2Options>, prepared: boolean) {
  return (original: AnyFunction) =>
    function query(this: Mysql2Connection, input: any, values?: any, callback?: any): any {
      if (input == null || tracingOff(hook)) return applyArgs(original, this, arguments);
      const parent = clientParent(hook);
      // A getter that throws throws here, before any span starts, as it would in mysql2.
      const sql = readOptionsOnce(input);
      const args: unknown[] = Array.prototype.slice.call(arguments);
      args[0] = sql;
      let call: DbCall | undefined;
      try {
        call = parent === undefined ? undefined : startCall(hook, parent, this.config, 'query', sqlOf(sql), prepared, values, sql);
      } catch {
        call = undefined;
      }
      if (sql instanceof EventEmitter) {
        // A command built beforehand (pool and pool cluster queries, createQuery): its callback is on it.
        const cmd = sql as TracedCommand;
        const onResult = cmd.onResult;
        if (typeof onResult === 'function') {
          cmd.onResult = callerCallback(call, onResult as AnyFunction);
          return invokeCall(call, original, this, args);
        }
        if (isClosed(this)) {
          call?.fail(closedError());
          return original.apply(this, args);
        }
        traceEmitter(cmd, call, storage.getStore());
        return invokeCall(call, original, this, args);
      }
      const cbIndex = typeof values === 'function' ? 1 : typeof callback === 'function' ? 2 : -1;
      return runCall(call, original, this, args, cbIndex, this);
    };
}

/** `Connection.prototype.prepare(options, callback)`; also wraps the statements' `execute` once seen. */
function wrapPrepare(hook: ActiveHook<Mysql2Options>, statements: StatementPatcher) {
  return (original: AnyFunction) =>
    function prepare(this: Mysql2Connection, options: any, callback?: any): any {
      // Without a callback the statement is never handed out: nothing to trace.
      if (!hook.enabled || typeof callback !== 'function') return applyArgs(original, this, arguments);
      const cb = statements.done ? callback : statements.patching(callback);
      // With no tracer nothing is traced: not even the callback's context needs keeping.
      if (tracingOff(hook)) return cb === callback ? applyArgs(original, this, arguments) : original.call(this, options, cb);
      const parent = clientParent(hook);
      let call: DbCall | undefined;
      try {
        call = parent === undefined ? undefined : startCall(hook, parent, this.config, 'prepare', sqlOf(options), false, undefined, undefined);
      } catch {
        call = undefined;
      }
      return invokeCall(call, original, this, [options, callerCallback(call, cb)]);
    };
}

interface Mysql2Statement {
  query?: unknown;
  _connection?: Mysql2Connection;
}

/** `PreparedStatementInfo.prototype.execute(parameters?, callback?)`. */
function wrapStatementExecute(hook: ActiveHook<Mysql2Options>) {
  return (original: AnyFunction) =>
    function execute(this: Mysql2Statement, parameters?: any, callback?: any): any {
      if (tracingOff(hook)) return applyArgs(original, this, arguments);
      const parent = clientParent(hook);
      const connection = this._connection;
      let call: DbCall | undefined;
      try {
        call = parent === undefined ? undefined : startCall(hook, parent, connection?.config, 'query', this.query, true, parameters, undefined);
      } catch {
        call = undefined;
      }
      const cbIndex = typeof parameters === 'function' ? 0 : typeof callback === 'function' ? 1 : -1;
      return runCall(call, original, this, arguments, cbIndex, connection);
    };
}

/**
 * The class of prepared statements is not exported: its `execute` is wrapped from the first statement
 * a `prepare` hands out (one check per prepare until then).
 */
class StatementPatcher {
  done = false;

  constructor(
    private readonly hook: ActiveHook<Mysql2Options>,
    private readonly wrap: PatchContext<Mysql2Options, undefined>['wrap'],
  ) {}

  patching(callback: AnyFunction): AnyFunction {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the callback keeps the library's own `this`
    const patcher = this;
    return asWrapperOf(callback, function (this: unknown, err: unknown, statement: unknown): unknown {
      if (err == null && !patcher.done && statement !== null && typeof statement === 'object') {
        patcher.done = true;
        const proto = Object.getPrototypeOf(statement);
        if (proto !== null && proto !== Object.prototype) patcher.wrap(proto, 'execute', wrapStatementExecute(patcher.hook));
      }
      return applyArgs(callback, this, arguments);
    });
  }
}

/** `_notifyError`: a connection that dies drops its emitter-mode commands without an event on them. */
function wrapNotifyError() {
  return (original: AnyFunction) =>
    function _notifyError(this: Mysql2Connection, err: unknown): unknown {
      if (this._fatalError == null) {
        try {
          failDropped(this, err);
        } catch {
          // Internals not as expected: those spans stay open.
        }
      }
      return applyArgs(original, this, arguments);
    };
}

/** The prototype in `proto`'s chain that defines `name` (BaseConnection since 3.11.5, Connection before). */
function definer(proto: object | null | undefined, name: string): object | undefined {
  for (let p = proto; p != null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (Object.prototype.hasOwnProperty.call(p, name)) return p;
  }
  return undefined;
}

export function patchConnection(exports: any, { hook, wrap }: PatchContext<Mysql2Options, undefined>): void {
  const proto = exports?.prototype;
  const queries = definer(proto, 'query');
  if (queries !== undefined) wrap(queries, 'query', wrapQuery(hook, false));
  const executes = definer(proto, 'execute');
  if (executes !== undefined) wrap(executes, 'execute', wrapQuery(hook, true));
  const prepares = definer(proto, 'prepare');
  if (prepares !== undefined) wrap(prepares, 'prepare', wrapPrepare(hook, new StatementPatcher(hook, wrap)));
  const notifies = definer(proto, '_notifyError');
  if (notifies !== undefined) wrap(notifies, '_notifyError', wrapNotifyError());
}

/** A mysql2 pool that is open and has a free connection hands it over on the next tick, without fail. */
function servesAtOnce(pool: { _closed?: unknown; _freeConnections?: { length?: unknown } }): boolean {
  const free = pool._freeConnections?.length;
  return pool._closed === false && typeof free === 'number' && free > 0;
}

export function patchPool(exports: any, { current, wrap }: PatchContext<Mysql2Options, undefined>): void {
  const pools = definer(exports?.prototype, 'getConnection');
  if (pools !== undefined) {
    wrap(pools, 'getConnection', wrapPoolGetConnection(current, COMPONENT, (pool: { config?: { connectionConfig?: MysqlConfig } }) => pool.config?.connectionConfig, servesAtOnce));
  }
  wrapPoolStatements(exports?.prototype, current, wrap);
}

/** A pool's or a pool cluster namespace's `query` and `execute`: one statement, whose connection makes no span of its own. */
function wrapPoolStatements(proto: object | null | undefined, current: PatchContext<Mysql2Options, undefined>['current'], wrap: PatchContext<Mysql2Options, undefined>['wrap']): void {
  for (const name of ['query', 'execute']) {
    const statements = definer(proto, name);
    if (statements !== undefined) wrap(statements, name, wrapPoolStatement(current));
  }
}

/**
 * A pool cluster's namespaces (`of(pattern)`): their class is not exported, so its `query` and `execute`
 * are wrapped from the first namespace that `of` hands out (one check per `of` until then).
 */
export function patchPoolCluster(exports: any, { current, wrap }: PatchContext<Mysql2Options, undefined>): void {
  const clusters = definer(exports?.prototype, 'of');
  if (clusters === undefined) return;
  let patched = false;
  wrap(clusters, 'of', (original: AnyFunction) =>
    function of(this: unknown): unknown {
      const namespace = applyArgs(original, this, arguments);
      if (!patched && namespace !== null && typeof namespace === 'object') {
        patched = true;
        const proto = Object.getPrototypeOf(namespace);
        if (proto !== Object.prototype) {
          wrapPoolStatements(proto, current, wrap);
          // A statement's retry on the next node (mysql2 calls it from the failed attempt's callback).
          const retries = definer(proto, 'getConnection');
          if (retries !== undefined) wrap(retries, 'getConnection', wrapStatementRetry(current));
        }
      }
      return namespace;
    },
  );
}
