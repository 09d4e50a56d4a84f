import { inspect } from 'node:util';
/**
 * mongodb hook: the real driver (7.x, 6.4+, and 6.0–6.3 with its callback `command`) and mongoose (9.x,
 * 8.x, and 8.0 on its own driver 6.2) against the wire-protocol stand-in of test/helpers/mongo-server (or
 * a real MongoDB through MONGODB_URL): one span per command with its shape as the statement, cursors,
 * sessions and transactions, failures with redacted messages, no span for the driver's own traffic,
 * operations waiting for a pooled connection under their own caller, and mongoose's buffered operations in
 * their caller's context.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { settledUnder } from '../helpers/cases';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { mongoServer } from '../helpers/mongo-server';
import { esmAppSpans } from '../helpers/child';

 

/** `callbackForm`: 6.0–6.3, where `Connection.prototype.command` takes a callback. */
const DRIVERS: Array<{ name: string; mongodb: typeof import('mongodb'); callbackForm?: boolean }> = [
  { name: 'mongodb@7', mongodb: require('mongodb') },
  { name: 'mongodb@6', mongodb: require('mongodb6') },
  { name: 'mongodb@6.3', mongodb: require('mongodb63'), callbackForm: true },
  // mongoose 8.0's own copy, at a node_modules/mongodb path of its own (no alias).
  { name: 'mongodb@6.2', mongodb: require(require.resolve('mongodb', { paths: [path.dirname(require.resolve('mongoose80'))] })), callbackForm: true },
];
const MONGOOSES: Array<{ name: string; mongoose: any }> = [
  { name: 'mongoose@9', mongoose: require('mongoose') },
  { name: 'mongoose@8', mongoose: require('mongoose8') },
  { name: 'mongoose@8.0', mongoose: require('mongoose80') },
];
const ALIASES = { mongodb6: 'mongodb', mongodb63: 'mongodb', mongoose8: 'mongoose', mongoose80: 'mongoose' };

