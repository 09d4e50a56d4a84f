/**
 * mysql2 span logic (declared in ../hooks/mysql2): `query` and `execute` of every connection (the
 * callback API, and the promise API, whose classes call the callback ones: one span per call), `prepare`
 * and the statements it hands out, and `getConnection` of pools (which every pool query, pool execute
 * and pool cluster call goes through).
 *
 * Completion is observed through the callback when there is one, else through the command's own
 * `emit` ('error', then 'end'), so that streaming queries (`query(sql).stream()`, 'result' listeners)
 * finish their span without a listener of ours changing how an unhandled 'error' behaves.
 */
import { EventEmitter } from 'node:events';
import type { Span } from 'opentracing';
import { storage, RequestContext } from '../context';
import { DbCall, DbConnection, runInContext, startDbCall, startDbCallUnder } from '../cores/db-call';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, runUserHook, setTag } from '../spans';
import { sanitizeSql, sqlVerb } from '../sql';
import type { Mysql2Options, Mysql2QueryInfo } from '../hooks/mysql2';
import { asWrapperOf } from '../registry/wrap';

const DEFAULT_MAX_STATEMENT = 2048;
const COMPONENT = 'mysql2';

/** The part of mysql2's ConnectionConfig that is read (never the password). */
interface Mysql2Config {
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  socketPath?: string;
}

interface Mysql2Connection {
  config?: Mysql2Config;
  addCommand?: unknown;
  _addCommandClosedState?: unknown;
  _fatalError?: unknown;
  _command?: unknown;
  _commands?: { length: number; get?(i: number): unknown };
}

type AnyFunction = (...args: any[]) => any;

/** A span's connection facts; a socket path stands for the peer when there is one. */
function connectionOf(config: Mysql2Config | undefined): DbConnection {
  if (config === undefined || config === null) return {};
  if (typeof config.socketPath === 'string') return { instance: config.database, user: config.user };
  return { instance: config.database, user: config.user, host: config.host, port: config.port, address: true };
}

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
  const options = hook.options;
  const sql = typeof text === 'string' ? text : undefined;
  const statement = sql === undefined ? undefined : options.sanitizeStatement === false ? sql : sanitizeSql(sql, 'mysql');
  const verb = statement === undefined ? undefined : sqlVerb(statement);
  const call = startDbCallUnder(
    hook,
    parent,
    {
      component: COMPONENT,
      dbType: 'sql',
      operationName: verb === undefined ? `mysql.${kind}` : `mysql.${kind}:${verb}`,
      connection: connectionOf(config),
      statement,
      maxStatementLength: DEFAULT_MAX_STATEMENT,
    },
    kind === 'query' ? options.responseHook : undefined,
  );
  if (call === undefined) return undefined;
  const span = call.span;
  if (config != null && typeof config.socketPath === 'string') setTag(span, 'peer.address', config.socketPath);
  if (prepared) setTag(span, 'db.prepared_statement', true);
  const capture = options.captureParameters === true;
  const vals = capture ? valuesOf(values, holder) : undefined;
  if (vals !== undefined && vals !== null && typeof vals !== 'function') setTag(span, 'db.params', vals);
  const requestHook = options.requestHook;
  if (requestHook !== undefined) {
    const info: Mysql2QueryInfo = { text: sql ?? '', database: config?.database, prepared };
    if (capture) info.values = vals;
    runUserHook('mysql2 requestHook', () => requestHook(span, info));
  }
  return call;
}

/** The values of a call: the argument, else those of its options object (read only when captured). */
function valuesOf(values: unknown, holder: unknown): unknown {
  if (values !== undefined && typeof values !== 'function') return values;
  return typeof holder === 'object' && holder !== null ? (holder as { values?: unknown }).values : undefined;
}

/** Whether the connection refuses new commands (ended or broken): it then emits the error itself. */
function isClosed(connection: Mysql2Connection | undefined): boolean {
  return connection != null && connection.addCommand !== undefined && connection.addCommand === connection._addCommandClosedState;
}

// ---------------------------------------------------------------------------------------------------
// Emitter mode: the command's own emit reports its end, and its listeners run in the caller's context.

