import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Span } from 'opentracing';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import type { HookName, SocketIoOptions } from '../../src';
import { socketIoPair } from '../conformance/drivers/socket.io';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

describe('socket.io hook (real server and client on 127.0.0.1)', function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  const install = (options: SocketIoOptions = {}, also: HookName[] = []): void =>
    installPatches(['socket.io', ...also], { tracer, hooks: { 'socket.io': options } });
  let pair: Awaited<ReturnType<typeof socketIoPair>> | undefined;

  beforeEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });
  afterEach(async () => {
    uninstallAllPatches();
    await pair?.close();
    pair = undefined;
  });

  /**
   * A server to make traced HTTP calls to, each named by its path: its client span's parent is what was
   * active where the call was made (`parents()`, once they are over: 'none' for no parent).
   */
  async function tracedCalls(): Promise<{ call(what: string): void; parents(): Promise<Record<string, string>>; close(): Promise<void> }> {
    const target = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const { port } = target.address() as AddressInfo;
    const calls: Array<Promise<void>> = [];
    return {
      call(what) {
        calls.push(new Promise((resolve, reject) => http.get(`http://127.0.0.1:${port}/${encodeURIComponent(what)}`, { agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject)));
      },
      async parents() {
        await Promise.all(calls);
        await tracer.settle();
        const parents: Record<string, string> = {};
        // The socket.io client's own polls are HTTP calls too: only those to the target count.
        for (const span of tracer.ofKind('client').filter((s) => new URL(String(s.tags['http.url'])).port === String(port))) {
          const parent = tracer.finished.find((s) => s.id === span.parentId);
          parents[decodeURIComponent(new URL(String(span.tags['http.url'])).pathname.slice(1))] = parent === undefined ? 'none' : parent.operationName;
        }
        return parents;
      },
      close: () => new Promise<void>((resolve) => target.close(() => resolve())),
    };
  }

  it('a received event: a server span active while its listener runs, tagged with event, namespace and room count, no payload', async () => {
    install();
    pair = await socketIoPair();
    pair.socket.join('shop');
    let active: Span | undefined;
    pair.socket.on('order', (order: { item: string }, ack: (reply: unknown) => void) => {
      active = currentSpan();
      pair!.socket.emit('order:seen', order.item);
      ack({ ok: true, item: order.item });
    });
    const reply = await pair.client.timeout(5000).emitWithAck('order', { item: 'coffee', card: '4111 1111 1111 1111' });
    assert.deepEqual(reply, { ok: true, item: 'coffee' });
    await tracer.settle();
    const [received, ...more] = tracer.byName('socket.io receive order');
    assert.equal(more.length, 0);
    assert.equal(active, received);
    assert.equal(received.parentId, undefined, 'an event carries no trace context: a new trace');
    assert.deepEqual(
      { kind: received.tags['span.kind'], component: received.tags.component, event: received.tags['socket.io.event'], nsp: received.tags['socket.io.namespace'], rooms: received.tags['socket.io.rooms'] },
      { kind: 'server', component: 'socket.io', event: 'order', nsp: '/', rooms: 2 },
    );
    const [emitted] = tracer.byName('socket.io emit order:seen');
    assert.equal(emitted.parentId, received.id);
    assert.equal(emitted.tags['span.kind'], 'producer');
    assert.ok(!JSON.stringify(tracer.finished.map((s) => [s.tags, s.logs])).includes('4111'), 'no payload in any span');
  });

  it("an async listener's later calls stay in the receive span's context", async () => {
    install();
    pair = await socketIoPair();
    pair.socket.on('slow', async (ack: () => void) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      pair!.socket.emit('slow:done');
      ack();
    });
    await pair.client.timeout(5000).emitWithAck('slow');
    await tracer.settle();
    const [received] = tracer.byName('socket.io receive slow');
    assert.equal(tracer.byName('socket.io emit slow:done')[0].parentId, received.id);
  });

  it('a listener that throws: the span is marked and the very error goes on to socket.io', async () => {
    install();
    pair = await socketIoPair();
    const thrown = new Error('the listener failed');
    pair.socket.on('boom', () => {
      throw thrown;
    });
    // Where socket.io hands an incoming event to the listeners (a throw there is socket.io's to handle).
    const deliver = (pair.socket as unknown as { emitUntyped(event: string): boolean }).emitUntyped.bind(pair.socket);
    assert.throws(() => deliver('boom'), (err) => err === thrown);
    await tracer.settle();
    const [span] = tracer.byName('socket.io receive boom');
    assert.equal(span.tags.error, true);
    assert.equal(span.errorLog()?.fields['error.object'], thrown);
  });

  it('broadcasts: io.emit, io.to(room).emit and socket.broadcast.emit each make one producer span under the active span', async () => {
    install();
    pair = await socketIoPair();
    pair.socket.join('shop');
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      pair!.client.onAny((event: string) => {
        got.push(event);
        if (got.length === 2) resolve();
      }),
    );
    const parent = tracer.startSpan('request') as RecordedSpan;
    withSpan(parent, () => {
      pair!.io.emit('news', 1);
      pair!.io.to('shop').emit('offer', 2);
      pair!.socket.broadcast.emit('others', 3);
    });
    parent.finish();
    await all;
    assert.deepEqual(got.sort(), ['news', 'offer']);
    await tracer.settle();
    const spans = tracer.finished.filter((s) => s.operationName.startsWith('socket.io emit'));
    assert.deepEqual(spans.map((s) => s.operationName).sort(), ['socket.io emit news', 'socket.io emit offer', 'socket.io emit others']);
    for (const span of spans) assert.equal(span.parentId, parent.id);
    assert.equal(tracer.byName('socket.io emit offer')[0].tags['socket.io.rooms'], 1);
  });

  it('an event no listener listens to makes no span (its name is the client’s to choose)', async () => {
    install();
    pair = await socketIoPair();
    pair.socket.on('ping:app', (ack: () => void) => ack());
    pair.client.emit(`probe-${'x'.repeat(10000)}`);
    pair.client.emit('session=abc');
    // Events are handed over in order: once the ack is back, the two before it were dispatched.
    await pair.client.timeout(5000).emitWithAck('ping:app');
    await tracer.settle();
    assert.deepEqual(tracer.finished.map((s) => s.operationName), ['socket.io receive ping:app']);
  });

  it("an emit's acknowledgement callback runs in the emitter's context (reply or timeout), with socket.io's arguments", async () => {
    install();
    pair = await socketIoPair();
    pair.client.on('ask', (question: string, ack: (answer: string) => void) => ack(`re: ${question}`));
    pair.client.on('ignore', () => undefined);
    const parent = tracer.startSpan('request') as RecordedSpan;
    const replied = new Promise<[unknown, unknown[]]>((resolve) =>
      withSpan(parent, () => pair!.socket.emit('ask', 'why', function (this: unknown, ...args: unknown[]) {
        resolve([currentSpan(), [this === pair!.socket, ...args]]);
      })),
    );
    const timedOut = new Promise<[unknown, unknown]>((resolve) =>
      withSpan(parent, () => pair!.socket.timeout(20).emit('ignore', (err: Error) => resolve([currentSpan(), err.message]))),
    );
    assert.deepEqual(await replied, [parent, [true, 're: why']]);
    assert.deepEqual(await timedOut, [parent, 'operation has timed out']);
    parent.finish();
  });

  it("an emit made outside any request, over long-polling: its acknowledgement runs outside any request too, not in the HTTP poll's span that carried the reply (ignored events too)", async () => {
    install({ ignoreEvents: ['quiet'] }, ['httpServer']);
    pair = await socketIoPair(['polling']);
    pair.client.on('ask', (_q: string, ack: (answer: string) => void) => ack('answer'));
    pair.client.on('quiet', (ack: (answer: string) => void) => ack('shh'));
    const seen: Record<string, unknown> = {};
    await new Promise<void>((resolve) => pair!.socket.emit('ask', 'q', () => ((seen.ask = currentSpan()), resolve())));
    await new Promise<void>((resolve) => pair!.socket.emit('quiet', () => ((seen.quiet = currentSpan()), resolve())));
    assert.deepEqual(seen, { ask: undefined, quiet: undefined });
    assert.ok(tracer.finished.some((s) => s.tags['span.kind'] === 'server' && String(s.tags['http.url']).includes('/socket.io/')), 'the polls are traced');
  });

  for (const transport of ['polling', 'websocket']) {
    it(`over ${transport}: namespace middlewares, connection, onAny, socket.use, an ignored event's and disconnect listeners run in no request's context, never in the HTTP poll's that carried the packet`, async () => {
      install({ ignoreEvents: ['quiet'] }, ['httpServer', 'http']);
      const target = await tracedCalls();
      const call = target.call;
      const server = http.createServer();
      const io = new Server(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const gone: Array<Promise<void>> = [];
      io.use((socket, next) => (call(`io.use ${socket.handshake.auth.name}`), next()));
      io.on('connection', (socket) => {
        const name = String(socket.handshake.auth.name);
        call(`connection ${name}`);
        socket.onAny((event: string) => call(`onAny ${event}`));
        socket.use(([event], next) => (call(`use ${event}`), next()));
        for (const event of ['quiet', 'loud']) socket.on(event, (ack: () => void) => (call(event), ack()));
        socket.on('disconnecting', () => call(`disconnecting ${name}`));
        gone.push(new Promise((resolve) => socket.on('disconnect', () => (call(`disconnect ${name}`), resolve()))));
      });
      const client = (name: string): Promise<ReturnType<typeof connect>> => {
        const socket = connect(`http://127.0.0.1:${port}`, { transports: [transport], upgrade: false, reconnection: false, auth: { name } });
        return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
      };
      try {
        const a = await client('a');
        await a.timeout(5000).emitWithAck('quiet');
        await a.timeout(5000).emitWithAck('loud');
        a.disconnect(); // socket.io's disconnect packet
        const b = await client('b');
        b.io.engine.close(); // engine.io's close packet
        while (gone.length < 2) await new Promise((resolve) => setImmediate(resolve));
        await Promise.all(gone);
        assert.deepEqual(await target.parents(), {
          'io.use a': 'none',
          'connection a': 'none',
          'onAny quiet': 'none',
          'use quiet': 'none',
          quiet: 'none',
          'onAny loud': 'none',
          'use loud': 'none',
          loud: 'socket.io receive loud',
          'disconnecting a': 'none',
          'disconnect a': 'none',
          'io.use b': 'none',
          'connection b': 'none',
          'disconnecting b': 'none',
          'disconnect b': 'none',
        });
        if (transport === 'polling') assert.ok(tracer.finished.some((s) => s.operationName === 'HTTP POST' && String(s.tags['http.url']).includes('/socket.io/')), 'the polls are traced');
      } finally {
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await target.close();
      }
    });
  }

  for (const transport of ['polling', 'websocket']) {
    it(`over ${transport}: engine.io's own events of a connection (packet, message, heartbeat, packetCreate, flush, drain, close) run in no request's context, never in the HTTP poll's that carried the bytes; the engine's connection and headers events in the request they answer`, async () => {
      install({}, ['httpServer', 'http']);
      const target = await tracedCalls();
      const server = http.createServer();
      // A short ping interval: a heartbeat (the server's ping, set by a timer, and the client's pong) comes soon.
      const io = new Server(server, { pingInterval: 50 });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      // What was active in each listener, per event (each time it ran).
      const active: Record<string, Set<string>> = {};
      const note = (event: string): void => {
        const span = currentSpan() as RecordedSpan | undefined;
        (active[event] ??= new Set()).add(span === undefined ? 'none' : span.operationName);
      };
      for (const event of ['connection', 'initial_headers', 'headers']) io.engine.on(event, () => note(`engine ${event}`));
      const conn = new Promise<{ heartbeat: Promise<void>; message: Promise<void>; closed: Promise<void> }>((resolve) =>
        io.engine.once('connection', (socket: import('node:events').EventEmitter) => {
          for (const event of ['packet', 'message', 'heartbeat', 'packetCreate', 'flush', 'drain']) socket.on(event, () => note(event));
          socket.once('packet', () => target.call('packet'));
          resolve({
            heartbeat: new Promise((done) => socket.once('heartbeat', () => done())),
            message: new Promise((done) => socket.once('message', () => (target.call('message'), done()))),
            closed: new Promise((done) => socket.once('close', () => (note('close'), target.call('close'), done()))),
          });
        }),
      );
      const client = connect(`http://127.0.0.1:${port}`, { transports: [transport], upgrade: false, reconnection: false });
      try {
        const { heartbeat, message, closed } = await conn;
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        client.emit('hello'); // no listener: no span of socket.io's
        await Promise.all([message, heartbeat]);
        client.disconnect();
        await closed;
        const none = new Set(['none']);
        const expected: Record<string, Set<string>> = { packet: none, message: none, heartbeat: none, packetCreate: none, flush: none, drain: none, close: none };
        // The handshake and each poll are requests of their own; over a websocket the upgrade is none.
        const request = transport === 'polling' ? 'HTTP GET' : 'none';
        Object.assign(expected, { 'engine connection': new Set([request]), 'engine initial_headers': new Set([request]) });
        expected['engine headers'] = transport === 'polling' ? new Set(['HTTP GET', 'HTTP POST']) : none;
        assert.deepEqual(active, expected);
        assert.deepEqual(await target.parents(), { packet: 'none', message: 'none', close: 'none' });
      } finally {
        client.close();
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await target.close();
      }
    });
  }

  it("a connection made before install, over long-polling: its later packets and close run in no request's context, as a new one's", async () => {
    const server = http.createServer();
    const io = new Server(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const seen: Record<string, string> = {};
    const note = (what: string): void => void (seen[what] = (currentSpan() as RecordedSpan | undefined)?.operationName ?? 'none');
    const connected = new Promise<{ socket: import('socket.io').Socket; closed: Promise<void> }>((resolve) =>
      io.on('connection', (socket) => {
        socket.conn.on('message', () => note('message'));
        socket.onAny((event: string) => note(`onAny ${event}`));
        resolve({ socket, closed: new Promise((done) => socket.conn.on('close', () => (note('close'), done()))) });
      }),
    );
    const client = connect(`http://127.0.0.1:${port}`, { transports: ['polling'], upgrade: false, reconnection: false });
    try {
      const { socket, closed } = await connected;
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      install({}, ['httpServer']);
      const heard = new Promise<void>((resolve) => socket.once('hello', () => resolve()));
      client.emit('hello');
      await heard;
      client.disconnect();
      await closed;
      await tracer.settle();
      assert.ok(tracer.finished.some((s) => s.operationName === 'HTTP POST'), 'its polls are traced');
      assert.deepEqual(seen, { message: 'none', 'onAny hello': 'none', close: 'none' });
    } finally {
      client.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    }
  });

  it("a ping timeout over long-polling: the disconnect listener runs in no request's context (the timer was set by a poll)", async () => {
    install({}, ['httpServer']);
    const server = http.createServer();
    const io = new Server(server, { pingInterval: 50, pingTimeout: 50 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const gone = new Promise<[string, unknown]>((resolve) => io.on('connection', (socket) => socket.on('disconnect', (reason) => resolve([reason, currentSpan()]))));
    const client = connect(`http://127.0.0.1:${port}`, { transports: ['polling'], upgrade: false, reconnection: false });
    try {
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      // The client answers two pings (each pong a poll that sets the server's next timers), then none.
      const engine = client.io.engine as unknown as { _sendPacket(type: string, ...rest: unknown[]): void };
      const send = engine._sendPacket.bind(engine);
      let pongs = 0;
      engine._sendPacket = (type, ...rest) => (type === 'pong' && ++pongs > 2 ? undefined : send(type, ...rest));
      assert.deepEqual(await gone, ['ping timeout', undefined]);
    } finally {
      client.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    }
  });

  it("a server's emitWithAck over long-polling: what follows the await runs in the emitter's context, none included, not in the poll's that carried the reply", async () => {
    install({}, ['httpServer']);
    pair = await socketIoPair(['polling']);
    pair.client.on('ask', (ack: (answer: string) => void) => ack('answer'));
    const parent = tracer.startSpan('request') as RecordedSpan;
    const inSpan = await withSpan(parent, async () => (await pair!.socket.timeout(5000).emitWithAck('ask'), currentSpan()));
    const outside = (await pair.socket.timeout(5000).emitWithAck('ask'), currentSpan());
    parent.finish();
    assert.deepEqual([inSpan, outside], [parent, undefined]);
  });

  it('an event a middleware refuses makes no span; ignoreEvents makes none either', async () => {
    install({ ignoreEvents: ['ping:app'] });
    pair = await socketIoPair();
    const refused = new Promise<Error>((resolve) => pair!.socket.on('error', resolve));
    pair.socket.use(([event], next) => next(event === 'forbidden' ? new Error('not allowed') : undefined));
    pair.socket.on('ping:app', (ack: () => void) => ack());
    pair.client.emit('forbidden');
    assert.equal((await refused).message, 'not allowed');
    await pair.client.timeout(5000).emitWithAck('ping:app');
    await tracer.settle();
    assert.deepEqual(tracer.finished.map((s) => s.operationName), []);
  });

  it('ignoreEvents that is not a list of event names turns the hook off: emits and received events run as untraced, no throw', async () => {
    for (const ignoreEvents of [5, 'typing', [1]]) {
      install({ ignoreEvents } as unknown as SocketIoOptions);
      pair = await socketIoPair();
      const heard = new Promise<void>((resolve) => pair!.socket.on('t', (ack: () => void) => (ack(), resolve())));
      pair.io.emit('news');
      await pair.client.timeout(5000).emitWithAck('t');
      await heard;
      await tracer.settle();
      assert.deepEqual(tracer.finished.map((s) => s.operationName), [], `ignoreEvents ${JSON.stringify(ignoreEvents)}`);
      await pair.close();
      pair = undefined;
      uninstallAllPatches();
    }
  });

  it('the handshake is HTTP server spans; the websocket and the events over it are none', async () => {
    install({}, ['httpServer']);
    const server = http.createServer();
    const io = new Server(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    io.on('connection', (socket) => socket.on('hello', (ack: () => void) => ack()));
    // Default transports: long-polling first, then the upgrade to a websocket.
    const client = connect(`http://127.0.0.1:${port}`, { reconnection: false });
    try {
      await new Promise<void>((resolve) => client.io.engine.once('upgrade', () => resolve()));
      await client.timeout(5000).emitWithAck('hello');
      await client.timeout(5000).emitWithAck('hello');
      await tracer.settle();
      const httpSpans = tracer.finished.filter((s) => s.tags.component !== 'socket.io');
      assert.ok(httpSpans.length >= 1, 'the handshake');
      for (const span of httpSpans) assert.equal(span.tags['http.url'], `http://127.0.0.1:${port}/socket.io/`);
      const handshake = httpSpans.length;
      await client.timeout(5000).emitWithAck('hello');
      await tracer.settle();
      assert.equal(tracer.finished.filter((s) => s.tags.component !== 'socket.io').length, handshake, 'an event over the websocket is no HTTP request');
      assert.equal(tracer.byName('socket.io receive hello').length, 3);
    } finally {
      client.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    }
  });
});
