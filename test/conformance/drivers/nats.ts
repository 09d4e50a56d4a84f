/**
 * NATS against the real nats-server the service script starts, for both clients (`nats` 2.x and nats.js
 * 3, see ../../helpers/nats-libs): publish (producer), request (client, answered by a responder), a
 * callback subscription (consumer) that sees a message carrying the parent's context in its headers;
 * JetStream's publish (producer) and a pull consumer's `consume()` callback (consumer), on a stream of
 * the process's own per client.
 */
import type { NatsConnection } from 'nats';
import { messagingTags } from '../../helpers/services';
import { NATS_LIBS, sc } from '../../helpers/nats-libs';
import type { NatsLib } from '../../helpers/nats-libs';
import { Deliveries } from './held';
import type { Driver } from '../driver';


export { sc };
const [NATS2] = NATS_LIBS;
/** A `nats` 2.x connection (what the other hooks' tests use). */
export const natsConnect = (): Promise<NatsConnection> => NATS2.connect();
let names = 0;
/** A subject for one test (the server lives for the whole run). */
export const freshSubject = (what: string): string => `otch.${what}.${process.pid}.${++names}`;

/** Headers as plain text, for comparing what arrived. */
export function headerRecord(headers: { keys(): string[]; values(key: string): string[] } | undefined): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  for (const key of headers?.keys() ?? []) record[key] = headers!.values(key);
  return record;
}

interface Seen {
  subject: string;
  data: string;
  headers: Record<string, string[]>;
}

// ---- JetStream streams ----------------------------------------------------------------------------

/** The process's stream for `lib` (in memory, its oldest messages dropped past a thousand). */
export const jetStreamOf = (lib: NatsLib): string => `OTCH_${process.pid}_${lib.label.slice(-1)}`;
/** A subject that stream takes. */
export const jetStreamSubject = (lib: NatsLib, part: string): string => `otch.js.${process.pid}.${lib.label.slice(-1)}.${part}`;

/** Creates the stream (again, if it was deleted) and a durable pull consumer of its `part` subject. */
export async function jetStreamConsumer(lib: NatsLib, nc: any, part: string, durable: string): Promise<void> {
  const jsm = await lib.jetstreamManager(nc);
  const name = jetStreamOf(lib);
  const { AckPolicy, RetentionPolicy, StorageType } = lib.jetStreamEnums();
  const config = { name, subjects: [jetStreamSubject(lib, '>')], storage: StorageType.Memory, retention: RetentionPolicy.Limits, max_msgs: 1000 };
  await jsm.streams.add(config).catch(async () => jsm.streams.info(name));
  await jsm.consumers.add(name, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: jetStreamSubject(lib, part) });
}

export async function deleteJetStream(lib: NatsLib, nc: any): Promise<void> {
  if (nc === undefined || nc.isClosed()) return;
  const jsm = await lib.jetstreamManager(nc);
  await jsm.streams.delete(jetStreamOf(lib)).catch(() => undefined);
}

/** Options holding `values`, each read reported to `onRead`; writes to them are dropped. */
function countedOptions(values: Record<string, unknown>, onRead: (property: string) => void): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    Object.defineProperty(options, key, { enumerable: true, configurable: true, get: () => (onRead(key), value), set: () => undefined });
  }
  return options;
}

// ---- the drivers of one client ---------------------------------------------------------------------

