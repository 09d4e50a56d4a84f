import assert from 'node:assert/strict';
import net from 'node:net';
import amqp from 'amqplib';
import amqpCallback from 'amqplib/callback_api';
import type { Span } from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import type { AmqplibOptions } from '../../src';
import { amqplibTargets, amqpPort } from '../conformance/drivers/amqplib';
import { RecordedSpan, RecordingTracer, ThrowingTracer } from '../helpers/tracer';
import { esmAppSpans, runNode } from '../helpers/child';
import { amqpUrl, messagingTags } from '../helpers/services';
import { until } from '../helpers/waits';
import { endNoopWindow, startNoopWindow } from '../../src/hook-tracer';

const tag = `otch.test.${process.pid}`;
let names = 0;
/** A fresh queue or exchange name for one test. */
const fresh = (what: string): string => `${tag}.${what}.${++names}`;

/** A delivery as the consume callback saw it, with the span active in the callback. */
interface Arrival {
  msg: amqp.ConsumeMessage;
  active: Span | undefined;
}

function defer<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves with the first `count` deliveries, from the consume callback itself (never a fixed sleep). */
function arrivals(count = 1): { seen: (msg: amqp.ConsumeMessage | null) => void; done: Promise<Arrival[]> } {
  const got: Arrival[] = [];
  const all = defer<Arrival[]>();
  return {
    seen(msg) {
      if (msg === null) return;
      got.push({ msg, active: currentSpan() });
      if (got.length === count) all.resolve(got);
    },
    done: all.promise,
  };
}


