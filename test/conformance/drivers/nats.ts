/**
 * NATS against the real nats-server the service script starts: publish (producer), request (client,
 * answered by a responder), and a callback subscription (consumer) that sees a message carrying the
 * parent's context in its headers; JetStream's publish (producer) and a pull consumer's `consume()`
 * callback (consumer), on a stream of this process's own.
 */
import { AckPolicy, connect, headers as natsHeaders, RetentionPolicy, StorageType, StringCodec } from 'nats';
import type { ConsumerMessages, JetStreamClient, JsMsg, Msg, MsgHdrs, NatsConnection, PubAck, Subscription } from 'nats';
import { messagingTags, natsUrl } from '../../helpers/services';
import { Deliveries } from './held';
import type { Driver } from '../driver';

 
const connectionLib = require('nats/lib/nats-base-client/nats') as { NatsConnectionImpl: { prototype: object } };
const protocolLib = require('nats/lib/nats-base-client/protocol') as { ProtocolHandler: { prototype: object } };
const iteratorLib = require('nats/lib/nats-base-client/queued_iterator') as { QueuedIteratorImpl: { prototype: object } };
const jsClientLib = require('nats/lib/jetstream/jsclient') as { JetStreamClientImpl: { prototype: object } };
const consumerLib = require('nats/lib/jetstream/consumer') as { PullConsumerMessagesImpl: { prototype: object }; OrderedPullConsumerImpl: { prototype: object } };
 

/** Every function the NATS hook replaces. */
export function natsTargets(): Array<[object, PropertyKey]> {
  return [
    [connectionLib.NatsConnectionImpl.prototype, 'publish'],
    [connectionLib.NatsConnectionImpl.prototype, 'request'],
    [protocolLib.ProtocolHandler.prototype, 'processMsg'],
    [iteratorLib.QueuedIteratorImpl.prototype, Symbol.asyncIterator],
    [jsClientLib.JetStreamClientImpl.prototype, 'publish'],
    [consumerLib.PullConsumerMessagesImpl.prototype, '_push'],
    [consumerLib.PullConsumerMessagesImpl.prototype, 'start'],
    [consumerLib.OrderedPullConsumerImpl.prototype, 'notifyOrderedResetAndReset'],
  ];
}

export const sc = StringCodec();
export const natsConnect = (): Promise<NatsConnection> => connect({ servers: natsUrl() });
let names = 0;
/** A subject for one test (the server lives for the whole run). */
export const freshSubject = (what: string): string => `otch.${what}.${process.pid}.${++names}`;

/** What the NATS drivers declare alike: the hook, its targets, and the tags of a span on `subject`. */
function natsFacts(name: string, kind: Driver['kind'], operation: RegExp, subject: string): Pick<Driver, 'name' | 'hook' | 'kind' | 'operation' | 'tags' | 'targets'> {
  return { name: `nats ${name}`, hook: 'nats', kind, operation, tags: () => messagingTags('nats', 'nats', subject), targets: natsTargets };
}

/** Headers as plain text, for comparing what arrived. */
export function headerRecord(headers: MsgHdrs | undefined): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  for (const key of headers?.keys() ?? []) record[key] = headers!.values(key);
  return record;
}

// ---- publish -------------------------------------------------------------------------------------

const PUBLISH_SUBJECT = freshSubject('conformance.publish');
let publisher: NatsConnection;
let closedConnection: NatsConnection;

export const natsPublishDriver: Driver = {
  ...natsFacts('publish', 'producer', /^nats\.publish /, PUBLISH_SUBJECT),
  async start() {
    publisher = await natsConnect();
    closedConnection = await natsConnect();
    await closedConnection.close();
  },
  async stop() {
    await publisher?.close();
  },
  // publish only buffers: the flush says the server has it.
  async call() {
    const result = publisher.publish(PUBLISH_SUBJECT, sc.encode('conformance'));
    await publisher.flush();
    return result;
  },
  // A closed connection: publish throws "CONNECTION_CLOSED".
  async failingCall() {
    return closedConnection.publish(PUBLISH_SUBJECT, sc.encode('never sent'));
  },
  async countedCall(onRead) {
    const options: Record<string, unknown> = {};
    const hdrs = natsHeaders();
    hdrs.set('app', 'conformance');
    // The client writes `reply` back onto the options it is given.
    for (const [key, value] of Object.entries({ headers: hdrs, reply: '' })) {
      Object.defineProperty(options, key, { enumerable: true, configurable: true, get: () => (onRead(key), value), set: () => undefined });
    }
    publisher.publish(PUBLISH_SUBJECT, sc.encode('counted'), options);
    await publisher.flush();
  },
};

// ---- request -------------------------------------------------------------------------------------

const REQUEST_SUBJECT = freshSubject('conformance.request');
const SLOW_SUBJECT = freshSubject('conformance.slow');
const NOBODY_SUBJECT = freshSubject('conformance.nobody');
let requester: NatsConnection;
let responder: NatsConnection;

