/**
 * A MongoDB wire-protocol stand-in for the tests (MongoDB cannot be installed on these machines): the real
 * driver talks to it over TCP exactly as to a server. It answers the legacy OP_QUERY handshake on
 * `admin.$cmd` with OP_REPLY, and OP_MSG commands (kind-0 body, kind-1 document sequences) with an
 * in-memory store: hello/isMaster, ping, buildInfo, find, getMore, killCursors, insert, update, delete,
 * findAndModify, aggregate ($match, $sort, $skip, $limit, $group, $count, and $addFields of $toInt and
 * $toObjectId with MongoDB's conversion errors), count, create/createIndexes/drop, endSessions,
 * commitTransaction/abortTransaction, and error replies (unknown command, duplicate _id). A `$changeStream`
 * aggregate opens a change stream on its collection: its getMores wait (awaitData, up to `maxTimeMS`) for
 * the inserts made there, and each one served is counted (`changeStreamGetMores`). It presents itself
 * as the primary of a one-member replica set, so that sessions and transactions are allowed; its hello
 * carries no topologyVersion, so the driver's monitor polls (no streaming hello). Not a database: just
 * enough for the tests, which also run against a real MongoDB through MONGODB_URL (see mongoUrl).
 */
import net from 'node:net';
import { BSON, Document, Long, ObjectId } from 'bson';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MORE_TO_COME = 2;

interface CursorState {
  ns: string;
  docs: Document[];
}

export interface MongoStandIn {
  url: string;
  port: number;
  /** The getMores of change streams served so far; `onChangeStreamGetMore` hears of each. */
  readonly changeStreamGetMores: number;
  onChangeStreamGetMore?: () => void;
  close(): Promise<void>;
}

/** A change stream's cursor: the inserts not yet delivered, and its getMore waiting for one. */
interface ChangeCursor {
  ns: string;
  changes: Document[];
  wake?: () => void;
}

class CommandError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly codeName: string,
  ) {
    super(message);
  }
}

