/**
 * amqplib against the real RabbitMQ: a producer driver (publish on a confirm channel, both APIs) and a
 * consumer driver (a message carrying the parent's context in its headers, seen by a consume callback).
 */
import amqp from 'amqplib';
import amqpCallback from 'amqplib/callback_api';
import { amqpUrl } from '../../helpers/services';
import type { Driver, OtelCounterpart } from '../driver';
import { Deliveries } from './held';

interface Model {
  Channel: { prototype: object };
  ConfirmChannel: { prototype: object };
}

const channelLib = require('amqplib/lib/channel') as { BaseChannel: { prototype: object }; Channel: { prototype: object } };
const connectionLib = require('amqplib/lib/connection') as { Connection: { prototype: object } };
const promiseModel = require('amqplib/lib/channel_model') as Model;
const callbackModel = require('amqplib/lib/callback_model') as Model;
const connectLib = require('amqplib/lib/connect') as object;

/** Every function the amqplib hook replaces. */
export function amqplibTargets(): Array<[object, PropertyKey]> {
  const targets: Array<[object, PropertyKey]> = [[channelLib.BaseChannel.prototype, 'dispatchMessage'], [connectLib, 'connect']];
  targets.push([channelLib.Channel.prototype, '_rpc'], [channelLib.Channel.prototype, 'onBufferDrain']);
  targets.push([connectionLib.Connection.prototype, 'open'], [connectionLib.Connection.prototype, 'close'], [connectionLib.Connection.prototype, '_updateSecret']);
  for (const model of [promiseModel, callbackModel]) {
    targets.push([model.Channel.prototype, 'publish'], [model.Channel.prototype, 'consume'], [model.ConfirmChannel.prototype, 'publish']);
  }
  targets.push([promiseModel.Channel.prototype, 'get'], [callbackModel.Channel.prototype, 'get'], [callbackModel.Channel.prototype, 'close']);
  return targets;
}

export function amqpPort(): number {
  return Number(new URL(amqpUrl()).port || 5672);
}

const CONTENT = Buffer.from('conformance');
/** An exchange with no binding: the broker confirms each message and drops it, so nothing piles up. */
const EXCHANGE = 'otch.conformance.publish';
const ROUTING_KEY = 'conformance';

// OpenTelemetry patches amqplib's internal files, which only a require of those files (not of the
// entry) shows it when amqplib is loaded already.
const otel: OtelCounterpart = {
  module: '@opentelemetry/instrumentation-amqplib',
  export: 'AmqplibInstrumentation',
  reload: ['amqplib', 'amqplib/lib/channel_model.js', 'amqplib/lib/callback_model.js', 'amqplib/lib/connect.js'],
};

/** What the amqplib drivers declare alike: the hook, its targets, OpenTelemetry's counterpart, and a span's tags on `destination`. */
function amqplibFacts(kind: 'producer' | 'consumer', operation: RegExp, destination: string, amqpTags: Record<string, unknown>): Pick<Driver, 'name' | 'hook' | 'kind' | 'operation' | 'tags' | 'targets' | 'otel'> {
  return {
    name: `amqplib ${kind}`,
    hook: 'amqplib',
    kind,
    operation,
    tags: () => ({ component: 'amqplib', 'message_bus.destination': destination, ...amqpTags, 'peer.port': amqpPort() }),
    targets: amqplibTargets,
    otel,
  };
}

/** Publishes on a confirm channel; resolves with what publish returned once the broker confirmed. */
function publishConfirmed(channel: amqp.ConfirmChannel, exchange: string, options: amqp.Options.Publish = {}): { outcome: Promise<unknown> } {
  let published: boolean | undefined;
  const outcome = new Promise((resolve, reject) => {
    published = channel.publish(exchange, ROUTING_KEY, CONTENT, options, (err: unknown) => (err != null ? reject(err) : resolve({ published })));
  });
  return { outcome };
}

let producerConnection: amqp.ChannelModel;
let producerChannel: amqp.ConfirmChannel;
let callbackConnection: amqpCallback.Connection;
let callbackChannel: amqpCallback.ConfirmChannel;

