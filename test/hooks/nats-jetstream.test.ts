/**
 * JetStream through the nats hook, for both clients, against the service script's nats-server (JetStream
 * on): publish is one producer span ended by the stream's ack; a pull consumer's messages get a consumer
 * span each, whichever way the app takes them; the pulls and the consumer's own checks make no span.
 */
import assert from 'node:assert/strict';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { deleteJetStream, jetStreamConsumer, jetStreamOf, jetStreamSubject } from '../conformance/drivers/nats';
import { NATS_LIBS, sc } from '../helpers/nats-libs';
import { natsUrl } from '../helpers/services';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';


/** Resolves once `messages` has asked the server for more `count` times (its own pulls: status `next`). */
async function pulls(messages: any, count: number): Promise<void> {
  let seen = 0;
  for await (const event of await messages.status()) {
    if (event.type === 'next' && ++seen === count) return;
  }
}

for (const lib of NATS_LIBS) describe(`nats hook: JetStream, ${lib.label} (real nats-server)`, function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  const JS_STREAM = jetStreamOf(lib);
  let nc: any;
  let js: any;
  let durables = 0;

  /** A durable pull consumer of a subject of its own, and that subject; the spans of setting it up are forgotten. */
  async function freshConsumer(): Promise<{ subject: string; name: string }> {
    const name = `test-${++durables}`;
    await jetStreamConsumer(lib, nc, name, name);
    tracer.reset();
    return { subject: jetStreamSubject(lib, name), name };
  }

  /** Publishes `count` messages to `subject` inside a request span of their own, which it returns. */
  async function publishUnder(subject: string, count: number): Promise<RecordedSpan> {
    const request = tracer.startSpan('publisher') as RecordedSpan;
    await withSpan(request, async () => {
      for (let i = 0; i < count; i++) await js.publish(subject, sc.encode(`message ${i}`));
    });
    request.finish();
    return request;
  }

  const sends = (subject: string): RecordedSpan[] => tracer.byName(`nats.publish ${subject}`);
  const processed = (): RecordedSpan[] => tracer.byName(`nats.process ${JS_STREAM}`);
  const pullSpans = (): RecordedSpan[] => tracer.started.filter((s) => s.operationName.includes('CONSUMER.MSG.NEXT'));

  before(async () => {
    installPatches(['nats'], { tracer });
    nc = await lib.connect();
    js = lib.jetstream(nc);
  });
  after(async () => {
    await deleteJetStream(lib, nc);
    await nc?.close();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());

  it("publish: one producer span under the request, ended by the stream's ack (which names the stream); its request makes no span; the consumer gets the trace", async () => {
    const { subject, name } = await freshConsumer();
    const request = await publishUnder(subject, 1);
    const [send] = sends(subject);
    assert.ok(send, 'a publish span');
    assert.equal(send.parentId, request.id);
    assert.equal(send.tags['span.kind'], 'producer');
    assert.equal(send.tags['nats.stream'], JS_STREAM);
    assert.deepEqual([send.tags['peer.hostname'], send.tags['peer.port']], [new URL(natsUrl()).hostname, Number(new URL(natsUrl()).port)]);
    assert.equal(send.finishCount, 1);
    assert.deepEqual(tracer.started.filter((s) => s.operationName.startsWith('nats.request')), [], "the publish's request is part of its span");
    const msg = await (await js.consumers.get(JS_STREAM, name)).next({ expires: 5000 });
    assert.ok(msg);
    assert.equal(msg.headers?.get('traceparent'), `00-${send.traceId}-${send.id}-01`);
    msg.ack();
  });

  it('a publish the client retries after "no responders" is one span, failed; the app sees the same error', async () => {
    const subject = `otch.nostream.${process.pid}.${Date.now()}`;
    const request = tracer.startSpan('publisher') as RecordedSpan;
    const err = await withSpan(request, () => js.publish(subject, sc.encode('nowhere'), { retries: 3, retry_delay: 5 })).catch((e: unknown) => e);
    request.finish();
    assert.ok(lib.isNoResponders(err), 'no responders');
    const spans = tracer.started.filter((s) => s.operationName.startsWith('nats.'));
    assert.deepEqual(
      spans.map((s) => [s.operationName, s.parentId === request.id, s.tags.error, s.finishCount]),
      [[`nats.publish ${subject}`, true, true, 1]],
    );
  });

  it('consume() started in a request: a span per message, following from its publish, open while the loop body runs; the pulls make no span and nothing of the consumer is under the request', async () => {
    const { subject, name } = await freshConsumer();
    await publishUnder(subject, 2);
    const consumer = await js.consumers.get(JS_STREAM, name);
    const request = tracer.startSpan('request') as RecordedSpan;
    const messages = await withSpan(request, () => consumer.consume({ max_messages: 1 }));
    request.finish();
    // The iterator sends the pulls: the first at its start, one more once the first message is in.
    const pulledAgain = pulls(messages, 1);
    const open: number[] = [];
    for await (const msg of messages) {
      open.push(tracer.started.filter((s) => s.operationName === `nats.process ${JS_STREAM}` && s.finishCount === 0).length);
      msg.ack();
      if (open.length === 2) break;
    }
    await pulledAgain;
    // (Leaving the loop stopped the consumer; its close() would wait for an iteration that never comes.)
    assert.deepEqual(open, [1, 1], "the message's span is open while the loop body runs");
    const spans = processed();
    assert.deepEqual(spans.map((s) => [s.parentId, s.referenceType, s.finishCount]), sends(subject).map((s) => [s.id, 'followsFrom', 1]));
    assert.deepEqual(spans[0].tags, {
      'span.kind': 'consumer',
      component: 'nats',
      'messaging.system': 'nats',
      'message_bus.destination': JS_STREAM,
      'nats.stream': JS_STREAM,
      'nats.subject': subject,
      'nats.consumer': name,
    });
    assert.deepEqual(pullSpans(), [], 'pull requests make no span');
    assert.deepEqual(tracer.childNames(request), [], 'nothing of the consumer is under the request that started it');
  });

  it("consume() with a callback: the callback runs in the message's span", async () => {
    const { subject, name } = await freshConsumer();
    await publishUnder(subject, 1);
    const consumer = await js.consumers.get(JS_STREAM, name);
    let active: unknown;
    let messages: any;
    await new Promise<void>((resolve, reject) => {
      consumer
        .consume({
          callback: (msg: any) => {
            active = currentSpan();
            msg.ack();
            resolve();
          },
        })
        .then((m: any) => (messages = m), reject);
    });
    await messages?.close();
    const [span] = processed();
    assert.ok(span);
    assert.equal(active, span, 'the active span in the callback');
    assert.equal(span.parentId, sends(subject)[0].id);
    assert.deepEqual(pullSpans(), []);
  });

  it('fetch() and next(): a span per message', async () => {
    const { subject, name } = await freshConsumer();
    await publishUnder(subject, 3);
    const consumer = await js.consumers.get(JS_STREAM, name);
    const fetched: string[] = [];
    for await (const msg of await consumer.fetch({ max_messages: 2, expires: 5000 })) {
      fetched.push(sc.decode(msg.data));
      msg.ack();
    }
    const next = await consumer.next({ expires: 5000 });
    next?.ack();
    assert.deepEqual([...fetched, next && sc.decode(next.data)], ['message 0', 'message 1', 'message 2']);
    assert.deepEqual(
      processed().map((s) => s.parentId),
      sends(subject).map((s) => s.id),
    );
    assert.ok(processed().every((s) => s.finishCount === 1));
    assert.deepEqual(pullSpans(), []);
  });

  it('an ordered consumer: one span per message, iterated or through a callback', async () => {
    const { subject } = await freshConsumer();
    await publishUnder(subject, 2);
    const ordered = await js.consumers.get(JS_STREAM, lib.orderedOptions(subject));
    const iterated: string[] = [];
    const messages = await ordered.consume();
    for await (const msg of messages) {
      iterated.push(sc.decode(msg.data));
      if (iterated.length === 2) break;
    }
    const byCallback: Array<{ data: string; active: unknown }> = [];
    const again = await js.consumers.get(JS_STREAM, lib.orderedOptions(subject));
    await new Promise<void>((resolve) => {
      void again.consume({
        callback: (msg: any) => {
          byCallback.push({ data: sc.decode(msg.data), active: currentSpan() });
          if (byCallback.length === 2) resolve();
        },
      });
    });
    assert.deepEqual(iterated, ['message 0', 'message 1']);
    const spans = processed();
    assert.equal(spans.length, 4, 'one span per message and consumer');
    const [first, second] = sends(subject);
    assert.deepEqual(spans.map((s) => s.parentId), [first.id, second.id, first.id, second.id]);
    assert.deepEqual(byCallback.map((m) => [m.data, m.active === spans[2] || m.active === spans[3]]), [
      ['message 0', true],
      ['message 1', true],
    ]);
    assert.deepEqual(pullSpans(), []);
  });

  if (lib.label === 'nats@2') {
    it("the older js.subscribe (push) and js.pullSubscribe: a span per message, the callback's active; a key-value bucket's reads make none", async () => {
      const { consumerOpts, createInbox } = require('nats');
      const push = await freshConsumer();
      const pull = await freshConsumer();
      await publishUnder(push.subject, 1);
      await publishUnder(pull.subject, 1);
      let active: unknown;
      await new Promise<void>((resolve, reject) => {
        const opts = consumerOpts();
        opts.durable(`${push.name}-push`);
        opts.manualAck();
        opts.ackExplicit();
        opts.deliverTo(createInbox());
        opts.callback((err: unknown, msg: any) => {
          if (err) return reject(err);
          active = currentSpan();
          msg.ack();
          resolve();
        });
        js.subscribe(push.subject, opts).catch(reject);
      });
      const psub = await js.pullSubscribe(pull.subject, { config: { durable_name: `${pull.name}-pull` } });
      psub.pull({ batch: 1, expires: 5000 });
      for await (const msg of psub) {
        msg.ack();
        break;
      }
      const kv = await js.views.kv(`otch_${process.pid}`);
      await kv.put('one', sc.encode('1'));
      await kv.put('two', sc.encode('2'));
      const keys: string[] = [];
      for await (const key of await kv.keys()) keys.push(key);
      assert.deepEqual(keys.sort(), ['one', 'two']);
      const spans = processed();
      assert.deepEqual(
        spans.map((s) => [s.tags['nats.subject'], s.parentId, s.finishCount]),
        [push, pull].map((c) => [c.subject, sends(c.subject)[0].id, 1]),
      );
      assert.equal(active, spans[0], 'the active span in the callback');
      assert.deepEqual(tracer.byName(/^nats\.process (KV_|_INBOX)/), [], "the bucket's reads and the inboxes make no span");
      await (await lib.jetstreamManager(nc)).streams.delete(`KV_otch_${process.pid}`);
    });

    it("a push consumer's idle heartbeats on its deliver subject make no span", async () => {
      const { name, subject } = await freshConsumer();
      const deliver = `otch.deliver.${process.pid}.${name}`;
      const jsm = await lib.jetstreamManager(nc);
      await jsm.consumers.add(JS_STREAM, { durable_name: `${name}-hb`, deliver_subject: deliver, filter_subject: subject, idle_heartbeat: 100_000_000, flow_control: true, ack_policy: lib.jetStreamEnums().AckPolicy.Explicit });
      tracer.reset();
      const heartbeats = await new Promise<number>((resolve) => {
        let seen = 0;
        const sub = nc.subscribe(deliver, {
          callback: (_err: unknown, msg: any) => {
            if (msg.headers?.code === 100 && ++seen === 2) {
              sub.unsubscribe();
              resolve(seen);
            }
          },
        });
      });
      assert.equal(heartbeats, 2);
      assert.deepEqual(tracer.started.map((s) => s.operationName), [], 'no span for a status message');
    });
  }

  if (lib.label === 'nats@3') {
    it("a push consumer: a span per message, iterated or through a callback; the subscription to its deliver subject makes none of its own", async () => {
      const consumers = await Promise.all(
        ['iterated', 'callback'].map(async (part) => {
          const name = `push-${part}-${++durables}`;
          const jsm = await lib.jetstreamManager(nc);
          const { AckPolicy } = lib.jetStreamEnums();
          const deliver = `otch.deliver.${process.pid}.${name}`;
          await jsm.consumers.add(JS_STREAM, { durable_name: name, deliver_subject: deliver, ack_policy: AckPolicy.Explicit, filter_subject: jetStreamSubject(lib, name) });
          return { name, deliver, subject: jetStreamSubject(lib, name) };
        }),
      );
      tracer.reset();
      for (const { subject } of consumers) await publishUnder(subject, 1);
      const iterated = await (await js.consumers.getPushConsumer(JS_STREAM, consumers[0].name)).consume();
      for await (const msg of iterated) {
        msg.ack();
        break;
      }
      let active: unknown;
      const byCallback = await js.consumers.getPushConsumer(JS_STREAM, consumers[1].name);
      let messages: any;
      await new Promise<void>((resolve) => {
        void byCallback
          .consume({
            callback: (msg: any) => {
              active = currentSpan();
              msg.ack();
              resolve();
            },
          })
          .then((m: any) => (messages = m));
      });
      await messages?.close();
      const spans = processed();
      assert.deepEqual(
        spans.map((s) => [s.tags['nats.consumer'], s.parentId, s.finishCount]),
        consumers.map((c) => [c.name, sends(c.subject)[0].id, 1]),
      );
      assert.equal(active, spans[1], 'the active span in the callback');
      assert.deepEqual(tracer.byName(/^nats\.process otch\.deliver\./), [], 'no span for the deliver subject');
    });
  }

  it("a key-value bucket's stream (KV_…): the messages its consumers read make no span", async () => {
    const stream = `KV_otch_${process.pid}_${lib.label.slice(-1)}`;
    const subject = `$KV.otch_${process.pid}_${lib.label.slice(-1)}.key`;
    const jsm = await lib.jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject] });
    try {
      await js.publish(subject, sc.encode('value'));
      tracer.reset();
      const consumer = await js.consumers.get(stream);
      const read: string[] = [];
      let first!: () => void;
      const arrived = new Promise<void>((resolve) => (first = resolve));
      const messages = await consumer.consume({
        callback: (msg: any) => {
          read.push(sc.decode(msg.data));
          first();
        },
      });
      await arrived;
      await messages.close();
      const next = await (await js.consumers.get(stream)).next({ expires: 5000 });
      assert.deepEqual([...read, next && sc.decode(next.data)], ['value', 'value']);
      assert.deepEqual(processed().concat(tracer.byName(new RegExp(`^nats\\.process ${stream}`))), [], 'no consumer span');
    } finally {
      await jsm.streams.delete(stream);
    }
  });

  it("a reconnect: the consumer's own check (a consumer info, then a pull) makes no span, though consume() was started in a request", async () => {
    const { name } = await freshConsumer();
    const consumer = await js.consumers.get(JS_STREAM, name);
    const request = tracer.startSpan('request') as RecordedSpan;
    const messages = await withSpan(request, () => consumer.consume({ max_messages: 1, callback: (msg: any) => msg.ack() }));
    request.finish();
    tracer.reset();
    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === 'reconnect') return;
    })();
    // After the reconnect the consumer asks for its info, then pulls again.
    const pulledAgain = pulls(messages, 1);
    await nc.reconnect();
    await reconnected;
    await pulledAgain;
    await messages.close();
    assert.deepEqual(
      tracer.started.map((s) => s.operationName),
      [],
      "the consumer's own requests make no span",
    );
  });
});