/** Starts a stand-in on 127.0.0.1 (a free port). */
export async function startMongoStandIn(): Promise<MongoStandIn> {
  const collections = new Map<string, Document[]>();
  const cursors = new Map<string, CursorState>();
  const changeCursors = new Map<string, ChangeCursor>();
  const sockets = new Set<net.Socket>();
  let resumeToken = 0;
  let nextCursor = 1;
  let connectionId = 0;
  let port = 0;

  const store = (ns: string): Document[] => {
    let docs = collections.get(ns);
    if (docs === undefined) collections.set(ns, (docs = []));
    return docs;
  };

  const helloReply = (legacy: boolean): Document => ({
    [legacy ? 'ismaster' : 'isWritablePrimary']: true,
    helloOk: true,
    setName: 'rs0',
    setVersion: 1,
    hosts: [`127.0.0.1:${port}`],
    primary: `127.0.0.1:${port}`,
    me: `127.0.0.1:${port}`,
    electionId: new ObjectId('7fffffff0000000000000001'),
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: ++connectionId,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  });

  const cursorReply = (ns: string, docs: Document[], batchSize: number | undefined, first: boolean, single = false): Document => {
    const size = batchSize === undefined || batchSize <= 0 ? docs.length : batchSize;
    const batch = docs.slice(0, size);
    const rest = docs.slice(size);
    let id = 0;
    if (rest.length > 0 && !single) {
      id = nextCursor++;
      cursors.set(String(id), { ns, docs: rest });
    }
    return { cursor: { id: Long.fromNumber(id), ns, [first ? 'firstBatch' : 'nextBatch']: batch }, ok: 1 };
  };

  const run = (db: string, cmd: Document): Document => {
    const name = Object.keys(cmd)[0];
    const coll = typeof cmd[name] === 'string' ? `${db}.${cmd[name]}` : `${db}.$cmd`;
    switch (name) {
      case 'hello':
      case 'isMaster':
      case 'ismaster':
        return helloReply(name !== 'hello');
      case 'ping':
      case 'endSessions':
      case 'commitTransaction':
      case 'abortTransaction':
      case 'createIndexes':
      case 'dropDatabase':
        return { ok: 1 };
      case 'create':
        store(coll);
        return { ok: 1 };
      case 'drop':
        collections.delete(coll);
        return { ok: 1 };
      case 'buildInfo':
      case 'buildinfo':
        return { version: '7.0.0', versionArray: [7, 0, 0, 0], ok: 1 };
      case 'listCollections':
        return cursorReply(`${db}.$cmd.listCollections`, [...collections.keys()].filter((k) => k.startsWith(`${db}.`)).map((k) => ({ name: k.slice(db.length + 1), type: 'collection' })), undefined, true);
      case 'listIndexes':
        return cursorReply(coll, [{ v: 2, key: { _id: 1 }, name: '_id_' }], undefined, true);
      case 'insert': {
        const docs = store(coll);
        const writeErrors: Document[] = [];
        let n = 0;
        (cmd.documents as Document[]).forEach((doc, index) => {
          if (doc._id === undefined) doc._id = new ObjectId();
          if (docs.some((d) => equal(d._id, doc._id))) {
            writeErrors.push({ index, code: 11000, errmsg: `E11000 duplicate key error collection: ${coll} index: _id_ dup key: { _id: ${JSON.stringify(BSON.EJSON.serialize(doc._id))} }` });
            return;
          }
          docs.push(doc);
          n++;
          for (const watched of changeCursors.values()) {
            if (watched.ns !== coll) continue;
            const [database, collection] = [coll.slice(0, coll.indexOf('.')), coll.slice(coll.indexOf('.') + 1)];
            watched.changes.push({ _id: { _data: String(++resumeToken) }, operationType: 'insert', ns: { db: database, coll: collection }, documentKey: { _id: doc._id }, fullDocument: doc });
            watched.wake?.();
          }
        });
        return writeErrors.length > 0 ? { n, writeErrors, ok: 1 } : { n, ok: 1 };
      }
      case 'find': {
        let docs = store(coll).filter((d) => matches(d, cmd.filter ?? {}));
        if (cmd.sort !== undefined) docs = sortDocs(docs, cmd.sort);
        if (typeof cmd.skip === 'number') docs = docs.slice(cmd.skip);
        const limit = Math.abs(Number(cmd.limit ?? 0));
        if (limit > 0) docs = docs.slice(0, limit);
        if (cmd.projection !== undefined) docs = docs.map((d) => project(d, cmd.projection));
        return cursorReply(coll, docs, cmd.batchSize === undefined ? 101 : Number(cmd.batchSize), true, cmd.singleBatch === true);
      }
      case 'getMore': {
        const key = String(cmd.getMore);
        const cursor = cursors.get(key);
        if (cursor === undefined) throw new CommandError(`cursor id ${key} not found`, 43, 'CursorNotFound');
        cursors.delete(key);
        const reply = cursorReply(cursor.ns, cursor.docs, cmd.batchSize === undefined ? undefined : Number(cmd.batchSize), false);
        return reply;
      }
      case 'killCursors': {
        const ids = (cmd.cursors as unknown[]).map(String);
        for (const id of ids) {
          cursors.delete(id);
          changeCursors.delete(id);
        }
        return { cursorsKilled: cmd.cursors, cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
      }
      case 'count': {
        let n = store(coll).filter((d) => matches(d, cmd.query ?? {})).length;
        if (typeof cmd.skip === 'number') n = Math.max(0, n - cmd.skip);
        if (typeof cmd.limit === 'number' && cmd.limit > 0) n = Math.min(n, cmd.limit);
        return { n, ok: 1 };
      }
      case 'update': {
        const docs = store(coll);
        let n = 0;
        let nModified = 0;
        const upserted: Document[] = [];
        (cmd.updates as Document[]).forEach((u, index) => {
          const hits = docs.filter((d) => matches(d, u.q ?? {}));
          const targets = u.multi === true ? hits : hits.slice(0, 1);
          if (targets.length === 0 && u.upsert === true) {
            const doc = applyUpdate(seed(u.q ?? {}), u.u);
            if (doc._id === undefined) doc._id = new ObjectId();
            docs.push(doc);
            upserted.push({ index, _id: doc._id });
            n++;
            return;
          }
          for (const target of targets) {
            const updated = applyUpdate(target, u.u);
            docs[docs.indexOf(target)] = updated;
            n++;
            nModified++;
          }
        });
        return upserted.length > 0 ? { n, nModified, upserted, ok: 1 } : { n, nModified, ok: 1 };
      }
      case 'delete': {
        const docs = store(coll);
        let n = 0;
        for (const d of cmd.deletes as Document[]) {
          const hits = docs.filter((doc) => matches(doc, d.q ?? {}));
          for (const hit of d.limit === 1 ? hits.slice(0, 1) : hits) {
            docs.splice(docs.indexOf(hit), 1);
            n++;
          }
        }
        return { n, ok: 1 };
      }
      case 'findAndModify': {
        const docs = store(coll);
        let hits = docs.filter((d) => matches(d, cmd.query ?? {}));
        if (cmd.sort !== undefined) hits = sortDocs(hits, cmd.sort);
        const target = hits[0];
        if (cmd.remove === true) {
          if (target !== undefined) docs.splice(docs.indexOf(target), 1);
          return { lastErrorObject: { n: target === undefined ? 0 : 1 }, value: target ?? null, ok: 1 };
        }
        if (target === undefined) {
          if (cmd.upsert !== true) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
          const doc = applyUpdate(seed(cmd.query ?? {}), cmd.update);
          if (doc._id === undefined) doc._id = new ObjectId();
          docs.push(doc);
          return { lastErrorObject: { n: 1, updatedExisting: false, upserted: doc._id }, value: cmd.new === true ? doc : null, ok: 1 };
        }
        const updated = applyUpdate(target, cmd.update);
        docs[docs.indexOf(target)] = updated;
        return { lastErrorObject: { n: 1, updatedExisting: true }, value: cmd.new === true ? updated : target, ok: 1 };
      }
      case 'aggregate': {
        if ((cmd.pipeline as Document[])[0]?.$changeStream !== undefined) {
          const id = nextCursor++;
          changeCursors.set(String(id), { ns: coll, changes: [] });
          return { cursor: { id: Long.fromNumber(id), ns: coll, firstBatch: [], postBatchResumeToken: { _data: String(resumeToken) } }, ok: 1 };
        }
        let docs = store(coll);
        for (const stage of cmd.pipeline as Document[]) {
          const [op] = Object.keys(stage);
          if (op === '$match') docs = docs.filter((d) => matches(d, stage.$match));
          else if (op === '$sort') docs = sortDocs(docs, stage.$sort);
          else if (op === '$skip') docs = docs.slice(stage.$skip);
          else if (op === '$limit') docs = docs.slice(0, stage.$limit);
          else if (op === '$count') docs = [{ [stage.$count]: docs.length }];
          else if (op === '$group') docs = group(docs, stage.$group);
          else if (op === '$addFields' || op === '$set') docs = docs.map((d) => addFields(d, stage[op]));
          else throw new CommandError(`Unrecognized pipeline stage name: '${op}'`, 40324, 'Location40324');
        }
        return cursorReply(coll, docs, cmd.cursor?.batchSize, true);
      }
      default:
        throw new CommandError(`no such command: '${name}'`, 59, 'CommandNotFound');
    }
  };

  /** A change stream's getMore: its changes, once there are some or `maxTimeMS` is up (awaitData). */
  const changeBatch = async (key: string, watched: ChangeCursor, maxTimeMS: number): Promise<Document> => {
    if (watched.changes.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, maxTimeMS);
        watched.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      watched.wake = undefined;
    }
    const batch = watched.changes.splice(0);
    changeStreamGetMores++;
    standIn.onChangeStreamGetMore?.();
    return { cursor: { id: Long.fromString(key), ns: watched.ns, nextBatch: batch, postBatchResumeToken: { _data: String(resumeToken) } }, ok: 1 };
  };

  const answer = (db: string, cmd: Document): Document | Promise<Document> => {
    const watched = cmd.getMore === undefined ? undefined : changeCursors.get(String(cmd.getMore));
    if (watched !== undefined) return changeBatch(String(cmd.getMore), watched, Number(cmd.maxTimeMS ?? 1000));
    try {
      return run(db, cmd);
    } catch (err) {
      if (err instanceof CommandError) return { ok: 0, errmsg: err.message, code: err.code, codeName: err.codeName };
      return { ok: 0, errmsg: String((err as Error)?.message ?? err), code: 8000, codeName: 'InternalError' };
    }
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const length = pending.readInt32LE(0);
        if (pending.length < length) break;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        const reply = handle(message);
        if (reply instanceof Promise) void reply.then((r) => !socket.destroyed && socket.write(r));
        else if (reply !== undefined) socket.write(reply);
      }
    });
  });

  const handle = (message: Buffer): Buffer | Promise<Buffer> | undefined => {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // flags, then the full collection name (cstring), numberToSkip, numberToReturn, the query.
      let at = 20;
      const end = message.indexOf(0, at);
      const fullName = message.toString('utf8', at, end);
      at = end + 1 + 8;
      const query = BSON.deserialize(message.subarray(at, at + message.readInt32LE(at)));
      const doc = answer(fullName.split('.')[0], query.$query ?? query) as Document;
      return reply(requestId, doc);
    }
    if (opCode !== OP_MSG) return undefined;
    const flags = message.readUInt32LE(16);
    let body: Document | undefined;
    const sequences: Record<string, Document[]> = {};
    const end = message.length - ((flags & 1) === 1 ? 4 : 0);
    let at = 20;
    while (at < end) {
      const kind = message[at++];
      if (kind === 0) {
        const size = message.readInt32LE(at);
        body = BSON.deserialize(message.subarray(at, at + size));
        at += size;
      } else {
        const size = message.readInt32LE(at);
        const sectionEnd = at + size;
        const idEnd = message.indexOf(0, at + 4);
        const id = message.toString('utf8', at + 4, idEnd);
        const docs: Document[] = [];
        for (let p = idEnd + 1; p < sectionEnd; ) {
          const docSize = message.readInt32LE(p);
          docs.push(BSON.deserialize(message.subarray(p, p + docSize)));
          p += docSize;
        }
        sequences[id] = docs;
        at = sectionEnd;
      }
    }
    if (body === undefined) return undefined;
    Object.assign(body, sequences);
    const doc = answer(String(body.$db ?? 'admin'), body);
    if ((flags & MORE_TO_COME) !== 0) return undefined;
    return doc instanceof Promise ? doc.then((d) => msg(requestId, d)) : msg(requestId, doc);
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
  let changeStreamGetMores = 0;
  const standIn: MongoStandIn = {
    url: `mongodb://127.0.0.1:${port}/test?directConnection=true`,
    port,
    get changeStreamGetMores() {
      return changeStreamGetMores;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const watched of changeCursors.values()) watched.wake?.();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return standIn;
}

