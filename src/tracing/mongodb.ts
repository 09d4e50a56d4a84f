/**
 * MongoDB span logic (declared in ../hooks/mongodb). `Connection.prototype.command` is what every
 * operation of the driver sends its commands through (find, insert, getMore, killCursors, session and
 * transaction commands), in the async context of the app's call: one span per command, a child of the
 * code that issued the operation. A cursor's getMore is a child of whatever is active where the app asks
 * for the next batch (the request, like the find that opened it), not of the finished find span.
 *
 * The command is wrapped rather than observed through the driver's command monitoring: `monitorCommands`
 * would make the client emit commandStarted/Succeeded/Failed events to the app's own listeners.
 * Handshakes and authentication (before the connection is `established`) and hello/isMaster (the
 * monitor's heartbeats) make no span.
 *
 * From 6.4 `command(ns, command, options, responseType)` returns a promise. In 6.0–6.3 it is
 * `command(ns, command, options, callback)`, and the pool hands a connection to a waiting operation from
 * whichever context works through its queue (another request's check-in, a new connection's handshake):
 * there the pool's `checkOut` callback runs in the context of the operation that asked, as 6.4's
 * `await checkOut()` does by itself.
 */
import { types } from 'node:util';
import type { Span } from 'opentracing';
import { RequestContext, storage } from '../context';
import { callbackInCallerContext, DbCall, DbConnection, inOwnWork, ownWork, runInContext, startDbCallUnder, statementLimit } from '../cores/db-call';
import { redactEchoedValues } from '../cores/echoed-values';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, markError, tracingOff } from '../spans';
import type { MongodbOptions } from '../options/mongodb';
import { applyArgs } from '../apply-args';

const COMPONENT = 'mongodb';
const DEFAULT_MAX_STATEMENT = 2048;
/** Commands of the driver's own: monitoring heartbeats, handshakes and authentication (getnonce: MONGODB-CR). */
const DRIVER_COMMANDS = new Set(['hello', 'isMaster', 'ismaster', 'saslStart', 'saslContinue', 'authenticate', 'getnonce']);
/** Fields the driver adds to every command (session, cluster time, read/write concern): not the app's. */
const DRIVER_FIELDS = new Set([
  '$db',
  'lsid',
  '$clusterTime',
  'txnNumber',
  'autocommit',
  'startTransaction',
  '$readPreference',
  'readConcern',
  'writeConcern',
  'apiVersion',
  'apiStrict',
  'apiDeprecationErrors',
  'maxTimeMS',
  'recoveryToken',
]);
/** Array elements shown in a statement's shape (an insert of thousands of documents shows the first few). */
const MAX_ELEMENTS = 10;
const MAX_DEPTH = 16;
const { isProxy } = types;

type AnyFunction = (...args: unknown[]) => unknown;
type Command = Record<string, unknown>;

interface MongoConnection {
  /** 6.4+: true once the handshake and authentication are done. */
  established?: boolean;
  /** The handshake's reply, set before authentication runs (all 6.0–6.3 have to go by). */
  hello?: unknown;
  address?: string;
}

/**
 * Past its handshake: `established` from 6.4; before, the handshake's reply is there (the authentication
 * that follows it sends only commands of DRIVER_COMMANDS).
 */
function established(connection: MongoConnection | undefined): boolean {
  // No connection (`this` lost): the driver's own method fails as it would untraced.
  return connection?.established ?? connection?.hello != null;
}

/** `host:port` (an IPv6 host in brackets) as the span's peer; a socket path as the address alone. */
function parseConnection(address: unknown, database: string | undefined): DbConnection {
  if (typeof address !== 'string') return { instance: database };
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port)) return { instance: database };
  return { instance: database, host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port, address: true };
}

/** The facts made last: a pool's connections share one address, so most commands parse nothing. */
let lastConnection: { address: unknown; database: string | undefined; facts: DbConnection } | undefined;

function connectionOf(address: unknown, database: string | undefined): DbConnection {
  const last = lastConnection;
  if (last !== undefined && last.address === address && last.database === database) return last.facts;
  const facts = parseConnection(address, database);
  lastConnection = { address, database, facts };
  return facts;
}

/** How the statement shows an object of the app's: walked, one value (`scalarJson`), or a `"?"` not looked into. */
const WALKED = 0;
const SCALAR = 1;
const HIDDEN = 2;

