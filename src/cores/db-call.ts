/**
 * The database-call core shared by pg, redis and ioredis (and every database hook to come): span start
 * with the OpenTracing db/peer tags, a call object that finishes its span exactly once whichever
 * completion path fires, promise chaining that hands back the chained promise (never a side `.then`,
 * which would cost the caller's async stack frames), and callbacks run in their caller's context.
 */
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { RequestContext, storage } from '../context';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, CommonHookOptions, finishSpan, markError, runUserHook, setTag, startClientSpanUnder, tagLatePeer, TagMap, tracingOff } from '../spans';
import { callbackWrapper } from '../registry/wrap';
import { applyArgs } from '../apply-args';
import { redactText } from '../url';

/** Options every database hook takes. */
export interface DbHookOptions extends CommonHookOptions {
  /** Longest `db.statement` recorded (each hook has its own default). */
  maxStatementLength?: number;
}

/** Where a call goes: the facts about its connection that are known (any may be missing). */
export interface DbConnection {
  /** Database name or index (`db.instance`). */
  instance?: string | number;
  /** Never a password. */
  user?: string;
  host?: string;
  port?: number;
  /** Also record `peer.address` as `host:port`. */
  address?: boolean;
}

export interface DbSpanSpec {
  /** `component` tag. */
  component: string;
  /** `db.type`: `sql` for any SQL database, else the store's name. */
  dbType: string;
  operationName: string;
  connection: DbConnection;
  /** The statement, already redacted; cut here to the hook's `maxStatementLength`. */
  statement?: string;
  /** The longest statement when the hook's `maxStatementLength` is not set: its core's default. */
  maxStatementLength: number;
  /** Log the server's error text as it is (`captureParameters`); by default the values in it are redacted. */
  keepErrorValues?: boolean;
  /** What the span logs of a failure, when not the error itself (a copy whose message echoes no values). */
  loggedError?: LoggedError;
  /** The values the call sent, for `loggedError` to take out of the error's text: read only if it fails. */
  sentValues?: () => unknown;
  /** When the call began (ms since the epoch), for a span made only once its outcome is known. */
  startTime?: number;
}

/** What a span logs of a failure (a copy whose text echoes no values), given the call's values when it has them. */
export type LoggedError = (err: unknown, sentValues?: () => unknown) => unknown;

/** The longest statement a hook records: its `maxStatementLength` when that is 0 or more, else `fallback`. */
export function statementLimit(max: number | undefined, fallback: number): number {
  return max !== undefined && max >= 0 ? max : fallback;
}

/** The tags every span of a database hook carries. */
export function dbTags(component: string, dbType: string, connection: DbConnection): TagMap {
  const tags: TagMap = { [Tags.COMPONENT]: component, [Tags.DB_TYPE]: dbType };
  if (connection.instance !== undefined) tags[Tags.DB_INSTANCE] = String(connection.instance);
  if (connection.user !== undefined) tags[Tags.DB_USER] = connection.user;
  return addPeerTags(tags, connection);
}

/** `tags` with the peer tags of `connection` (those of its facts that are known). */
export function addPeerTags(tags: TagMap, connection: DbConnection): TagMap {
  if (connection.host !== undefined) tags[Tags.PEER_HOSTNAME] = connection.host;
  if (connection.port !== undefined) tags[Tags.PEER_PORT] = Number(connection.port);
  if (connection.address === true && connection.host !== undefined) tags['peer.address'] = `${connection.host}:${connection.port}`;
  return tags;
}

/**
 * One traced call. `succeed`/`fail` finish the span the first time either runs; later completions
 * (a second event, a re-send, a late callback) change nothing.
 */
export class DbCall {
  private done = false;

  constructor(
    readonly span: Span,
    /** Runs on success before the span finishes (a hook's responseHook); its errors are contained. */
    private readonly onSuccess?: (span: Span, result: unknown) => void,
    private readonly hookName = 'db',
    /** What the span logs of a failure, when not the error itself (a copy whose text echoes no values). */
    private readonly loggedError?: LoggedError,
    /**
     * An error the library throws to mean something else than a failure (bullmq's "move this job"):
     * given one, `outcomeOf` returns the tags the span gets instead, and the call succeeds.
     */
    private readonly outcomeOf?: (err: unknown) => TagMap | undefined,
    /** The values the call sent, handed to `loggedError` (`DbSpanSpec.sentValues`). */
    private readonly sentValues?: () => unknown,
  ) {}

  get finished(): boolean {
    return this.done;
  }