function natsDriversOf(lib: NatsLib): Driver[] {
  /** What the drivers declare alike: the hook, its targets, and the tags of a span on `destination`. */
  const facts = (name: string, kind: Driver['kind'], operation: RegExp, destination: string): Pick<Driver, 'name' | 'hook' | 'kind' | 'operation' | 'tags' | 'targets'> => ({
    name: `${lib.label} ${name}`,
    hook: 'nats',
    kind,
    operation,
    tags: () => messagingTags('nats', 'nats', destination),
    targets: () => lib.targets(),
  });

  // ---- publish

  const publishSubject = freshSubject('conformance.publish');
  let publisher: any;
  let closedConnection: any;
  const publishDriver: Driver = {
    ...facts('publish', 'producer', /^nats\.publish /, publishSubject),
    async start() {
      publisher = await lib.connect();
      closedConnection = await lib.connect();
      await closedConnection.close();
    },
    async stop() {
      await publisher?.close();
    },
    // publish only buffers: the flush says the server has it.
    async call() {
      const result = publisher.publish(publishSubject, sc.encode('conformance'));
      await publisher.flush();
      return result;
    },
    // A closed connection: publish throws.
    async failingCall() {
      return closedConnection.publish(publishSubject, sc.encode('never sent'));
    },
    async countedCall(onRead) {
      const hdrs = lib.headers();
      hdrs.set('app', 'conformance');
      // nats 2 writes `reply` back onto the options it is given.
      publisher.publish(publishSubject, sc.encode('counted'), countedOptions({ headers: hdrs, reply: '' }, onRead));
      await publisher.flush();
    },
  };

  // ---- request

  const requestSubject = freshSubject('conformance.request');
  const slowSubject = freshSubject('conformance.slow');
  const nobodySubject = freshSubject('conformance.nobody');
  let requester: any;
  let responder: any;
  const requestDriver: Driver = {
    ...facts('request', 'client', /^nats\.request /, requestSubject),
    async start() {
      requester = await lib.connect();
      responder = await lib.connect();
      const echo = (msg: any): boolean => msg.respond(sc.encode(`echo ${sc.decode(msg.data)}`));
      responder.subscribe(requestSubject, { callback: (_err: unknown, msg: any) => echo(msg) });
      responder.subscribe(slowSubject, { callback: (_err: unknown, msg: any) => setImmediate(() => echo(msg)) });
      await responder.flush();
    },
    async stop() {
      await requester?.close();
      await responder?.close();
    },
    call: () => requester.request(requestSubject, sc.encode('conformance'), { timeout: 5000 }),
    // No subscriber: the server answers "no responders".
    failingCall: () => requester.request(nobodySubject, sc.encode('anyone?'), { timeout: 5000 }),
    async countedCall(onRead) {
      return requester.request(requestSubject, sc.encode('counted'), countedOptions({ timeout: 5000, noMux: false }, onRead));
    },
    async inFlightCall() {
      return { outcome: requester.request(slowSubject, sc.encode('conformance'), { timeout: 5000 }) };
    },
    normalize(result) {
      const msg = result as { data: Uint8Array; subject: string };
      return { data: sc.decode(msg.data), subject: msg.subject.startsWith('_INBOX.') ? '_INBOX.*' : msg.subject };
    },
  };

  // ---- subscribe

  const subscribeSubject = freshSubject('conformance.subscribe');
  let sender: any;
  let receiver: any;
  let subscription: any;
  const deliveries = new Deliveries<Seen>((id, traceparent) => {
    const hdrs = lib.headers();
    hdrs.set('otch-id', id);
    if (traceparent !== undefined) hdrs.set('traceparent', traceparent);
    sender.publish(subscribeSubject, sc.encode('consumed'), { headers: hdrs });
  });
  const onMessage = (_err: unknown, msg: any): Promise<void> | undefined => {
    const headers = headerRecord(msg.headers);
    return deliveries.seen(headers['otch-id']?.[0], { subject: msg.subject, data: sc.decode(msg.data), headers });
  };

  /**
   * A subscription whose callback throws: the client reports it (console.log "reader closed", the
   * connection's reader ends) and nothing else, so that report is what the app sees. Its own connection.
   */
  async function failingSubscription(): Promise<never> {
    const connection = await lib.connect();
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

  const subscribeDriver: Driver = {
    ...facts('subscribe', 'consumer', /^nats\.process /, subscribeSubject),
    async start() {
      sender = await lib.connect();
      receiver = await lib.connect();
      subscription = receiver.subscribe(subscribeSubject, { callback: onMessage });
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

  // ---- JetStream publish

  const stream = jetStreamOf(lib);
  const jsPublishSubject = jetStreamSubject(lib, 'publish');
  let jsPublisher: any;
  let js: any;
  const jetStreamPublishDriver: Driver = {
    ...facts('JetStream publish', 'producer', /^nats\.publish /, jsPublishSubject),
    tags: () => ({ ...messagingTags('nats', 'nats', jsPublishSubject), 'nats.stream': stream }),
    async start() {
      jsPublisher = await lib.connect();
      await jetStreamConsumer(lib, jsPublisher, 'publish', 'publish-unused');
      js = lib.jetstream(jsPublisher);
    },
    async stop() {
      await deleteJetStream(lib, jsPublisher);
      await jsPublisher?.close();
    },
    call: () => js.publish(jsPublishSubject, sc.encode('conformance')),
    // No stream takes the subject: the server answers "no responders", after the retry asked for.
    failingCall: () => js.publish(freshSubject('conformance.nostream'), sc.encode('nowhere'), { retries: 2, retry_delay: 5 }),
    async countedCall(onRead) {
      // nats 2 writes `expect` back onto the options it is given.
      return js.publish(jsPublishSubject, sc.encode('counted'), countedOptions({ expect: {}, timeout: 5000 }, onRead));
    },
    normalize: (result) => ({ ...(result as object), seq: typeof (result as { seq: unknown }).seq }),
  };

  // ---- JetStream consume

  const jsConsumeSubject = jetStreamSubject(lib, 'consume');
  let jsSender: any;
  let jsReceiver: any;
  let consumed: any;
  const jsDeliveries = new Deliveries<Seen>((id, traceparent, fail) => {
    const hdrs = lib.headers();
    hdrs.set('otch-id', id);
    if (traceparent !== undefined) hdrs.set('traceparent', traceparent);
    jsSender.publish(jsConsumeSubject, sc.encode('consumed'), { headers: hdrs });
    jsSender.flush().catch(fail);
  });
  const onJetStreamMessage = (msg: any): Promise<void> | undefined => {
    msg.ack();
    const headers = headerRecord(msg.headers);
    return jsDeliveries.seen(headers['otch-id']?.[0], { subject: msg.subject, data: sc.decode(msg.data), headers });
  };

  /** A consumer whose callback throws: the client stops it, and its `closed()` gives the error. Its own consumer. */
  async function failingJetStreamConsumer(): Promise<never> {
    const durable = `fail-${++names}`;
    await jetStreamConsumer(lib, jsReceiver, 'fail', durable);
    const consumer = await lib.jetstream(jsReceiver).consumers.get(stream, durable);
    const messages = await consumer.consume({
      callback: () => {
        throw new RangeError('the callback failed');
      },
    });
    jsSender.publish(jetStreamSubject(lib, 'fail'), sc.encode('poison'));
    const err = await messages.closed();
    throw err;
  }

  const jetStreamConsumeDriver: Driver = {
    ...facts('JetStream consume', 'consumer', /^nats\.process /, stream),
    tags: () => ({ ...messagingTags('nats', 'nats', stream), 'nats.stream': stream, 'nats.subject': jsConsumeSubject, 'nats.consumer': 'consume' }),
    async start() {
      jsSender = await lib.connect();
      jsReceiver = await lib.connect();
      await jetStreamConsumer(lib, jsReceiver, 'consume', 'consume');
      const consumer = await lib.jetstream(jsReceiver).consumers.get(stream, 'consume');
      consumed = await consumer.consume({ callback: onJetStreamMessage });
    },
    async stop() {
      await consumed?.close();
      await deleteJetStream(lib, jsReceiver);
      await jsSender?.close();
      await jsReceiver?.close();
    },
    failingCall: failingJetStreamConsumer,
    ...jsDeliveries.driverCalls(),
  };

  return [publishDriver, requestDriver, subscribeDriver, jetStreamPublishDriver, jetStreamConsumeDriver];
}

export const natsDrivers: Driver[] = NATS_LIBS.flatMap(natsDriversOf);
