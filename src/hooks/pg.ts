import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import type { PgOptions, PgQueryInfo } from '../config';
import { RequestContext, storage } from '../context';
import { wrap, unwrap } from '../patch';
import type { HookDefinition } from '../registry';
import { ActiveHook, finishSpan, runUserHook, startClientSpan, TagMap, truncate } from '../spans';
import { sanitizeSql, sqlVerb } from '../sql';

const DEFAULT_MAX_STATEMENT = 2048;
const kPgCall = Symbol('opentracing-client-hooks.pgCall');

type Callback = (err: unknown, result?: unknown) => void;

interface PgClientLike {
  database?: string;
  user?: string;
  host?: string;
  port?: number;
}

/** One traced query: finished exactly once, whichever of its completion paths fires first. */
class PgCall {
  done = false;
  emit: ((...args: any[]) => boolean) | undefined;
  handleError: ((...args: any[]) => unknown) | undefined;
  constructor(readonly hook: ActiveHook<PgOptions>, readonly span: Span) {}

  finish(err: unknown, result?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (err == null && this.hook.options.responseHook !== undefined) {
      const responseHook = this.hook.options.responseHook;
      runUserHook('pg responseHook', () => responseHook(this.span, result));
    }
    finishSpan(this.span, err == null ? undefined : err);
  }
}

/** Runs `fn` in the caller's request context (pg calls back from the connection's context). */
function runIn(store: RequestContext | undefined, fn: Callback, thisArg: unknown, args: IArguments | unknown[]): unknown {
  return store === undefined ? storage.exit(Reflect.apply, fn, thisArg, args) : storage.run(store, Reflect.apply, fn, thisArg, args);
}

function tracedCallback(call: PgCall, store: RequestContext | undefined, callback: Callback): Callback {
  return function (this: unknown, err: unknown, result?: unknown) {
    call.finish(err, result);
    return runIn(store, callback, this, arguments);
  };
}

/** Shared emit wrapper for Submittables (cursors, streams, Query objects): observe, then emit as before. */
function submittableEmit(this: { [kPgCall]?: PgCall }, event: string | symbol, arg?: unknown): boolean {
  const call = this[kPgCall] as PgCall;
  if (event === 'end' || event === 'close') call.finish(undefined, arg);
  else if (event === 'error') call.finish(arg);
  return (call.emit as (...args: any[]) => boolean).apply(this, arguments as unknown as any[]);
}

function submittableHandleError(this: { [kPgCall]?: PgCall }, err: unknown): unknown {
  const call = this[kPgCall] as PgCall;
  call.finish(err);
  return (call.handleError as (...args: any[]) => unknown).apply(this, arguments as unknown as any[]);
}

/** The tags of a pg span, with only the connection facts that are known (a pool configured from the environment knows none). */
function connectionTags(conn: PgClientLike): TagMap {
  const tags: TagMap = { [Tags.COMPONENT]: 'pg', [Tags.DB_TYPE]: 'sql' };
  if (conn.database !== undefined) tags[Tags.DB_INSTANCE] = conn.database;
  if (conn.user !== undefined) tags[Tags.DB_USER] = conn.user;
  if (conn.host !== undefined) tags[Tags.PEER_HOSTNAME] = conn.host;
  if (conn.port !== undefined) tags[Tags.PEER_PORT] = conn.port;
  return tags;
}

function queryText(config: unknown): { text: string | undefined; name: string | undefined; values: unknown } {
  if (typeof config === 'string') return { text: config, name: undefined, values: undefined };
  if (config !== null && typeof config === 'object') {
    const c = config as { text?: unknown; name?: unknown; values?: unknown; cursor?: { text?: unknown; values?: unknown } };
    // pg-query-stream keeps its text on the cursor.
    const text = typeof c.text === 'string' ? c.text : typeof c.cursor?.text === 'string' ? c.cursor.text : undefined;
    return { text, name: typeof c.name === 'string' ? c.name : undefined, values: c.values ?? c.cursor?.values };
  }
  return { text: undefined, name: undefined, values: undefined };
}