let replyId = 1;

function header(length: number, responseTo: number, opCode: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(replyId++, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return h;
}

function reply(responseTo: number, doc: Document): Buffer {
  const body = Buffer.from(BSON.serialize(doc));
  const fixed = Buffer.alloc(20);
  fixed.writeInt32LE(0, 0); // responseFlags
  fixed.writeBigInt64LE(0n, 4); // cursorID
  fixed.writeInt32LE(0, 12); // startingFrom
  fixed.writeInt32LE(1, 16); // numberReturned
  return Buffer.concat([header(16 + 20 + body.length, responseTo, OP_REPLY), fixed, body]);
}

function msg(responseTo: number, doc: Document): Buffer {
  const body = Buffer.from(BSON.serialize(doc));
  const flags = Buffer.alloc(5);
  flags.writeUInt32LE(0, 0);
  flags[4] = 0; // kind 0
  return Buffer.concat([header(16 + 5 + body.length, responseTo, OP_MSG), flags, body]);
}

// --- a small query engine ------------------------------------------------------------------------

function get(doc: Document, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Document)[part];
  }
  return value;
}

function set(doc: Document, path: string, value: unknown): void {
  const parts = path.split('.');
  let target = doc;
  for (const part of parts.slice(0, -1)) {
    if (target[part] === null || typeof target[part] !== 'object') target[part] = {};
    target = target[part];
  }
  target[parts[parts.length - 1]] = value;
}