/**
 * Found without running anything of the app's: a BSON value (`_bsontype`), Date, RegExp, bytes or Map
 * is one value to BSON. A `toBSON` function (or accessor) is what BSON calls to get what it sends, which
 * only calling it would tell (a second call of the app's code): such an object is a `"?"`, never walked,
 * so nothing it leaves out is shown. So is one with a Proxy among its prototypes (its traps would see
 * the look). Object.prototype and Array.prototype are not looked into.
 */
function kindOf(value: object): number {
  let kind = WALKED;
  let toBsonFound = false;
  for (let at: object | null = value; at !== null && at !== Object.prototype && at !== Array.prototype; at = Object.getPrototypeOf(at)) {
    if (isProxy(at)) return HIDDEN;
    if (!toBsonFound) {
      const descriptor = Object.getOwnPropertyDescriptor(at, 'toBSON');
      if (descriptor !== undefined) {
        if (!('value' in descriptor) || typeof descriptor.value === 'function') return HIDDEN;
        toBsonFound = true; // data that is no function: BSON walks the object as it is
      }
    }
    if (Object.prototype.hasOwnProperty.call(at, '_bsontype')) kind = SCALAR;
  }
  return kind === SCALAR || value instanceof Date || value instanceof RegExp || ArrayBuffer.isView(value) || value instanceof Map ? SCALAR : WALKED;
}

/** What `dataOf` gives for an accessor: never run, shown as `"?"`. */
const ACCESSOR = Symbol('accessor');

/** An own property's value when it is plain data, else `ACCESSOR`. */
function dataOf(value: object, key: PropertyKey): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(value, key);
  if (descriptor === undefined) return undefined;
  return 'value' in descriptor ? descriptor.value : ACCESSOR;
}

/** Not in JSON: a key with such a value is left out, an array element is `null` (as JSON.stringify does). */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** A captured value that is not an object: as JSON, a BigInt as its digits, a string no longer than `room`. */
function primitiveJson(value: unknown, room: number): string {
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (typeof value === 'string' && value.length > room) return JSON.stringify(value.slice(0, room));
  return isOmitted(value) ? 'null' : JSON.stringify(value);
}

/** A captured BSON scalar: its text (ObjectId's hex, Long's digits), a date in ISO form, a regex as written; bytes and maps a `"?"`. */
function scalarJson(value: object): string {
  if (value instanceof Date) {
    const time = Date.prototype.getTime.call(value);
    return Number.isNaN(time) ? 'null' : JSON.stringify(new Date(time).toISOString());
  }
  if (value instanceof RegExp) return JSON.stringify(RegExp.prototype.toString.call(value));
  if (ArrayBuffer.isView(value) || value instanceof Map) return '"?"';
  return JSON.stringify(String(value));
}

/**
 * A statement being written: its text so far, the length past which nothing more is walked (the text is
 * cut there anyway), and the objects being walked (one met again inside itself is a `"?"`).
 */
interface Statement {
  text: string;
  readonly limit: number;
  readonly capture: boolean;
  readonly path: object[];
}

/**
 * Appends the JSON of a command's fields, written as it is walked (no copy to stringify): each value a
 * `"?"`, or with `capture` the value itself. The app's documents and filters are read by the driver
 * alone, as often as untraced: no getter is run (an accessor is a `"?"`), no `toJSON` or `toBSON`, and a
 * Proxy is a `"?"` never looked into (its traps would see each look). The walk stops once the text is as
 * long as the limit, so a huge or circular document costs no more than that. With `commandName`,
 * `value` is the driver's command itself: its name and the driver's own fields are left out.
 */
function writeJson(out: Statement, value: unknown, depth: number, commandName?: string): void {
  if (out.text.length >= out.limit) return;
  if (value === ACCESSOR) {
    out.text += '"?"';
    return;
  }
  if (value === null || typeof value !== 'object') {
    out.text += out.capture ? primitiveJson(value, out.limit - out.text.length) : '"?"';
    return;
  }
  const kind = commandName === undefined ? (depth > MAX_DEPTH || isProxy(value) || out.path.includes(value) ? HIDDEN : kindOf(value)) : WALKED;
  if (kind !== WALKED) {
    out.text += kind === SCALAR && out.capture ? scalarJson(value) : '"?"';
    return;
  }
  out.path.push(value);
  if (Array.isArray(value)) {
    out.text += '[';
    for (let i = 0; i < value.length && i < MAX_ELEMENTS && out.text.length < out.limit; i++) {
      if (i > 0) out.text += ',';
      writeJson(out, dataOf(value, i), depth + 1);
    }
    out.text += ']';
  } else {
    out.text += '{';
    let first = true;
    for (const key of Object.keys(value)) {
      if (out.text.length >= out.limit) break;
      if (commandName !== undefined && (key === commandName || DRIVER_FIELDS.has(key))) continue;
      const member = commandName === undefined ? dataOf(value, key) : (value as Command)[key];
      if (out.capture && member !== ACCESSOR && isOmitted(member)) continue;
      out.text += (first ? '' : ',') + JSON.stringify(key) + ':';
      first = false;
      writeJson(out, member, depth + 1);
    }
    out.text += '}';
  }
  out.path.pop();
}