function startQuerySpan(hook: ActiveHook<PgOptions>, client: PgClientLike, config: unknown, values: unknown): Span | undefined {
  const options = hook.options;
  const q = queryText(config);
  const vals = Array.isArray(values) ? values : Array.isArray(q.values) ? q.values : undefined;
  const statement = q.text === undefined ? undefined : options.sanitizeStatement === false ? q.text : sanitizeSql(q.text);
  const verb = statement === undefined ? undefined : sqlVerb(statement);
  const tags = connectionTags(client);
  if (client.host !== undefined) tags['peer.address'] = `${client.host}:${client.port}`;
  if (statement !== undefined) tags[Tags.DB_STATEMENT] = truncate(statement, options.maxStatementLength, DEFAULT_MAX_STATEMENT);
  if (options.captureParameters === true && vals !== undefined) tags['db.params'] = vals;
  const name = q.name !== undefined ? `pg.query:${q.name}` : verb !== undefined ? `pg.query:${verb}` : 'pg.query';
  const span = startClientSpan(hook, name, tags);
  if (span !== undefined && options.requestHook !== undefined) {
    const info: PgQueryInfo = { text: q.text ?? '', name: q.name, database: client.database };
    if (options.captureParameters === true) info.values = vals;
    const requestHook = options.requestHook;
    runUserHook('pg requestHook', () => requestHook(span, info));
  }
  return span;
}

/** Instruments a Submittable in place: the caller gets the very same object back. */
function traceSubmittable(call: PgCall, submittable: any, store: RequestContext | undefined): void {
  submittable[kPgCall] = call;
  if (typeof submittable.emit === 'function') {
    call.emit = submittable.emit;
    submittable.emit = submittableEmit;
  }
  if (typeof submittable.handleError === 'function') {
    call.handleError = submittable.handleError;
    submittable.handleError = submittableHandleError;
  }
  if (typeof submittable.callback === 'function') {
    submittable.callback = tracedCallback(call, store, submittable.callback);
  }
}

function wrapQuery(hook: ActiveHook<PgOptions>) {
  return (original: (...args: any[]) => any) =>
    function query(this: PgClientLike, config: any, values?: any, callback?: any): any {
      let span: Span | undefined;
      try {
        if (config != null) span = startQuerySpan(hook, this, config, values);
      } catch {
        span = undefined;
      }
      if (span === undefined) return original.apply(this, arguments as unknown as any[]);
      const call = new PgCall(hook, span);
      const store = storage.getStore();
      let result: any;
      try {
        if (typeof config.submit === 'function') {
          result = original.apply(this, arguments as unknown as any[]);
          traceSubmittable(call, result, store);
          return result;
        }
        if (typeof values === 'function') {
          result = original.call(this, config, tracedCallback(call, store, values));
        } else if (typeof callback === 'function') {
          result = original.call(this, config, values, tracedCallback(call, store, callback));
        } else if (typeof config === 'object' && typeof config.callback === 'function') {
          // The callback lives in the caller's config: trace a copy, never mutate theirs.
          const copy = Object.assign(Object.create(Object.getPrototypeOf(config)), config);
          copy.callback = tracedCallback(call, store, config.callback);
          result = original.apply(this, arguments.length > 1 ? [copy, values] : [copy]);
        } else {
          result = original.apply(this, arguments as unknown as any[]);
          if (result !== undefined && typeof result.then === 'function') {
            result.then((res: unknown) => call.finish(undefined, res), (err: unknown) => call.finish(err));
          }
        }
      } catch (err) {
        call.finish(err);
        throw err;
      }
      return result;
    };
}

function wrapPoolConnect(hook: ActiveHook<PgOptions>) {
  return (original: (...args: any[]) => any) =>
    function connect(this: { options?: PgClientLike }, callback?: any): any {
      const store = storage.getStore();
      const span = startClientSpan(hook, 'pg-pool.connect', connectionTags(this.options ?? {}));
      if (typeof callback === 'function') {
        // The pool hands a released client to waiting callers from the releaser's context: bind
        // the callback to its own caller so that its queries get the right parent.
        return original.call(this, function (this: unknown, err: unknown) {
          if (span !== undefined) finishSpan(span, err == null ? undefined : err);
          return runIn(store, callback, this, arguments);
        });
      }
      const result = original.apply(this, arguments as unknown as any[]);
      if (span !== undefined && result !== undefined && typeof result.then === 'function') {
        result.then(() => finishSpan(span), (err: unknown) => finishSpan(span, err));
      }
      return result;
    };
}

export const pgHook: HookDefinition = {
  name: 'pg',
  targets: [
    {
      // The internal file, not the package entry: `import pg from 'pg'` loads the entry without
      // require(), but the entry still requires this file.
      module: 'pg',
      file: 'lib/client',
      versions: '>=8.0.0 <9',
      patch(exports, hook: ActiveHook<PgOptions>) {
        wrap(exports.prototype, 'query', wrapQuery(hook));
      },
      unpatch(exports) {
        unwrap(exports.prototype, 'query');
      },
    },
    {
      module: 'pg-pool',
      versions: '>=2.0.0 <4',
      patch(exports, hook: ActiveHook<PgOptions>) {
        wrap(exports.prototype, 'connect', wrapPoolConnect(hook));
      },
      unpatch(exports) {
        unwrap(exports.prototype, 'connect');
      },
    },
  ],
};
