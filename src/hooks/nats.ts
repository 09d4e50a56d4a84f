/**
 * NATS (`nats` 2.x, the Node.js client): producer spans for `publish`, client spans for `request` (ended
 * by the reply), both with the trace in the message headers, and a consumer span per message a
 * subscription receives (callback and async-iterator forms); JetStream's publish and pull consumers. Patched on the client's internal files,
 * shared by every connection and subscription. The span logic is in ../tracing/nats, loaded when nats is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { NatsOptions } from '../options/nats';

const VERSIONS = '>=2.0.0 <3';

export const natsHook = defineHook<'nats', NatsOptions, typeof import('../tracing/nats')>({
  name: 'nats',
  tracing: () => require('../tracing/nats'),
  summary: 'nats: producer spans for publish (JetStream\'s too), client spans for request (ended by the reply) with the trace in the message headers, consumer spans per received message (subscriptions and JetStream pull consumers)',
  targets: fileTargets('nats', VERSIONS, {
    'lib/nats-base-client/nats': 'patchConnection',
    'lib/nats-base-client/protocol': 'patchProtocol',
    'lib/nats-base-client/queued_iterator': 'patchIterator',
    'lib/jetstream/jsclient': 'patchJetStreamClient',
    'lib/jetstream/consumer': 'patchConsumer',
  }),
});