const kCycle = Symbol('opentracing-client-hooks.mysql2Cycle');
const kEmit = Symbol('opentracing-client-hooks.mysql2Emit');

interface Cycle {
  call: DbCall;
  store: RequestContext | undefined;
}

type TracedCommand = {
  [kCycle]?: Cycle;
  [kEmit]?: AnyFunction;
  emit: AnyFunction;
  onResult?: unknown;
};

function tracedEmit(this: TracedCommand, event: string | symbol): boolean {
  const original = this[kEmit] as AnyFunction;
  const cycle = this[kCycle];
  if (cycle === undefined) return original.apply(this, arguments as unknown as unknown[]);
  if (event === 'error') cycle.call.fail(arguments[1]);
  else if (event === 'end') {
    this[kCycle] = undefined;
    cycle.call.succeed();
  }
  return runInContext(cycle.store, original, this, arguments);
}

/** Traces one run of `cmd` (an EventEmitter command of mysql2) through its emit; the same object stays. */
function traceEmitter(cmd: unknown, call: DbCall, store: RequestContext | undefined): void {
  if (!(cmd instanceof EventEmitter)) {
    // Nothing to observe an end on: the span covers the call alone.
    call.succeed();
    return;
  }
  const traced = cmd as unknown as TracedCommand;
  if (traced[kEmit] === undefined) {
    Object.defineProperty(traced, kEmit, { value: traced.emit, writable: true, configurable: true });
    Object.defineProperty(traced, kCycle, { value: undefined, writable: true, configurable: true });
    Object.defineProperty(traced, 'emit', { value: tracedEmit, writable: true, configurable: true });
  }
  // A command run again before its last run ended: that span ends now.
  traced[kCycle]?.call.succeed();
  traced[kCycle] = { call, store };
}