  /**
   * The server, for a span started before it was known (a cluster's batch goes to the node its keys
   * pick): its peer tags, and the `peer.service` the hook's map names for it.
   */
  addPeer(peerService: CommonHookOptions['peerService'], connection: DbConnection): void {
    if (this.done) return;
    tagLatePeer(this.span, peerService, addPeerTags({}, connection));
  }

  succeed(result?: unknown): void {
    if (this.done) return;
    this.done = true;
    const onSuccess = this.onSuccess;
    if (onSuccess !== undefined) runUserHook(`${this.hookName} responseHook`, () => onSuccess(this.span, result));
    finishSpan(this.span);
  }

  /** Finishes with `err`, logged as `event` (`abort` for a call the app abandoned, which never completes). */
  fail(err: unknown, event?: string): void {
    if (this.done) return;
    let outcome: TagMap | undefined;
    try {
      outcome = this.outcomeOf?.(err);
    } catch {
      outcome = undefined; // an error that cannot be read is a failure
    }
    if (outcome !== undefined) {
      for (const key of Object.keys(outcome)) setTag(this.span, key, outcome[key]);
      return this.succeed();
    }
    this.done = true;
    const error = err ?? new Error(String(err));
    let logged: unknown = error;
    if (this.loggedError !== undefined) {
      try {
        logged = this.sentValues === undefined ? this.loggedError(error) : this.loggedError(error, this.sentValues);
      } catch {
        logged = errorNotShown();
      }
      if (logged !== error && error !== null && typeof error === 'object') {
        loggedCopies.set(error, logged);
        noteEchoedTexts(error, logged);
      }
    }
    finishSpan(this.span, logged, event);
  }

  /** Finishes with a node-style `(err, result)` outcome. */
  settle(err: unknown, result?: unknown): void {
    if (err != null) this.fail(err);
    else this.succeed(result);
  }

  /**
   * The promise to hand back in place of `promise`: it settles the same way, after the span finishes.
   * Chained through the library's own `then`, so that a custom promise class (pg's `Promise` option) stays.
   */
  chain<T>(promise: PromiseLike<T>, onResult?: (result: T) => void): PromiseLike<T> {
    return promise.then(
      (result) => {
        onResult?.(result);
        this.succeed(result);
        return result;
      },
      (err: unknown) => {
        this.fail(err);
        throw err;
      },
    );
  }

  /** A node-style callback that finishes the span, then calls `callback` in its caller's context. */
  callback<A extends unknown[]>(callback: (...args: A) => unknown, store = storage.getStore()): (...args: A) => unknown {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the callback keeps the library's own `this`
    const call = this;
    return callbackWrapper(callback, (self, args) => {
      call.settle(args[0], args[1]);
      return runInContext(store, callback, self, args);
    });
  }

