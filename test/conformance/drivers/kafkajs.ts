/**
 * kafkajs against the Kafka-protocol broker the service script starts (librdkafka's mock cluster): a
 * producer driver (send) and a consumer driver (a message carrying the parent's context in its headers,
 * seen by an eachMessage handler).
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { Consumer, IHeaders, LogEntry, Message, Producer, RecordMetadata } from 'kafkajs';
import { installedPatches } from '../../../src';
import { kafkaBrokers, messagingTags } from '../../helpers/services';
import { Deliveries } from './held';
import type { Driver, OtelCounterpart } from '../driver';

 
const Runner = require('kafkajs/src/consumer/runner') as { prototype: object };
const Connection = require('kafkajs/src/network/connection') as { prototype: object };
const Broker = require('kafkajs/src/broker') as { prototype: object };

/** Every function the kafkajs hook replaces. */
export function kafkajsTargets(): Array<[object, PropertyKey]> {
  return [
    [Kafka.prototype, 'producer'],
    [Runner.prototype, 'processEachMessage'],
    [Runner.prototype, 'processEachBatch'],
    [Runner.prototype, 'start'],
    [Connection.prototype, 'connect'],
    [Broker.prototype, 'produce'],
  ];
}

/** What kafkajs logs at error level, with the error object it logged (a handler's error, as kafkajs got it). */
export const kafkaErrors: Array<{ message: string; error: unknown }> = [];

/** A kafkajs client on the test broker that keeps its error logs in `kafkaErrors` and says nothing. */
export function kafkaClient(clientId = 'otch-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logCreator: () => (entry: LogEntry) => {
      if (entry.level === logLevel.ERROR) kafkaErrors.push({ message: entry.log.message, error: entry.log.error });
    },
    retry: { retries: 3, initialRetryTime: 50 },
  });
}

export function newProducer(kafka: Kafka, options: Parameters<Kafka['producer']>[0] = {}): Producer {
  return kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...options });
}

/** A consumer that fetches without waiting long for data, so that a test never waits for kafkajs' default 5 s. */
export function newConsumer(kafka: Kafka, groupId: string, options: Partial<Parameters<Kafka['consumer']>[0]> = {}): Consumer {
  return kafka.consumer({ groupId, maxWaitTimeInMs: 5, heartbeatInterval: 500, ...options });
}

/** A name for one test's topic or group (the broker lives for the whole run). */
let names = 0;
export const freshName = (what: string): string => `otch.${what}.${process.pid}.${++names}`;

const otel: OtelCounterpart = {
  module: '@opentelemetry/instrumentation-kafkajs',
  export: 'KafkaJsInstrumentation',
  reload: ['kafkajs', 'kafkajs/src/producer/index.js', 'kafkajs/src/consumer/index.js'],
};

// ---- producer ------------------------------------------------------------------------------------

const SEND_TOPIC = freshName('conformance.send');
let producerKafka: Kafka;
/** The producer made before the hooks were installed, and one made while they were (only that one is traced). */
let untracedProducer: Producer | undefined;
let tracedProducer: Producer | undefined;

/** The producer an app would use now: kafkajs producers are traced when made while the hook is installed. */
async function producerNow(): Promise<Producer> {
  if (!installedPatches().includes('kafkajs')) return (tracedProducer ?? untracedProducer)!;
  if (tracedProducer === undefined) {
    const producer = newProducer(producerKafka);
    await producer.connect();
    tracedProducer = producer;
  }
  return tracedProducer;
}

/** What a send returned, minus the offsets and partition, which differ per call. */
function normalizeSend(result: unknown): unknown {
  return (result as RecordMetadata[]).map(({ topicName, errorCode }) => ({ topicName, errorCode }));
}

export const kafkajsProducerDriver: Driver = {
  name: 'kafkajs producer',
  hook: 'kafkajs',
  kind: 'producer',
  operation: /^kafka\.send /,
  tags: () => ({ ...messagingTags('kafkajs', 'kafka', SEND_TOPIC), 'messaging.batch.message_count': 1 }),
  targets: kafkajsTargets,
  async start() {
    producerKafka = kafkaClient();
    const producer = newProducer(producerKafka);
    await producer.connect();
    if (installedPatches().includes('kafkajs')) tracedProducer = producer;
    else untracedProducer = producer;
    // The first send creates the topic.
    await producer.send({ topic: SEND_TOPIC, messages: [{ value: 'warm-up' }] });
  },
  async stop() {
    await untracedProducer?.disconnect();
    await tracedProducer?.disconnect();
  },
  call: async () => (await producerNow()).send({ topic: SEND_TOPIC, messages: [{ value: 'conformance', headers: { app: 'conformance' } }] }),
  // A producer that never connected: kafkajs rejects with "The producer is disconnected".
  failingCall: () => newProducer(producerKafka).send({ topic: SEND_TOPIC, messages: [{ value: 'never sent' }] }),
  async countedCall(onRead) {
    const producer = await producerNow();
    const message: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ key: 'counted', value: 'conformance', headers: { app: 'conformance' } })) {
      Object.defineProperty(message, key, { enumerable: true, get: () => (onRead(`message.${key}`), value) });
    }
    const record: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ topic: SEND_TOPIC, messages: [message], acks: -1 })) {
      Object.defineProperty(record, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return producer.send(record as unknown as Parameters<Producer['send']>[0]);
  },
  async inFlightCall() {
    const producer = await producerNow();
    return { outcome: producer.send({ topic: SEND_TOPIC, messages: [{ value: 'in flight' }] }) };
  },
  normalize: normalizeSend,
  otel,
};