/** Finishes the spans of emitter-mode commands that a dying connection drops without an event. */
function failDropped(connection: Mysql2Connection, err: unknown): void {
  const fail = (cmd: unknown): void => {
    if (cmd === null || typeof cmd !== 'object') return;
    const traced = cmd as TracedCommand;
    const cycle = traced[kCycle];
    if (cycle === undefined || typeof traced.onResult === 'function') return;
    traced[kCycle] = undefined;
    cycle.call.fail(err);
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
 * Runs a traced call: with the callback at `cbIndex` wrapped (it finishes the span, then runs in the
 * caller's context), or, without one, observing the command the call returns.
 */
function runCall(call: DbCall, original: AnyFunction, thisArg: unknown, args: IArguments, cbIndex: number, connection: Mysql2Connection | undefined): any {
  if (cbIndex >= 0) {
    const copy = Array.prototype.slice.call(args);
    copy[cbIndex] = call.callback(args[cbIndex]);
    return call.invoke(original, thisArg, copy);
  }
  // A closed connection refuses the command with an 'error' of its own, never one of the command.
  if (isClosed(connection)) {
    call.fail(closedError());
    return original.apply(thisArg, args as unknown as unknown[]);
  }
  const store = storage.getStore();
  const cmd = call.invoke(original, thisArg, args);
  traceEmitter(cmd, call, store);
  return cmd;
}

/** The SQL of `query`/`execute`'s first argument: a string, an options object or a Query command. */
function sqlOf(sql: unknown): unknown {
  return typeof sql === 'object' && sql !== null ? (sql as { sql?: unknown }).sql : sql;
}


/** `Connection.prototype.query` and `execute`: (sql | options | command, values?, callback?). */
function wrapQuery(hook: ActiveHook<Mysql2Options>, prepared: boolean) {
  return (original: AnyFunction) =>
    function query(this: Mysql2Connection, sql: any, values?: any, callback?: any): any {
      const parent = clientParent(hook);
      if (parent === undefined || sql == null) return original.apply(this, arguments as unknown as unknown[]);
      let call: DbCall | undefined;
      try {
        call = startCall(hook, parent, this.config, 'query', sqlOf(sql), prepared, values, sql);
      } catch {
        call = undefined;
      }
      if (call === undefined) return original.apply(this, arguments as unknown as unknown[]);
      if (sql instanceof EventEmitter) {
        // A command built beforehand (pool and pool cluster queries, createQuery): its callback is on it.
        const cmd = sql as TracedCommand;
        const onResult = cmd.onResult;
        if (typeof onResult === 'function') {
          cmd.onResult = call.callback(onResult as AnyFunction);
          return call.invoke(original, this, arguments);
        }
        if (isClosed(this)) {
          call.fail(closedError());
          return original.apply(this, arguments as unknown as unknown[]);
        }
        traceEmitter(cmd, call, storage.getStore());
        return call.invoke(original, this, arguments);
      }
      const cbIndex = typeof values === 'function' ? 1 : typeof callback === 'function' ? 2 : -1;
      return runCall(call, original, this, arguments, cbIndex, this);
    };
}

/** `Connection.prototype.prepare(options, callback)`; also wraps the statements' `execute` once seen. */
function wrapPrepare(hook: ActiveHook<Mysql2Options>, statements: StatementPatcher) {
  return (original: AnyFunction) =>
    function prepare(this: Mysql2Connection, options: any, callback?: any): any {
      // Without a callback the statement is never handed out: nothing to trace.
      if (!hook.enabled || typeof callback !== 'function') return original.apply(this, arguments as unknown as unknown[]);
      const cb = statements.done ? callback : statements.patching(callback);
      const parent = clientParent(hook);
      let call: DbCall | undefined;
      if (parent !== undefined) {
        try {
          call = startCall(hook, parent, this.config, 'prepare', sqlOf(options), false, undefined, undefined);
        } catch {
          call = undefined;
        }
      }
      if (call === undefined) {
        return cb === callback ? original.apply(this, arguments as unknown as unknown[]) : original.call(this, options, cb);
      }
      return call.invoke(original, this, [options, call.callback(cb)]);
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
      const parent = clientParent(hook);
      if (parent === undefined) return original.apply(this, arguments as unknown as unknown[]);
      const connection = this._connection;
      let call: DbCall | undefined;
      try {
        call = startCall(hook, parent, connection?.config, 'query', this.query, true, parameters, undefined);
      } catch {
        call = undefined;
      }
      if (call === undefined) return original.apply(this, arguments as unknown as unknown[]);
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
    const patcher = this;
    return asWrapperOf(callback, function (this: unknown, err: unknown, statement: unknown): unknown {
      if (err == null && !patcher.done && statement !== null && typeof statement === 'object') {
        patcher.done = true;
        const proto = Object.getPrototypeOf(statement);
        if (proto !== null && proto !== Object.prototype) patcher.wrap(proto, 'execute', wrapStatementExecute(patcher.hook));
      }
      return callback.apply(this, arguments as unknown as unknown[]);
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
      return original.apply(this, arguments as unknown as unknown[]);
    };
}

interface Mysql2Pool {
  config?: { connectionConfig?: Mysql2Config };
}

/**
 * `Pool.prototype.getConnection(callback)`. A busy pool hands a released connection to a waiting caller
 * from the releaser's context: the callback runs in its own caller's context, so that the queries it
 * issues (pool.query, pool.execute, pool clusters, the app's own) get the right parent.
 */
function wrapGetConnection(hook: ActiveHook<Mysql2Options>) {
  return (original: AnyFunction) =>
    function getConnection(this: Mysql2Pool, callback?: any): any {
      if (!hook.enabled || typeof callback !== 'function') return original.apply(this, arguments as unknown as unknown[]);
      let call: DbCall | undefined;
      try {
        call = startDbCall(hook, {
          component: COMPONENT,
          dbType: 'sql',
          operationName: 'mysql.pool.getConnection',
          connection: connectionOf(this.config?.connectionConfig),
          maxStatementLength: DEFAULT_MAX_STATEMENT,
        });
      } catch {
        call = undefined;
      }
      const store = storage.getStore();
      return original.call(
        this,
        asWrapperOf(callback, function (this: unknown, err: unknown) {
          call?.settle(err);
          return runInContext(store, callback, this, arguments);
        }),
      );
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

export function patchPool(exports: any, { hook, wrap }: PatchContext<Mysql2Options, undefined>): void {
  const pools = definer(exports?.prototype, 'getConnection');
  if (pools !== undefined) wrap(pools, 'getConnection', wrapGetConnection(hook));
}