function statementJson(command: Command, name: string, capture: boolean, limit: number): string {
  const out: Statement = { text: '', limit, capture, path: [] };
  writeJson(out, command, -1, name);
  return out.text;
}

/**
 * `db.statement`: the command's fields other than its name and the driver's, values replaced unless
 * captured, written up to `limit` characters.
 */
export function commandStatement(command: Command, name: string, capture: boolean, limit = DEFAULT_MAX_STATEMENT): string {
  if (capture) {
    try {
      return statementJson(command, name, true, limit);
    } catch {
      // A BSON value whose text cannot be had: the shape instead.
    }
  }
  return statementJson(command, name, false, limit);
}

/**
 * What the span logs of a failure: a plain Error with the driver error's name, `code`, `codeName`, and its
 * message and stack redacted. Not a copy of the driver's class: without its internal fields (the
 * `errorLabelSet` that holds labels), its getters (`errorLabels`) and methods throw.
 */
function redactedError(err: unknown): Error {
  const source = err as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown; codeName?: unknown } | null | undefined;
  const copy = new Error(redactEchoedValues(String(source?.message ?? err))) as Error & { code?: unknown; codeName?: unknown };
  if (typeof source?.name === 'string') copy.name = source.name;
  copy.stack = typeof source?.stack === 'string' ? redactEchoedValues(source.stack) : undefined;
  if (source?.code !== undefined) copy.code = source.code;
  if (source?.codeName !== undefined) copy.codeName = source.codeName;
  return copy;
}

/** The driver's lazily parsed reply (MongoDBResponse, an OnDemandDocument over the BSON bytes). */
interface LazyDocument {
  has(name: string): boolean;
  get(name: string | number, as: number): LazyDocument | string | null | undefined;
  getNumber?(name: string): number | null;
}
const BSON_STRING = 2;
const BSON_OBJECT = 3;
const BSON_ARRAY = 4;

/** The first write error of a reply, plain or lazy: `{ errmsg, code }`. */
function firstWriteError(result: unknown): { errmsg?: unknown; code?: unknown } | undefined {
  if (result === null || typeof result !== 'object') return undefined;
  const lazy = result as LazyDocument;
  if (typeof lazy.has === 'function' && typeof lazy.get === 'function') {
    if (!lazy.has('writeErrors')) return undefined;
    const first = (lazy.get('writeErrors', BSON_ARRAY) as LazyDocument | null)?.get(0, BSON_OBJECT) as LazyDocument | null | undefined;
    return first == null ? undefined : { errmsg: first.get('errmsg', BSON_STRING), code: first.getNumber?.('code') };
  }
  const errors = (result as { writeErrors?: unknown }).writeErrors;
  return Array.isArray(errors) && errors.length > 0 ? (errors[0] as { errmsg?: unknown; code?: unknown }) : undefined;
}

/** A command answered `ok: 1` with write errors (an insert's duplicate key): the span records the first. */
function writeError(result: unknown, redact: (text: string) => string): Error | undefined {
  let first: { errmsg?: unknown; code?: unknown } | undefined;
  try {
    first = firstWriteError(result);
  } catch {
    return undefined;
  }
  if (first === undefined) return undefined;
  const err = new Error(redact(String(first.errmsg ?? 'write error'))) as Error & { code?: unknown };
  err.name = 'MongoWriteError';
  err.code = first.code;
  return err;
}

/** A command answered `ok: 1` with write errors: the span is marked failed before it finishes, the message redacted. */
function markWriteError(span: Span, result: unknown): void {
  const err = writeError(result, redactEchoedValues);
  if (err !== undefined) markError(span, err);
}

/** `markWriteError` with `captureParameters`: the message as the server wrote it. */
function markWriteErrorAsIs(span: Span, result: unknown): void {
  const err = writeError(result, String);
  if (err !== undefined) markError(span, err);
}

