/** The nats hook on core NATS, for both clients (`nats` 2.x and nats.js 3), against a real nats-server. */
import assert from 'node:assert/strict';
import type { Span } from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import type { NatsOptions } from '../../src';
import { freshSubject, headerRecord } from '../conformance/drivers/nats';
import { NATS_LIBS, sc } from '../helpers/nats-libs';
import { startOldNatsServer } from '../helpers/nats-old-server';
import { messagingTags, natsUrl } from '../helpers/services';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

type Msg = any;

function defer<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

const traceparentOf = (span: RecordedSpan): string => `00-${span.traceId}-${span.id}-01`;
/** The peer tags of a span sent to the service script's server. */
const peerTags = (): Record<string, unknown> => ({ 'peer.hostname': new URL(natsUrl()).hostname, 'peer.port': Number(new URL(natsUrl()).port) });

for (const lib of NATS_LIBS) describe(`nats hook, ${lib.label} (real nats-server)`, function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  const install = (options: NatsOptions = {}): void => installPatches(['nats'], { tracer, hooks: { nats: options } });
  let nc: any;

  before(async () => {
    install();
    nc = await lib.connect();
  });
  after(async () => {
    await nc?.close();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());

  it('publish: a producer span; the trace in a new header set holding the app’s, whose own trace header wins; theirs unwritten', async () => {
    const subject = freshSubject('publish');
    const arrived: Msg[] = [];
    const all = defer<void>();
    nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => arrived.push(msg) === 3 && all.resolve() });
    await nc.flush();
    const appHeaders = lib.headers();
    appHeaders.set('app', 'mine');
    const ownTrace = lib.headers();
    ownTrace.set('TraceParent', '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01');
    const options = { headers: appHeaders };
    const parent = tracer.startSpan('request') as RecordedSpan;
    withSpan(parent, () => {
      nc.publish(subject, sc.encode('secret payload'), options);
      nc.publish(subject, sc.encode('own trace'), { headers: ownTrace });
      nc.publish(subject, sc.encode('bare'));
    });
    parent.finish();
    await all.promise;
    assert.equal(options.headers, appHeaders);
    assert.deepEqual(headerRecord(appHeaders), { app: ['mine'] }, "the app's headers are not written");
    const spans = tracer.byName(`nats.publish ${subject}`);
    assert.equal(spans.length, 3);
    for (const span of spans) {
      assert.equal(span.parentId, parent.id);
      assert.deepEqual(span.tags, { 'span.kind': 'producer', ...messagingTags('nats', 'nats', subject), ...peerTags() });
    }
    const [first, second, third] = arrived.map((m) => headerRecord(m.headers));
    assert.deepEqual(first, { app: ['mine'], traceparent: [traceparentOf(spans[0])] });
    assert.deepEqual(second, { TraceParent: ['00-0123456789abcdef0123456789abcdef-0123456789abcdef-01'] });
    assert.deepEqual(third, { traceparent: [traceparentOf(spans[2])] });
    assert.ok(!JSON.stringify(spans.map((s) => s.tags)).includes('secret'));
  });

  it('request: a client span ended by the reply; the responder’s span follows from it and is active in its callback; the reply makes no consumer span', async () => {
    const subject = freshSubject('request');
    let active: Span | undefined;
    nc.subscribe(subject, {
      callback: (_err: unknown, msg: Msg) => {
        active = currentSpan();
        setTimeout(() => msg.respond(sc.encode('pong')), 30);
      },
    });
    await nc.flush();
    const parent = tracer.startSpan('request') as RecordedSpan;
    const reply = await withSpan(parent, () => nc.request(subject, sc.encode('ping'), { timeout: 5000 }));
    parent.finish();
    assert.equal(sc.decode(reply.data), 'pong');
    const [span] = tracer.byName(`nats.request ${subject}`);
    assert.equal(span.finishCount, 1, 'finished by the reply');
    assert.equal(span.tags['span.kind'], 'client');
    assert.equal(span.parentId, parent.id);
    const [consumer] = tracer.byName(`nats.process ${subject}`);
    assert.equal(active, consumer);
    assert.equal(consumer.parentId, span.id);
    assert.equal(consumer.referenceType, 'followsFrom');
    assert.ok(consumer.endTime! <= span.endTime!, 'the consumer span ended when its callback returned');
    await tracer.settle();
    assert.deepEqual(tracer.byName(/_INBOX/), [], 'no span for the reply inbox');
    assert.deepEqual(tracer.byName(/^nats\.publish /), [], "the request's own publish is part of its span");
  });

  it("a noMux request with a reply subject of the app's: the request's span and the responder's, none for the reply", async () => {
    const subject = freshSubject('nomux');
    nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => msg.respond(sc.encode('ok')) });
    await nc.flush();
    const parent = tracer.startSpan('request') as RecordedSpan;
    for (const n of [1, 2]) {
      const reply = await withSpan(parent, () => nc.request(subject, sc.encode('x'), { noMux: true, reply: `replies.${subject}.${n}`, timeout: 5000 }));
      assert.equal(sc.decode(reply.data), 'ok');
    }
    parent.finish();
    const requests = tracer.byName(`nats.request ${subject}`);
    assert.deepEqual(requests.map((s) => s.parentId), [parent.id, parent.id]);
    assert.deepEqual(tracer.byName(`nats.process ${subject}`).map((s) => s.parentId), requests.map((s) => s.id));
    assert.deepEqual(tracer.finished.map((s) => s.operationName), [...Array(2).fill([`nats.process ${subject}`, `nats.request ${subject}`]).flat(), 'request']);
  });

  it('a request nobody answers: error on its span, the same 503 error to the app', async () => {
    const parent = tracer.startSpan('request') as RecordedSpan;
    const err = await withSpan(parent, () => nc.request(freshSubject('nobody'), sc.encode('x'), { timeout: 5000 })).catch((e: unknown) => e);
    parent.finish();
    assert.ok(lib.isNoResponders(err), 'no responders');
    const [span] = tracer.byName(/^nats\.request /);
    assert.equal(span.tags.error, true);
    assert.equal(span.errorLog()?.fields['error.object'], err);
  });

  it("a message at the server's max_payload: sent as the app gave it, without trace headers where they would not fit", async () => {
    const subject = freshSubject('limit');
    const max = nc.info!.max_payload;
    const arrived: Msg[] = [];
    const all = defer<void>();
    nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => arrived.push(msg) === 4 && all.resolve() });
    await nc.flush();
    const appHeaders = lib.headers();
    appHeaders.set('app', 'mine');
    const withApp = new Uint8Array(max - (appHeaders as unknown as { encode(): Uint8Array }).encode().length);
    const parent = tracer.startSpan('request') as RecordedSpan;
    withSpan(parent, () => {
      nc.publish(subject, new Uint8Array(max));
      nc.publish(subject, 'é'.repeat(max / 2));
      nc.publish(subject, withApp, { headers: appHeaders });
      nc.publish(subject, new Uint8Array(max - 200));
    });
    parent.finish();
    await all.promise;
    assert.deepEqual(arrived.map((m) => [m.data.length, Object.keys(headerRecord(m.headers))]), [
      [max, []],
      [max, []],
      [withApp.length, ['app']],
      [max - 200, ['traceparent']],
    ]);
    assert.equal(tracer.byName(`nats.publish ${subject}`).length, 4, 'each publish has its span');
    const responder = nc.subscribe(`${subject}.rpc`, { callback: (_err: unknown, msg: Msg) => msg.respond(sc.encode('ok')) });
    await nc.flush();
    const reply = await withSpan(parent, () => nc.request(`${subject}.rpc`, new Uint8Array(max), { timeout: 5000 }));
    assert.equal(sc.decode(reply.data), 'ok');
    responder.unsubscribe();
  });

  it('a server without header support (INFO without `headers`, before 2.2): publish and request as untraced (plain PUB, no throw, connection kept), spans still made', async () => {
    const server = await startOldNatsServer();
    /** What the server got from a publish and a request under a span; its inboxes made alike. */
    const sent = async (): Promise<unknown> => {
      const conn = await lib.connect({ servers: server.url, reconnect: false });
      try {
        const parent = tracer.startSpan('request') as RecordedSpan;
        withSpan(parent, () => conn.publish('orders.created', sc.encode('hello')));
        const reply = await withSpan(parent, () => conn.request('svc', sc.encode('ping'), { timeout: 5000 }));
        await conn.flush();
        return { reply: sc.decode(reply.data), closed: conn.isClosed(), received: server.received.splice(0).map((line) => line.replace(/_INBOX\.\S+/, '_INBOX.*')) };
      } finally {
        await conn.close();
      }
    };
    try {
      let untraced: unknown;
      uninstallAllPatches();
      try {
        untraced = await sent();
      } finally {
        install();
      }
      tracer.reset();
      assert.deepEqual(untraced, { reply: 'pong', closed: false, received: ['PUB orders.created 5', 'PUB svc _INBOX.* 4'] });
      assert.deepEqual(await sent(), untraced);
      assert.deepEqual(tracer.finished.map((s) => [s.operationName, s.finishCount]), [['nats.publish orders.created', 1], ['nats.request svc', 1]]);
    } finally {
      await server.close();
    }
  });

  it("the client's writes to the app's options reach them, as without the hooks", async () => {
    const subject = freshSubject('options');
    nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => msg.respond(sc.encode('ok')) });
    await nc.flush();
    /** The app's options after a publish and a request, and whether the publish's headers are still the app's. */
    const written = async (): Promise<unknown> => {
      const appHeaders = lib.headers();
      const published: { headers?: typeof appHeaders; reply?: string } = { headers: appHeaders };
      const requested = {};
      const parent = tracer.startSpan('request') as RecordedSpan;
      withSpan(parent, () => nc.publish(subject, sc.encode('x'), published));
      await withSpan(parent, () => nc.request(subject, sc.encode('y'), requested));
      return { published: { ...published, headers: published.headers === appHeaders }, appHeaders: headerRecord(appHeaders), requested };
    };
    uninstallAllPatches();
    const untraced = await written();
    install();
    tracer.reset();
    assert.deepEqual(await written(), untraced);
    assert.equal(tracer.byName(`nats.publish ${subject}`).length, 1);
    assert.equal(tracer.byName(`nats.request ${subject}`).length, 1);
  });

  it('a connection opened in a suppressed context (or a request) delivers outside it: every message gets its span, the callback runs in it', async () => {
    const subject = freshSubject('suppressed-connect');
    const request = tracer.startSpan('opener');
    const opened = await withSpan(request, () => suppressTracing(() => lib.connect()));
    try {
      const seen = defer<Span | undefined>();
      opened.subscribe(subject, { callback: () => seen.resolve(currentSpan()) });
      await opened.flush();
      const parent = tracer.startSpan('request') as RecordedSpan;
      withSpan(parent, () => nc.publish(subject, sc.encode('x')));
      const active = (await seen.promise) as RecordedSpan | undefined;
      const [process] = tracer.byName(`nats.process ${subject}`);
      assert.ok(process, 'a consumer span');
      assert.equal(active, process, 'the callback runs in it');
      assert.equal(process.traceId, parent.traceId);
    } finally {
      await opened.close();
    }
  });

  it('frozen options: publish and request throw what they throw untraced (the client writes to the options), with or without headers', async () => {
    const subject = freshSubject('frozen');
    const outcomes = (): string[] => {
      const parent = tracer.startSpan('request');
      const shapes = [{ headers: lib.headers() }, { reply: '' }, {}];
      const out: string[] = [];
      for (const options of shapes) {
        for (const send of [() => nc.publish(subject, sc.encode('x'), Object.freeze(options)), () => nc.request(subject, sc.encode('y'), Object.freeze({ ...options, timeout: 100 }))]) {
          try {
            const result = withSpan(parent, send);
            // A request that did not throw at once: its promise fails later (nobody answers), not what is compared.
            if (result instanceof Promise) result.catch(() => undefined);
            out.push('ok');
          } catch (err) {
            out.push(`${(err as Error).name}: ${(err as Error).message}`);
          }
        }
      }
      return out;
    };
    uninstallAllPatches();
    const untraced = outcomes();
    assert.ok(untraced.some((o) => o.startsWith('TypeError')), untraced.join('; '));
    install();
    assert.deepEqual(outcomes(), untraced);
  });

  // nats 2 has no message tracing options.
  if (lib.label === 'nats@3') it("traceDestination reused: each message carries its own span's trace; the app's options get the header set they get untraced", async () => {
    const subject = freshSubject('tracedest');
    const arrived: Array<Record<string, string[]>> = [];
    let all = defer<void>();
    nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => arrived.push(headerRecord(msg.headers)) === 4 && all.resolve() });
    await nc.flush();
    /** Two publishes with each of two options objects; what arrived (trace headers apart) and what the options hold after. */
    const publishTwice = async (): Promise<unknown> => {
      const appHeaders = lib.headers();
      appHeaders.set('app', 'mine');
      const bare: { traceDestination: string; headers?: any } = { traceDestination: `${subject}.sink` };
      const withApp = { headers: appHeaders, traceDestination: `${subject}.sink` };
      const parent = tracer.startSpan('request') as RecordedSpan;
      withSpan(parent, () => {
        for (let i = 0; i < 2; i++) {
          nc.publish(subject, sc.encode('bare'), bare);
          nc.publish(subject, sc.encode('app'), withApp);
        }
      });
      parent.finish();
      await all.promise;
      all = defer<void>();
      const seen = arrived.splice(0).map(({ traceparent: _trace, ...rest }) => rest);
      return { seen, bare: headerRecord(bare.headers), appHeadersKept: withApp.headers === appHeaders, appHeaders: headerRecord(appHeaders) };
    };
    uninstallAllPatches();
    let untraced: unknown;
    try {
      untraced = await publishTwice();
    } finally {
      install();
    }
    tracer.reset();
    const sent: Array<Record<string, string[]>> = [];
    const spy = nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => sent.push(headerRecord(msg.headers)) });
    await nc.flush();
    assert.deepEqual(await publishTwice(), untraced);
    await nc.flush();
    spy.unsubscribe();
    assert.deepEqual(sent.map((h) => h.traceparent), tracer.byName(`nats.publish ${subject}`).map((span) => [traceparentOf(span)]));
  });

  it('an async-iterator subscription: a span per message, following from the publisher, open until the next pull', async () => {
    const subject = freshSubject('iterator');
    const sub = nc.subscribe(subject, { queue: 'workers' });
    const seen: Array<{ data: string; open: number }> = [];
    const done = (async () => {
      for await (const msg of sub) {
        // The message's span is open while the loop body runs.
        seen.push({ data: sc.decode(msg.data), open: tracer.started.filter((s) => s.operationName.startsWith('nats.process') && s.finishCount === 0).length });
        if (seen.length === 2) break;
      }
    })();
    await nc.flush();
    const parent = tracer.startSpan('request') as RecordedSpan;
    withSpan(parent, () => {
      nc.publish(subject, sc.encode('one'));
      nc.publish(subject, sc.encode('two'));
    });
    parent.finish();
    await done;
    await tracer.settle();
    assert.deepEqual(seen, [{ data: 'one', open: 1 }, { data: 'two', open: 1 }]);
    const spans = tracer.byName(`nats.process ${subject}`);
    const sends = tracer.byName(`nats.publish ${subject}`);
    assert.deepEqual(spans.map((s) => s.parentId), sends.map((s) => s.id));
    assert.equal(spans[0].tags['nats.queue'], 'workers');
    assert.equal(spans[0].tags['span.kind'], 'consumer');
  });

  it('a message whose producer wrote `Traceparent` (Go’s HeaderCarrier): the consumer span follows from it', async () => {
    const subject = freshSubject('canonical');
    const got = defer<Msg>();
    nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => got.resolve(msg) });
    await nc.flush();
    const producer = tracer.startSpan('go producer') as RecordedSpan;
    const headers = lib.headers();
    headers.set('Traceparent', traceparentOf(producer));
    producer.finish();
    nc.publish(subject, sc.encode('x'), { headers });
    assert.deepEqual(headerRecord((await got.promise).headers), { Traceparent: [traceparentOf(producer)] });
    await tracer.settle();
    const [consumer] = tracer.byName(`nats.process ${subject}`);
    assert.equal(consumer.parentId, producer.id);
    assert.equal(consumer.traceId, producer.traceId);
  });

  it('an iterator with two pulls in flight: a span per message, each finished once (by the next hand-over, return() or the end)', async () => {
    const subject = freshSubject('pulls');
    const sub = nc.subscribe(subject);
    const iterator = sub[Symbol.asyncIterator]();
    const pulls = [iterator.next(), iterator.next()];
    await nc.flush();
    nc.publish(subject, sc.encode('one'));
    nc.publish(subject, sc.encode('two'));
    const results = await Promise.all(pulls);
    assert.deepEqual(results.map((r) => sc.decode(r.value.data)), ['one', 'two']);
    const spans = tracer.started.filter((s) => s.operationName === `nats.process ${subject}`);
    assert.deepEqual(spans.map((s) => s.finishCount), [1, 0], "the first message's span ends when the second is handed over");
    await iterator.return();
    sub.unsubscribe();
    assert.deepEqual(spans.map((s) => s.finishCount), [1, 1]);
    assert.deepEqual(spans.map((s) => s.parentId), tracer.byName(`nats.publish ${subject}`).map((s) => s.id));
    // The end of the messages, on a pull in flight, ends the message handed over before it too.
    const ending = nc.subscribe(`${subject}.end`);
    const endingIterator = ending[Symbol.asyncIterator]();
    const [message, end] = [endingIterator.next(), endingIterator.next()];
    await nc.flush();
    nc.publish(`${subject}.end`, sc.encode('last'));
    assert.equal(sc.decode((await message).value.data), 'last');
    ending.unsubscribe();
    assert.equal((await end).done, true);
    assert.deepEqual(tracer.started.filter((s) => s.operationName === `nats.process ${subject}.end`).map((s) => s.finishCount), [1]);
    await tracer.settle();
  });

  // nats.js 3 moved the services framework to @nats-io/services.
  if (lib.label === 'nats@2') it("a service's discovery answers ($SRV.PING/INFO/STATS) make no span and run in no request's context", async () => {
    const name = `billing${process.pid}`;
    const startup = tracer.startSpan('startup') as RecordedSpan;
    const serving = await withSpan(startup, () => lib.connect());
    const monitor = await lib.connect();
    try {
      const statsContexts: unknown[] = [];
      const service = await withSpan(startup, () =>
        serving.services.add({ name, version: '1.0.0', statsHandler: async () => statsContexts.push(currentSpan()) }),
      );
      service.addEndpoint('charge', (_err: unknown, msg: Msg) => msg.respond(sc.encode('ok')));
      await serving.flush();
      startup.finish();
      tracer.reset();
      const dashboard = tracer.startSpan('dashboard') as RecordedSpan;
      const client = monitor.services.client();
      const answers: string[] = [];
      await withSpan(dashboard, async () => {
        for (const query of [() => client.ping(name), () => client.info(name), () => client.stats(name)]) {
          for await (const answer of await query()) answers.push(`${answer.type} ${answer.name}`);
        }
      });
      dashboard.finish();
      assert.deepEqual(answers.map((a) => a.replace(/^io\.nats\.micro\.v1\.|_response/g, '')), [`ping ${name}`, `info ${name}`, `stats ${name}`]);
      assert.deepEqual(statsContexts, [undefined], 'the stats handler runs in no context');
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => [s.operationName, s.parentId === dashboard.id]), [
        [`nats.publish $SRV.PING.${name}`, true],
        [`nats.publish $SRV.INFO.${name}`, true],
        [`nats.publish $SRV.STATS.${name}`, true],
        ['dashboard', false],
      ]);
      await service.stop();
    } finally {
      await monitor.close();
      await serving.close();
    }
  });

  it('peer tags of the server connected to (never its URL or credentials), which peerService names', async () => {
    uninstallAllPatches();
    install({ peerService: { [new URL(natsUrl()).hostname]: 'event-bus' } });
    const url = new URL(natsUrl());
    const conn = await lib.connect({ servers: `nats://app-user:s3cret-pw@${url.host}` });
    try {
      const subject = freshSubject('peer');
      conn.subscribe(subject, { callback: (_err: unknown, msg: Msg) => msg.respond(sc.encode('ok')) });
      await conn.flush();
      conn.publish(`${subject}.event`, sc.encode('x'));
      await conn.request(subject, sc.encode('y'), { timeout: 5000 });
      await tracer.settle();
      const expected = { ...peerTags(), 'peer.service': 'event-bus' };
      for (const name of [`nats.publish ${subject}.event`, `nats.request ${subject}`]) {
        const [span] = tracer.byName(name);
        assert.deepEqual(Object.fromEntries(Object.entries(span.tags).filter(([key]) => key.startsWith('peer.'))), expected, name);
      }
      const [consumer] = tracer.byName(`nats.process ${subject}`);
      assert.equal(consumer.tags['peer.service'], undefined, 'a consumer span names no peer service');
      assert.ok(!JSON.stringify(tracer.finished.map((s) => s.tags)).includes('s3cret'));
    } finally {
      await conn.close();
      uninstallAllPatches();
      install();
    }
  });

  it('a wildcard subscription is named for its subject; the message subject is a tag', async () => {
    const base = freshSubject('wild');
    const got = defer<void>();
    nc.subscribe(`${base}.*`, { callback: () => got.resolve() });
    await nc.flush();
    nc.publish(`${base}.order-17`, sc.encode('x'));
    await got.promise;
    await tracer.settle();
    const [span] = tracer.byName(`nats.process ${base}.*`);
    assert.equal(span.tags['nats.subject'], `${base}.order-17`);
    assert.equal(span.parentId, tracer.byName(`nats.publish ${base}.order-17`)[0].id);
  });

  it("what a subscription callback returns besides a native promise is not touched (the client ignores it): a lazy thenable's then is never called, a throwing then getter never read", async () => {
    const subject = freshSubject('thenable');
    let touched = 0;
    const returns: unknown[] = [
      { then: () => touched++ },
      {
        get then(): unknown {
          touched++;
          throw new Error('then getter throws');
        },
      },
    ];
    const got = defer<void>();
    let count = 0;
    nc.subscribe(subject, {
      callback: () => {
        if (++count === 2) got.resolve();
        return returns.shift();
      },
    });
    await nc.flush();
    nc.publish(subject, sc.encode('a'));
    nc.publish(subject, sc.encode('b'));
    await got.promise;
    await nc.flush();
    await tracer.settle();
    assert.equal(touched, 0);
    const spans = tracer.byName(`nats.process ${subject}`);
    assert.equal(spans.length, 2, 'each finished, at return');
    assert.ok(spans.every((span) => !span.hasError()));
  });

  it('requireParent: no publish span outside a request, the message still starts a consumer span', async () => {
    uninstallAllPatches();
    install({ requireParent: true });
    try {
      const subject = freshSubject('orphan');
      const got = defer<Msg>();
      nc.subscribe(subject, { callback: (_err: unknown, msg: Msg) => got.resolve(msg) });
      await nc.flush();
      nc.publish(subject, sc.encode('x'));
      const msg = await got.promise;
      await tracer.settle();
      assert.equal(msg.headers, undefined, 'no headers were added');
      assert.deepEqual(tracer.finished.map((s) => [s.operationName, s.parentId]), [[`nats.process ${subject}`, undefined]]);
    } finally {
      uninstallAllPatches();
      install();
    }
  });
});
