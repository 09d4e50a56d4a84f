/**
 * The nats hook on `nats` 2.14, installed as an npm alias, against the service script's nats-server: up
 * to 2.14 the JetStream client sat beside the core (2.15 moved it to lib/jetstream), and 2.14's consumers
 * API was split over two files there.
 */
import assert from 'node:assert/strict';
import type { Span } from 'opentracing';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { headerRecord } from '../conformance/drivers/nats';
import { NATS_LIBS, sc } from '../helpers/nats-libs';
import { natsUrl } from '../helpers/services';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

type Msg = any;

/** The releases, and whether they have the consumers API (`js.consumers`, from 2.14). */
const OLD = [{ label: 'nats@2.14.0', module: 'nats214', consumersApi: true }];

const traceparentOf = (span: RecordedSpan): string => `00-${span.traceId}-${span.id}-01`;

for (const old of OLD) describe(`nats hook, ${old.label} (npm alias ${old.module}, real nats-server)`, function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  const stream = `OTCH_OLD_${process.pid}_${old.module}`;
  const subjectOf = (part: string): string => `otch.old.${process.pid}.${old.module}.${part}`;
  let nats: any;
  let nc: any;
  /** A current client's connection, to set up and delete the stream with. */
  let admin: any;

  before(async () => {
    installPatches(['nats'], { tracer, aliases: { [old.module]: 'nats' } });
    nats = require(old.module);
    nc = await nats.connect({ servers: natsUrl() });
    admin = await NATS_LIBS[0].connect();
    const { StorageType } = NATS_LIBS[0].jetStreamEnums();
    await (await admin.jetstreamManager()).streams.add({ name: stream, subjects: [subjectOf('>')], storage: StorageType.Memory });
  });
  after(async () => {
    await (await admin?.jetstreamManager())?.streams.delete(stream).catch(() => undefined);
    await admin?.close();
    await nc?.close();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());

  it("publish with the app's headers and a request: their spans, the trace in the headers, the subscriptions' spans following from it", async () => {
    const subject = `otch.oldcore.${process.pid}.${old.module}`;
    const arrived: Msg[] = [];
    let active: Span | undefined;
    nc.subscribe(`${subject}.event`, { callback: (_err: unknown, msg: Msg) => arrived.push(msg) });
    nc.subscribe(`${subject}.rpc`, {
      callback: (_err: unknown, msg: Msg) => {
        active = currentSpan();
        msg.respond(sc.encode('pong'));
      },
    });
    await nc.flush();
    const appHeaders = nats.headers();
    appHeaders.set('app', 'mine');
    const parent = tracer.startSpan('request') as RecordedSpan;
    withSpan(parent, () => nc.publish(`${subject}.event`, sc.encode('x'), { headers: appHeaders }));
    const reply = await withSpan(parent, () => nc.request(`${subject}.rpc`, sc.encode('ping'), { timeout: 5000 }));
    parent.finish();
    assert.equal(sc.decode(reply.data), 'pong');
    await nc.flush();
    await tracer.settle();
    const [publish] = tracer.byName(`nats.publish ${subject}.event`);
    const [request] = tracer.byName(`nats.request ${subject}.rpc`);
    assert.deepEqual([publish.parentId, request.parentId], [parent.id, parent.id]);
    assert.deepEqual(headerRecord(arrived[0].headers), { app: ['mine'], traceparent: [traceparentOf(publish)] });
    assert.deepEqual(headerRecord(appHeaders), { app: ['mine'] }, "the app's headers are not written");
    assert.equal(tracer.byName(`nats.process ${subject}.event`)[0].parentId, publish.id);
    const [responder] = tracer.byName(`nats.process ${subject}.rpc`);
    assert.equal(responder.parentId, request.id);
    assert.equal(active, responder);
    assert.deepEqual(tracer.byName(/_INBOX/), [], 'no span for the reply');
  });

  it("JetStream's publish: one producer span ended by the stream's ack; its request makes no span", async () => {
    const subject = subjectOf('orders');
    const js = nc.jetstream();
    const parent = tracer.startSpan('request') as RecordedSpan;
    const ack = await withSpan(parent, () => js.publish(subject, sc.encode('order')));
    parent.finish();
    assert.equal(ack.stream, stream);
    const [send] = tracer.byName(`nats.publish ${subject}`);
    assert.equal(send.parentId, parent.id);
    assert.equal(send.tags['span.kind'], 'producer');
    assert.equal(send.tags['nats.stream'], stream);
    assert.deepEqual(tracer.started.filter((s) => s.operationName.startsWith('nats.request')).map((s) => s.operationName), []);
  });

  if (old.consumersApi) it("the consumers API (2.14's, beside the core): consume({ callback }) runs each message's callback in a span following from its publish", async () => {
    const subject = subjectOf('consumed');
    const jsm = await admin.jetstreamManager();
    const { AckPolicy } = NATS_LIBS[0].jetStreamEnums();
    await jsm.consumers.add(stream, { durable_name: 'consumed', ack_policy: AckPolicy.Explicit, filter_subject: subject });
    const js = nc.jetstream();
    const parent = tracer.startSpan('request') as RecordedSpan;
    await withSpan(parent, async () => {
      for (const n of [1, 2]) await js.publish(subject, sc.encode(`order ${n}`));
    });
    parent.finish();
    const consumer = await js.consumers.get(stream, 'consumed');
    const seen: Array<Span | undefined> = [];
    let done!: () => void;
    const both = new Promise<void>((resolve) => (done = resolve));
    const messages = await consumer.consume({
      callback: (msg: Msg) => {
        seen.push(currentSpan());
        msg.ack();
        if (seen.length === 2) done();
      },
    });
    await both;
    await messages.close();
    await tracer.settle();
    const spans = tracer.byName(`nats.process ${stream}`);
    assert.deepEqual(spans.map((s) => s.parentId), tracer.byName(`nats.publish ${subject}`).map((s) => s.id));
    assert.deepEqual(seen, spans);
    assert.deepEqual(spans.map((s) => [s.tags['nats.stream'], s.tags['nats.consumer'], s.tags['nats.subject']]), Array(2).fill([stream, 'consumed', subject]));
  });
});
