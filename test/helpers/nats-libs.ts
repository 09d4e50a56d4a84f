/**
 * The two NATS clients the nats hook covers, `nats` 2.x and nats.js 3 (`@nats-io/transport-node`,
 * `@nats-io/nats-core`, `@nats-io/jetstream`), behind the few calls whose shape differs between them, so
 * that one test or driver runs against both. Their connections, messages and JetStream objects are used
 * alike (`any` here: the two packages' types are distinct classes of the same shape).
 */
import path from 'node:path';
import { natsUrl } from './services';


export interface NatsLib {
  readonly label: 'nats@2' | 'nats@3';
  /** A connection to the service script's server, or as `options` say (`servers`, `reconnect`...). */
  connect(options?: object): Promise<any>;
  /** A new header set, the client's own. */
  headers(): any;
  jetstream(nc: any): any;
  jetstreamManager(nc: any): Promise<any>;
  /** The module with JetStream's enums (`AckPolicy`, `StorageType`, `RetentionPolicy`). */
  jetStreamEnums(): { AckPolicy: { Explicit: any }; StorageType: { Memory: any }; RetentionPolicy: { Limits: any } };
  /** An ordered consumer's options for one subject. */
  orderedOptions(subject: string): object;
  /** Whether `err` is the "no responders" failure of a request. */
  isNoResponders(err: unknown): boolean;
  /** Every function the nats hook replaces in this client. */
  targets(): Array<[object, PropertyKey]>;
}

/** A file of `pkg` by its path under the package (nats.js 3's `exports` hide them from a plain require). */
function fileOf(pkg: string, ...parts: string[]): any {
  const main = require.resolve(pkg);
  const at = `${path.sep}node_modules${path.sep}${pkg}${path.sep}`;
  return require(path.join(main.slice(0, main.lastIndexOf(at) + at.length), ...parts));
}

function targetsOf(connection: any, protocol: any, iterator: any, jsClient: any, consumer: any, pushConsumer?: any): Array<[object, PropertyKey]> {
  const targets: Array<[object, PropertyKey]> = [
    [connection.NatsConnectionImpl.prototype, 'publish'],
    [connection.NatsConnectionImpl.prototype, 'request'],
    [protocol.ProtocolHandler.prototype, 'processMsg'],
    [iterator.QueuedIteratorImpl.prototype, Symbol.asyncIterator],
    [jsClient.JetStreamClientImpl.prototype, 'publish'],
    [consumer.PullConsumerMessagesImpl.prototype, '_push'],
    [consumer.PullConsumerMessagesImpl.prototype, 'start'],
  ];
  if (typeof consumer.PullConsumerMessagesImpl.prototype.reset === 'function') targets.push([consumer.PullConsumerMessagesImpl.prototype, 'reset']);
  if (consumer.OrderedPullConsumerImpl !== undefined) targets.push([consumer.OrderedPullConsumerImpl.prototype, 'notifyOrderedResetAndReset']);
  if (pushConsumer !== undefined) for (const name of ['_push', 'start', 'reset']) targets.push([pushConsumer.PushConsumerMessagesImpl.prototype, name]);
  // The client's own upkeep, where the class has it: nats 2's older ordered subscriptions, nats.js 3's ordered fetch.
  for (const [object, name] of [
    [jsClient.JetStreamSubscriptionImpl?.prototype, '_resetOrderedConsumer'],
    [jsClient.JetStreamSubscriptionImpl?.prototype, '_checkHbOrderConsumer'],
    [consumer.PullConsumerImpl?.prototype, '_reset'],
  ] as const) {
    if (typeof object?.[name] === 'function') targets.push([object, name]);
  }
  return targets;
}

const nats2: NatsLib = {
  label: 'nats@2',
  connect: (options) => require('nats').connect({ servers: natsUrl(), ...options }),
  headers: () => require('nats').headers(),
  jetstream: (nc) => nc.jetstream(),
  jetstreamManager: (nc) => nc.jetstreamManager(),
  jetStreamEnums: () => require('nats'),
  orderedOptions: (subject) => ({ filterSubjects: subject }),
  isNoResponders: (err) => (err as { code?: unknown } | null)?.code === '503',
  targets: () =>
    targetsOf(
      fileOf('nats', 'lib', 'nats-base-client', 'nats'),
      fileOf('nats', 'lib', 'nats-base-client', 'protocol'),
      fileOf('nats', 'lib', 'nats-base-client', 'queued_iterator'),
      fileOf('nats', 'lib', 'jetstream', 'jsclient'),
      fileOf('nats', 'lib', 'jetstream', 'consumer'),
    ),
};

const nats3: NatsLib = {
  label: 'nats@3',
  connect: (options) => require('@nats-io/transport-node').connect({ servers: natsUrl(), ...options }),
  headers: () => require('@nats-io/nats-core').headers(),
  jetstream: (nc) => require('@nats-io/jetstream').jetstream(nc),
  jetstreamManager: (nc) => require('@nats-io/jetstream').jetstreamManager(nc),
  jetStreamEnums: () => require('@nats-io/jetstream'),
  orderedOptions: (subject) => ({ filter_subjects: subject }),
  // A RequestError whose cause is the NoRespondersError; JetStream's publish turns it into JetStreamNotEnabled (with that cause).
  isNoResponders: (err) => {
    for (let e = err as { name?: unknown; cause?: unknown } | undefined; e != null; e = e.cause as typeof e) if (e.name === 'NoResponders') return true;
    return false;
  },
  targets: () =>
    targetsOf(
      fileOf('@nats-io/nats-core', 'lib', 'nats'),
      fileOf('@nats-io/nats-core', 'lib', 'protocol'),
      fileOf('@nats-io/nats-core', 'lib', 'queued_iterator'),
      fileOf('@nats-io/jetstream', 'lib', 'jsclient'),
      fileOf('@nats-io/jetstream', 'lib', 'consumer'),
      fileOf('@nats-io/jetstream', 'lib', 'pushconsumer'),
    ),
};

export const NATS_LIBS: readonly NatsLib[] = [nats2, nats3];

/** Text to bytes and back, for either client (nats.js 3 has no StringCodec). */
export const sc = {
  encode: (text: string): Uint8Array => new TextEncoder().encode(text),
  decode: (bytes: Uint8Array): string => new TextDecoder().decode(bytes),
};
