/**
 * NATS against the real nats-server the service script starts: publish (producer), request (client,
 * answered by a responder), and a callback subscription (consumer) that sees a message carrying the
 * parent's context in its headers.
 */
import { connect, headers as natsHeaders, StringCodec } from 'nats';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { messagingTags, natsUrl } from '../../helpers/services';
import { Deliveries } from './held';
import type { Driver } from '../driver';

 
const connectionLib = require('nats/lib/nats-base-client/nats') as { NatsConnectionImpl: { prototype: object } };
const protocolLib = require('nats/lib/nats-base-client/protocol') as { ProtocolHandler: { prototype: object } };
const iteratorLib = require('nats/lib/nats-base-client/queued_iterator') as { QueuedIteratorImpl: { prototype: object } };
 

/** Every function the NATS hook replaces. */
export function natsTargets(): Array<[object, PropertyKey]> {
  return [
    [connectionLib.NatsConnectionImpl.prototype, 'publish'],
    [connectionLib.NatsConnectionImpl.prototype, 'request'],
    [protocolLib.ProtocolHandler.prototype, 'processMsg'],
    [iteratorLib.QueuedIteratorImpl.prototype, Symbol.asyncIterator],
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

export const natsDrivers: Driver[] = [natsPublishDriver, natsRequestDriver, natsSubscribeDriver];