function normalizeReply(result: unknown): unknown {
  const msg = result as Msg;
  return { data: sc.decode(msg.data), subject: msg.subject.startsWith('_INBOX.') ? '_INBOX.*' : msg.subject };
}

export const natsRequestDriver: Driver = {
  ...natsFacts('request', 'client', /^nats\.request /, REQUEST_SUBJECT),
  async start() {
    requester = await natsConnect();
    responder = await natsConnect();
    const echo = (msg: Msg): boolean => msg.respond(sc.encode(`echo ${sc.decode(msg.data)}`));
    responder.subscribe(REQUEST_SUBJECT, { callback: (_err, msg) => echo(msg) });
    responder.subscribe(SLOW_SUBJECT, { callback: (_err, msg) => setImmediate(() => echo(msg)) });
    await responder.flush();
  },
  async stop() {
    await requester?.close();
    await responder?.close();
  },
  call: () => requester.request(REQUEST_SUBJECT, sc.encode('conformance'), { timeout: 5000 }),
  // No subscriber: the server answers "no responders" (503).
  failingCall: () => requester.request(NOBODY_SUBJECT, sc.encode('anyone?'), { timeout: 5000 }),
  async countedCall(onRead) {
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ timeout: 5000, noMux: false })) {
      Object.defineProperty(options, key, { enumerable: true, configurable: true, get: () => (onRead(key), value), set: () => undefined });
    }
    return requester.request(REQUEST_SUBJECT, sc.encode('counted'), options as { timeout: number });
  },
  async inFlightCall() {
    return { outcome: requester.request(SLOW_SUBJECT, sc.encode('conformance'), { timeout: 5000 }) };
  },
  normalize: normalizeReply,
};

// ---- subscribe -----------------------------------------------------------------------------------

interface Seen {
  subject: string;
  data: string;
  headers: Record<string, string[]>;
}

const SUBSCRIBE_SUBJECT = freshSubject('conformance.subscribe');
let sender: NatsConnection;
let receiver: NatsConnection;
let subscription: Subscription;
const deliveries = new Deliveries<Seen>((id, traceparent) => {
  const hdrs = natsHeaders();
  hdrs.set('otch-id', id);
  if (traceparent !== undefined) hdrs.set('traceparent', traceparent);
  sender.publish(SUBSCRIBE_SUBJECT, sc.encode('consumed'), { headers: hdrs });
});

function onMessage(_err: unknown, msg: Msg): Promise<void> | undefined {
  const headers = headerRecord(msg.headers);
  return deliveries.seen(headers['otch-id']?.[0], { subject: msg.subject, data: sc.decode(msg.data), headers });
}

/**
 * A subscription whose callback throws: the client reports it (console.log "reader closed", the
 * connection's reader ends) and nothing else, so that report is what the app sees. Its own connection.
 */
async function failingSubscription(): Promise<never> {
  const connection = await natsConnect();
  const subject = freshSubject('conformance.fail');
  const log = console.log;
  const reported = new Promise<unknown>((resolve) => {
    console.log = (first: unknown, ...rest: unknown[]): void => (first === 'reader closed' ? resolve(rest[0]) : log(first, ...rest));
  });
  try {
    connection.subscribe(subject, {
      callback: () => {
        throw new RangeError('the callback failed');
      },
    });
    connection.publish(subject, sc.encode('poison'));
    throw await reported;
  } finally {
    console.log = log;
    connection.close().catch(() => undefined);
  }
}

export const natsSubscribeDriver: Driver = {
  ...natsFacts('subscribe', 'consumer', /^nats\.process /, SUBSCRIBE_SUBJECT),
  async start() {
    sender = await natsConnect();
    receiver = await natsConnect();
    subscription = receiver.subscribe(SUBSCRIBE_SUBJECT, { callback: onMessage });
    await receiver.flush();
  },
  async stop() {
    subscription?.unsubscribe();
    await sender?.close();
    await receiver?.close();
  },
  failingCall: failingSubscription,
  // Each call has its own id; a traced sender adds a trace header.
  ...deliveries.driverCalls(),
};

// ---- JetStream ------------------------------------------------------------------------------------

/** This process's stream (in memory, its oldest messages dropped past a thousand) and its subjects. */
export const JS_STREAM = `OTCH_${process.pid}`;
const JS_SUBJECTS = `otch.js.${process.pid}`;

/** Creates the stream (again) and a durable pull consumer of its `part` subjects. */
export async function jetStreamConsumer(nc: NatsConnection, part: string, durable: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: JS_STREAM, subjects: [`${JS_SUBJECTS}.>`], storage: StorageType.Memory, retention: RetentionPolicy.Limits, max_msgs: 1000 }).catch(async () => jsm.streams.info(JS_STREAM));
  await jsm.consumers.add(JS_STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: `${JS_SUBJECTS}.${part}` });
}