export const amqplibProducerDriver: Driver = {
  // The failing call publishes to another (missing) exchange.
  ...amqplibFacts('producer', /^amqp\.publish /, EXCHANGE, { 'amqp.exchange': EXCHANGE, 'amqp.routing_key': ROUTING_KEY }),
  async start() {
    producerConnection = await amqp.connect(amqpUrl());
    producerChannel = await producerConnection.createConfirmChannel();
    await producerChannel.assertExchange(EXCHANGE, 'direct', { durable: false });
    callbackConnection = await new Promise((resolve, reject) => amqpCallback.connect(amqpUrl(), (err, c) => (err ? reject(err) : resolve(c))));
    callbackChannel = await new Promise((resolve, reject) => callbackConnection.createConfirmChannel((err, ch) => (err ? reject(err) : resolve(ch))));
  },
  async stop() {
    await producerConnection?.close();
    await new Promise((resolve) => callbackConnection?.close(resolve));
  },
  call: () => publishConfirmed(producerChannel, EXCHANGE).outcome,
  // No such exchange: the broker closes the channel with a 404, which the channel's 'error' event
  // reports (the confirm callback only hears "channel closed"). A fresh channel each time.
  async failingCall() {
    const channel = await producerConnection.createConfirmChannel();
    return new Promise((resolve, reject) => {
      channel.on('error', reject);
      publishConfirmed(channel, 'otch.conformance.no-such-exchange').outcome.then(resolve, () => undefined);
    });
  },
  callbackCall(callback) {
    let published: boolean | undefined;
    // eslint-disable-next-line prefer-const -- publish may call back before it returns: a const would still be in its dead zone
    published = callbackChannel.publish(EXCHANGE, ROUTING_KEY, CONTENT, {}, (err: unknown) => callback(err, { published }));
  },
  countedCall(onRead) {
    const input: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ contentType: 'text/plain', messageId: 'counted', persistent: false, headers: { app: 'conformance' } })) {
      Object.defineProperty(input, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return publishConfirmed(producerChannel, EXCHANGE, input as amqp.Options.Publish).outcome;
  },
  async inFlightCall() {
    return publishConfirmed(producerChannel, EXCHANGE);
  },
};

/** What a consume callback saw of a message, minus what differs per call. */
interface Seen {
  content: string;
  exchange: string;
  routingKey: string;
  contentType: unknown;
  messageId: unknown;
  headers: Record<string, unknown>;
}

const CONSUME_QUEUE = `otch.conformance.consume.${process.pid}`;

let consumerConnection: amqp.ChannelModel;
let sendChannel: amqp.Channel;
let consumeChannel: amqp.Channel;
const deliveries = new Deliveries<Seen>((id, traceparent) => {
  const headers = traceparent === undefined ? {} : { traceparent };
  sendChannel.sendToQueue(CONSUME_QUEUE, CONTENT, { messageId: id, contentType: 'text/plain', headers });
});

function onMessage(msg: amqp.ConsumeMessage | null): Promise<void> | undefined {
  if (msg === null) return undefined;
  return deliveries.seen(String(msg.properties.messageId), {
    content: msg.content.toString(),
    exchange: msg.fields.exchange,
    routingKey: msg.fields.routingKey,
    contentType: msg.properties.contentType,
    messageId: msg.properties.messageId,
    headers: { ...msg.properties.headers },
  });
}

export const amqplibConsumerDriver: Driver = {
  // The failing call consumes from a server-named queue (`amqp.consume amq.gen-*`).
  ...amqplibFacts('consumer', /^amqp\.consume /, CONSUME_QUEUE, { 'amqp.queue': CONSUME_QUEUE, 'amqp.exchange': '', 'amqp.routing_key': CONSUME_QUEUE }),
  async start() {
    consumerConnection = await amqp.connect(amqpUrl());
    sendChannel = await consumerConnection.createChannel();
    consumeChannel = await consumerConnection.createChannel();
    await consumeChannel.assertQueue(CONSUME_QUEUE, { exclusive: true });
    await consumeChannel.consume(CONSUME_QUEUE, onMessage, { noAck: true });
  },
  async stop() {
    await consumerConnection?.close();
  },
  // A consume callback that throws: amqplib closes the channel, and its 'error' event carries that
  // very error (code 541). A fresh channel and queue each time.
  async failingCall() {
    const channel = await consumerConnection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    return new Promise((_resolve, reject) => {
      channel.on('error', reject);
      channel.consume(queue, () => {
        throw new Error('the consumer failed');
      }, { noAck: true }).then(() => channel.sendToQueue(queue, CONTENT), reject);
    });
  },
  // In flight: the consume callback has run (its span is open) and returns a promise that settles only
  // after the contract has uninstalled the hook. Each call has its own message id. Untraced, the producer
  // side adds no trace header to a message sent outside any span; traced it does.
  ...deliveries.driverCalls('messageId'),
};

export const amqplibDrivers: Driver[] = [amqplibProducerDriver, amqplibConsumerDriver];
