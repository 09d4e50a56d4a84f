/**
 * knex span logic (declared in ../hooks/knex). Every statement knex sends goes through its client's
 * `query(connection, query)` (builders, raw, schema statements, migrations, and a transaction's BEGIN,
 * COMMIT and ROLLBACK), streams through `stream(connection, query, stream)`; a transaction's client is an
 * object made on the dialect's prototype, so the prototype's methods cover it. The span starts there,
 * from the compiled query (the SQL with placeholders and the bindings apart: never `toString()`, which
 * inlines the values), and is the parent of the span the driver (pg, mysql, mysql2) starts for the
 * statement while the dialect's `_query` (`_stream`) sends it; not of what runs before (the app's `query`
 * listener). Its parent is the context the statement is issued in: the code that awaited the builder, or
 * called commit. `Runner#query` only says which builder a query came from.
 */
import type { Span } from 'opentracing';
import { asParentNow } from '../context';
import type { DbCall, DbConnection } from '../cores/db-call';
import { mysqlConnection, startSqlCall } from '../cores/sql-call';
import type { MysqlConfig } from '../cores/sql-call';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, tracingOff } from '../spans';
import { sqlVerb } from '../sql';
import type { SqlDialect } from '../sql';
import type { KnexOptions } from '../options/knex';

const COMPONENT = 'knex';

type AnyFunction = (...args: any[]) => any;

interface KnexClient {
  /** `pg`, `mysql`, `mysql2`, `sqlite3`, … (on the dialect's prototype). */
  driverName?: unknown;
  /** The resolved connection config: an object, or a connection string. */
  connectionSettings?: unknown;
}

interface KnexQuery {
  sql?: unknown;
  bindings?: unknown;
  method?: unknown;
}

interface KnexBuilder {
  _single?: { table?: unknown };
  _sequence?: Array<{ method?: unknown; args?: unknown[] }>;
}

/**
 * The builder each compiled query came from (set by `Runner#query`, read by `Client#query`), and each
 * result stream (set by `Runner#ensureConnection` with a stream, read by `Client#stream`).
 */
const builders = new WeakMap<object, KnexBuilder>();

/** knex's method names that name a SQL verb otherwise. */
const METHOD_ALIASES: Record<string, string> = { first: 'select', pluck: 'select', counter: 'update', del: 'delete' };

/** The statement's dialect: MySQL's quoting for the MySQL family, standard SQL's (PostgreSQL's) for the others. */
function dialectOf(client: KnexClient): SqlDialect {
  const driver = client.driverName;
  return typeof driver === 'string' && (driver.startsWith('mysql') || driver === 'mariadb') ? 'mysql' : 'postgres';
}

/**
 * The builder's table, without an alias (`users as u`); a schema builder's first table. `schema.raw(sql)`
 * has its SQL where the others have their table: never a name. Anything else that is not one name (a
 * space or a quote left after the alias is cut) is not taken either: it could carry a literal.
 */