describe('amqplib hook (real RabbitMQ)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  const install = (options: AmqplibOptions = {}): void => installPatches(['amqplib'], { tracer, hooks: { amqplib: options } });
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;
  let confirm: amqp.ConfirmChannel;
  let cbConn: amqpCallback.Connection;
  let cbCh: amqpCallback.Channel;
  let cbConfirm: amqpCallback.ConfirmChannel;

  before(async () => {
    install();
    conn = await amqp.connect(amqpUrl());
    ch = await conn.createChannel();
    confirm = await conn.createConfirmChannel();
    cbConn = await new Promise((resolve, reject) => amqpCallback.connect(amqpUrl(), (err, c) => (err ? reject(err) : resolve(c))));
    cbCh = await new Promise((resolve, reject) => cbConn.createChannel((err, c) => (err ? reject(err) : resolve(c))));
    cbConfirm = await new Promise((resolve, reject) => cbConn.createConfirmChannel((err, c) => (err ? reject(err) : resolve(c))));
  });
  after(async () => {
    await conn?.close();
    await new Promise((resolve) => cbConn?.close(resolve));
    uninstallAllPatches();
  });
  beforeEach(() => {
    uninstallAllPatches();
    install();
    tracer.reset();
  });
  afterEach(() => tracer.settle());

  function one(name: string | RegExp): RecordedSpan {
    const spans = tracer.byName(name);
    assert.equal(spans.length, 1, `one ${name} span, got ${tracer.finished.map((s) => s.operationName).join(', ')}`);
    return spans[0];
  }

  /** A named direct exchange bound to an exclusive queue, and a consumer on that queue. */
  async function exchangeWithConsumer(onMessage: (msg: amqp.ConsumeMessage | null) => unknown): Promise<{ exchange: string; queue: string }> {
    const exchange = fresh('ex');
    const queue = fresh('q');
    await ch.assertExchange(exchange, 'direct', { durable: false, autoDelete: true });
    await ch.assertQueue(queue, { exclusive: true });
    await ch.bindQueue(queue, exchange, 'orders.created');
    await ch.consume(queue, onMessage, { noAck: true });
    return { exchange, queue };
  }

  const peerTags = () => ({ 'peer.address': '127.0.0.1', 'peer.port': amqpPort() });

  /** A fresh exclusive queue with a consumer that reports its first `count` deliveries. */
  async function consumedQueue(what: string, count = 1): Promise<{ queue: string; done: Promise<Arrival[]> }> {
    const queue = fresh(what);
    const { seen, done } = arrivals(count);
    await ch.assertQueue(queue, { exclusive: true });
    await ch.consume(queue, seen, { noAck: true });
    return { queue, done };
  }

  /** Sends one message from inside a request span; returns that span, finished. */
  function sendInRequest(queue: string, body = 'x'): RecordedSpan {
    const request = tracer.startSpan('request') as RecordedSpan;
    withSpan(request, () => ch.sendToQueue(queue, Buffer.from(body)));
    request.finish();
    return request;
  }

  /** Runs `fn` inside a request span, finished after it. */
  function inRequest<T>(fn: () => T): T {
    const request = tracer.startSpan('request');
    try {
      return withSpan(request, fn);
    } finally {
      request.finish();
    }
  }

  /** Sends one message with `options` from inside a request span. */
  function sendInRequestWith(queue: string, options: amqp.Options.Publish): void {
    const request = tracer.startSpan('request') as RecordedSpan;
    withSpan(request, () => ch.sendToQueue(queue, Buffer.from('x'), options));
    request.finish();
  }

  it('promise API: publish and consume in one trace; producer under the request span, consumer following from it', async () => {
    const { seen, done } = arrivals();
    const { exchange, queue } = await exchangeWithConsumer(seen);
    const request = tracer.startSpan('request') as RecordedSpan;
    const returned = withSpan(request, () => ch.publish(exchange, 'orders.created', Buffer.from('hello'), { contentType: 'text/plain' }));
    request.finish();
    assert.equal(returned, true, "publish's boolean comes back as it is");
    const [{ msg, active }] = await done;
    assert.equal(msg.content.toString(), 'hello');
    await tracer.settle();

    const producer = one(`amqp.publish ${exchange}`);
    assert.equal(producer.parentId, request.id);
    assert.equal(producer.traceId, request.traceId);
    assert.deepEqual(producer.tags, {
      'span.kind': 'producer',
      ...messagingTags('amqplib', 'rabbitmq', exchange),
      'amqp.exchange': exchange,
      'amqp.routing_key': 'orders.created',
      ...peerTags(),
    });
    assert.equal(msg.properties.headers?.traceparent, `00-${producer.traceId}-${producer.id}-01`, 'the trace travels in the message headers');

    const consumer = one(`amqp.consume ${queue}`);
    assert.equal(consumer.traceId, request.traceId, 'same trace');
    assert.equal(consumer.parentId, producer.id);
    assert.equal(consumer.referenceType, 'followsFrom');
    assert.equal(active, consumer, 'the consume callback runs in the consumer span');
    assert.deepEqual(consumer.tags, {
      'span.kind': 'consumer',
      ...messagingTags('amqplib', 'rabbitmq', queue),
      'amqp.queue': queue,
      'amqp.exchange': exchange,
      'amqp.routing_key': 'orders.created',
      ...peerTags(),
    });
    assert.ok(!producer.hasError() && !consumer.hasError());
  });

  it('callback API: sendToQueue and consume; what the callback does is a child of the consumer span', async () => {
    const queue = fresh('cbq');
    const replies = fresh('replies');
    const replied = defer<amqpCallback.Message>();
    await new Promise((resolve, reject) => cbCh.assertQueue(queue, { exclusive: true }, (err, ok) => (err ? reject(err) : resolve(ok))));
    await new Promise((resolve, reject) => cbCh.assertQueue(replies, { exclusive: true }, (err, ok) => (err ? reject(err) : resolve(ok))));
    await new Promise((resolve, reject) =>
      cbCh.consume(replies, (msg) => msg && replied.resolve(msg), { noAck: true }, (err, ok) => (err ? reject(err) : resolve(ok))),
    );
    let inside: Span | undefined;
    await new Promise((resolve, reject) =>
      cbCh.consume(
        queue,
        (msg) => {
          if (msg === null) return;
          inside = currentSpan();
          // A reply sent from the callback: a producer span under the consumer span.
          cbCh.sendToQueue(replies, Buffer.from(`re: ${msg.content}`));
        },
        { noAck: true },
        (err, ok) => (err ? reject(err) : resolve(ok)),
      ),
    );
    const request = tracer.startSpan('request') as RecordedSpan;
    assert.equal(withSpan(request, () => cbCh.sendToQueue(queue, Buffer.from('ping'))), true);
    request.finish();
    const reply = await replied.promise;
    assert.equal(reply.content.toString(), 're: ping');
    await tracer.settle();

    const producer = one(`amqp.publish <default>:${queue}`);
    assert.equal(producer.parentId, request.id);
    assert.equal(producer.tags['amqp.queue'], queue);
    assert.equal(producer.tags['message_bus.destination'], queue);
    assert.equal(producer.tags['amqp.exchange'], '');
    const consumer = one(`amqp.consume ${queue}`);
    assert.equal(consumer.parentId, producer.id);
    assert.equal(inside, consumer);
    const replyProducer = one(`amqp.publish <default>:${replies}`);
    assert.equal(replyProducer.parentId, consumer.id, 'a client span made in the callback is a child of the consumer span');
    assert.equal(replyProducer.traceId, request.traceId);
    const replyConsumer = one(`amqp.consume ${replies}`);
    assert.equal(replyConsumer.parentId, replyProducer.id);
  });

  it('confirm channel (promise API): the span finishes at the confirm; the callback runs after it, in the caller context', async () => {
    const queue = fresh('confirmq');
    await confirm.assertQueue(queue, { exclusive: true });
    const request = tracer.startSpan('request') as RecordedSpan;
    const confirmed = defer<{ err: unknown; active: Span | undefined; finishedAtCallback: boolean }>();
    const returned = withSpan(request, () =>
      confirm.sendToQueue(queue, Buffer.from('c'), {}, (err: unknown) =>
        confirmed.resolve({ err, active: currentSpan(), finishedAtCallback: tracer.byName(`amqp.publish <default>:${queue}`).length === 1 }),
      ),
    );
    assert.equal(returned, true);
    assert.equal(tracer.byName(/^amqp\.publish/).length, 0, 'not finished before the broker confirms');
    const { err, active, finishedAtCallback } = await confirmed.promise;
    request.finish();
    assert.equal(err, null);
    assert.equal(active, request, 'the confirm callback runs in the context of the code that published');
    assert.ok(finishedAtCallback, 'the span finished before the callback ran');
    const span = one(`amqp.publish <default>:${queue}`);
    assert.equal(span.parentId, request.id);
    assert.ok(!span.hasError());
  });

  it('confirm channel without a callback: waitForConfirms (promise API) and the callback API', async () => {
    const queue = fresh('waitq');
    await confirm.assertQueue(queue, { exclusive: true });
    const request = tracer.startSpan('request') as RecordedSpan;
    await withSpan(request, async () => {
      confirm.sendToQueue(queue, Buffer.from('1'));
      confirm.sendToQueue(queue, Buffer.from('2'));
      await confirm.waitForConfirms();
    });
    assert.equal(tracer.byName(`amqp.publish <default>:${queue}`).length, 2, 'both finished (at publish: no callback)');

    const cbQueue = fresh('cbwaitq');
    await new Promise((resolve, reject) => cbConfirm.assertQueue(cbQueue, { exclusive: true }, (err, ok) => (err ? reject(err) : resolve(ok))));
    const err = await withSpan(request, () => new Promise((resolve) => cbConfirm.publish('', cbQueue, Buffer.from('3'), {}, resolve)));
    assert.equal(err, null);
    await new Promise<void>((resolve, reject) => cbConfirm.waitForConfirms((e) => (e ? reject(e) : resolve())));
    request.finish();
    const span = one(`amqp.publish <default>:${cbQueue}`);
    assert.equal(span.parentId, request.id);
  });

  it("a nack'd confirm marks the span as an error; the callback gets amqplib's error", async () => {
    const queue = fresh('full');
    // A queue that holds one message and refuses more: the broker nacks the second publish.
    await confirm.assertQueue(queue, { exclusive: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    const request = tracer.startSpan('request') as RecordedSpan;
    const outcomes = await withSpan(request, () =>
      Promise.all(['first', 'second'].map((body) => new Promise((resolve) => confirm.sendToQueue(queue, Buffer.from(body), {}, (err: unknown) => resolve(err))))),
    );
    request.finish();
    assert.equal(outcomes[0], null);
    assert.equal((outcomes[1] as Error).message, 'message nacked');
    const [first, second] = tracer.byName(`amqp.publish <default>:${queue}`);
    assert.ok(!first.hasError());
    assert.equal(second.tags.error, true);
    assert.equal(second.errorLog()?.fields.message, 'message nacked');
  });

  it('a publish that closes the channel (no such exchange): the span finishes with the error when the confirm never comes', async () => {
    const channel = await conn.createConfirmChannel();
    const closed = defer<Error>();
    channel.on('error', closed.resolve);
    const confirmErr = defer<unknown>();
    const request = tracer.startSpan('request') as RecordedSpan;
    withSpan(request, () => channel.publish(fresh('missing'), 'k', Buffer.from('x'), {}, confirmErr.resolve));
    request.finish();
    assert.equal((await closed.promise as Error & { code?: number }).code, 404);
    assert.equal((await confirmErr.promise as Error).message, 'channel closed');
    const span = one(/^amqp\.publish otch\.test\..*\.missing\./);
    assert.equal(span.tags.error, true);
  });

  it("headers the caller set are kept and win, in any case, with their format (no tracestate of ours beside them); the caller's options are not written", async () => {
    const { queue, done } = await consumedQueue('headersq', 2);
    const theirs = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
    tracer.injectAlso = { tracestate: 'ours=1' };
    const withTrace = { headers: { app: 'a', Traceparent: theirs }, messageId: 'm1' };
    const withoutTrace = { headers: { app: 'b' }, messageId: 'm2' };
    const before = JSON.stringify([withTrace, withoutTrace]);
    const request = tracer.startSpan('request') as RecordedSpan;
    withSpan(request, () => {
      ch.sendToQueue(queue, Buffer.from('1'), withTrace);
      ch.sendToQueue(queue, Buffer.from('2'), withoutTrace);
    });
    request.finish();
    const [a, b] = await done;
    assert.equal(JSON.stringify([withTrace, withoutTrace]), before, "the caller's options and headers are unchanged");
    tracer.injectAlso = {};
    assert.deepEqual(a.msg.properties.headers, { app: 'a', Traceparent: theirs });
    assert.equal(a.msg.properties.messageId, 'm1');
    await tracer.settle();
    const [p1, p2] = tracer.byName(`amqp.publish <default>:${queue}`);
    assert.deepEqual(b.msg.properties.headers, { app: 'b', traceparent: `00-${p2.traceId}-${p2.id}-01`, tracestate: 'ours=1' });
    // The first message carries the caller's context: its consumer follows from that one.
    const consumers = tracer.byName(`amqp.consume ${queue}`);
    assert.equal(consumers[0].parentId, '0123456789abcdef');
    assert.equal(consumers[1].parentId, p2.id);
    assert.equal(p1.parentId, request.id);
  });

  it("the caller's headers are read once, as amqplib reads them, also when nothing is injected (propagate: false, an inject that throws)", async () => {
    const { queue, done } = await consumedQueue('readsq', 3);
    let reads = 0;
    const options = (): amqp.Options.Publish =>
      Object.defineProperty({ messageId: 'm' }, 'headers', {
        enumerable: true,
        get: () => {
          reads++;
          return { app: 'a' };
        },
      });
    const readsOf = (send: () => void): number => {
      reads = 0;
      const request = tracer.startSpan('request');
      withSpan(request, send);
      request.finish();
      return reads;
    };
    uninstallAllPatches();
    const untraced = readsOf(() => ch.sendToQueue(queue, Buffer.from('1'), options()));
    install({ propagate: false });
    assert.equal(readsOf(() => ch.sendToQueue(queue, Buffer.from('2'), options())), untraced, 'propagate: false');
    uninstallAllPatches();
    const throwing = Object.create(tracer) as RecordingTracer;
    throwing.inject = () => {
      throw new Error('inject fails');
    };
    installPatches(['amqplib'], { tracer: throwing });
    assert.equal(readsOf(() => ch.sendToQueue(queue, Buffer.from('3'), options())), untraced, 'an inject that throws');
    const arrivals = await done;
    for (const arrival of arrivals) assert.deepEqual(arrival.msg.properties.headers, { app: 'a' });
  });

  it('a headers getter that throws: the same error from publish, the span finished once with it; a confirm channel keeps the message\'s callback first, as untraced', async () => {
    const queue = fresh('throwq');
    const options = (): amqp.Options.Publish =>
      Object.defineProperty({}, 'headers', {
        enumerable: true,
        get: () => {
          throw new Error('boom getter');
        },
      });
    const attempt = async (): Promise<{ plain: string; confirm: string; unconfirmed: number }> => {
      const channel = await conn.createConfirmChannel();
      const unconfirmedBefore = (channel as unknown as { unconfirmed: unknown[] }).unconfirmed.length;
      const request = tracer.startSpan('request');
      const outcome = withSpan(request, () => {
        const message = (fn: () => unknown): string => {
          try {
            fn();
            return 'returned';
          } catch (err) {
            return (err as Error).message;
          }
        };
        return {
          plain: message(() => ch.sendToQueue(queue, Buffer.from('p'), options())),
          confirm: message(() => channel.sendToQueue(queue, Buffer.from('c'), options(), () => undefined)),
          unconfirmed: (channel as unknown as { unconfirmed: unknown[] }).unconfirmed.length - unconfirmedBefore,
        };
      });
      request.finish();
      await channel.close().catch(() => undefined);
      return outcome;
    };
    uninstallAllPatches();
    const untraced = await attempt();
    install();
    tracer.reset();
    assert.deepEqual(await attempt(), untraced);
    assert.deepEqual(untraced, { plain: 'boom getter', confirm: 'boom getter', unconfirmed: 1 });
    await tracer.settle();
    const spans = tracer.byName(`amqp.publish <default>:${queue}`);
    assert.equal(spans.length, 2, 'both finished (settle: each once)');
    for (const span of spans) assert.equal((span.errorLog()?.fields['error.object'] as Error).message, 'boom getter');
  });

  it("options whose getters use private fields publish as untraced (they run with the caller's object as this)", async () => {
    const { queue, done } = await consumedQueue('privq');
    class Options {
      #persistent = true;
      #headers = { tenant: 't1' };
      get persistent(): boolean {
        return this.#persistent;
      }
      get headers(): Record<string, string> {
        return this.#headers;
      }
    }
    sendInRequestWith(queue, new Options() as amqp.Options.Publish);
    const [{ msg }] = await done;
    assert.equal(msg.properties.deliveryMode, 2);
    assert.equal(msg.properties.headers?.tenant, 't1');
    assert.ok(msg.properties.headers?.traceparent, 'the trace went too');
  });

  it("an exchange or routing key that is no string: amqplib's own TypeError, the app's toString never run", async () => {
    let calls = 0;
    const odd = { toString: () => (calls++, 'odd') };
    const message = (fn: () => unknown): string => {
      try {
        fn();
        return 'returned';
      } catch (err) {
        return `${(err as Error).constructor.name}: ${(err as Error).message}`;
      }
    };
    const run = (): string[] => inRequest(() => [message(() => ch.publish(odd as never, 'k', Buffer.from('x'))), message(() => ch.publish('', odd as never, Buffer.from('x')))]);
    uninstallAllPatches();
    const untraced = run();
    install();
    assert.deepEqual(run(), untraced);
    assert.equal(calls, 0);
    assert.match(untraced[0], /^TypeError: Field 'exchange' is the wrong type/);
  });

  it("a Proxy over the caller's headers sees amqplib's reads and no enumeration more", async () => {
    const { queue, done } = await consumedQueue('proxyq', 2);
    const counting = (): { headers: object; traps: Record<string, number> } => {
      const traps: Record<string, number> = {};
      const count = (name: string): void => void (traps[name] = (traps[name] ?? 0) + 1);
      const headers = new Proxy(
        { a: '1', b: '2' },
        {
          ownKeys: (t) => (count('ownKeys'), Reflect.ownKeys(t)),
          getOwnPropertyDescriptor: (t, k) => (count('getOwnPropertyDescriptor'), Reflect.getOwnPropertyDescriptor(t, k)),
          getPrototypeOf: (t) => (count('getPrototypeOf'), Reflect.getPrototypeOf(t)),
        },
      );
      return { headers, traps };
    };
    uninstallAllPatches();
    const untraced = counting();
    inRequest(() => ch.sendToQueue(queue, Buffer.from('1'), { headers: untraced.headers }));
    install();
    const traced = counting();
    inRequest(() => ch.sendToQueue(queue, Buffer.from('2'), { headers: traced.headers }));
    await done;
    assert.deepEqual(traced.traps, untraced.traps);
  });

  it('an object URL: connect reads its hostname, port and protocol no more often than amqplib does (-r, which patches connect before amqplib binds it)', async () => {
    const script = `
      const amqp = require('amqplib');
      const url = new URL(process.env.AMQP_URL);
      const reads = {};
      const counted = (key, value) => ({ enumerable: true, get: () => { reads[key] = (reads[key] || 0) + 1; return value; } });
      const target = Object.defineProperties({ username: decodeURIComponent(url.username), password: decodeURIComponent(url.password), vhost: '/' },
        { protocol: counted('protocol', 'amqp'), hostname: counted('hostname', url.hostname), port: counted('port', Number(url.port)) });
      amqp.connect(target).then((c) => c.close()).then(() => console.log(JSON.stringify(reads)));
    `;
    const readsOf = async (preload: string[]): Promise<unknown> => {
      const run = await runNode({ AMQP_URL: amqpUrl() }, [...preload, '-e', script]);
      assert.equal(run.status, 0, run.stderr);
      return JSON.parse(run.stdout.trim().split('\n').pop() as string);
    };
    assert.deepEqual(await readsOf(['-r', './register']), await readsOf([]));
  });

  it('requireParent: no producer span (nor header) without an active span; the consumer span is still made', async () => {
    uninstallAllPatches();
    install({ requireParent: true });
    const { queue, done } = await consumedQueue('reqq', 2);
    ch.sendToQueue(queue, Buffer.from('orphan'));
    const request = sendInRequest(queue, 'child');
    const [orphan, child] = await done;
    assert.equal(orphan.msg.properties.headers?.traceparent, undefined);
    await tracer.settle();
    const producer = one(`amqp.publish <default>:${queue}`);
    assert.equal(producer.parentId, request.id);
    assert.equal(child.msg.properties.headers?.traceparent, `00-${producer.traceId}-${producer.id}-01`);
    const consumers = tracer.byName(`amqp.consume ${queue}`);
    assert.equal(consumers.length, 2);
    assert.equal(consumers[0].parentId, undefined, 'a message without a trace: a new root');
    assert.equal(consumers[1].parentId, producer.id);
  });

  it("consumerParent: 'childOf' makes the consumer a child of the producer", async () => {
    uninstallAllPatches();
    install({ consumerParent: 'childOf' });
    const { queue, done } = await consumedQueue('childq');
    sendInRequest(queue);
    await done;
    await tracer.settle();
    const consumer = one(`amqp.consume ${queue}`);
    assert.equal(consumer.parentId, one(`amqp.publish <default>:${queue}`).id);
    assert.equal(consumer.referenceType, 'childOf');
  });

  it('a malformed trace header: the consumer span is a new root and the callback runs as usual', async () => {
    const { queue, done } = await consumedQueue('badq', 4);
    const bad = ['garbage', 'ff-0123456789abcdef0123456789abcdef-0123456789abcdef-01', '00-00000000000000000000000000000000-0123456789abcdef-01'];
    for (const traceparent of bad) ch.sendToQueue(queue, Buffer.from(traceparent), { headers: { traceparent } });
    ch.sendToQueue(queue, Buffer.from('number'), { headers: { traceparent: 42, other: { nested: true } } });
    const got = await done;
    assert.deepEqual(got.map((a) => a.msg.content.toString()), [...bad, 'number']);
    await tracer.settle();
    const consumers = tracer.byName(`amqp.consume ${queue}`);
    assert.equal(consumers.length, 4);
    for (const c of consumers) assert.equal(c.parentId, undefined);
    assert.deepEqual(got.map((a) => a.active), consumers);
  });

  it('a consumer that returns a promise: its span finishes when that promise settles', async () => {
    const queue = fresh('asyncq');
    const started = defer();
    const release = defer();
    await ch.assertQueue(queue, { exclusive: true });
    await ch.consume(
      queue,
      async () => {
        started.resolve();
        await release.promise;
      },
      { noAck: true },
    );
    ch.sendToQueue(queue, Buffer.from('slow'));
    await started.promise;
    assert.equal(tracer.byName(`amqp.consume ${queue}`).length, 0, 'open while the returned promise is pending');
    release.resolve();
    await until(() => tracer.byName(`amqp.consume ${queue}`).length === 1, 'the consumer span');
    assert.ok(!one(`amqp.consume ${queue}`).hasError());
  });

  it("what a consumer returns besides a native promise is not touched (amqplib ignores it): a lazy thenable's then is never called, a throwing then getter is never read", async () => {
    const queue = fresh('thenq');
    let thenCalls = 0;
    let getterReads = 0;
    const lazy = { then: () => thenCalls++ };
    const throwing = {
      get then(): unknown {
        getterReads++;
        throw new Error('then getter throws');
      },
    };
    const returns = [lazy, throwing, undefined];
    const { seen, done } = arrivals(3);
    const channel = await conn.createChannel();
    const errors: unknown[] = [];
    channel.on('error', (err) => errors.push(err));
    await channel.assertQueue(queue, { exclusive: true });
    await channel.consume(queue, (msg) => {
      seen(msg);
      return returns.shift();
    }, { noAck: true });
    for (const body of ['lazy', 'throwing', 'plain']) channel.sendToQueue(queue, Buffer.from(body));
    await done;
    await tracer.settle();
    assert.equal(thenCalls, 0);
    assert.equal(getterReads, 0);
    assert.deepEqual(errors, []);
    const spans = tracer.byName(`amqp.consume ${queue}`);
    assert.equal(spans.length, 3, 'each finished, at return');
    assert.ok(spans.every((span) => !span.hasError()));
    await channel.close();
  });

  describe('a consumer that fails is handled as without the hook', () => {
    /** A consume callback that throws: amqplib closes the channel and reports that error on it. */
    async function throwingConsumer(): Promise<{ thrown: Error; reported: Error & { code?: number } }> {
      const channel = await conn.createChannel();
      const queue = fresh('throwq');
      await channel.assertQueue(queue, { exclusive: true });
      const reported = defer<Error>();
      channel.on('error', reported.resolve);
      const thrown = new Error('consumer broke');
      await channel.consume(queue, () => {
        throw thrown;
      }, { noAck: true });
      channel.sendToQueue(queue, Buffer.from('boom'));
      return { thrown, reported: await reported.promise };
    }

    it('throwing: the channel closes with that very error, code 541; the span has error=true', async () => {
      uninstallAllPatches();
      const untraced = await throwingConsumer();
      install();
      const traced = await throwingConsumer();
      assert.equal(untraced.reported, untraced.thrown);
      assert.equal(traced.reported, traced.thrown);
      assert.equal(traced.reported.code, untraced.reported.code);
      assert.equal(traced.reported.code, 541);
      await tracer.settle();
      const span = one(/^amqp\.consume .*\.throwq\./);
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields['error.object'], traced.thrown);
    });

    /** A consume callback that rejects: an unhandled rejection with its error; the channel stays open. */
    async function rejectingConsumer(): Promise<{ thrown: Error; reasons: unknown[]; after: string }> {
      const queue = fresh('rejectq');
      const thrown = new Error('consumer rejected');
      const reasons: unknown[] = [];
      const saved = process.listeners('unhandledRejection');
      process.removeAllListeners('unhandledRejection');
      const listener = (reason: unknown): void => {
        reasons.push(reason);
      };
      process.on('unhandledRejection', listener);
      try {
        await ch.assertQueue(queue, { exclusive: true });
        const next = defer<string>();
        await ch.consume(
          queue,
          async (msg) => {
            if (msg === null) return;
            if (msg.content.toString() === 'fail') throw thrown;
            next.resolve(msg.content.toString());
          },
          { noAck: true },
        );
        ch.sendToQueue(queue, Buffer.from('fail'));
        await until(() => reasons.length > 0, 'the unhandled rejection');
        ch.sendToQueue(queue, Buffer.from('still consuming'));
        return { thrown, reasons, after: await next.promise };
      } finally {
        process.removeListener('unhandledRejection', listener);
        for (const l of saved) process.on('unhandledRejection', l as (...args: unknown[]) => void);
      }
    }

    it('rejecting: one unhandled rejection with that error, as untraced; the channel goes on; the span has error=true', async () => {
      uninstallAllPatches();
      const untraced = await rejectingConsumer();
      install();
      const traced = await rejectingConsumer();
      assert.deepEqual(untraced.reasons, [untraced.thrown]);
      assert.deepEqual(traced.reasons, [traced.thrown]);
      assert.equal(traced.after, untraced.after);
      await tracer.settle();
      const [failed, ok] = tracer.byName(/^amqp\.consume .*\.rejectq\./);
      assert.equal(failed.tags.error, true);
      assert.equal(failed.errorLog()?.fields.message, 'consumer rejected');
      assert.ok(!ok.hasError());
    });
  });

  it('a consumer registered before install: traced; named from the delivery (exchange, or the queue on the default exchange)', async () => {
    uninstallAllPatches();
    const { seen, done } = arrivals(2);
    const { exchange, queue } = await exchangeWithConsumer(seen);
    install();
    ch.publish(exchange, 'orders.created', Buffer.from('via exchange'));
    ch.sendToQueue(queue, Buffer.from('direct'));
    await done;
    await tracer.settle();
    const viaExchange = one(`amqp.consume ${exchange}`);
    assert.equal(viaExchange.tags['message_bus.destination'], exchange);
    assert.equal(viaExchange.tags['amqp.queue'], undefined, 'a delivery through an exchange does not name the queue');
    assert.equal(one(`amqp.consume ${queue}`).tags['amqp.queue'], queue);
  });

  /** Runs `fn` in the no-op window (the tracer is a no-op): no message is read (no extract), no consumer span is made. */
  async function inNoopWindowNothingRead(fn: () => Promise<unknown>): Promise<void> {
    let extracts = 0;
    const extract = tracer.extract;
    tracer.extract = function (this: RecordingTracer, ...args: Parameters<RecordingTracer['extract']>) {
      extracts++;
      return extract.apply(this, args);
    } as RecordingTracer['extract'];
    startNoopWindow({ explicitTracer: tracer }, 60000);
    try {
      await fn();
    } finally {
      endNoopWindow();
      tracer.extract = extract;
    }
    assert.equal(extracts, 0);
    await tracer.settle();
    assert.equal(tracer.byName(/^amqp\.consume/).length, 0);
  }

  it('with a no-op tracer (the no-op window), a delivery is not read: no extract, no span', async () => {
    const { queue, done } = await consumedQueue('noopq');
    await inNoopWindowNothingRead(async () => {
      ch.sendToQueue(queue, Buffer.from('x'), { headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` } });
      await done;
    });
  });

  it('peerService names a publish whose peer is known only from the socket (peer.address), by address:port or address', async () => {
    const { queue, done } = await consumedQueue('peerq', 2);
    uninstallAllPatches();
    install({ peerService: { [`127.0.0.1:${amqpPort()}`]: 'rabbit-port' } });
    sendInRequest(queue);
    uninstallAllPatches();
    install({ peerService: { '127.0.0.1': 'rabbit' } });
    sendInRequest(queue);
    await done;
    await tracer.settle();
    const spans = tracer.byName(`amqp.publish <default>:${queue}`);
    assert.deepEqual(spans.map((span) => [span.tags['peer.address'], span.tags['peer.hostname'], span.tags['peer.service']]), [
      ['127.0.0.1', undefined, 'rabbit-port'],
      ['127.0.0.1', undefined, 'rabbit'],
    ]);
  });

  it('a server-named queue stands in span names as amq.gen-*', async () => {
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const { seen, done } = arrivals();
    await ch.consume(queue, seen, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('x'));
    await done;
    await tracer.settle();
    assert.equal(one('amqp.publish <default>:amq.gen-*').tags['amqp.queue'], queue);
    assert.equal(one('amqp.consume amq.gen-*').tags['amqp.queue'], queue);
  });

  it('a consumer cancelled by the broker gets its null message, and no span', async () => {
    const queue = fresh('cancelq');
    const cancelled = defer<unknown>();
    await ch.assertQueue(queue);
    await ch.consume(queue, (msg) => cancelled.resolve(msg), { noAck: true });
    await confirm.deleteQueue(queue);
    assert.equal(await cancelled.promise, null);
    await tracer.settle();
    assert.equal(tracer.byName(/^amqp\.consume/).length, 0);
  });

  describe('get (basic.get): a polled message gets a consumer span', () => {
    /**
     * A fresh queue (both connections' channels get from it; the broker drops it a minute after its last use)
     * holding one message sent (on a confirm channel, so it is there) inside request A, or outside any with `headers`.
     */
    async function queueWithMessage(what: string, body: string, headers?: Record<string, unknown>): Promise<{ queue: string; a: RecordedSpan | undefined }> {
      const queue = fresh(what);
      await ch.assertQueue(queue, { durable: false, expires: 60000 });
      if (headers !== undefined) {
        confirm.sendToQueue(queue, Buffer.from(body), { headers });
        await confirm.waitForConfirms();
        return { queue, a: undefined };
      }
      const a = tracer.startSpan('request A') as RecordedSpan;
      withSpan(a, () => confirm.sendToQueue(queue, Buffer.from(body)));
      a.finish();
      await confirm.waitForConfirms();
      return { queue, a };
    }

    const getTags = (queue: string) => ({
      'span.kind': 'consumer',
      ...messagingTags('amqplib', 'rabbitmq', queue),
      'amqp.queue': queue,
      'amqp.exchange': '',
      'amqp.routing_key': queue,
      ...peerTags(),
    });

    it('promise API: the message got in request B has a span following from its publish, ended at hand-over; no payload; B goes on in its own context', async () => {
      const { queue } = await queueWithMessage('getq', 'secret-body');
      const b = tracer.startSpan('request B') as RecordedSpan;
      const got = await withSpan(b, async () => {
        const msg = await ch.get(queue, { noAck: true });
        return { msg, active: currentSpan() };
      });
      b.finish();
      assert.ok(got.msg !== false);
      assert.equal(got.msg.content.toString(), 'secret-body', 'the message as amqplib gives it');
      assert.equal(got.active, b, "the caller's continuation runs in its own context");
      await tracer.settle();
      const producer = one(`amqp.publish <default>:${queue}`);
      const consumer = one(`amqp.consume ${queue}`);
      assert.equal(consumer.traceId, producer.traceId);
      assert.equal(consumer.parentId, producer.id);
      assert.equal(consumer.referenceType, 'followsFrom');
      assert.deepEqual(consumer.tags, getTags(queue));
      assert.ok(!consumer.hasError());
      assert.ok(!JSON.stringify([consumer.tags, consumer.logs]).includes('secret'), 'no payload');
      assert.deepEqual(tracer.finished.map((s) => s.operationName).sort(), ['request A', 'request B', `amqp.consume ${queue}`, `amqp.publish <default>:${queue}`].sort(), 'the get RPC makes no span of its own');
    });

    it("consumerParent: 'childOf', and a message redelivered: a child of the publish, amqp.redelivered", async () => {
      uninstallAllPatches();
      install({ consumerParent: 'childOf' });
      const { queue } = await queueWithMessage('getredq', 'r');
      const first = await ch.get(queue);
      assert.ok(first !== false);
      ch.nack(first, false, true);
      const again = await ch.get(queue, { noAck: true });
      assert.ok(again !== false && again.fields.redelivered);
      await tracer.settle();
      const producer = one(`amqp.publish <default>:${queue}`);
      const [once, twice] = tracer.byName(`amqp.consume ${queue}`);
      for (const span of [once, twice]) {
        assert.equal(span.parentId, producer.id);
        assert.equal(span.referenceType, 'childOf');
      }
      assert.equal(once.tags['amqp.redelivered'], undefined);
      assert.equal(twice.tags['amqp.redelivered'], true);
    });

    it('an empty queue (false) makes no span, on either API', async () => {
      const queue = fresh('getempty');
      await ch.assertQueue(queue);
      const b = tracer.startSpan('request B') as RecordedSpan;
      assert.equal(await withSpan(b, () => ch.get(queue)), false);
      const cbGot = await new Promise<unknown>((resolve, reject) => withSpan(b, () => cbCh.get(queue, {}, (err, msg) => (err ? reject(err) : resolve([msg, currentSpan()])))));
      b.finish();
      assert.deepEqual(cbGot, [false, b], "the callback gets false, in its caller's context");
      await ch.deleteQueue(queue);
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => s.operationName), ['request B']);
    });

    it('callback API: the callback runs inside the span (what it publishes is its child), which ends when it returns', async () => {
      const { queue } = await queueWithMessage('getcbq', 'cb');
      const next = fresh('getcbnext');
      const b = tracer.startSpan('request B') as RecordedSpan;
      const seen = await new Promise<{ active: Span | undefined; finishedInside: number; content: string }>((resolve, reject) =>
        withSpan(b, () =>
          cbCh.get(queue, { noAck: true }, (err, msg) => {
            if (err || msg === false) return reject(err ?? new Error('empty'));
            cbCh.sendToQueue(next, Buffer.from('on'));
            const active = currentSpan();
            resolve({ active, finishedInside: (active as RecordedSpan).finishCount, content: msg.content.toString() });
          }),
        ),
      );
      b.finish();
      assert.equal(seen.content, 'cb');
      assert.equal(seen.finishedInside, 0, 'open while the callback runs');
      await tracer.settle();
      const producer = one(`amqp.publish <default>:${queue}`);
      const consumer = one(`amqp.consume ${queue}`);
      assert.equal(seen.active, consumer);
      assert.equal(consumer.parentId, producer.id);
      assert.equal(consumer.referenceType, 'followsFrom');
      assert.deepEqual(consumer.tags, getTags(queue));
      assert.equal(one(`amqp.publish <default>:${next}`).parentId, consumer.id);
    });

    it("a message without a trace (or a malformed one) starts a new trace, never a child of the request that got it", async () => {
      const { queue } = await queueWithMessage('getrootq', 'x', { traceparent: 'garbage' });
      const b = tracer.startSpan('request B') as RecordedSpan;
      const msg = await withSpan(b, () => ch.get(queue, { noAck: true }));
      b.finish();
      assert.ok(msg !== false);
      await tracer.settle();
      const consumer = one(`amqp.consume ${queue}`);
      assert.equal(consumer.parentId, undefined);
      assert.notEqual(consumer.traceId, b.traceId);
    });

    it('a get that fails (no such queue: the broker closes the channel) makes no span and ends as untraced, on either API', async () => {
      const missing = fresh('getmissing');
      const channel = await conn.createChannel();
      channel.on('error', () => undefined);
      const b = tracer.startSpan('request B') as RecordedSpan;
      // amqplib rejects with the broker's close frame (no Error), which passes through as it is.
      const rejected = await withSpan(b, () => channel.get(missing)).then(() => undefined, (reason: { fields?: { replyCode?: number } }) => reason);
      assert.equal(rejected?.fields?.replyCode, 404);
      const cbChannel = await new Promise<amqpCallback.Channel>((resolve, reject) => cbConn.createChannel((err, c) => (err ? reject(err) : resolve(c))));
      cbChannel.on('error', () => undefined);
      const closed = defer();
      cbChannel.on('close', () => closed.resolve());
      let called = 0;
      // The callback API drops the error: its callback is never called, with or without the hook.
      withSpan(b, () => cbChannel.get(missing, {}, () => called++));
      await closed.promise;
      b.finish();
      assert.equal(called, 0);
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => s.operationName), ['request B']);
    });

    it('with a no-op tracer (the no-op window), a got message is not read: no extract, no span', async () => {
      const { queue } = await queueWithMessage('getnoop', 'n');
      await inNoopWindowNothingRead(async () => {
        const msg = await ch.get(queue, { noAck: true });
        assert.ok(msg !== false && msg.content.toString() === 'n');
      });
    });

    it('inside suppressTracing: no span, the message as untraced', async () => {
      const { queue } = await queueWithMessage('getsupq', 's');
      const msg = await suppressTracing(() => ch.get(queue, { noAck: true }));
      assert.ok(msg !== false && msg.content.toString() === 's');
      await tracer.settle();
      assert.equal(tracer.byName(/^amqp\.consume/).length, 0);
    });

    it("a returned message (mandatory, unroutable) makes no span; the 'return' listener runs outside the request that published", async () => {
      const returned = defer<[string, Span | undefined]>();
      const listener = (msg: amqp.Message): void => returned.resolve([msg.content.toString(), currentSpan()]);
      ch.once('return', listener);
      const b = tracer.startSpan('request B') as RecordedSpan;
      const queue = fresh('nowhere');
      withSpan(b, () => ch.sendToQueue(queue, Buffer.from('back'), { mandatory: true }));
      b.finish();
      assert.deepEqual(await returned.promise, ['back', undefined]);
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => s.operationName), [`amqp.publish <default>:${queue}`, 'request B']);
    });

    it('a throwing tracer costs only the span: both APIs get the message, the callback runs once', async () => {
      const queue = fresh('getbroken');
      await ch.assertQueue(queue, { durable: false, expires: 60000 });
      const traceparent = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
      for (const body of ['p', 'c']) confirm.sendToQueue(queue, Buffer.from(body), { headers: { traceparent } });
      await confirm.waitForConfirms();
      uninstallAllPatches();
      const broken = new ThrowingTracer();
      installPatches(['amqplib'], { tracer: broken });
      const b = tracer.startSpan('request B');
      const promised = await withSpan(b, () => ch.get(queue, { noAck: true }));
      b.finish();
      assert.ok(promised !== false && promised.content.toString() === 'p');
      let calls = 0;
      const viaCallback = await new Promise<string>((resolve, reject) =>
        cbCh.get(queue, { noAck: true }, (err, msg) => {
          calls++;
          if (err || msg === false) return reject(err ?? new Error('empty'));
          resolve(msg.content.toString());
        }),
      );
      assert.equal(viaCallback, 'c');
      assert.equal(calls, 1);
      assert.ok(broken.calls >= 2, 'the tracer was asked');
    });
  });

  describe('a connection opened inside a request (A) is not that request\'s', () => {
    /** Opens a connection (each API) inside request A, which then finishes. */
    async function openedInRequest(): Promise<{ a: RecordedSpan; promiseConn: amqp.ChannelModel; cbConn: amqpCallback.Connection }> {
      const a = tracer.startSpan('request A') as RecordedSpan;
      const opened = await withSpan(a, async () => ({
        promiseConn: await amqp.connect(amqpUrl()),
        cbConn: await new Promise<amqpCallback.Connection>((resolve, reject) => amqpCallback.connect(amqpUrl(), (err, c) => (err ? reject(err) : resolve(c)))),
      }));
      a.finish();
      return { a, ...opened };
    }
    const named = (span: Span | undefined): string => (span === undefined ? 'none' : (span as RecordedSpan).operationName);

    it('callback API: each callback runs in the context of the code that gave it (request B, or the span of the message get returned); what it publishes is B\'s', async () => {
      const { cbConn: c } = await openedInRequest();
      const b = tracer.startSpan('request B') as RecordedSpan;
      const seen: Record<string, string> = {};
      const queue = fresh('ctxq');
      const done = defer();
      withSpan(b, () =>
        c.createChannel((err, channel) => {
          if (err) return done.reject(err);
          seen.createChannel = named(currentSpan());
          channel.assertQueue(queue, { exclusive: true }, (err2) => {
            if (err2) return done.reject(err2);
            seen.assertQueue = named(currentSpan());
            channel.sendToQueue(queue, Buffer.from('x'));
            channel.get(queue, { noAck: true }, (err3, msg) => {
              if (err3) return done.reject(err3);
              seen.get = msg === false ? 'empty' : named(currentSpan());
              c.createConfirmChannel((err4, confirmChannel) => {
                if (err4) return done.reject(err4);
                confirmChannel.sendToQueue(fresh('nowhere'), Buffer.from('w'));
                confirmChannel.waitForConfirms(() => {
                  seen.waitForConfirms = named(currentSpan());
                  confirmChannel.close(() => undefined);
                  channel.close(() => {
                    seen.close = named(currentSpan());
                    c.close(() => {
                      seen.connectionClose = named(currentSpan());
                      done.resolve();
                    });
                  });
                });
              });
            });
          });
        }),
      );
      b.finish();
      await done.promise;
      // get's callback runs in its message's span, and so do the callbacks given from it.
      const inGot = `amqp.consume ${queue}`;
      assert.deepEqual(seen, { createChannel: 'request B', assertQueue: 'request B', get: inGot, waitForConfirms: inGot, close: inGot, connectionClose: inGot });
      await tracer.settle();
      assert.equal(one(`amqp.publish <default>:${queue}`).parentId, b.id, 'published from B\'s callback: a child of B');
    });

    it('a confirm callback of a publish that makes no span (requireParent, no active span) runs in its caller\'s context too', async () => {
      uninstallAllPatches();
      install({ requireParent: true });
      const { promiseConn: c } = await openedInRequest();
      const channel = await c.createConfirmChannel();
      const confirmed = defer<string>();
      channel.sendToQueue(fresh('nowhere'), Buffer.from('c'), {}, () => confirmed.resolve(named(currentSpan())));
      assert.equal(await confirmed.promise, 'none');
      await c.close();
    });

    it("events the connection delivers by itself ('return', 'error', 'close', 'drain', a broker's cancel) run outside any request", async () => {
      const { promiseConn: c } = await openedInRequest();
      const seen: Array<[string, string]> = [];
      const b = tracer.startSpan('request B') as RecordedSpan;
      const channel = await withSpan(b, () => c.createChannel());
      const other = await c.createChannel();
      const queue = fresh('cancelctx');
      await other.assertQueue(queue);
      const cancelled = defer();
      const returned = defer();
      await withSpan(b, async () => {
        channel.on('return', () => {
          seen.push(['return', named(currentSpan())]);
          returned.resolve();
        });
        await channel.consume(queue, (msg) => {
          if (msg !== null) return;
          seen.push(['cancel', named(currentSpan())]);
          cancelled.resolve();
        });
        channel.publish('', fresh('nowhere'), Buffer.from('r'), { mandatory: true });
      });
      await returned.promise;
      await other.deleteQueue(queue);
      await cancelled.promise;
      // A write buffer of one frame: publish fills it, and 'drain' comes from the multiplexer.
      const small = await (c.createChannel as (options: object) => Promise<amqp.Channel>).call(c, { highWaterMark: 1 });
      const drained = defer();
      small.on('drain', () => {
        seen.push(['drain', named(currentSpan())]);
        drained.resolve();
      });
      withSpan(b, () => {
        while (small.sendToQueue(fresh('nowhere'), Buffer.from('d')));
      });
      await drained.promise;
      const closed = defer();
      channel.on('error', () => seen.push(['error', named(currentSpan())]));
      channel.on('close', () => {
        seen.push(['close', named(currentSpan())]);
        closed.resolve();
      });
      await withSpan(b, () => channel.checkQueue(fresh('missing')).catch(() => undefined));
      await closed.promise;
      b.finish();
      await c.close();
      assert.deepEqual(seen, [
        ['return', 'none'],
        ['cancel', 'none'],
        ['drain', 'none'],
        ['error', 'none'],
        ['close', 'none'],
      ]);
    });

    it("a heartbeat timeout's 'error' and 'close' run outside any request, and make no span", async () => {
      // A proxy to RabbitMQ that stops passing bytes on: the broker's heartbeats stop arriving.
      const broker = new URL(amqpUrl());
      const sockets: net.Socket[] = [];
      const proxy = net.createServer((client) => {
        const upstream = net.connect(Number(broker.port || 5672), broker.hostname);
        sockets.push(client, upstream);
        client.pipe(upstream).pipe(client);
        client.on('error', () => undefined);
        upstream.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const url = new URL(broker.href);
      url.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
      url.searchParams.set('heartbeat', '1');
      const a = tracer.startSpan('request A') as RecordedSpan;
      const c = await withSpan(a, () => amqp.connect(url.href));
      const seen: Array<[string, string]> = [];
      const closed = defer();
      c.on('error', (err: Error) => seen.push([`error: ${err.message}`, named(currentSpan())]));
      c.on('close', () => {
        seen.push(['close', named(currentSpan())]);
        closed.resolve();
      });
      await withSpan(a, () => c.createChannel());
      a.finish();
      const before = tracer.started.length;
      for (const socket of sockets) {
        socket.unpipe();
        socket.pause();
      }
      await closed.promise;
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
      assert.deepEqual(seen, [
        ['error: Heartbeat timeout', 'none'],
        ['close', 'none'],
      ]);
      await tracer.settle();
      assert.equal(tracer.started.length, before, 'no span of the heartbeat or the close');
    });
  });

  it('uninstall: the very same functions back, no span and no header', async () => {
    uninstallAllPatches();
    const originals = amqplibTargets().map(([o, k]) => (o as any)[k]);
    install();
    assert.ok(amqplibTargets().some(([o, k], i) => (o as any)[k] !== originals[i]), 'installed');
    uninstallAllPatches();
    amqplibTargets().forEach(([o, k], i) => assert.equal((o as any)[k], originals[i], `${String(k)} restored`));
    const { queue, done } = await consumedQueue('offq');
    sendInRequest(queue);
    const [{ msg, active }] = await done;
    assert.deepEqual(msg.properties.headers, {});
    assert.equal(active, undefined);
    await tracer.settle();
    assert.deepEqual(tracer.finished.map((s) => s.operationName), ['request']);
  });

  it('an ES-module app with the hooks installed first: traced through the internal files, peer.hostname from the URL', async () => {
    const spans = await esmAppSpans(
      ['amqplib'],
      `
      const { default: amqp } = await import('amqplib');
      const conn = await amqp.connect(process.env.AMQP_URL);
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const arrived = new Promise((resolve) => ch.consume(queue, resolve, { noAck: true }));
      const request = tracer.startSpan('request');
      withSpan(request, () => ch.sendToQueue(queue, Buffer.from('esm')));
      request.finish();
      await arrived;
      await tracer.settle();
      await conn.close();
    `,
    );
    const request = spans.find((s) => s.name === 'request')!;
    const producer = spans.find((s) => s.name === 'amqp.publish <default>:amq.gen-*')!;
    const consumer = spans.find((s) => s.name === 'amqp.consume amq.gen-*')!;
    assert.ok(producer && consumer, JSON.stringify(spans.map((s) => s.name)));
    assert.equal(producer.parentId, request.id);
    assert.equal(consumer.parentId, producer.id);
    const url = new URL(amqpUrl());
    assert.equal(producer.tags['peer.hostname'], url.hostname);
    assert.equal(producer.tags['peer.port'], amqpPort());
    assert.equal(consumer.tags['peer.hostname'], url.hostname);
  });
});