describe('mongodb hook', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let server: Awaited<ReturnType<typeof mongoServer>>;

  before(async () => {
    server = await mongoServer();
  });
  after(async () => {
    uninstallAllPatches();
    await server.close();
  });
  beforeEach(() => {
    tracer.reset();
    installPatches(['mongodb'], { tracer, aliases: ALIASES });
  });
  afterEach(() => uninstallAllPatches());

  const mongoSpans = (): RecordedSpan[] => tracer.finished.filter((s) => s.operationName.startsWith('mongodb.'));
  const names = (): string[] => mongoSpans().map((s) => s.operationName);

  const underParent = <T>(fn: () => Promise<T>): Promise<{ parent: RecordedSpan; result: T }> => settledUnder(tracer, fn);

  it("the driver's command called without a connection (`this` lost) fails as untraced: a promise rejected with the same error", async () => {
    const { Connection } = require('mongodb/lib/cmap/connection') as { Connection: { prototype: { command(...args: unknown[]): Promise<unknown> } } };
    const outcome = async (): Promise<{ sync: boolean; message: string } | 'resolved'> => {
      let returned: Promise<unknown>;
      try {
        returned = Connection.prototype.command.call(undefined, { db: 'd', collection: 'c' }, { find: 'c' }, {});
      } catch (err) {
        return { sync: true, message: (err as Error).message };
      }
      try {
        await returned;
        return 'resolved';
      } catch (err) {
        return { sync: false, message: (err as Error).message };
      }
    };
    const traced = await outcome();
    uninstallAllPatches();
    const untraced = await outcome();
    assert.deepEqual(traced, untraced);
    assert.notEqual(traced, 'resolved');
    assert.equal((traced as { sync: boolean }).sync, false);
  });

  describe('db.statement of documents the driver turns down or sends through toBSON()', () => {
    let client: import('mongodb').MongoClient;
    before(async () => {
      client = new (require('mongodb') as typeof import('mongodb')).MongoClient(server.url);
      await client.connect();
    });
    after(() => client.close());

    it("captureParameters: an object with toBSON() (what the driver sends) is a \"?\" never walked, so nothing toBSON leaves out is recorded, and toBSON runs only as often as untraced", async () => {
      uninstallAllPatches();
      installPatches(['mongodb'], { tracer, aliases: ALIASES, hooks: { mongodb: { captureParameters: true } } });
      let calls = 0;
      class Account {
        id = 7;
        apiKey = 'sk_live_never_stored';
        toBSON(): object {
          calls++;
          return { id: this.id };
        }
      }
      const coll = client.db('test').collection('accounts');
      await underParent(() => coll.insertOne({ _id: 'tobson-1' as never, account: new Account() }));
      assert.equal(calls, 1, 'the driver calls it once, and nobody else');
      const [insert] = mongoSpans();
      assert.equal(insert.tags['db.statement'], '{"documents":[{"_id":"tobson-1","account":"?"}],"ordered":true}');
      assert.deepEqual(await coll.findOne({ _id: 'tobson-1' as never }), { _id: 'tobson-1', account: { id: 7 } }, 'stored as untraced');
      await coll.deleteMany({});
    });

    it('an object met again inside itself is a "?"; the driver rejects the circular filter as untraced', async () => {
      const node: Record<string, unknown> = { name: 'n' };
      node.self = node;
      const coll = client.db('test').collection('circular');
      const attempt = () => coll.findOne({ owner: node }).then(() => 'resolved', (err: Error) => `${err.name}: ${err.message}`);
      uninstallAllPatches();
      const untraced = await attempt();
      installPatches(['mongodb'], { tracer, aliases: ALIASES });
      const { result } = await underParent(attempt);
      assert.equal(result, untraced);
      assert.match(untraced, /circular/);
      const [find] = mongoSpans();
      assert.match(String(find.tags['db.statement']), /^\{"filter":\{"owner":\{"name":"\?","self":"\?"\}\}/);
    });

    it('a circular filter whose paths never end (every object points to every other): the walk stops at maxStatementLength, the call fails at once as untraced', async () => {
      // In a child process: a walk that did not stop would freeze it rather than this test run.
      const spans = await esmAppSpans(
        ['mongodb'],
        `
        const { MongoClient } = require('mongodb');
        const client = new MongoClient(process.env.STAND_IN_URL);
        await client.connect();
        const nodes = Array.from({ length: 12 }, () => ({}));
        for (const a of nodes) nodes.forEach((b, i) => (a['k' + i] = b));
        const parent = tracer.startSpan('request');
        const outcome = await withSpan(parent, () => client.db('test').collection('c').findOne({ owner: nodes[0] })).then(() => 'resolved', (err) => err.name);
        parent.finish();
        await client.close();
        if (outcome !== 'BSONError') throw new Error(outcome);
        `,
        { STAND_IN_URL: server.url },
      );
      const find = spans.find((s) => s.name === 'mongodb.find c');
      assert.ok(find, spans.map((s) => s.name).join(', '));
      const statement = String(find.tags['db.statement']);
      assert.equal(statement.length, 2048);
      assert.ok(statement.startsWith('{"filter":{"owner":{"k0":"?","k1":{"k0":"?","k1":"?","k2":{"k0":"?","k1":"?","k2":"?","k3":{'), statement);
    });
  });

  for (const { name, mongodb, callbackForm } of DRIVERS) {
    describe(name, () => {
      let client: InstanceType<typeof mongodb.MongoClient>;
      let coll: any;
      const collName = `users_${name.replace(/\W/g, '_')}`;

      before(async () => {
        client = new mongodb.MongoClient(server.url);
        await client.connect();
        coll = client.db('test').collection(collName);
        await coll.deleteMany({});
      });
      after(() => client.close());

      it('a span per command, a child of the caller, with the shape of the command as db.statement', async () => {
        const { parent } = await underParent(async () => {
          await coll.insertOne({ email: 'secret@example.com', n: 1 });
          await coll.findOne({ email: 'secret@example.com' });
          await coll.updateOne({ email: 'secret@example.com' }, { $set: { n: 2 } });
          await coll.aggregate([{ $match: { n: { $gte: 2 } } }]).toArray();
          await coll.deleteOne({ email: 'secret@example.com' });
        });
        assert.deepEqual(names(), [`mongodb.insert ${collName}`, `mongodb.find ${collName}`, `mongodb.update ${collName}`, `mongodb.aggregate ${collName}`, `mongodb.delete ${collName}`]);
        const port = Number(new URL(server.url.replace('mongodb://', 'http://')).port || 27017);
        for (const span of mongoSpans()) {
          assert.equal(span.parentId, parent.id);
          assert.equal(span.tags['span.kind'], 'client');
          assert.equal(span.tags.component, 'mongodb');
          assert.equal(span.tags['db.type'], 'mongo');
          assert.equal(span.tags['db.instance'], 'test');
          assert.equal(span.tags['peer.port'], port);
          assert.equal(typeof span.tags['peer.hostname'], 'string');
          assert.ok(!String(span.tags['db.statement']).includes('secret'), String(span.tags['db.statement']));
          assert.ok(!span.hasError());
        }
        const [insert, find, update, aggregate] = mongoSpans();
        assert.match(String(insert.tags['db.statement']), /^\{"documents":\[\{"email":"\?","n":"\?","_id":"\?"\}\]/);
        assert.match(String(find.tags['db.statement']), /^\{"filter":\{"email":"\?"\}/);
        assert.match(String(update.tags['db.statement']), /"u":\{"\$set":\{"n":"\?"\}\}/);
        assert.match(String(aggregate.tags['db.statement']), /^\{"pipeline":\[\{"\$match":\{"n":\{"\$gte":"\?"\}\}\}\]/);
      });

      it('captureParameters: the values are recorded', async () => {
        uninstallAllPatches();
        installPatches(['mongodb'], { tracer, aliases: ALIASES, hooks: { mongodb: { captureParameters: true } } });
        await underParent(() => coll.findOne({ email: 'shown@example.com' }));
        assert.match(String(mongoSpans()[0].tags['db.statement']), /"filter":\{"email":"shown@example.com"\}/);
      });

      it("captureParameters: a failed command's message is logged as the server wrote it, values included (as the SQL hooks do)", async () => {
        uninstallAllPatches();
        installPatches(['mongodb'], { tracer, aliases: ALIASES, hooks: { mongodb: { captureParameters: true } } });
        await coll.insertOne({ _id: 'shown-id' });
        tracer.reset();
        let caught: any;
        await underParent(async () => {
          await coll.insertOne({ _id: 'shown-id' }).catch((err: unknown) => (caught = err));
          await client.db('test').command({ noSuchCommandHere: 1 }).catch(() => undefined);
        });
        assert.match(caught.message, /shown-id/);
        const [insert, unknown] = mongoSpans();
        assert.equal(insert.errorLog()!.fields.message, caught.errmsg ?? caught.message);
        assert.match(String(unknown.errorLog()!.fields.message), /noSuchCommandHere/);
        await coll.deleteOne({ _id: 'shown-id' });
      });

      it("a cursor's getMore calls are children of the code that asks for the next batch (the find's parent)", async () => {
        await coll.insertMany([{ k: 1 }, { k: 2 }, { k: 3 }]);
        tracer.reset();
        const { parent, result } = await underParent<any[]>(() => coll.find({ k: { $gte: 1 } }, { batchSize: 1 }).toArray());
        assert.equal(result.length, 3);
        // A real server may answer one more getMore with an empty last batch.
        assert.equal(names()[0], `mongodb.find ${collName}`);
        assert.ok(names().slice(1).length >= 2 && names().slice(1).every((n) => n === `mongodb.getMore ${collName}`), names().join(', '));
        for (const span of mongoSpans()) assert.equal(span.parentId, parent.id);
        await coll.deleteMany({ k: { $gte: 1 } });
      });

      it('a failed command: error=true, the message without the values the server echoes; the app sees the same error', async () => {
        await coll.insertOne({ _id: 'secret-id-1' });
        tracer.reset();
        let caught: any;
        await underParent(() => coll.insertOne({ _id: 'secret-id-1' }).catch((err: unknown) => (caught = err)));
        assert.ok(caught instanceof mongodb.MongoServerError, String(caught));
        assert.match(caught.message, /secret-id-1/, 'the app gets the full message');
        const [span] = mongoSpans();
        assert.equal(span.tags.error, true);
        const log = span.errorLog()!;
        assert.match(String(log.fields.message), /E11000/);
        assert.ok(!JSON.stringify(log.fields).includes('secret-id-1'), JSON.stringify(log.fields));

        tracer.reset();
        await underParent(() => client.db('test').command({ noSuchCommandHere: 1 }).catch((err: unknown) => (caught = err)));
        assert.ok(caught instanceof mongodb.MongoServerError);
        const [failed] = mongoSpans();
        assert.equal(failed.operationName, 'mongodb.noSuchCommandHere');
        assert.equal(failed.tags.error, true);
        await coll.deleteOne({ _id: 'secret-id-1' });
      });

      it('a conversion error that quotes the value or prints it after a colon ($toInt, $toObjectId over the data): logged without it; the app gets it as it is', async () => {
        const values: Array<[string, unknown, string]> = [
          ['$toInt', 'IBAN DE89370400440532013000', 'DE89370400440532013000'],
          ['$toObjectId', 'sk_live_51Hsecret', 'sk_live_51Hsecret'],
          ['$toInt', 4111111111, '4111111111'],
          // Printed unescaped: a quote and a space inside the value do not end it.
          ["$toInt", "o' IBAN DE89 3704 pin 4242", 'IBAN DE89'],
          ["$toObjectId", "o' sk_live_51Hsecret", 'sk_live_51Hsecret'],
        ];
        for (const [op, value, secret] of values) {
          await coll.deleteMany({});
          await coll.insertOne({ v: value });
          tracer.reset();
          let caught: any;
          await underParent(() =>
            coll
              .aggregate([{ $addFields: { converted: { [op]: '$v' } } }])
              .toArray()
              .catch((err: unknown) => (caught = err)),
          );
          assert.ok(caught instanceof mongodb.MongoServerError, String(caught));
          assert.ok(String(caught.message).includes(secret), `the app gets the full message: ${caught.message}`);
          const [span] = mongoSpans();
          assert.equal(span.tags.error, true);
          const fields = span.errorLog()!.fields;
          assert.match(String(fields.message), /\$convert/);
          assert.ok(!JSON.stringify(fields).includes(secret), JSON.stringify(fields.message));
          assert.ok(!String(fields.stack).includes(secret));
          // A plain copy: the fields that name the failure, none holding the reply, and nothing that throws when read.
          const logged = fields['error.object'] as any;
          assert.notEqual(logged, caught);
          assert.equal(logged.name, caught.name);
          assert.equal(logged.errorLabels, undefined);
          assert.equal(logged.code, caught.code);
          assert.equal(logged.codeName, caught.codeName);
          assert.equal(logged.errorResponse, undefined);
          assert.ok(!inspect(logged).includes(secret), inspect(logged));
        }
        await coll.deleteMany({});
      });

      it('sessions and transactions: every command keeps the caller as its parent', async function () {
        const hello = await client.db('admin').command({ hello: 1 });
        if (hello.setName === undefined) this.skip(); // a standalone server has no transactions
        tracer.reset();
        const { parent } = await underParent(async () => {
          const session = client.startSession();
          try {
            await session.withTransaction(async () => {
              await coll.insertOne({ t: 1 }, { session });
              await coll.findOne({ t: 1 }, { session });
            });
          } finally {
            await session.endSession();
          }
        });
        assert.deepEqual(names(), [`mongodb.insert ${collName}`, `mongodb.find ${collName}`, 'mongodb.commitTransaction']);
        for (const span of mongoSpans()) assert.equal(span.parentId, parent.id);
        for (const span of mongoSpans()) assert.ok(!String(span.tags['db.statement']).includes('lsid'));
        await coll.deleteMany({ t: 1 });
      });

      it("the driver's own traffic (handshakes, monitoring heartbeats) makes no span, even from a client created in a request", async () => {
        const { parent } = await underParent(async () => {
          const own = new mongodb.MongoClient(server.url, { heartbeatFrequencyMS: 500 });
          const heartbeats = new Promise<void>((resolve) => {
            let n = 0;
            own.on('serverHeartbeatSucceeded', () => ++n === 3 && resolve());
          });
          await own.connect();
          await own.db('test').command({ ping: 1 });
          await heartbeats;
          await own.close();
        });
        // The ping, and the endSessions of close() (the app's call), and nothing else.
        assert.deepEqual(names().filter((n) => n !== 'mongodb.endSessions'), ['mongodb.ping']);
        for (const span of mongoSpans()) assert.equal(span.parentId, parent.id);
      });

      /**
       * Watches a collection from inside a request that then ends at once, reading it with `listen` (event
       * mode, or the stream's Readable): the stream's polls and what the listener ran under and issued.
       */
      async function watchFromRequest(listen: (changes: any, onChange: (change: any) => void) => void): Promise<void> {
        const standIn = server.standIn!;
        const watched = client.db('test').collection(`${collName}_watched`);
        const polls = (n: number): Promise<void> =>
          new Promise((resolve) => {
            const start = standIn.changeStreamGetMores;
            standIn.onChangeStreamGetMore = () => standIn.changeStreamGetMores - start >= n && resolve();
          });
        const request = tracer.startSpan('request') as RecordedSpan;
        let listenerDone!: () => void;
        const heard = new Promise<void>((resolve) => (listenerDone = resolve));
        let listenerContext: unknown = 'not run';
        const stream = withSpan(request, () => {
          const changes = watched.watch([], { maxAwaitTimeMS: 20 });
          listen(changes, (change: any) => {
            listenerContext = currentSpan();
            void watched.findOne({ _id: change.documentKey._id }).then(() => listenerDone());
          });
          return changes;
        });
        request.finish();
        try {
          await polls(3);
          await watched.insertOne({ secret: 'never-in-a-span' });
          await heard;
          await polls(1);
        } finally {
          await stream.close();
          standIn.onChangeStreamGetMore = undefined;
        }
        await tracer.settle();
        assert.equal(listenerContext, undefined, 'the listener runs outside the request');
        const ownReads = mongoSpans().filter((s) => /^mongodb\.(getMore|aggregate) /.test(s.operationName));
        assert.deepEqual(ownReads.map((s) => s.operationName), [], "no span for the stream's own reads");
        assert.ok(!mongoSpans().some((s) => s.parentId === request.id), 'nothing under the request');
        const [lookup] = mongoSpans().filter((s) => s.operationName === `mongodb.find ${collName}_watched`);
        assert.ok(lookup !== undefined, "the listener's own find is traced");
        assert.equal(lookup.parentId, undefined, 'as a root');
      }

      it("a change stream in event mode: its own reads (the aggregate, getMore after getMore) make no span and run outside the request that added the listener; the listener runs outside any request, its calls traced as roots", async function () {
        // A real MongoDB (MONGODB_URL) needs a replica set for change streams; the stand-in counts the polls.
        if (server.standIn === undefined) this.skip();
        await watchFromRequest((changes, onChange) => changes.on('change', onChange));
      });

      it("a change stream read through its Readable (stream().on('data')): the same, its reads ahead are the driver's own work", async function () {
        if (server.standIn === undefined) this.skip();
        await watchFromRequest((changes, onChange) => changes.stream().on('data', onChange));
      });

      it('no span without a tracer-visible context when requireParent is set; none after uninstall', async () => {
        uninstallAllPatches();
        installPatches(['mongodb'], { tracer, aliases: ALIASES, requireParent: true });
        await coll.findOne({});
        uninstallAllPatches();
        await underParent(() => coll.findOne({}));
        assert.deepEqual(names(), []);
      });

      it('operations waiting for the one pooled connection: each a child of its own caller, never of the request that handed the connection on', async () => {
        const pooled = new mongodb.MongoClient(server.url, { maxPoolSize: 1 });
        await pooled.connect();
        try {
          const c = pooled.db('test').collection(collName);
          await c.findOne({});
          tracer.reset();
          const a = tracer.startSpan('request a') as RecordedSpan;
          const b = tracer.startSpan('request b') as RecordedSpan;
          // Issued together: b and the background call wait until a's command hands the connection back.
          await Promise.all([withSpan(a, () => c.findOne({ fromA: 1 })), withSpan(b, () => c.findOne({ fromB: 1 })), c.findOne({ fromNoRequest: 1 })]);
          a.finish();
          b.finish();
          await tracer.settle();
          const parentOf = (field: string): string | undefined => mongoSpans().find((s) => String(s.tags['db.statement']).includes(`"${field}"`))?.parentId;
          assert.equal(mongoSpans().length, 3, names().join(', '));
          assert.equal(parentOf('fromA'), a.id);
          assert.equal(parentOf('fromB'), b.id);
          assert.equal(parentOf('fromNoRequest'), undefined, 'the call from outside any request is a root span');
        } finally {
          await pooled.close();
        }
      });

      if (callbackForm) {
        it("6.0–6.3: the driver's callback gets the same arguments and `this`, as synchronously as untraced; each span finishes once", async () => {
          const topology = (client as any).topology;
          const mongoServerOf = [...topology.s.servers.values()][0];
          const conn: any = await new Promise((resolve, reject) => mongoServerOf.pool.checkOut((err: unknown, c: unknown) => (err != null ? reject(err) : resolve(c))));
          const ns = { db: 'test' };
          // A reply, a server error, and a message sent with moreToCome, whose callback the driver calls at once.
          const calls: Array<[object, object]> = [
            [{ ping: 1 }, {}],
            [{ noSuchCommandHere: 1 }, {}],
            [{ ping: 1 }, { noResponse: true, moreToCome: true }],
          ];
          const run = () =>
            Promise.all(
              calls.map(
                ([cmd, options]) =>
                  new Promise<Record<string, unknown>>((resolve) => {
                    let returned = false;
                    const value = conn.command(ns, cmd, options, function (this: unknown, err: any, reply: any) {
                      resolve({
                        sync: !returned,
                        // The driver calls it as its operation description's method: the same kind of object.
                        thisKeys: this == null ? String(this) : Object.keys(this).sort().join(),
                        argc: arguments.length,
                        error: err === undefined ? undefined : `${err.name}: ${err.message}`,
                        // The error's own frames, without places: the same object the driver made. Repeats in a row
                        // are folded: the driver parses each reply of one socket chunk one level deeper
                        // (processIncomingData calls itself), and how the replies share chunks is up to the kernel.
                        frames:
                          typeof err?.stack === 'string'
                            ? err.stack
                                .split('\n')
                                .slice(1)
                                .map((line: string) => line.replace(/\(.*\)|at \/.*/, ''))
                                .filter((line: string, i: number, all: string[]) => line !== all[i - 1])
                            : undefined,
                        ok: reply?.ok,
                      });
                    });
                    returned = true;
                    assert.equal(value, undefined);
                  }),
              ),
            );
          try {
            uninstallAllPatches();
            const untraced = await run();
            installPatches(['mongodb'], { tracer, aliases: ALIASES });
            tracer.reset();
            const parent = tracer.startSpan('parent') as RecordedSpan;
            const traced = await withSpan(parent, run);
            parent.finish();
            await tracer.settle(); // throws on a span finished twice
            assert.deepEqual(traced, untraced);
            assert.deepEqual(
              untraced.map((r) => r.sync),
              [false, false, true],
            );
            const spans = tracer.started.filter((s) => s.operationName.startsWith('mongodb.'));
            assert.deepEqual(
              spans.map((s) => [s.operationName, s.hasError()]),
              [
                ['mongodb.ping', false],
                ['mongodb.noSuchCommandHere', true],
                ['mongodb.ping', false],
              ],
            );
            for (const span of spans) assert.equal(span.parentId, parent.id);
          } finally {
            mongoServerOf.pool.checkIn(conn);
          }
        });
      }
    });
  }

  for (const { name, mongoose } of MONGOOSES) {
    describe(name, () => {
      it('model operations issued before the connection opens run as children of the request that issued them', async () => {
        const m = new mongoose.Mongoose();
        const User = m.model('User', new m.Schema({ email: String, n: Number }), `people_${name.replace(/\W/g, '_')}`);
        const parent = tracer.startSpan('request') as RecordedSpan;
        // Issued before connect(): mongoose buffers it until the connection opens.
        const found = withSpan(parent, () => User.find({ email: 'nobody@example.com' }).exec());
        // The collection's own methods, called directly, are queued by the collection itself.
        const counted = withSpan(parent, () => User.collection.countDocuments({}));
        await m.connect(server.url, { autoIndex: false, autoCreate: false });
        try {
          assert.deepEqual(await found, []);
          assert.equal(await counted, 0);
          const created = await withSpan(parent, () => User.create({ email: 'someone@example.com', n: 1 }));
          await withSpan(parent, () => User.updateOne({ _id: created._id }, { $inc: { n: 1 } }).exec());
          await withSpan(parent, () => User.aggregate([{ $match: { n: 2 } }]).exec());
          await withSpan(parent, () => User.deleteMany({}).exec());
        } finally {
          await m.disconnect();
        }
        parent.finish();
        await tracer.settle();
        const spans = mongoSpans().filter((s) => s.operationName !== 'mongodb.endSessions');
        assert.ok(spans.length >= 5, names().join(', '));
        const coll = `people_${name.replace(/\W/g, '_')}`;
        assert.deepEqual(
          spans.map((s) => s.operationName).sort(),
          [`mongodb.find ${coll}`, `mongodb.aggregate ${coll}`, `mongodb.insert ${coll}`, `mongodb.update ${coll}`, `mongodb.aggregate ${coll}`, `mongodb.delete ${coll}`].sort(),
        );
        for (const span of spans) assert.equal(span.parentId, parent.id, `${span.operationName} is a child of the request`);
        assert.ok(!JSON.stringify(spans.map((s) => s.tags)).includes('someone@example.com'));
      });
    });
  }
});
