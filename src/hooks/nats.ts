/**
 * NATS (`nats` 2.x, and nats.js 3: `@nats-io/nats-core` with `@nats-io/jetstream`): producer spans for
 * `publish`, client spans for `request` (ended by the reply), both with the trace in the message
 * headers, a consumer span per message a subscription receives (callback and async-iterator forms), and
 * JetStream's publish and consumers (pull, push, and nats 2's older subscriptions). Patched on the
 * client's internal files, shared by every connection and subscription. The span logic is in
 * ../tracing/nats, loaded when the client is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { NatsOptions } from '../options/nats';

export const natsHook = defineHook<'nats', NatsOptions, typeof import('../tracing/nats')>({
  name: 'nats',
  summary: 'nats: producer spans for publish (JetStream\'s too), client spans for request (ended by the reply) with the trace in the message headers, consumer spans per received message (subscriptions and JetStream consumers)',
  tracing: () => require('../tracing/nats'),
  targets: [
    fileTargets('nats', '>=2.0.0 <3', {
      'lib/nats-base-client/nats': 'patchConnection',
      'lib/nats-base-client/protocol': 'patchProtocol',
      'lib/nats-base-client/queued_iterator': 'patchIterator',
      'lib/jetstream/jsclient': 'patchJetStreamClient',
      'lib/jetstream/consumer': 'patchConsumer',
    }),
    // nats.js 3 (`@nats-io/transport-node`, and the other transports) split the client into packages.
    fileTargets('@nats-io/nats-core', '>=3.0.0 <4', {
      'lib/nats': 'patchCoreConnection',
      'lib/protocol': 'patchProtocol',
      'lib/queued_iterator': 'patchIterator',
    }),
    fileTargets('@nats-io/jetstream', '>=3.0.0 <4', {
      'lib/jsclient': 'patchJetStreamClient',
      'lib/consumer': 'patchConsumer',
      'lib/pushconsumer': 'patchPushConsumer',
    }),
  ],
});
