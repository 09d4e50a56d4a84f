/**
 * NATS (`nats` 2.7 and later 2.x, and nats.js 3: `@nats-io/nats-core` with `@nats-io/jetstream`): producer spans for
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
    // 2.0 to 2.6 do not run on Node.js 20 (they fail at connect, with or without the hooks).
    fileTargets('nats', '>=2.7.0 <3', {
      'lib/nats-base-client/nats': 'patchConnection',
      'lib/nats-base-client/protocol': 'patchProtocol',
      'lib/nats-base-client/queued_iterator': 'patchIterator',
    }),
    // 2.15 moved JetStream to lib/jetstream; before, its client sat beside the core, and 2.14's
    // consumers API (the same code as 2.15's lib/jetstream/consumer) was split into two files there.
    fileTargets('nats', '>=2.15.0 <3', {
      'lib/jetstream/jsclient': 'patchJetStreamClient',
      'lib/jetstream/consumer': 'patchConsumer',
    }),
    fileTargets('nats', '>=2.7.0 <2.15.0', { 'lib/nats-base-client/jsclient': 'patchJetStreamClient' }),
    fileTargets('nats', '>=2.14.0 <2.15.0', { 'lib/nats-base-client/consumermessages': 'patchConsumer' }),
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