/**
 * A span for one command. With `captureParameters` the values are in the statement, and the server's
 * error text is logged as it is (the error itself), as the SQL hooks do; else redacted (`redactedError`).
 */
function startCommand(hook: ActiveHook<MongodbOptions>, parent: Span | null, connection: MongoConnection, ns: unknown, command: Command, name: string): DbCall | undefined {
  const capture = hook.options.captureParameters === true;
  const target = command[name];
  const collection = typeof target === 'string' ? target : typeof command.collection === 'string' ? command.collection : undefined;
  const database = (ns as { db?: unknown } | null)?.db;
  return startDbCallUnder(
    hook,
    parent,
    {
      component: COMPONENT,
      dbType: 'mongo',
      operationName: collection === undefined ? `mongodb.${name}` : `mongodb.${name} ${collection}`,
      connection: connectionOf(connection.address, typeof database === 'string' ? database : undefined),
      statement: commandStatement(command, name, capture, statementLimit(hook.options.maxStatementLength, DEFAULT_MAX_STATEMENT)),
      maxStatementLength: DEFAULT_MAX_STATEMENT,
      keepErrorValues: capture,
      loggedError: capture ? undefined : redactedError,
    },
    capture ? markWriteErrorAsIs : markWriteError,
  );
}

/**
 * `Connection.prototype.command(ns, command, options, responseType)`, which returns a promise (6.4+), or
 * `(ns, command, options, callback)` (6.0–6.3; `callbackAt` 3): one command on the wire.
 */
function wrapCommand(hook: ActiveHook<MongodbOptions>, callbackAt?: number) {
  return (original: AnyFunction) =>
    function command(this: MongoConnection, ns: unknown, cmd: unknown): unknown {
      const parent = clientParent(hook);
      if (parent === undefined || cmd === null || typeof cmd !== 'object' || !established(this)) return applyArgs(original, this, arguments);
      const callback: unknown = callbackAt === undefined ? undefined : arguments[callbackAt];
      if (callbackAt !== undefined && typeof callback !== 'function') return applyArgs(original, this, arguments);
      let call: DbCall | undefined;
      try {
        const name = Object.keys(cmd)[0];
        call = name === undefined || DRIVER_COMMANDS.has(name) ? undefined : startCommand(hook, parent, this, ns, cmd as Command, name);
      } catch {
        call = undefined;
      }
      if (call === undefined) return applyArgs(original, this, arguments);
      if (callbackAt === undefined) return call.invokeAndChain(original, this, arguments);
      const args = Array.prototype.slice.call(arguments);
      args[callbackAt] = call.callback(callback as AnyFunction);
      return call.invoke(original, this, args);
    };
}

function connectionPrototype(exports: unknown): object | undefined {
  return (exports as { Connection?: { prototype?: object } } | null)?.Connection?.prototype ?? undefined;
}

/** Driver 6.4+ (`lib/cmap/connection`): the promise `command`. */
export function patchConnection(exports: unknown, ctx: PatchContext<MongodbOptions, undefined>): void {
  const proto = connectionPrototype(exports);
  if (proto !== undefined) ctx.wrap(proto, 'command', wrapCommand(ctx.hook));
}

/**
 * `ChangeStream` (`lib/change_stream`): in event mode (a `change` listener) the stream reads by itself,
 * a getMore after each batch for as long as it is open, and again after a resume. That is the driver's
 * own work (`ownWork`): no span, never in the context that added the listener. What it emits (`change`,
 * `error`, `resumeTokenChanged`…) reaches the app's listeners outside any context: their own calls are
 * traced as roots. The Readable that `stream()` returns reads ahead by itself in the same way (`next()`
 * after `next()`, from its `_read`): the same. Iterated (`next()`, `for await` on the change stream),
 * each read is the app's call and traced as such.
 */
export function patchChangeStream(exports: unknown, ctx: PatchContext<MongodbOptions, undefined>): void {
  const proto = (exports as { ChangeStream?: { prototype?: object } } | null)?.ChangeStream?.prototype;
  if (proto === undefined) return;
  const hook = ctx.hook;
  // With no tracer nothing is traced: no context is entered (that would switch on the promise hooks for every promise).
  ctx.wrap(proto, '_streamEvents', (original) =>
    function _streamEvents(this: unknown): unknown {
      return tracingOff(hook) ? applyArgs(original, this, arguments) : ownWork(hook, original, this, arguments);
    },
  );
  ctx.wrap(proto, 'emit', emitOutsideOwnWork(hook));
  ctx.wrap(proto, 'stream', (original) =>
    function stream(this: unknown): unknown {
      const readable = applyArgs(original, this, arguments);
      if (hook.enabled) readsAsOwnWork(hook, readable);
      return readable;
    },
  );
}