// ---- consumer ------------------------------------------------------------------------------------

/** What an eachMessage handler saw of a message, minus what differs per call. */
interface Seen {
  topic: string;
  key: string | undefined;
  value: string | undefined;
  headers: Record<string, string>;
}

const CONSUME_TOPIC = freshName('conformance.consume');
let consumerKafka: Kafka;
let sendProducer: Producer;
let consumer: Consumer;

function textHeaders(headers: IHeaders | undefined): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) text[name] = String(value);
  return text;
}

async function onMessage({ topic, message }: { topic: string; message: { key: Buffer | null; value: Buffer | null; headers?: IHeaders } }): Promise<void> {
  const headers = textHeaders(message.headers);
  await deliveries.seen(headers['otch-id'], { topic, key: message.key?.toString(), value: message.value?.toString(), headers });
}

/** Messages of calls made in the same turn, sent together: the broker hands them over in one fetch. */
let queued: Array<{ message: Message; reject: (err: unknown) => void }> = [];

function flush(): void {
  const batch = queued;
  queued = [];
  sendProducer.send({ topic: CONSUME_TOPIC, messages: batch.map((q) => q.message) }).catch((err: unknown) => batch.forEach((q) => q.reject(err)));
}

const deliveries = new Deliveries<Seen>((id, traceparent, reject) => {
  const headers: IHeaders = { 'otch-id': id };
  if (traceparent !== undefined) headers.traceparent = traceparent;
  if (queued.length === 0) setImmediate(flush);
  queued.push({ message: { key: 'conformance', value: 'consumed', headers }, reject });
});

/**
 * Runs a consumer of its own whose handler throws, and rejects with the error kafkajs logged for it (the
 * app's view of a failed handler). No retries: one attempt, one span.
 */
async function failingConsumer(): Promise<never> {
  const topic = freshName('conformance.fail');
  await sendProducer.send({ topic, messages: [{ value: 'poison' }] });
  const failing = newConsumer(consumerKafka, freshName('fail'), { retry: { retries: 0, restartOnFailure: async () => false } });
  await failing.connect();
  await failing.subscribe({ topic, fromBeginning: true });
  const logged = kafkaErrors.length;
  try {
    await new Promise<void>((resolve, reject) => {
      failing.on(failing.events.CRASH, () => resolve());
      failing.run({ eachMessage: async () => { throw new TypeError('the handler failed'); } }).catch(reject);
    });
  } finally {
    await failing.disconnect();
  }
  throw kafkaErrors.slice(logged).find((entry) => entry.message === 'Error when calling eachMessage')?.error ?? new Error('kafkajs logged no handler error');
}

export const kafkajsConsumerDriver: Driver = {
  name: 'kafkajs consumer',
  hook: 'kafkajs',
  kind: 'consumer',
  operation: /^kafka\.process /,
  tags: () => ({ ...messagingTags('kafkajs', 'kafka', CONSUME_TOPIC), 'kafka.consumer_group': `${CONSUME_TOPIC}.group` }),
  targets: kafkajsTargets,
  async start() {
    consumerKafka = kafkaClient();
    sendProducer = newProducer(consumerKafka);
    await sendProducer.connect();
    // The first send creates the topic; the consumer is ready once it has seen that message.
    const ready = deliveries.send('warm-up');
    consumer = newConsumer(consumerKafka, `${CONSUME_TOPIC}.group`);
    await consumer.connect();
    await consumer.subscribe({ topic: CONSUME_TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: onMessage });
    await ready;
  },
  async stop() {
    await consumer?.disconnect();
    await sendProducer?.disconnect();
  },
  failingCall: failingConsumer,
  // Each call has its own id; a traced sender adds a trace header.
  ...deliveries.driverCalls(),
  otel,
};

export const kafkajsDrivers: Driver[] = [kafkajsProducerDriver, kafkajsConsumerDriver];