function comparable(v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (v !== null && typeof v === 'object' && '_bsontype' in v) return JSON.stringify(BSON.EJSON.serialize(v));
  if (v !== null && typeof v === 'object') return JSON.stringify(BSON.EJSON.serialize(v));
  return v;
}

function equal(a: unknown, b: unknown): boolean {
  return comparable(a) === comparable(b);
}

function compare(a: unknown, b: unknown): number {
  const x = comparable(a) as number;
  const y = comparable(b) as number;
  return x < y ? -1 : x > y ? 1 : 0;
}

function isOperatorObject(v: unknown): v is Document {
  return v !== null && typeof v === 'object' && !('_bsontype' in v) && !(v instanceof Date) && Object.keys(v).some((k) => k.startsWith('$'));
}

function matchValue(actual: unknown, cond: unknown): boolean {
  if (!isOperatorObject(cond)) {
    if (Array.isArray(actual) && !Array.isArray(cond)) return actual.some((a) => equal(a, cond));
    return equal(actual, cond);
  }
  return Object.entries(cond).every(([op, arg]) => {
    switch (op) {
      case '$eq':
        return matchValue(actual, arg);
      case '$ne':
        return !matchValue(actual, arg);
      case '$gt':
        return actual !== undefined && compare(actual, arg) > 0;
      case '$gte':
        return actual !== undefined && compare(actual, arg) >= 0;
      case '$lt':
        return actual !== undefined && compare(actual, arg) < 0;
      case '$lte':
        return actual !== undefined && compare(actual, arg) <= 0;
      case '$in':
        return (arg as unknown[]).some((a) => matchValue(actual, a));
      case '$nin':
        return !(arg as unknown[]).some((a) => matchValue(actual, a));
      case '$exists':
        return (actual !== undefined) === Boolean(arg);
      default:
        throw new CommandError(`unknown operator: ${op}`, 2, 'BadValue');
    }
  });
}