  /** Calls `original`; a synchronous throw finishes the span with that error and is rethrown as it is. */
  invoke<R>(original: (...args: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R {
    try {
      return original.apply(thisArg, args as unknown[]);
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /** `invoke`, then chain the result when it is a promise, else finish with it. */
  invokeAndChain(original: (...args: any[]) => any, thisArg: unknown, args: ArrayLike<unknown>): any {
    return this.chainOrSucceed(this.invoke(original, thisArg, args));
  }

  /**
   * What the library returned: chained when it is a promise, else the span finishes with it. `onResult`
   * sees the result first, while the span is open (a tag from it).
   */
  chainOrSucceed(result: any, onResult?: (result: any) => void): any {
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') return this.chain(result, onResult);
    onResult?.(result);
    this.succeed(result);
    return result;
  }
}

/** Starts a database span under `parent` (what `clientParent` decided); undefined when the tracer makes none. */
export function startDbCallUnder(
  hook: ActiveHook<DbHookOptions>,
  parent: Span | null,
  spec: DbSpanSpec,
  onSuccess?: (span: Span, result: unknown) => void,
): DbCall | undefined {
  const tags = dbTags(spec.component, spec.dbType, spec.connection);
  const statement = spec.statement;
  if (statement !== undefined) {
    const limit = statementLimit(hook.options.maxStatementLength, spec.maxStatementLength);
    tags[Tags.DB_STATEMENT] = statement.length > limit ? statement.slice(0, limit) : statement;
  }
  const span = startClientSpanUnder(hook, parent, spec.operationName, tags, spec.startTime);
  return span === undefined ? undefined : new DbCall(span, onSuccess, hook.name, spec.loggedError ?? (spec.keepErrorValues === true ? undefined : defaultLoggedError), undefined, spec.sentValues);
}

/** What a database span logs of a failure by default: the error's redacted copy. */
const defaultLoggedError: LoggedError = (err) => redactedErrorCopy(err);

/**
 * A database server's error text with the values it echoes taken out, as statements are redacted: quoted
 * literals (`'valueSecret'`, `"secret"`: redis, MySQL, PostgreSQL quote what they repeat) become `'?'`,
 * and PostgreSQL's parenthesised rows and keys (`Key (email)=(a@b.c)`, `Failing row contains (1, x)`)
 * become `(?)`. Backtick identifiers and apostrophes inside words (`doesn't`) stay. A value whose place the
 * server's words mark (`Duplicate entry '…' for key`, `…: "…"` ending the line, redis's `with args
 * beginning with: …`) goes whole, whatever quotes and spaces it holds.
 */
export function redactErrorText(text: string): string {
  return text
    .replace(VALUE_BEFORE_WORDS, '$1?')
    .replace(VALUE_ENDING_LINE, '$1?')
    .replace(REDIS_ARGUMENTS, "$1'?'")
    .replace(QUOTED_VALUE, (m) => `${m[0]}?${m[0]}`)
    .replace(ROW_OR_KEY, '$1(?)');
}

/**
 * A value a server prints unescaped before its own words: MySQL's `Duplicate entry '<value>' for key …`,
 * `Incorrect … value: '<value>' for column …` (or `for function str_to_date`), MongoDB's `Failed to parse
 * number '<value>' in $convert`. It runs to the line's last `' for ` or `' in ` (more is left out, never less).
 */
const VALUE_BEFORE_WORDS = /((?:Duplicate entry|value:|Failed to parse \w+) ')[^\n]*(?=' (?:for|in) )/g;
/** A quoted value after `: ` that ends its line (PostgreSQL's `invalid input syntax for type integer: "…"`, MySQL's `Truncated incorrect DOUBLE value: '…'`). */
const VALUE_ENDING_LINE = /(: (['"]))[\s\S]*(?=\2$)/gm;
/** What redis repeats of an unknown command's arguments, each quoted unescaped: all of it, to the line's end. */
const REDIS_ARGUMENTS = /(with args beginning with: ).*/g;

/**
 * A quoted value as a server echoes it, unescaped: a quote followed by a letter or digit is taken as part
 * of the value (`'O'Brien'`, `"my"password"`), not its end.
 */
const QUOTED_VALUE = /(?<![A-Za-z0-9])(?:'(?:[^'\\]|\\.|''|'(?=\w))*'?|"(?:[^"\\]|\\.|""|"(?=\w))*"?)/g;
/** A row or a key's values (`contains (…)`, `=(…)`): to the line's last `)`, as a value may hold one. */
const ROW_OR_KEY = /(=|contains )\((?:.*\)|[^\n]*)/g;

/**
 * The copy a database span logged of an error (its echoed values out), by the error: an app that rethrows it
 * gets it logged again as that copy (server span, local span). Set on failure only; weak, so nothing is kept.
 */
const loggedCopies = new WeakMap<object, unknown>();

/**
 * The texts of the latest database errors whose logged copy changed them (a field's text → the copy's, `?`
 * for one the copy left out), for an app's error that quotes one (`new Error('db: ' + err.message)`):
 * noted on failure only, the latest `MAX_ECHOED_TEXTS` of the process, so nothing is kept per call or span.
 */
const echoedTexts: Array<readonly [string, string]> = [];
const MAX_ECHOED_TEXTS = 32;
/** A shorter text (a bare number, a word) is no quote of an error: replacing it would garble the app's own words. */
const MIN_ECHOED_TEXT = 8;

/** Notes the string fields of the database error `error` that its logged copy changed. */
function noteEchoedTexts(error: object, logged: unknown): void {
  try {
    for (const name of Object.getOwnPropertyNames(error)) {
      if (name === 'stack') continue; // its head is the message
      const text = Object.getOwnPropertyDescriptor(error, name)?.value;
      if (typeof text !== 'string' || text.length < MIN_ECHOED_TEXT) continue;
      const own = logged !== null && typeof logged === 'object' ? Object.getOwnPropertyDescriptor(logged, name) : undefined;
      const shown = own !== undefined && typeof own.value === 'string' ? own.value : '?';
      if (shown === text) continue;
      // A text failed with again is the latest again (the request quoting it now may be the one that failed).
      const known = echoedTexts.findIndex(([echoed]) => echoed === text);
      if (known !== -1) echoedTexts.splice(known, 1);
      if (echoedTexts.push([text, shown]) > MAX_ECHOED_TEXTS) echoedTexts.shift();
    }
  } catch {
    // a driver's error is no Proxy; an odd one is only not noted
  }
}

/** `text` without the credentials of any URL in it. */
export function withoutCredentials(text: string): string {
  return redactText(text, []);
}

/**
 * An app's error as any span logs it: the copy a database span logged of it if one did, and without URL
 * credentials in its text (nor its object fields) either way (or whatever `redact` takes out); the app's error is untouched.
 */
export function loggedForm(err: unknown, redact: (text: string) => string = withoutCredentials): unknown {
  return guardedErrorCopy(databaseErrorCopy(err) ?? err, redact);
}

/** The copy a database span logged of `err` (a driver's error it failed with), if one did. */
export function databaseErrorCopy(err: unknown): unknown {
  return err !== null && typeof err === 'object' ? loggedCopies.get(err) : undefined;
}

/**
 * Marks `span` failed with an app's error (one it threw or a framework caught) in its `loggedForm`, where
 * the texts of a recent database error which the error quotes are the database span's copy's.
 */
export function markAppError(span: Span, err: unknown): void {
  const redact = appErrorRedaction();
  markError(span, loggedForm(err, redact), 'error', redact);
}

/** An app's error as `markAppError` logs it (a consumer's handler's error, logged by its DbCall). */
export function appErrorForm(err: unknown): unknown {
  return loggedForm(err, appErrorRedaction());
}

function appErrorRedaction(): (text: string) => string {
  return echoedTexts.length === 0 ? withoutCredentials : appErrorText;
}

/** A text of an app's error as `markAppError` logs it (a gRPC status's details): a recent database error's texts it quotes as their copies', no URL credentials. */
export function appErrorText(text: string): string {
  return withoutCredentials(echoedTexts.length === 0 ? text : withoutEchoedTexts(text));
}

function withoutEchoedTexts(text: string): string {
  for (const [echoed, shown] of echoedTexts) if (text.includes(echoed)) text = text.split(echoed).join(shown);
  return text;
}

/** How many `cause`s deep a logged error's copy goes. */
const MAX_CAUSES = 3;

/** What a span logs for an error that cannot be read safely (its fields throw): the error is not shown at all. */
export function errorNotShown(): Error {
  return new Error('error not shown: it could not be redacted');
}

/** `redactedErrorCopy`, or `errorNotShown()` for an error whose fields throw when read. */
export function guardedErrorCopy(err: unknown, redact?: (text: string) => string, kept?: (name: string) => boolean): unknown {
  try {
    return redactedErrorCopy(err, redact, kept);
  } catch {
    return errorNotShown();
  }
}

/**
 * The error as a span logs it: the very object when no field of it carries a value, else a copy (the app
 * keeps the original) whose string fields (`message`, `detail`, mysql2's `sqlMessage` and `sql`...) went
 * through `redact` (by default: a database server's echoed values), without the fields that hold objects
 * (ioredis's `command` with its args, an axios error's `config` with its credentials and headers) and its
 * own getters (never called), and when `kept` is given, with only the fields it keeps (and `stack`), a
 * `cause`'s too. A `cause` is the copy a database span logged of it, when one did.
 */
export function redactedErrorCopy(err: unknown, redact: (text: string) => string = redactErrorText, kept?: (name: string) => boolean, depth = 0): unknown {
  if (err === null || typeof err !== 'object') return typeof err === 'string' ? redact(err) : err;
  const descriptors: PropertyDescriptorMap = {};
  let changed = false;
  for (const name of Object.getOwnPropertyNames(err)) {
    if (kept !== undefined && !kept(name)) {
      changed = true;
      continue;
    }
    const descriptor = Object.getOwnPropertyDescriptor(err, name)!;
    if (!('value' in descriptor)) {
      // An accessor is not read, and left out of a copy: a tracer reading it there could get what it holds (a `cause`).
      if (name !== 'stack') changed = true;
      continue;
    }
    if (descriptor.value !== null && typeof descriptor.value === 'object') {
      // The error a `cause` names says what failed (fetch's ECONNREFUSED): kept, as a redacted copy too, of
      // the copy a database span logged of it if one did (an app's error wrapping a pg error).
      const cause = name === 'cause' && descriptor.value instanceof Error && depth < MAX_CAUSES ? redactedErrorCopy(loggedCopies.get(descriptor.value) ?? descriptor.value, redact, kept, depth + 1) : undefined;
      if (cause !== descriptor.value) changed = true;
      if (cause === undefined) continue;
      descriptor.value = cause;
    }
    if (typeof descriptor.value === 'string') {
      const redacted = redact(descriptor.value);
      if (redacted !== descriptor.value) changed = true;
      descriptor.value = redacted;
    }
    descriptors[name] = descriptor;
  }
  // V8 makes `stack` an accessor on newer Node versions: its text is the library's error's, read once.
  const stack = (err as { stack?: unknown }).stack;
  if (typeof stack === 'string') {
    const redacted = redact(stack);
    if (redacted !== stack) changed = true;
    descriptors.stack = { value: redacted, writable: true, configurable: true };
  }
  if (!changed) return err;
  const copy = Object.create(Object.getPrototypeOf(err), descriptors) as object;
  return readsAsError(copy) ? copy : plainErrorCopy(err as Error, descriptors, redact);
}

/** Whether what tracers read of an error works on `copy`: a DOMException's `message` and `name` are accessors that need the original's internal slots. */
function readsAsError(copy: object): boolean {
  try {
    Reflect.get(copy, 'message');
    Reflect.get(copy, 'name');
    return true;
  } catch {
    return false;
  }
}

/** A plain `Error` with the copy's (redacted) fields, and the original's name and message when they are no own fields. */
function plainErrorCopy(err: Error, descriptors: PropertyDescriptorMap, redact: (text: string) => string): Error {
  const plain = Object.defineProperties(new Error(), descriptors);
  if (!('message' in descriptors)) plain.message = redact(String(err.message));
  if (!('name' in descriptors)) plain.name = String(err.name);
  return plain;
}

/** Starts a database span under `parent` or the active span; undefined when none is to be made. */
export function startDbCall(
  hook: ActiveHook<DbHookOptions>,
  spec: DbSpanSpec,
  onSuccess?: (span: Span, result: unknown) => void,
  parent?: Span,
): DbCall | undefined {
  const childOf = clientParent(hook, parent);
  return childOf === undefined ? undefined : startDbCallUnder(hook, childOf, spec, onSuccess);
}

/**
 * Runs `fn` in `store`, or outside any request context when there is none. "Outside" is a run with no
 * store rather than `storage.exit`, which on Node 20 disables and re-enables the storage each time
 * (about 2 µs a call against 0.1 µs); getStore() is undefined in both, and in what `fn` starts.
 */
export function runInContext<R>(store: RequestContext | undefined, fn: (...args: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R {
  // Already in it: as storage.run itself would, after its own checks and argument handling.
  if (storage.getStore() === store) return Reflect.apply(fn, thisArg, args);
  return storage.run(store as RequestContext, Reflect.apply as (f: typeof fn, t: unknown, a: ArrayLike<unknown>) => R, fn, thisArg, args);
}

/**
 * A wrapper factory for a handler of what a library does by itself (what a connection's socket delivers)
 * running outside any request, never in the one that opened the connection: none entered from none.
 */
export function outsideRequests(hook: ActiveHook) {
  return (original: (...args: any[]) => any) =>
    function (this: unknown): unknown {
      return tracingOff(hook) ? applyArgs(original, this, arguments) : runInContext(undefined, original, this, arguments);
    };
}

/**
 * `callback` as the library is given it, run in `store` (by default its caller's context) whatever
 * context the library calls it from: a connection's socket carries none of the caller's.
 */
export function inCallerContext<F extends (...args: any[]) => unknown>(callback: F, store = storage.getStore()): (...args: Parameters<F>) => unknown {
  return callbackWrapper(callback, (self, args) => runInContext(store, callback, self, args));
}

/** Calls `original` with its argument `index`, when a function, run in the caller's context (`inCallerContext`). */
export function applyWithCallerCallback(original: (...args: any[]) => any, thisArg: unknown, args: IArguments, index: number): any {
  const callback: unknown = args[index];
  if (typeof callback !== 'function') return applyArgs(original, thisArg, args);
  const copy = Array.prototype.slice.call(args);
  copy[index] = inCallerContext(callback as (...a: unknown[]) => unknown);
  return Reflect.apply(original, thisArg, copy);
}

/**
 * A wrapper of a method whose argument `index` is a callback the library calls later from other work (its
 * socket, a pool's task run when another caller gives a client back, what waits for a Cluster's slots):
 * the callback runs in the context of the code that gave it.
 */
export function callbackInCallerContext(hook: ActiveHook, index: number) {
  return (original: (...args: any[]) => any) =>
    function (this: unknown): any {
      return tracingOff(hook) ? applyArgs(original, this, arguments) : applyWithCallerCallback(original, this, arguments, index);
    };
}

/**
 * Runs work that the library starts by itself (a reconnect, a re-send) outside any request, so that it
 * never becomes a child of whichever request happened to create the client. Called from no context (a
 * script, a worker's start-up), it enters none: on Node 20 a first AsyncLocalStorage context switches on
 * the promise hooks for the whole process.
 */
export function detached<R>(fn: () => R): R {
  return storage.getStore() === undefined ? fn() : storage.run(undefined as unknown as RequestContext, fn);
}

/**
 * A client's `connect` run outside any context: its socket, and so every event the connection emits later
 * (messages, notifications, errors, reconnects), belongs to no request, and not to a suppressed context
 * either (which would leave every listener of the client suppressed for good). A callback given to it
 * runs in its caller's context; a promise's continuations return to the caller by themselves.
 */
export function connectOutside(original: (...args: any[]) => any, thisArg: unknown, args: ArrayLike<unknown>): any {
  // From no context there is nothing to leave: the app's callback goes as it is (`detached` enters none either).
  if (storage.getStore() === undefined) return Reflect.apply(original, thisArg, args);
  const last = args.length > 0 ? args[args.length - 1] : undefined;
  if (typeof last !== 'function') return detached(() => Reflect.apply(original, thisArg, args));
  const copy = Array.prototype.slice.call(args);
  copy[copy.length - 1] = inCallerContext(last as (...a: unknown[]) => unknown);
  return detached(() => Reflect.apply(original, thisArg, copy));
}

/** The context of each hook's library's own work (`ownWork`), made once. */
const ownWorkContexts = new Map<string, RequestContext>();
/** Whether `ownWork` ever ran: until then no command needs to be asked whether it is the library's own. */
let ownWorkRan = false;

export function ownWorkHasRun(): boolean {
  return ownWorkRan;
}

/**
 * Runs `fn` as work that `hook`'s library does by itself (a cluster's topology refresh, a sentinel
 * query): what it sends makes no span of `hook`'s, and it never runs in a request's context. Other hooks
 * are not suppressed there: an app listener that the library calls from inside that work still makes
 * its own spans, as roots. A function among `args` (the library's callback for when that work is done)
 * runs outside any context, so that what follows it (events, commands the app queued) is the app's again.
 */
export function ownWork<R>(hook: ActiveHook, fn: (...args: any[]) => R, thisArg: unknown, args: ArrayLike<unknown>): R {
  ownWorkRan = true;
  let context = ownWorkContexts.get(hook.name);
  if (context === undefined) {
    context = Object.freeze({ span: undefined, ownWorkOf: hook.name });
    ownWorkContexts.set(hook.name, context);
  }
  const copy = Array.prototype.map.call(args, (arg) => (typeof arg === 'function' ? outsideContext(arg as (...a: unknown[]) => unknown) : arg));
  return storage.run(context, Reflect.apply as (f: typeof fn, t: unknown, a: unknown[]) => R, fn, thisArg, copy);
}

/** Wraps a method that is the library's own work (`ownWork`) while `hook` is installed; `made` is given what it returns. */
export function asOwnWork(hook: ActiveHook, made?: (result: unknown) => void) {
  return (original: (...args: any[]) => any) =>
    function ownWorkOf(this: unknown, ...args: unknown[]): any {
      if (!hook.enabled) return Reflect.apply(original, this, args);
      const result = ownWork(hook, original, this, args);
      made?.(result);
      return result;
    };
}

/** Wraps each of `names` that `proto` (if any) has as the library's own work (`asOwnWork`). */
export function ownWorkMethods<O extends object, S>(proto: any, names: string[], hook: ActiveHook<O>, wrap: PatchContext<O, S>['wrap']): void {
  if (proto === undefined || proto === null) return;
  for (const name of names) if (typeof proto[name] === 'function') wrap(proto, name, asOwnWork(hook));
}

function outsideContext(callback: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]): unknown {
    return runInContext(undefined, callback, this, args);
  };
}

/** Whether this runs inside `hook`'s library's own work (`ownWork`). */
export function inOwnWork(hook: ActiveHook): boolean {
  return storage.getStore()?.ownWorkOf === hook.name;
}
