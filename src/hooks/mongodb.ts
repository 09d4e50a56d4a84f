/**
 * The MongoDB driver 6.x and 7.x: one span per command an operation sends (`Connection.prototype.command`,
 * which every operation, cursor getMore, session and transaction command goes through), none for the
 * driver's own handshakes and monitoring, or a change stream's polling in event mode or through its `stream()`. Mongoose 8: the operations it buffers until its connection opens
 * run in the context that issued them (mongoose 9 keeps it by itself). The span logic is in
 * ../tracing/mongodb, loaded when the driver is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { MongodbOptions } from '../options/mongodb';

export type { MongodbOptions } from '../options/mongodb';

export const mongodbHook = defineHook<'mongodb', MongodbOptions, typeof import('../tracing/mongodb')>({
  name: 'mongodb',
  tracing: () => require('../tracing/mongodb'),
  summary: 'MongoDB driver commands (find, insert, update, delete, aggregate, getMore...; not hello/handshakes/monitoring), mongoose buffered operations in their caller context',
  targets: [
    // Before 6.4 `command` took a callback, and the pool's `checkOut` too; OpenTelemetry's instrumentation draws the same line.
    fileTargets('mongodb', '>=6.0.0 <6.4', {
      'lib/cmap/connection': 'patchCallbackConnection',
      'lib/cmap/connection_pool': 'patchConnectionPool',
    }),
    { module: 'mongodb', file: 'lib/cmap/connection', versions: '>=6.4.0 <8', patch: 'patchConnection' },
    // A change stream's event mode and its stream() poll the server by themselves (getMore after getMore): the driver's own work.
    { module: 'mongodb', file: 'lib/change_stream', versions: '>=6.0.0 <8', patch: 'patchChangeStream' },
    { module: 'mongoose', file: 'lib/collection', versions: '>=8.0.0 <9', patch: 'patchMongooseCollection' },
  ],
});