function matches(doc: Document, filter: Document): boolean {
  return Object.entries(filter).every(([key, cond]) => {
    if (key === '$and') return (cond as Document[]).every((f) => matches(doc, f));
    if (key === '$or') return (cond as Document[]).some((f) => matches(doc, f));
    if (key === '$nor') return !(cond as Document[]).some((f) => matches(doc, f));
    return matchValue(get(doc, key), cond);
  });
}

function sortDocs(docs: Document[], sort: Document): Document[] {
  const keys = Object.entries(sort);
  return [...docs].sort((a, b) => {
    for (const [key, dir] of keys) {
      const c = compare(get(a, key), get(b, key)) * (Number(dir) < 0 ? -1 : 1);
      if (c !== 0) return c;
    }
    return 0;
  });
}

function project(doc: Document, projection: Document): Document {
  const include = Object.entries(projection).filter(([k, v]) => k !== '_id' && Boolean(v)).map(([k]) => k);
  if (include.length === 0) {
    const out = { ...doc };
    for (const [k, v] of Object.entries(projection)) if (!v) delete out[k];
    return out;
  }
  const out: Document = {};
  if (projection._id !== 0 && projection._id !== false) out._id = doc._id;
  for (const k of include) if (get(doc, k) !== undefined) set(out, k, get(doc, k));
  return out;
}

/**
 * `$addFields` of `{ $toInt: '$field' }` and `{ $toObjectId: '$field' }`, failing as MongoDB's $convert does
 * (code 241, ConversionFailure), with its messages, which quote the value (src/mongo/db/exec/expression/convert).
 */