function tableOf(builder: KnexBuilder | undefined): string | undefined {
  if (builder === undefined) return undefined;
  let table = builder._single?.table;
  if (table === undefined && Array.isArray(builder._sequence)) {
    const first = builder._sequence[0];
    if (first?.method !== 'raw') table = first?.args?.[0];
  }
  if (typeof table !== 'string' || table === '') return undefined;
  const alias = table.search(/\s+as\s+/i);
  const name = alias === -1 ? table : table.slice(0, alias);
  return /[\s'"`]/.test(name) ? undefined : name;
}

function methodOf(query: KnexQuery | string, text: string | undefined, builder: KnexBuilder | undefined): string {
  const method = typeof query === 'string' ? undefined : query.method;
  if (typeof method === 'string' && method !== '') return Object.prototype.hasOwnProperty.call(METHOD_ALIASES, method) ? METHOD_ALIASES[method] : method;
  if (builder !== undefined && Array.isArray(builder._sequence)) return 'schema';
  // A transaction's own statements (BEGIN;, COMMIT;, SAVEPOINT trx1;) are strings.
  const verb = text === undefined ? undefined : sqlVerb(text);
  return verb === undefined ? 'query' : verb.toLowerCase();
}

interface UrlFacts {
  database?: string;
  user?: string;
  host?: string;
  port?: number;
}

/** The last connection string read, and what it says (a knex client keeps one). */
let lastUrl: { url: string; facts: UrlFacts } | undefined;

/** Database, user, host and port of a connection string; never its password. */
function urlFacts(url: string): UrlFacts {
  if (lastUrl !== undefined && lastUrl.url === url) return lastUrl.facts;
  let facts: UrlFacts = {};
  try {
    const u = new URL(url);
    facts = {
      database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined,
      user: u.username === '' ? undefined : decodeURIComponent(u.username),
      host: u.hostname === '' ? undefined : u.hostname,
      port: u.port === '' ? undefined : Number(u.port),
    };
  } catch {
    // Not a URL (a pg key=value string): nothing known.
  }
  lastUrl = { url, facts };
  return facts;
}

/** The connection's span facts from the client's settings (an object, a connection string, or both). */
function connectionOf(client: KnexClient, dialect: SqlDialect): { connection: DbConnection; socketPath?: string } {
  const settings = client.connectionSettings;
  let config: MysqlConfig = {};
  if (typeof settings === 'string') config = urlFacts(settings);
  else if (settings !== null && typeof settings === 'object') {
    const s = settings as MysqlConfig & { connectionString?: unknown };
    const fromUrl = typeof s.connectionString === 'string' ? urlFacts(s.connectionString) : {};
    config = { database: s.database ?? fromUrl.database, user: s.user ?? fromUrl.user, host: s.host ?? fromUrl.host, port: s.port ?? fromUrl.port, socketPath: s.socketPath };
  }
  if (dialect === 'mysql') return mysqlConnection(config);
  return { connection: { instance: config.database, user: config.user, host: config.host, port: config.port === undefined ? undefined : Number(config.port), address: true } };
}

function startQuery(hook: ActiveHook<KnexOptions>, parent: Span | null, client: KnexClient, query: KnexQuery | string, output: object | undefined): DbCall | undefined {
  const sql = typeof query === 'string' ? query : query.sql;
  const text = typeof sql === 'string' ? sql : undefined;
  const builder = typeof query === 'string' ? undefined : builders.get(query) ?? (output === undefined ? undefined : builders.get(output));
  const method = methodOf(query, text, builder);
  const table = tableOf(builder);
  const dialect = dialectOf(client);
  const { connection, socketPath } = connectionOf(client, dialect);
  return startSqlCall(hook, parent, {
    component: COMPONENT,
    dialect,
    operation: COMPONENT,
    name: table === undefined ? `knex.${method}` : `knex.${method} ${table}`,
    text,
    values: () => (typeof query === 'string' ? undefined : query.bindings),
    connection,
    socketPath,
    info: { method, table },
  });
}

/** Starts the span of `query` on `client`, or undefined when the call is not to be traced. */
function startTraced(current: () => ActiveHook<KnexOptions> | undefined, client: KnexClient, query: unknown, output?: object): DbCall | undefined {
  const hook = current();
  const parent = hook === undefined || query == null ? undefined : clientParent(hook);
  if (parent === undefined) return undefined;
  try {
    return startQuery(hook as ActiveHook<KnexOptions>, parent, client, query as KnexQuery | string, output);
  } catch {
    return undefined;
  }
}

/**
 * The statement whose `Client#query` (`stream`) runs now, on `sendingClient`, until its dialect's `_query`
 * (`_stream`) takes it: only the driver call made there is its span's child.
 */
let sending: DbCall | undefined;
let sendingClient: unknown;

/**
 * Runs knex's own method, the statement's span waiting for the dialect's send (`takeSending`), the
 * promise chained. knex's pg, mysql2 and mysql dialects call their driver before `Client#query` returns,
 * so no context is entered (it would switch on the promise hooks for the rest of the process).
 */
function runTraced(call: DbCall, original: AnyFunction, thisArg: unknown, args: IArguments): unknown {
  const previous = sending;
  const previousClient = sendingClient;
  sending = call;
  sendingClient = thisArg;
  let result: unknown;
  // No closure or `call.invoke` between: mysql keeps the call site's stack (10 frames) for its errors.
  try {
    result = original.apply(thisArg, args as unknown as unknown[]);
  } catch (err) {
    call.fail(err);
    throw err;
  } finally {
    sending = previous;
    sendingClient = previousClient;
  }
  return call.chainOrSucceed(result);
}

/** The span of the statement `client` is sending, taken once: the parent of the driver call the dialect makes now. */
function takeSending(client: unknown): Span | undefined {
  const call = sending;
  if (call === undefined || client !== sendingClient) return undefined;
  sending = undefined;
  return call.span;
}

/** `Client#query(connection, query)`: one span per statement, settled with the promise knex returns. */
function wrapQuery(current: () => ActiveHook<KnexOptions> | undefined) {
  return (original: AnyFunction) =>
    function query(this: KnexClient, _connection: unknown, queryParam: unknown): unknown {
      const call = startTraced(current, this, queryParam);
      return call === undefined ? original.apply(this, arguments as unknown as unknown[]) : runTraced(call, original, this, arguments);
    };
}

/**
 * `Client#stream(connection, query, stream, options)`: the span ends with the promise knex returns (the
 * result stream's end or error), or when the app closes the stream before that (knex's promise then
 * never settles); the close is looked at a turn later, so that a failure that closes it is logged first.
 */
function wrapStream(current: () => ActiveHook<KnexOptions> | undefined) {
  return (original: AnyFunction) =>
    function stream(this: KnexClient, _connection: unknown, queryParam: unknown, output: unknown): unknown {
      const emitter = output !== null && typeof output === 'object' ? (output as { once?: (event: string, listener: () => void) => unknown }) : undefined;
      const call = startTraced(current, this, queryParam, emitter);
      if (call === undefined) return original.apply(this, arguments as unknown as unknown[]);
      if (emitter !== undefined && typeof emitter.once === 'function') {
        emitter.once('close', () => setImmediate(() => call.succeed()));
      }
      return runTraced(call, original, this, arguments);
    };
}

/** Remembers the runner's builder as the one of `key` (a compiled query, a result stream). */
function noteBuilder(current: () => ActiveHook<KnexOptions> | undefined, runner: { builder?: unknown }, key: unknown): void {
  const hook = current();
  if (hook === undefined || tracingOff(hook) || key === null || typeof key !== 'object') return;
  const builder = runner.builder;
  if (builder !== null && typeof builder === 'object') builders.set(key, builder as KnexBuilder);
}

/** `Runner#query(query)`: remembers the builder of the compiled query it passes on to `Client#query`. */
function wrapRunnerQuery(current: () => ActiveHook<KnexOptions> | undefined) {
  return (original: AnyFunction) =>
    function query(this: { builder?: unknown }, queryParam: unknown): unknown {
      noteBuilder(current, this, queryParam);
      return original.apply(this, arguments as unknown as unknown[]);
    };
}

/** `Runner#ensureConnection(callback, params)`: a stream's params carry the result stream `Client#stream` gets. */
function wrapEnsureConnection(current: () => ActiveHook<KnexOptions> | undefined) {
  return (original: AnyFunction) =>
    function ensureConnection(this: { builder?: unknown }, _callback: unknown, params: unknown): unknown {
      if (params !== null && typeof params === 'object') noteBuilder(current, this, (params as { stream?: unknown }).stream);
      return original.apply(this, arguments as unknown as unknown[]);
    };
}

export function patchClient(exports: unknown, { current, wrap }: PatchContext<KnexOptions, undefined>): void {
  const Client = exports as { prototype?: object };
  if (typeof exports !== 'function' || Client.prototype === undefined) return;
  wrap(Client.prototype, 'query', wrapQuery(current));
  wrap(Client.prototype, 'stream', wrapStream(current));
}

/**
 * A dialect's `_query` and `_stream` (pg's, whose cockroachdb and redshift dialects keep them; pgnative's;
 * mysql's, whose mysql2 and mariadb dialects keep them): where knex calls the driver.
 */
export function patchDialect(exports: unknown, { wrap }: PatchContext<KnexOptions, undefined>): void {
  const proto = (exports as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  if (typeof exports !== 'function' || proto === undefined) return;
  for (const name of ['_query', '_stream']) {
    if (Object.prototype.hasOwnProperty.call(proto, name) && typeof proto[name] === 'function') wrap(proto, name, asParentNow(takeSending));
  }
}

export function patchRunner(exports: unknown, { current, wrap }: PatchContext<KnexOptions, undefined>): void {
  const Runner = exports as { prototype?: object };
  if (typeof exports !== 'function' || Runner.prototype === undefined) return;
  wrap(Runner.prototype, 'query', wrapRunnerQuery(current));
  wrap(Runner.prototype, 'ensureConnection', wrapEnsureConnection(current));
}