async function deleteStream(nc: NatsConnection | undefined): Promise<void> {
  if (nc === undefined || nc.isClosed()) return;
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(JS_STREAM).catch(() => undefined);
}

export const jetStreamSubject = (part: string): string => `${JS_SUBJECTS}.${part}`;

const JS_PUBLISH_SUBJECT = jetStreamSubject('publish');
let jsPublisher: NatsConnection;
let js: JetStreamClient;

export const natsJetStreamPublishDriver: Driver = {
  ...natsFacts('JetStream publish', 'producer', /^nats\.publish /, JS_PUBLISH_SUBJECT),
  tags: () => ({ ...messagingTags('nats', 'nats', JS_PUBLISH_SUBJECT), 'nats.stream': JS_STREAM }),
  async start() {
    jsPublisher = await natsConnect();
    await jetStreamConsumer(jsPublisher, 'publish', 'publish-unused');
    js = jsPublisher.jetstream();
  },
  async stop() {
    await deleteStream(jsPublisher);
    await jsPublisher?.close();
  },
  call: () => js.publish(JS_PUBLISH_SUBJECT, sc.encode('conformance')),
  // No stream takes the subject: the server answers "no responders" (503), after the retry asked for.
  // (`retries` and `retry_delay` are read by the client, though its types do not declare them.)
  failingCall: () => js.publish(freshSubject('conformance.nostream'), sc.encode('nowhere'), { retries: 2, retry_delay: 5 } as Parameters<JetStreamClient['publish']>[2]),
  async countedCall(onRead) {
    const options: Record<string, unknown> = {};
    // The client writes `expect` back onto the options it is given.
    for (const [key, value] of Object.entries({ expect: {}, timeout: 5000 })) {
      Object.defineProperty(options, key, { enumerable: true, configurable: true, get: () => (onRead(key), value), set: () => undefined });
    }
    return js.publish(JS_PUBLISH_SUBJECT, sc.encode('counted'), options);
  },
  normalize: (result) => ({ ...(result as PubAck), seq: typeof (result as PubAck).seq }),
};

const JS_CONSUME_SUBJECT = jetStreamSubject('consume');
let jsSender: NatsConnection;
let jsReceiver: NatsConnection;
let consumed: ConsumerMessages | undefined;
const jsDeliveries = new Deliveries<Seen>((id, traceparent, fail) => {
  const hdrs = natsHeaders();
  hdrs.set('otch-id', id);
  if (traceparent !== undefined) hdrs.set('traceparent', traceparent);
  jsSender.publish(JS_CONSUME_SUBJECT, sc.encode('consumed'), { headers: hdrs });
  jsSender.flush().catch(fail);
});

function onJetStreamMessage(msg: JsMsg): Promise<void> | undefined {
  msg.ack();
  const headers = headerRecord(msg.headers);
  return jsDeliveries.seen(headers['otch-id']?.[0], { subject: msg.subject, data: sc.decode(msg.data), headers });
}

/** A consumer whose callback throws: the client stops it, and its `closed()` gives the error. Its own consumer. */
async function failingJetStreamConsumer(): Promise<never> {
  const durable = `fail-${++names}`;
  await jetStreamConsumer(jsReceiver, 'fail', durable);
  const consumer = await jsReceiver.jetstream().consumers.get(JS_STREAM, durable);
  const messages = await consumer.consume({
    callback: () => {
      throw new RangeError('the callback failed');
    },
  });
  jsSender.publish(jetStreamSubject('fail'), sc.encode('poison'));
  const err = await messages.closed();
  throw err;
}

export const natsJetStreamConsumeDriver: Driver = {
  ...natsFacts('JetStream consume', 'consumer', /^nats\.process /, JS_STREAM),
  tags: () => ({ ...messagingTags('nats', 'nats', JS_STREAM), 'nats.stream': JS_STREAM, 'nats.subject': JS_CONSUME_SUBJECT, 'nats.consumer': 'consume' }),
  async start() {
    jsSender = await natsConnect();
    jsReceiver = await natsConnect();
    await jetStreamConsumer(jsReceiver, 'consume', 'consume');
    const consumer = await jsReceiver.jetstream().consumers.get(JS_STREAM, 'consume');
    consumed = await consumer.consume({ callback: onJetStreamMessage });
  },
  async stop() {
    await consumed?.close();
    await deleteStream(jsReceiver);
    await jsSender?.close();
    await jsReceiver?.close();
  },
  failingCall: failingJetStreamConsumer,
  ...jsDeliveries.driverCalls(),
};

export const natsDrivers: Driver[] = [natsPublishDriver, natsRequestDriver, natsSubscribeDriver, natsJetStreamPublishDriver, natsJetStreamConsumeDriver];