function addFields(doc: Document, spec: Document): Document {
  const out = { ...doc };
  for (const [field, expression] of Object.entries(spec)) {
    const [op, arg] = Object.entries(expression as Document)[0] ?? [];
    const input = typeof arg === 'string' && arg.startsWith('$') ? get(doc, arg.slice(1)) : arg;
    const fail = (reason: string): never => {
      throw new CommandError(`PlanExecutor error during aggregation :: caused by :: ${reason}`, 241, 'ConversionFailure');
    };
    if (op === '$toInt') {
      if (typeof input === 'number') {
        if (Math.abs(input) > 2147483647) fail(`Conversion would overflow target type in $convert with no onError value: ${input}`);
        out[field] = Math.trunc(input);
      } else {
        const text = String(input);
        if (!/^[-+]?\d/.test(text)) fail(`Failed to parse number '${text}' in $convert with no onError value: Did not consume any digits`);
        if (!/^[-+]?\d+$/.test(text)) fail(`Failed to parse number '${text}' in $convert with no onError value: Did not consume whole string.`);
        out[field] = Number(text);
      }
    } else if (op === '$toObjectId') {
      const text = String(input);
      if (text.length !== 24) fail(`Failed to parse objectId '${text}' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found ${text.length}`);
      out[field] = new ObjectId(text);
    } else throw new CommandError(`Unrecognized expression '${op}'`, 168, 'InvalidPipelineOperator');
  }
  return out;
}

/** `$group` by a constant `_id` or one `$field`, with `$sum` accumulators (of 1 or of a `$field`). */
function group(docs: Document[], spec: Document): Document[] {
  const groups = new Map<string, Document>();
  const keyOf = (d: Document): unknown => (typeof spec._id === 'string' && spec._id.startsWith('$') ? get(d, spec._id.slice(1)) : spec._id);
  for (const d of docs) {
    const key = keyOf(d);
    const id = String(comparable(key));
    let out = groups.get(id);
    if (out === undefined) {
      out = { _id: key };
      for (const field of Object.keys(spec)) if (field !== '_id') out[field] = 0;
      groups.set(id, out);
    }
    for (const [field, acc] of Object.entries(spec)) {
      if (field === '_id') continue;
      const sum = (acc as Document).$sum;
      if (sum === undefined) throw new CommandError(`unsupported accumulator in ${field}`, 2, 'BadValue');
      out[field] += typeof sum === 'string' && sum.startsWith('$') ? Number(get(d, sum.slice(1)) ?? 0) : Number(sum);
    }
  }
  return [...groups.values()];
}

/** The equality fields of a filter: the start of an upserted document. */
function seed(filter: Document): Document {
  const doc: Document = {};
  for (const [k, v] of Object.entries(filter)) if (!k.startsWith('$') && !isOperatorObject(v)) set(doc, k, v);
  return doc;
}

function applyUpdate(doc: Document, update: Document | Document[]): Document {
  if (Array.isArray(update)) throw new CommandError('pipeline updates are not supported by the stand-in', 2, 'BadValue');
  const keys = Object.keys(update);
  if (!keys.some((k) => k.startsWith('$'))) return { _id: doc._id, ...update };
  const out = BSON.deserialize(BSON.serialize(doc));
  out._id = doc._id;
  for (const [op, fields] of Object.entries(update)) {
    for (const [path, value] of Object.entries(fields as Document)) {
      if (op === '$set') set(out, path, value);
      else if (op === '$setOnInsert') {
        if (get(out, path) === undefined) set(out, path, value);
      } else if (op === '$unset') delete out[path];
      else if (op === '$inc') set(out, path, Number(get(out, path) ?? 0) + Number(value));
      else if (op === '$push') set(out, path, [...((get(out, path) as unknown[]) ?? []), value]);
      else throw new CommandError(`unknown update operator: ${op}`, 2, 'BadValue');
    }
  }
  return out;
}

/** The server the tests use: MONGODB_URL when set (a real MongoDB), else a stand-in started here. */
export async function mongoServer(): Promise<{ url: string; standIn?: MongoStandIn; close(): Promise<void> }> {
  const url = process.env.MONGODB_URL;
  if (url !== undefined && url !== '') return { url, close: async () => undefined };
  const standIn = await startMongoStandIn();
  return { url: standIn.url, standIn, close: () => standIn.close() };
}
