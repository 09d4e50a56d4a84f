import assert from 'node:assert/strict';
import { REFERENCE_FOLLOWS_FROM } from 'opentracing';
import type { Span } from 'opentracing';
import type { Consumer, EachBatchPayload, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import type { KafkajsOptions } from '../../src';
import { freshName, kafkaClient, kafkaErrors, newConsumer, newProducer } from '../conformance/drivers/kafkajs';
import { kafkaBrokers, messagingTags } from '../helpers/services';
import { RecordedSpan, RecordingContext, RecordingTracer } from '../helpers/tracer';
import { until as untilHolds } from '../helpers/waits';

/** A message as an eachMessage handler saw it, with the span active in the handler. */
interface Arrival {
  payload: EachMessagePayload;
  active: Span | undefined;
}

function traceparentOf(span: RecordedSpan): string {
  return `00-${span.traceId}-${span.id}-01`;
}

function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString() : String(value);
}

/** Waits for what the broker delivers: a consumer group joins slowly, so up to 15 s. */
const until = (condition: () => boolean, what: string): Promise<void> => untilHolds(condition, what, 15000);

describe('kafkajs hook (Kafka protocol, librdkafka mock cluster)', function () {
  this.timeout(60000);
  const tracer = new RecordingTracer();
  const install = (options: KafkajsOptions = {}): void => installPatches(['kafkajs'], { tracer, hooks: { kafkajs: options } });
  let kafka: Kafka;
  let producer: Producer;
  const consumers: Consumer[] = [];

  before(async () => {
    install();
    kafka = kafkaClient();
    producer = newProducer(kafka);
    await producer.connect();
  });
  after(async () => {
    for (const consumer of consumers) await consumer.disconnect();
    await producer?.disconnect();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());

  /** A consumer of `topics` (created by a first message) from the beginning, whose eachMessage records arrivals. */
  async function consume(topics: string[], handler?: (payload: EachMessagePayload) => Promise<void>): Promise<Arrival[]> {
    const arrivals: Arrival[] = [];
    const consumer = newConsumer(kafka, freshName('group'));
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async (payload) => {
        arrivals.push({ payload, active: currentSpan() });
        await handler?.(payload);
      },
    });
    return arrivals;
  }

  describe('producer', () => {
    it('send: one producer span under the active span; each message carries it, the app’s headers kept and its objects untouched', async () => {
      const topic = freshName('send');
      const appHeaders = { app: Buffer.from('binary'), 'app-text': 'text', traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01' };
      const ownTrace = { app: 'mine' };
      const messages = [{ key: 'k', value: 'secret payload', headers: appHeaders }, { value: 'second', headers: ownTrace }, { value: 'third' }];
      const frozen = JSON.stringify(messages);
      const parent = tracer.startSpan('request') as RecordedSpan;
      const result = await withSpan(parent, () => producer.send({ topic, messages }));
      parent.finish();
      assert.equal(JSON.stringify(messages), frozen, "the app's messages and headers are not written");
      assert.equal(Object.keys(ownTrace).length, 1);
      assert.ok(Array.isArray(result) && result[0].topicName === topic);
      const [span] = tracer.byName(`kafka.send ${topic}`);
      assert.equal(span.parentId, parent.id);
      const [host, port] = kafkaBrokers()[0].split(':');
      const peer = { 'peer.hostname': host, 'peer.port': Number(port) };
      assert.deepEqual(span.tags, { 'span.kind': 'producer', ...messagingTags('kafkajs', 'kafka', topic), 'messaging.batch.message_count': 3, ...peer });
      assert.ok(!JSON.stringify(span.tags).includes('secret'), 'no payload in the span');

      const arrivals = await consume([topic]);
      await until(() => arrivals.length === 3, 'three messages');
      const byValue = new Map(arrivals.map((a) => [text(a.payload.message.value), a.payload.message.headers ?? {}]));
      const first = byValue.get('secret payload')!;
      assert.equal(text(first.traceparent), appHeaders.traceparent, "the app's own traceparent wins");
      assert.equal(text(first.app), 'binary');
      assert.equal(text(first['app-text']), 'text');
      assert.equal(text(byValue.get('second')!.traceparent), traceparentOf(span));
      assert.equal(text(byValue.get('second')!.app), 'mine');
      assert.equal(text(byValue.get('third')!.traceparent), traceparentOf(span));
    });

    it('a send and a sendBatch carry the peer tags of the broker their first produce request went to, which peerService names', async () => {
      const [host, port] = kafkaBrokers()[0].split(':');
      uninstallAllPatches();
      install({ peerService: { [`${host}:${port}`]: 'orders-kafka' } });
      try {
        const [a, b] = [freshName('peer-a'), freshName('peer-b')];
        const parent = tracer.startSpan('request');
        await withSpan(parent, async () => {
          await producer.send({ topic: a, messages: [{ value: '1' }] });
          await producer.sendBatch({ topicMessages: [{ topic: a, messages: [{ value: '2' }] }, { topic: b, messages: [{ value: '3' }] }] });
        });
        parent.finish();
        const spans = [...tracer.byName(`kafka.send ${a}`), ...tracer.byName('kafka.send')];
        assert.equal(spans.length, 2);
        for (const span of spans) assert.deepEqual([span.tags['peer.hostname'], span.tags['peer.port'], span.tags['peer.service']], [host, Number(port), 'orders-kafka']);
      } finally {
        uninstallAllPatches();
        install();
      }
    });

    it('sendBatch: one span per call, named for its topic; several topics: `kafka.send` with kafka.topics', async () => {
      const [a, b] = [freshName('batch-a'), freshName('batch-b')];
      const parent = tracer.startSpan('request') as RecordedSpan;
      await withSpan(parent, async () => {
        await producer.sendBatch({ topicMessages: [{ topic: a, messages: [{ value: '1' }, { value: '2' }] }] });
        await producer.sendBatch({ topicMessages: [{ topic: b, messages: [{ value: '3' }] }, { topic: a, messages: [{ value: '4' }] }] });
      });
      const [one] = tracer.byName(`kafka.send ${a}`);
      assert.equal(one.tags['messaging.batch.message_count'], 2);
      const [several] = tracer.byName('kafka.send');
      assert.equal(several.parentId, parent.id);
      assert.equal(several.tags['kafka.topics'], [a, b].sort().join(','));
      assert.equal(several.tags['message_bus.destination'], undefined);
      assert.equal(several.tags['messaging.batch.message_count'], 2);
    });

    it('a transactional producer: its sends are traced the same', async () => {
      const topic = freshName('txn');
      const transactional = newProducer(kafka, { transactionalId: freshName('txn-id'), maxInFlightRequests: 1 });
      await transactional.connect();
      try {
        const parent = tracer.startSpan('request') as RecordedSpan;
        await withSpan(parent, async () => {
          const txn = await transactional.transaction();
          await txn.send({ topic, messages: [{ value: 'in a transaction' }] });
          await txn.commit();
        });
        const [span] = tracer.byName(`kafka.send ${topic}`);
        assert.equal(span.parentId, parent.id);
        assert.equal(span.finishCount, 1);
      } finally {
        await transactional.disconnect();
      }
    });

    it('a failed send: error on the span, the same error to the app', async () => {
      const disconnected = newProducer(kafka);
      const parent = tracer.startSpan('request') as RecordedSpan;
      const err = await withSpan(parent, () => disconnected.send({ topic: freshName('never'), messages: [{ value: 'x' }] })).catch((e: unknown) => e);
      assert.equal((err as Error).message, 'The producer is disconnected');
      const [span] = tracer.byName(/^kafka\.send /);
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields['error.object'], err);
    });

    it("a message kafkajs refuses: the app gets kafkajs's very words, the span logs them without the message's key or headers", async () => {
      const send = (): Promise<unknown> =>
        producer
          .send({ topic: 'refused-topic', messages: [{ key: Buffer.from('key-never-logged'), headers: { auth: 'header-never-logged', token: Buffer.from('buffer-never-logged') } } as any] })
          .catch((e: unknown) => e);
      uninstallAllPatches();
      const untraced = (await send()) as Error;
      install();
      const parent = tracer.startSpan('request') as RecordedSpan;
      const traced = (await withSpan(parent, send)) as Error;
      assert.match(untraced.message, /^Invalid message without value/);
      assert.equal(traced.message, untraced.message, 'no trace header is quoted in the error');
      const [span] = tracer.byName(/^kafka\.send /);
      assert.equal(span.tags.error, true);
      assert.equal(span.finishCount, 1);
      const logged = JSON.stringify([span.tags, span.logs]);
      assert.doesNotMatch(logged, /never-logged/);
      // A Buffer is quoted as its bytes: `key-` is 107,101,121,45.
      assert.doesNotMatch(logged, /107,101,121,45|98,117,102/);
    });

    it("a message without value whose fields a class's getters give: kafkajs's refusal quotes it as untraced", async () => {
      class Keyed {
        get key(): string {
          return 'order-42';
        }
      }
      const send = (): Promise<unknown> => producer.send({ topic: 'refused-topic', messages: [new Keyed() as any] }).catch((e: unknown) => e);
      uninstallAllPatches();
      const untraced = (await send()) as Error;
      install();
      const parent = tracer.startSpan('request');
      const traced = (await withSpan(parent, send)) as Error;
      parent.finish();
      assert.equal(untraced.message, 'Invalid message without value for topic "refused-topic": {}');
      assert.equal(traced.message, untraced.message);
    });

    it('the record and its messages are read once, as kafkajs reads them, with a span or without one (requireParent); a field kafkajs never reads is not read', async () => {
      const reads: Record<string, number> = {};
      const counted = (name: string, value: unknown): PropertyDescriptor => ({
        enumerable: true,
        get: () => {
          reads[name] = (reads[name] ?? 0) + 1;
          return value;
        },
      });
      const record = (topic: string): any => {
        const message = Object.defineProperties({}, { key: counted('key', 'k'), value: counted('value', 'v') });
        // auditTrail: the app's own field, which kafkajs never reads.
        return Object.defineProperties({}, { topic: counted('topic', topic), messages: counted('messages', [message]), acks: counted('acks', -1), auditTrail: counted('auditTrail', 'x') });
      };
      const batch = (topic: string): any => {
        const entry = Object.defineProperties({}, { topic: counted('entry.topic', topic), messages: counted('entry.messages', [{ value: 'v' }]), note: counted('entry.note', 'x') });
        return Object.defineProperties({}, { topicMessages: counted('topicMessages', [entry]), auditTrail: counted('batch.auditTrail', 'x') });
      };
      const readsOf = async (send: () => Promise<unknown>): Promise<Record<string, number>> => {
        for (const key of Object.keys(reads)) delete reads[key];
        await send();
        return { ...reads };
      };
      const topic = freshName('counted');
      uninstallAllPatches();
      const untraced = await readsOf(() => producer.send(record(topic)));
      const untracedBatch = await readsOf(() => producer.sendBatch(batch(topic)));
      assert.equal(untraced.auditTrail, undefined);
      assert.equal(untracedBatch['entry.note'], undefined);
      install();
      const parent = tracer.startSpan('request');
      const traced = await readsOf(() => withSpan(parent, () => producer.send(record(topic))));
      const tracedBatch = await readsOf(() => withSpan(parent, () => producer.sendBatch(batch(topic))));
      assert.equal(tracer.finished.filter((s) => s.operationName === `kafka.send ${topic}`).length, 2);
      // With a span kafkajs reads the hook's copies: each of the app's properties once, and only those it reads.
      for (const [label, was, now] of [['send', untraced, traced], ['sendBatch', untracedBatch, tracedBatch]] as const) {
        for (const name of Object.keys(was)) assert.ok(now[name] >= 1 && now[name] <= was[name], `${label} ${name}: ${now[name]} reads, ${was[name]} untraced`);
        assert.deepEqual(Object.keys(now).sort(), Object.keys(was).sort(), label);
      }
      uninstallAllPatches();
      install({ requireParent: true });
      try {
        assert.deepEqual(await readsOf(() => producer.send(record(topic))), untraced, 'without a span: not read at all by the hook');
      } finally {
        uninstallAllPatches();
        install();
      }
    });

    it("a message whose fields a class's getters give (inherited) is sent as untraced (kafkajs checks them, then encodes a spread of the message), with the trace", async () => {
      class Message {
        constructor(readonly id: string) {}
        get key(): string {
          return 'k';
        }
        get value(): string {
          return 'from a getter';
        }
      }
      const topic = freshName('inherited');
      uninstallAllPatches();
      await producer.send({ topic, messages: [new Message('untraced') as any] });
      install();
      const parent = tracer.startSpan('request') as RecordedSpan;
      await withSpan(parent, () => producer.send({ topic, messages: [new Message('traced') as any] }));
      const arrivals = await consume([topic]);
      await until(() => arrivals.length === 2, 'both messages');
      const [untraced, traced] = arrivals.map((a) => a.payload.message);
      assert.deepEqual([traced.key, traced.value], [untraced.key, untraced.value]);
      const [span] = tracer.byName(/^kafka\.send /);
      assert.equal(span.tags.error, undefined);
      assert.equal(untraced.headers?.traceparent, undefined);
      assert.equal(text(traced.headers?.traceparent), traceparentOf(span));
    });

    it('requireParent: no span outside a request; a producer made before install is not traced', async () => {
      uninstallAllPatches();
      const before = newProducer(kafka);
      install({ requireParent: true });
      try {
        await before.connect();
        await producer.send({ topic: freshName('orphan'), messages: [{ value: 'x' }] });
        const request = tracer.startSpan('request');
        await withSpan(request, () => before.send({ topic: freshName('old'), messages: [{ value: 'x' }] }));
        request.finish();
        assert.deepEqual(tracer.byName(/^kafka\.send /), []);
      } finally {
        await before.disconnect();
        uninstallAllPatches();
        install();
      }
    });
  });

  describe('consumer', () => {
    const failOnce = new Set<string>();
    const topic = freshName('process');
    let arrivals: Arrival[];
    before(async () => {
      await producer.send({ topic, messages: [{ value: 'warm-up' }] });
      arrivals = await consume([topic], async ({ message }) => {
        const id = text(message.value);
        // Work done in the handler is a child of its span.
        tracer.startSpan('handler work', { childOf: currentSpan() }).finish();
        // A plain Error: kafkajs retries (a TypeError would crash the consumer for good).
        if (failOnce.delete(id)) throw new Error(`handler failed on ${id}`);
      });
      await until(() => arrivals.length === 1, 'the warm-up message');
    });
    beforeEach(() => arrivals.splice(0));

    it('a span per message, following from the producer, active in the handler, with topic, partition and offset', async () => {
      const request = tracer.startSpan('request') as RecordedSpan;
      await withSpan(request, () => producer.send({ topic, messages: [{ value: 'one' }, { value: 'two' }] }));
      request.finish();
      await until(() => arrivals.length === 2, 'two messages');
      await tracer.settle();
      const [send] = tracer.byName(`kafka.send ${topic}`);
      const spans = tracer.byName(`kafka.process ${topic}`);
      assert.equal(spans.length, 2);
      for (const arrival of arrivals) {
        const { partition, message } = arrival.payload;
        const span = spans.find((s) => s.tags['kafka.offset'] === message.offset && s.tags['kafka.partition'] === partition)!;
        assert.equal(arrival.active, span, 'the consumer span is active in the handler');
        assert.equal(span.parentId, send.id);
        assert.equal(span.referenceType, 'followsFrom');
        assert.equal(span.tags['span.kind'], 'consumer');
        assert.equal(span.tags['message_bus.destination'], topic);
        assert.equal(span.tags['kafka.partition'], arrival.payload.partition);
        assert.equal(typeof span.tags['kafka.consumer_group'], 'string');
      }
      const work = tracer.byName('handler work');
      assert.deepEqual(work.map((w) => w.parentId).sort(), spans.map((s) => s.id).sort());
    });

    it('a message without a trace starts a new trace (requireParent is for producers); consumerParent childOf', async () => {
      uninstallAllPatches();
      install({ requireParent: true });
      try {
        await producer.send({ topic, messages: [{ value: 'untraced' }] });
        await until(() => arrivals.length === 1, 'the message');
        await tracer.settle();
        const [span] = tracer.byName(`kafka.process ${topic}`);
        assert.equal(span.parentId, undefined);
        uninstallAllPatches();
        install({ consumerParent: 'childOf' });
        const request = tracer.startSpan('request');
        await withSpan(request, () => producer.send({ topic, messages: [{ value: 'child' }] }));
        request.finish();
        await until(() => arrivals.length === 2, 'the second message');
        await tracer.settle();
        assert.equal(tracer.byName(`kafka.process ${topic}`)[1].referenceType, 'childOf');
      } finally {
        uninstallAllPatches();
        install();
      }
    });

    it('a throwing handler: error on its span, kafkajs gets the very error and retries in a new span', async () => {
      failOnce.add('poison');
      const logged = kafkaErrors.length;
      await producer.send({ topic, messages: [{ value: 'poison' }] });
      await until(() => arrivals.length === 2, 'the message and its retry');
      await tracer.settle();
      const [failed, retried] = tracer.byName(`kafka.process ${topic}`);
      assert.equal(failed.tags.error, true);
      assert.equal(retried.tags.error, undefined);
      const seen = kafkaErrors.slice(logged).find((e) => e.message === 'Error when calling eachMessage');
      assert.equal(seen?.error, failed.errorLog()?.fields['error.object']);
      assert.ok(seen?.error instanceof Error && seen.error.message === 'handler failed on poison');
    });

    it('uninstalled: no span, and the handler runs as it is', async () => {
      uninstallAllPatches();
      try {
        await producer.send({ topic, messages: [{ value: 'quiet' }] });
        await until(() => arrivals.length === 1, 'the message');
        assert.equal(arrivals[0].active, undefined);
        assert.deepEqual(tracer.finished.filter((s) => s.operationName !== 'handler work'), []);
      } finally {
        install();
      }
    });
  });

  it('eachBatch: one span per batch, a reference to each distinct producer context, active in the handler', async () => {
    const topic = freshName('each-batch');
    const [a, b] = [tracer.startSpan('producer a') as RecordedSpan, tracer.startSpan('producer b') as RecordedSpan];
    a.finish();
    b.finish();
    // One send (one record batch, one partition): contexts the app put in the headers itself, and the
    // send's own in the message that has none.
    const headers = (span: RecordedSpan): Record<string, string> => ({ traceparent: traceparentOf(span) });
    await producer.send({ topic, messages: [a, a, b].map((span, i) => ({ key: 'same', value: String(i), headers: headers(span) })).concat([{ key: 'same', value: 'none', headers: {} }]) });
    const consumer = newConsumer(kafka, freshName('batch-group'));
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen: Array<{ payload: EachBatchPayload; active: Span | undefined }> = [];
    await consumer.run({ eachBatch: async (payload) => void seen.push({ payload, active: currentSpan() }) });
    await until(() => seen.length === 1, 'one batch');
    await tracer.settle();
    const [span] = tracer.byName(`kafka.process ${topic}`);
    assert.equal(seen[0].active, span);
    assert.equal(seen[0].payload.batch.messages.length, 4);
    assert.equal(span.tags['messaging.batch.message_count'], 4);
    const [send] = tracer.byName(`kafka.send ${topic}`);
    const references = span.references.map((r) => [r.type(), (r.referencedContext() as RecordingContext).spanId]);
    assert.deepEqual(references, [a.id, b.id, send.id].map((id) => [REFERENCE_FOLLOWS_FROM, id]));
  });

  it("kafkajs' own traffic makes no span and is no child of the request that started the consumer", async () => {
    const topic = freshName('own-traffic');
    const count = 5;
    // One key: one partition, whose committed offset says when all are done.
    await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: 'one', value: String(i) })) });
    const consumer = newConsumer(kafka, freshName('traffic-group'));
    consumers.push(consumer);
    const committed = new Promise<void>((resolve) =>
      consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
        const offsets = payload.topics.filter((t) => t.topic === topic).flatMap((t) => t.partitions.map((p) => Number(p.offset)));
        if (offsets.includes(count)) resolve();
      }),
    );
    // kafkajs' network events, emitted as its responses arrive: never in the request that connected.
    const requests: Array<[string, Span | undefined]> = [];
    consumer.on(consumer.events.REQUEST, ({ payload }) => void requests.push([payload.apiName, currentSpan()]));
    let handled = 0;
    const [send] = tracer.byName(`kafka.send ${topic}`);
    const request = tracer.startSpan('request') as RecordedSpan;
    request.finish();
    tracer.reset();
    await withSpan(request, async () => {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({ autoCommitThreshold: count, eachMessage: async () => void handled++ });
    });
    // The work is over: every message handled and its offset committed.
    await committed;
    assert.equal(handled, count);
    await tracer.settle();
    const names = tracer.started.map((s) => s.operationName);
    assert.deepEqual(names, Array.from({ length: count }, () => `kafka.process ${topic}`));
    assert.ok(tracer.started.every((s) => s.traceId === send.traceId && s.parentId === send.id));
    assert.ok(['JoinGroup', 'OffsetCommit'].every((api) => requests.some(([name]) => name === api)), requests.map(([name]) => name).join(', '));
    assert.deepEqual(requests.filter(([, span]) => span !== undefined), []);
  });

  it("a producer's network events reach listeners outside any request: not in the request that connected it, nor in the one that sends", async () => {
    const topic = freshName('events');
    const own = newProducer(kafka);
    const requests: Array<[string, Span | undefined]> = [];
    own.on(own.events.REQUEST, ({ payload }) => void requests.push([payload.apiName, currentSpan()]));
    const [a, b] = [tracer.startSpan('request A'), tracer.startSpan('request B')];
    try {
      await withSpan(a, () => own.connect());
      // kafkajs emits a request's event as its response arrives, before the send resumes.
      await withSpan(b, () => own.send({ topic, messages: [{ value: 'x' }] }));
    } finally {
      a.finish();
      b.finish();
      await own.disconnect();
    }
    assert.ok(requests.some(([name]) => name === 'Produce'), requests.map(([name]) => name).join(', '));
    assert.deepEqual(requests.filter(([, span]) => span !== undefined).map(([name, span]) => `${name} in ${(span as RecordedSpan).operationName}`), []);
    const [sent] = tracer.byName(`kafka.send ${topic}`);
    assert.equal(sent.parentId, (b as RecordedSpan).id);
  });
});