/** An `emit` that, called from the driver's own work, reaches the listeners outside any context. */
function emitOutsideOwnWork(hook: ActiveHook<MongodbOptions>) {
  return (original: AnyFunction) =>
    function emit(this: unknown): unknown {
      return inOwnWork(hook) ? runInContext(undefined, original, this, arguments) : applyArgs(original, this, arguments);
    };
}

/**
 * A change stream's Readable (`stream()`, the cursor's ReadableCursorStream): each `_read` runs as the
 * driver's own work, and what it then emits (`data`, `end`, `error`…) reaches the listeners outside any
 * context. Set on the stream itself (one per `stream()` call, gone with it); after uninstall they pass through.
 */
function readsAsOwnWork(hook: ActiveHook<MongodbOptions>, readable: unknown): void {
  if (readable === null || typeof readable !== 'object') return;
  const stream = readable as { _read?: unknown; emit?: unknown };
  const read = stream._read;
  const emit = stream.emit;
  if (typeof read !== 'function' || typeof emit !== 'function') return;
  stream._read = function _read(this: unknown): unknown {
    return tracingOff(hook) ? applyArgs(read as AnyFunction, this, arguments) : ownWork(hook, read as AnyFunction, this, arguments);
  };
  stream.emit = emitOutsideOwnWork(hook)(emit as AnyFunction);
}

/** Driver 6.0–6.3 (`lib/cmap/connection`): the callback `command`. */
export function patchCallbackConnection(exports: unknown, ctx: PatchContext<MongodbOptions, undefined>): void {
  const proto = connectionPrototype(exports);
  if (proto !== undefined) ctx.wrap(proto, 'command', wrapCommand(ctx.hook, 3));
}

/** Driver 6.0–6.3 (`lib/cmap/connection_pool`). */
export function patchConnectionPool(exports: unknown, ctx: PatchContext<MongodbOptions, undefined>): void {
  const proto = (exports as { ConnectionPool?: { prototype?: object } } | null)?.ConnectionPool?.prototype;
  // `checkOut(callback)`: the callback runs in the context that checked out.
  if (proto != null) ctx.wrap(proto, 'checkOut', callbackInCallerContext(ctx.hook, 0));
}

// ---------------------------------------------------------------------------------------------------
// Mongoose 8 queues a collection's calls until its connection opens, then runs them from the
// connection's 'open': each runs again in the context that queued it.

interface MongooseCollection {
  queue?: unknown;
}

/** The context each queued call came from, keyed by its arguments array (the queue entry's own). */
const queuedFrom = new WeakMap<object, RequestContext>();

function wrapAddQueue(hook: ActiveHook<MongodbOptions>) {
  return (original: AnyFunction) =>
    function addQueue(this: MongooseCollection, name: unknown, args: unknown): unknown {
      const store = storage.getStore();
      if (hook.enabled && store !== undefined && typeof name === 'string' && args !== null && typeof args === 'object') queuedFrom.set(args, store);
      return applyArgs(original, this, arguments);
    };
}

/** Before the queue runs: each entry queued from a request becomes a function that runs it in that context. */
function wrapDoQueue() {
  return (original: AnyFunction) =>
    function doQueue(this: MongooseCollection): unknown {
      const queue = this.queue;
      if (Array.isArray(queue)) {
        for (let i = 0; i < queue.length; i++) {
          const entry = queue[i] as [unknown, unknown] | undefined;
          const name = entry?.[0];
          const args = entry?.[1];
          const store = typeof name === 'string' && args !== null && typeof args === 'object' ? queuedFrom.get(args) : undefined;
          if (store === undefined) continue;
          queue[i] = [
            function (this: Record<string, AnyFunction>): unknown {
              return runInContext(store, this[name as string], this, arguments);
            },
            args,
          ];
        }
      }
      return applyArgs(original, this, arguments);
    };
}

export function patchMongooseCollection(exports: unknown, ctx: PatchContext<MongodbOptions, undefined>): void {
  const proto = (exports as { prototype?: object } | null)?.prototype;
  if (proto == null) return;
  ctx.wrap(proto, 'addQueue', wrapAddQueue(ctx.hook));
  ctx.wrap(proto, 'doQueue', wrapDoQueue());
}
