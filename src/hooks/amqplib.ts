/**
 * amqplib 0.10 (RabbitMQ): the promise API (`amqplib`) and the callback API (`amqplib/callback_api`):
 * producer spans for `publish`/`sendToQueue` with the trace in the message headers, consumer spans
 * around the consumers of deliveries and for the messages `get` returns. Every patch is on an internal file (`lib/channel`,
 * `lib/connection`, `lib/channel_model`, `lib/callback_model`, `lib/connect`), which CommonJS and ES-module imports of the
 * package both load through require(). The span logic is in ../tracing/amqplib, loaded when amqplib is.
 */
import type { AmqplibOptions } from '../options/amqplib';
import { defineHook, fileTargets } from '../registry/define';

const VERSIONS = '>=0.10.0 <0.11';

export const amqplibHook = defineHook<'amqplib', AmqplibOptions, typeof import('../tracing/amqplib')>({
  name: 'amqplib',
  summary: 'amqplib (RabbitMQ): producer spans for publish/sendToQueue with the trace in the message headers, consumer spans around consume callbacks and for messages get returns',
  tracing: () => require('../tracing/amqplib'),
  targets: fileTargets('amqplib', VERSIONS, {
    'lib/channel': 'patchChannel',
    'lib/connection': 'patchConnection',
    'lib/channel_model': 'patchModel',
    'lib/callback_model': 'patchCallbackModel',
    // Only reached when the hooks are installed before amqplib loads: its entry files keep their own
    // reference to `connect`. Connections opened otherwise are tagged from their socket.
    'lib/connect': 'patchConnect',
  }),
});
