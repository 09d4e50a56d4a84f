import path from 'node:path';
import type { MongoClient, Collection } from 'mongodb';
import { mongoServer } from '../../helpers/mongo-server';
import type { Driver } from '../driver';

 

/**
 * A driver for the MongoDB driver installed as `pkg` (a package name, or the path of a copy nested in
 * another package), with its own server (the stand-in or MONGODB_URL).
 */
function mongodbDriverFor(pkg: string, name: string, config?: Driver['config']): Driver {
  let server: Awaited<ReturnType<typeof mongoServer>>;
  let client: MongoClient;
  let coll: Collection;
  const connectionFile = path.join(path.dirname(require.resolve(pkg)), 'cmap', 'connection.js');
  // Wrapped before 6.4 only (its callback runs in the context that checked out).
  const poolFile = path.join(path.dirname(require.resolve(pkg)), 'cmap', 'connection_pool.js');

  return {
    name,
    hook: 'mongodb',
    config,
    operation: /^mongodb\.(find conformance|noSuchCommandConformance)$/,
    tags() {
      return { component: 'mongodb', 'db.type': 'mongo', 'db.instance': 'test' };
    },
    targets: () => [
      [require(connectionFile).Connection.prototype, 'command'],
      [require(poolFile).ConnectionPool.prototype, 'checkOut'],
    ],
    async start() {
      server = await mongoServer();
      const { MongoClient } = require(pkg) as typeof import('mongodb');
      client = new MongoClient(server.url);
      await client.connect();
      coll = client.db('test').collection('conformance');
      await coll.deleteMany({});
      await coll.insertOne({ k: 1, v: 'one' });
    },
    async stop() {
      await client.close();
      await server.close();
    },
    call() {
      return coll.findOne({ k: 1 }, { projection: { _id: 0 } });
    },
    failingCall() {
      return client.db('test').command({ noSuchCommandConformance: 1 });
    },
    countedCall(onRead) {
      const filter: Record<string, unknown> = {};
      Object.defineProperty(filter, 'k', { enumerable: true, get: () => (onRead('k'), 1) });
      return coll.findOne(filter, { projection: { _id: 0 } });
    },
    // OpenTelemetry recognises the package by its name, never an npm alias.
    otel:
      config?.aliases === undefined
        ? {
            module: '@opentelemetry/instrumentation-mongodb',
            export: 'MongoDBInstrumentation',
            reload: [pkg, connectionFile, poolFile],
            // By default it traces nothing outside a span of its own tracer.
            config: { requireParentSpan: false },
          }
        : undefined,
  };
}

/**
 * The MongoDB driver: 7.x, 6.4+, and 6.0–6.3 (a callback `command`): 6.3 through an alias, 6.2 as
 * mongoose 8.0's own copy, at a `node_modules/mongodb` path, where OpenTelemetry's instrumentation sees it.
 */
export const mongodbDrivers: Driver[] = [
  mongodbDriverFor('mongodb', 'mongodb'),
  mongodbDriverFor('mongodb6', 'mongodb@6', { aliases: { mongodb6: 'mongodb' } }),
  mongodbDriverFor('mongodb63', 'mongodb@6.3', { aliases: { mongodb63: 'mongodb' } }),
  mongodbDriverFor(path.dirname(path.dirname(require.resolve('mongodb', { paths: [path.dirname(require.resolve('mongoose80'))] }))), 'mongodb@6.2'),
];
