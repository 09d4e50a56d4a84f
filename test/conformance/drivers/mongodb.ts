import path from 'node:path';
import type { MongoClient, Collection } from 'mongodb';
import { mongoServer } from '../../helpers/mongo-server';
import type { Driver } from '../driver';

 

/** A driver for the MongoDB driver installed as `pkg`, with its own server (the stand-in or MONGODB_URL). */
function mongodbDriverFor(pkg: string, name: string, config?: Driver['config']): Driver {
  let server: Awaited<ReturnType<typeof mongoServer>>;
  let client: MongoClient;
  let coll: Collection;
  const connectionFile = path.join(path.dirname(require.resolve(pkg)), 'cmap', 'connection.js');

  return {
    name,
    hook: 'mongodb',
    config,
    operation: /^mongodb\.(find conformance|noSuchCommandConformance)$/,
    tags() {
      return { component: 'mongodb', 'db.type': 'mongo', 'db.instance': 'test' };
    },
    targets: () => [[require(connectionFile).Connection.prototype, 'command']],
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
            reload: [pkg, connectionFile],
            // By default it traces nothing outside a span of its own tracer.
            config: { requireParentSpan: false },
          }
        : undefined,
  };
}

/** The MongoDB driver, 7.x and 6.x. */
export const mongodbDrivers: Driver[] = [mongodbDriverFor('mongodb', 'mongodb'), mongodbDriverFor('mongodb6', 'mongodb@6', { aliases: { mongodb6: 'mongodb' } })];
