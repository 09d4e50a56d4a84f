import assert from 'node:assert/strict';
import path from 'node:path';
import { Duplex, Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as grpcCall from '@grpc/grpc-js/build/src/call';
import * as opentracing from 'opentracing';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import type { HooksConfig } from '../../src';
import { parseTarget } from '../../src/tracing/grpc';
import { EchoClient, EchoReply, EchoServer, loadEcho, startEchoServer, unary } from '../conformance/drivers/grpc';
import { underSpan, withInstall } from '../helpers/cases';
import { esmAppSpans, root } from '../helpers/child';
import { RecordedSpan, RecordingTracer, ThrowingTracer } from '../helpers/tracer';
import { until as waitFor } from '../helpers/waits';
import { connectedPgClient } from '../helpers/services';

const UNARY = 'grpc conformance.Echo/Unary';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/** A recording tracer that injects the keys of `extra` beside its own trace header. */
function injectingAlso(extra: Record<string, string>): RecordingTracer {
  return new (class extends RecordingTracer {
    protected override _inject(ctx: opentracing.SpanContext, format: string, carrier: any): void {
      super._inject(ctx, format, carrier);
      Object.assign(carrier, extra);
    }
  })();
}

function activeId(): string | undefined {
  return (currentSpan() as RecordedSpan | undefined)?.id;
}

/** Waits for `emitter` to emit `event`; an 'error' event first is no failure (cancelled streams emit one). */
function until(emitter: NodeJS.EventEmitter, event: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args)));
}

const bytes = (b: Buffer): Buffer => b;

/** A method of raw bytes at `path`: unary unless `responseStream`; `responseSerialize` may fail on purpose. */
function bytesMethod(path: string, responseStream = false, responseSerialize = bytes): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream: false, responseStream, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize, responseDeserialize: bytes };
}

interface BytesService {
  definition: grpc.ServiceDefinition;
  handlers: grpc.UntypedServiceImplementation;
  serverOptions?: grpc.ServerOptions;
  clientOptions?: grpc.ChannelOptions;
}

/** A grpc-js server on 127.0.0.1 serving `service`, and a plain client of it; both closed once `body` settled. */
async function withBytesServer(service: BytesService, body: (client: grpc.Client) => Promise<void>): Promise<void> {
  const server = new grpc.Server(service.serverOptions);
  server.addService(service.definition, service.handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), service.clientOptions);
  try {
    await body(client);
  } finally {
    client.close();
    server.forceShutdown();
  }
}

/** A unary call of raw bytes at `path`: the error the app gets, or null. */
function callBytes(client: grpc.Client, path: string): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => client.makeUnaryRequest(path, bytes, bytes, Buffer.alloc(0), (err) => resolve(err)));
}

describe('grpc hook (real @grpc/grpc-js server on 127.0.0.1)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let echo: EchoServer;
  let client: EchoClient;

  const install = (config: Omit<HooksConfig, 'tracer'> = {}): void => installPatches(['grpc'], { tracer, ...config });
  /** Runs `body` with the hook installed with `config` (on the suite's tracer unless it names one), then as the suite has it. */
  const installedWith = (config: HooksConfig, body: () => Promise<void>): Promise<void> => withInstall(tracer, ['grpc'], { tracer, ...config }, body);

  before(async () => {
    install();
    echo = await startEchoServer();
    client = new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure()) as EchoClient;
  });
  after(async () => {
    client?.close();
    await echo?.close();
    uninstallAllPatches();
  });
  beforeEach(() => tracer.reset());
  afterEach(async () => {
    echo.onArrival = undefined;
    echo.onCancelled = undefined;
    await tracer.settle();
  });

  function spansOf(kind: 'client' | 'server', operation: string | RegExp = /^grpc /): RecordedSpan[] {
    return tracer.byName(operation).filter((s) => s.tags['span.kind'] === kind);
  }

  function onlySpan(kind: 'client' | 'server', operation: string | RegExp = /^grpc /): RecordedSpan {
    const spans = spansOf(kind, operation);
    assert.equal(spans.length, 1, `one ${kind} span, got ${tracer.finished.map((s) => `${s.operationName} (${s.tags['span.kind']})`).join(', ')}`);
    return spans[0];
  }

  /** Runs `fn` under a fresh parent span, finished afterwards. */
  const underParent = <T>(fn: (parent: RecordedSpan) => Promise<T>): Promise<{ parent: RecordedSpan; result: T }> => underSpan(tracer, fn);

  it('a call started without a listener (grpc-js used below its Client) still finishes its span at the status', async () => {
    const { getInterceptingCall } = require('@grpc/grpc-js/build/src/client-interceptors');
    const definition = (loadEcho().Echo as unknown as { service: Record<string, unknown> }).service.Unary;
    const noInterceptors = { clientInterceptors: [], clientInterceptorProviders: [], callInterceptors: [], callInterceptorProviders: [] };
    const call = getInterceptingCall(noInterceptors, definition, {}, client.getChannel());
    call.start(new grpc.Metadata());
    call.sendMessage({ text: 'no listener' });
    call.halfClose();
    await waitFor(() => spansOf('client').length === 1, 'the client span');
    assert.equal(onlySpan('client').tags['grpc.status_code'], 0);
  });

  it('unary: a client span, the server span its child across the wire, the handler running with the server span active', async () => {
    const { parent, result: reply } = await underParent(() => unary(client, { text: 'hi' }));
    assert.equal(reply.text, 'hi');
    await tracer.settle();
    const clientSpan = onlySpan('client', UNARY);
    const serverSpan = onlySpan('server', UNARY);
    assert.equal(clientSpan.parentId, parent.id);
    assert.equal(serverSpan.parentId, clientSpan.id, 'the server span is a child of the client span');
    assert.equal(serverSpan.traceId, parent.traceId);
    assert.equal(reply.traceparent, `00-${clientSpan.traceId}-${clientSpan.id}-01`, 'the metadata carried the client span');
    assert.equal(reply.active_span, serverSpan.id, 'the handler ran with the server span active');
    assert.equal(reply.active_later, serverSpan.id, '... and still after an await');
    const method = { component: 'grpc', 'grpc.method': '/conformance.Echo/Unary', 'rpc.system': 'grpc', 'rpc.service': 'conformance.Echo', 'rpc.method': 'Unary', 'grpc.status_code': 0 };
    assert.deepEqual({ ...clientSpan.tags }, { ...method, 'span.kind': 'client', 'peer.hostname': '127.0.0.1', 'peer.port': echo.port });
    const { 'peer.address': peer, ...serverTags } = serverSpan.tags;
    assert.deepEqual(serverTags, { ...method, 'span.kind': 'server' });
    assert.match(String(peer), /^127\.0\.0\.1:\d+$/);
    assert.ok(!clientSpan.hasError() && !serverSpan.hasError());
    assert.equal(clientSpan.logs.length + serverSpan.logs.length, 0);
  });

  it('client streaming: spans for the call, the callback in the caller context, stream events of the handler under the server span', async () => {
    let callbackSpan: string | undefined;
    const { parent, result: reply } = await underParent(
      () =>
        new Promise<EchoReply>((resolve, reject) => {
          const call = client.ClientStream((err: Error | null, r: EchoReply) => {
            callbackSpan = activeId();
            return err ? reject(err) : resolve(r);
          });
          call.write({ text: 'a' });
          call.write({ text: 'b' });
          call.end({ text: 'c' });
        }),
    );
    assert.equal(reply.text, 'a,b,c');
    assert.equal(callbackSpan, parent.id);
    await tracer.settle();
    const clientSpan = onlySpan('client', 'grpc conformance.Echo/ClientStream');
    const serverSpan = onlySpan('server', 'grpc conformance.Echo/ClientStream');
    assert.equal(clientSpan.parentId, parent.id);
    assert.equal(serverSpan.parentId, clientSpan.id);
    assert.equal(reply.active_span, serverSpan.id);
    assert.equal(reply.active_later, serverSpan.id, "the handler's 'end' listener ran under the server span");
    assert.equal(clientSpan.tags['grpc.status_code'], 0);
    assert.equal(serverSpan.tags['grpc.status_code'], 0);
  });

  it("server streaming: the library's own stream; 'data', 'status' and 'end' in the caller context", async () => {
    const seen: Array<string | undefined> = [];
    const texts: string[] = [];
    const actives: string[] = [];
    const { parent } = await underParent(async () => {
      const stream = client.ServerStream({ text: 's', count: 3, delay_ms: 1 });
      assert.ok(stream instanceof grpcCall.ClientReadableStreamImpl && stream instanceof Readable);
      stream.on('data', (r: EchoReply) => {
        texts.push(r.text);
        actives.push(r.active_later);
        seen.push(activeId());
      });
      stream.on('status', () => seen.push(activeId()));
      await until(stream, 'end');
      seen.push(activeId());
    });
    assert.deepEqual(texts, ['s-0', 's-1', 's-2']);
    assert.deepEqual(seen, Array(seen.length).fill(parent.id));
    assert.ok(seen.length >= 4);
    await tracer.settle();
    const clientSpan = onlySpan('client', 'grpc conformance.Echo/ServerStream');
    const serverSpan = onlySpan('server', 'grpc conformance.Echo/ServerStream');
    assert.equal(clientSpan.parentId, parent.id);
    assert.equal(serverSpan.parentId, clientSpan.id);
    assert.equal(clientSpan.tags['grpc.status_code'], 0);
    assert.deepEqual(actives, [serverSpan.id, serverSpan.id, serverSpan.id], 'the handler ran under the server span, also after its awaits');
  });

  it('bidi streaming: both directions, events on both sides in their own context', async () => {
    const seen: Array<string | undefined> = [];
    const replies: EchoReply[] = [];
    const { parent } = await underParent(async () => {
      const stream = client.Bidi();
      assert.ok(stream instanceof grpcCall.ClientDuplexStreamImpl && stream instanceof Duplex);
      stream.on('data', (r: EchoReply) => {
        replies.push(r);
        seen.push(activeId());
        if (replies.length === 2) stream.end();
      });
      stream.write({ text: 'x' });
      stream.write({ text: 'y' });
      await until(stream, 'status');
    });
    assert.deepEqual(
      replies.map((r) => r.text),
      ['x', 'y'],
    );
    assert.deepEqual(seen, [parent.id, parent.id]);
    await tracer.settle();
    const clientSpan = onlySpan('client', 'grpc conformance.Echo/Bidi');
    const serverSpan = onlySpan('server', 'grpc conformance.Echo/Bidi');
    assert.equal(serverSpan.parentId, clientSpan.id);
    for (const r of replies) assert.equal(r.active_later, serverSpan.id, "the handler's 'data' listener ran under the server span");
  });

  it("the caller's metadata: its keys are sent, its object is left as it was, and a trace key it set itself wins", async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-caller', 'mine');
    const first = await underParent(() => unary(client, { text: 'a' }, metadata));
    const second = await underParent(() => unary(client, { text: 'b' }, metadata));
    for (const { result } of [first, second]) {
      assert.equal(result.caller_key, 'mine');
      assert.match(result.traceparent, TRACEPARENT);
    }
    assert.notEqual(first.result.traceparent, second.result.traceparent, 'each call carries its own span');
    assert.deepEqual(metadata.getMap(), { 'x-caller': 'mine' }, "the caller's Metadata is not written to");

    tracer.reset();
    const own = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const mine = new grpc.Metadata();
    mine.set('traceparent', own);
    const { result } = await underParent(() => unary(client, { text: 'c' }, mine));
    assert.equal(result.traceparent, own, "the caller's own trace header is the one sent");
    await tracer.settle();
    assert.equal(onlySpan('client', UNARY).tags.component, 'grpc', 'the call is still traced');
    assert.equal(onlySpan('server', UNARY).parentId, 'cd'.repeat(8));
  });

  it('a non-OK status: the app gets the ServiceError as untraced; both spans error=true with the status', async () => {
    const err: any = await underParent(() => unary(client, { text: 'x', fail_code: grpc.status.NOT_FOUND })).catch((e) => e);
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.message, '5 NOT_FOUND: failed on purpose');
    await tracer.settle();
    for (const span of [onlySpan('client', UNARY), onlySpan('server', UNARY)]) {
      assert.equal(span.tags.error, true);
      assert.equal(span.tags['grpc.status_code'], 5);
      const log = span.errorLog();
      assert.equal(log?.fields.event, 'error');
      assert.equal(log?.fields.message, '5 NOT_FOUND: failed on purpose');
      assert.equal(log?.fields['error.object'].code, 5);
    }
  });

  it('status details a server echoes values in: quoted runs and numbers redacted in both spans; the app gets them as sent', async () => {
    const details = `card number 4111111111111111 was declined for 'Jane Doe' ("jane@example.com")`;
    const service: BytesService = {
      definition: { Charge: bytesMethod('/pay.Cards/Charge') },
      handlers: { Charge: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.INVALID_ARGUMENT, details }) },
    };
    await withBytesServer(service, async (raw) => {
      const { result: err } = await underParent(() => callBytes(raw, '/pay.Cards/Charge'));
      assert.equal(err?.details, details, 'the app gets the details as the server sent them');
      assert.equal(err?.message, `3 INVALID_ARGUMENT: ${details}`);
      await tracer.settle();
      for (const span of [onlySpan('client'), onlySpan('server')]) {
        const logged = span.errorLog()!.fields;
        const error = logged['error.object'];
        assert.equal(logged.message, '3 INVALID_ARGUMENT: card number ? was declined for ? (?)');
        assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
        const text = JSON.stringify({ tags: span.tags, logs: span.logs, message: error.message, stack: error.stack, details: error.details });
        for (const value of ['4111111111111111', 'Jane Doe', 'jane@example.com']) assert.ok(!text.includes(value), `${span.tags['span.kind']} span: ${value} in ${text}`);
      }
    });
  });

  it("a handler failing with a PostgreSQL error or quoting one (unique violation: `Key (email)=(…)`, unquoted): the server span logs it as a server span logs the app's error, the client span in this process the quote as well; the app gets the details as sent", async () => {
    uninstallAllPatches();
    installPatches(['grpc', 'pg'], { tracer });
    const db = await connectedPgClient();
    try {
      await db.query('CREATE TEMP TABLE grpc_users (email text UNIQUE)');
      await db.query("INSERT INTO grpc_users VALUES ('alice.SECRET1@example.com')");
      await db.query("CREATE FUNCTION pg_temp.grpc_refuse(e text) RETURNS void AS $$ BEGIN RAISE EXCEPTION 'no user %', e; END $$ LANGUAGE plpgsql");
      const failure = (sql: string, values: unknown[]): Promise<any> => db.query(sql, values).then(() => assert.fail('expected a failure'), (e: unknown) => e);
      const duplicate = (): Promise<any> => failure('INSERT INTO grpc_users VALUES ($1)', ['alice.SECRET1@example.com']);
      const service: BytesService = {
        definition: { Detail: bytesMethod('/users.S/Detail'), Wrapped: bytesMethod('/users.S/Wrapped'), Raised: bytesMethod('/users.S/Raised') },
        handlers: {
          Detail: async (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.ALREADY_EXISTS, details: `db: ${(await duplicate()).detail}` }),
          Wrapped: async (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(new Error(`insert failed: ${(await duplicate()).detail}`)),
          Raised: async (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => {
            // The parameter echoed unquoted, which only the database span's copy takes out; 40 failures since
            // leave no quote of it among the latest texts: the error itself is what the server span knows it by.
            const err = await failure('SELECT pg_temp.grpc_refuse($1)', ['bob.SECRET2@example.com']);
            for (let i = 0; i < 40; i++) await failure('SELECT pg_temp.grpc_refuse($1)', [`other-${i}@example.com`]);
            cb(err);
          },
        },
      };
      await withBytesServer(service, async (raw) => {
        const logged = async (method: string): Promise<{ err: grpc.ServiceError | null; server: RecordedSpan; client: RecordedSpan }> => {
          tracer.reset();
          const { result: err } = await underParent(() => callBytes(raw, `/users.S/${method}`));
          await tracer.settle();
          return { err, server: onlySpan('server'), client: onlySpan('client') };
        };
        const detail = await logged('Detail');
        assert.equal(detail.err?.details, 'db: Key (email)=(alice.SECRET1@example.com) already exists.', 'the app gets the details as sent');
        for (const span of [detail.server, detail.client]) assert.equal(span.errorLog()?.fields.message, '6 ALREADY_EXISTS: db: Key (email)=(?) already exists.', String(span.tags['span.kind']));
        const wrapped = await logged('Wrapped');
        for (const span of [wrapped.server, wrapped.client]) assert.equal(span.errorLog()?.fields.message, '2 UNKNOWN: insert failed: Key (email)=(?) already exists.', String(span.tags['span.kind']));
        const raised = await logged('Raised');
        assert.equal(raised.err?.details, 'no user bob.SECRET2@example.com');
        assert.equal(raised.server.errorLog()?.fields.message, '2 UNKNOWN: no user ?');
        assert.equal(raised.server.errorLog()?.fields['error.object'].details, 'no user ?');
        for (const span of [detail.server, detail.client, wrapped.server, wrapped.client, raised.server]) {
          const error = span.errorLog()!.fields['error.object'];
          const text = JSON.stringify({ tags: span.tags, logs: span.logs, message: error.message, stack: error.stack, details: error.details });
          assert.ok(!/SECRET/.test(text), `${span.operationName} (${span.tags['span.kind']}): ${text}`);
        }
      });
    } finally {
      await db.end();
      uninstallAllPatches();
      install();
    }
  });

  it("a handler's error: the server span logs the details an interceptor rewrote in place, and reads the app's error no more often than grpc-js", async () => {
    uninstallAllPatches();
    installPatches(['grpc', 'pg'], { tracer });
    const db = await connectedPgClient();
    let detailsReads = 0;
    class Refusal extends Error {
      readonly code = grpc.status.FAILED_PRECONDITION;
      get details(): string {
        detailsReads++;
        return 'user carol.SECRET3@example.com refused';
      }
    }
    try {
      await db.query("CREATE FUNCTION pg_temp.grpc_refuse2(e text) RETURNS void AS $$ BEGIN RAISE EXCEPTION 'no user %', e; END $$ LANGUAGE plpgsql");
      const sanitize = (_descriptor: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface) =>
        new grpc.ServerInterceptingCall(call, {
          sendStatus: (status, next) => {
            if (status.code === grpc.status.UNKNOWN) status.details = 'refused';
            next(status);
          },
        });
      const service: BytesService = {
        serverOptions: { interceptors: [sanitize] },
        definition: { Raised: bytesMethod('/users.S/Raised'), Getter: bytesMethod('/users.S/Getter') },
        handlers: {
          Raised: async (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(await db.query('SELECT pg_temp.grpc_refuse2($1)', ['dave.SECRET4@example.com']).then(() => null, (e: Error) => e)),
          Getter: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(new Refusal('refused')),
        },
      };
      await withBytesServer(service, async (raw) => {
        tracer.reset();
        const raised = await callBytes(raw, '/users.S/Raised');
        assert.equal(raised?.details, 'refused', 'the interceptor rewrote the details');
        await tracer.settle();
        assert.equal(onlySpan('server').errorLog()?.fields.message, '2 UNKNOWN: refused', 'the server span logs the details on the wire');
        let untracedReads = -1;
        for (const installed of [false, true]) {
          if (!installed) uninstallAllPatches();
          else installPatches(['grpc', 'pg'], { tracer });
          detailsReads = 0;
          const err = await callBytes(raw, '/users.S/Getter');
          assert.equal(err?.details, 'user carol.SECRET3@example.com refused');
          await tracer.settle();
          if (!installed) untracedReads = detailsReads;
          else assert.equal(detailsReads, untracedReads, "the app's error's details read as often as untraced");
        }
      });
    } finally {
      await db.end();
      uninstallAllPatches();
      install();
    }
  });

  it('an OK without a message, to a unary or client-streaming call: the client span says UNIMPLEMENTED, as the app is told', async () => {
    const service: BytesService = {
      definition: { Empty: bytesMethod('/t.S/Empty', true) },
      handlers: { Empty: (call: grpc.ServerWritableStream<Buffer, Buffer>) => call.end() },
    };
    await withBytesServer(service, async (raw) => {
      const clientStream = (): Promise<grpc.ServiceError | null> =>
        new Promise((resolve) => raw.makeClientStreamRequest('/t.S/Empty', bytes, bytes, (err) => resolve(err)).end(Buffer.alloc(0)));
      for (const call of [() => callBytes(raw, '/t.S/Empty'), clientStream]) {
        tracer.reset();
        const err = await call();
        assert.equal(err?.message, '12 UNIMPLEMENTED: No message received');
        await tracer.settle();
        const span = onlySpan('client');
        assert.equal(span.tags['grpc.status_code'], grpc.status.UNIMPLEMENTED);
        assert.equal(span.errorLog()?.fields.message, err.message);
        assert.equal(onlySpan('server').tags['grpc.status_code'], grpc.status.OK, 'the server did answer OK');
      }
      tracer.reset();
      const stream = raw.makeServerStreamRequest('/t.S/Empty', bytes, bytes, Buffer.alloc(0));
      stream.resume();
      await until(stream, 'status');
      await tracer.settle();
      assert.equal(onlySpan('client').tags['grpc.status_code'], grpc.status.OK, 'a server stream with no message is OK');
    });
  });

  it('a handler that throws: UNKNOWN to the client, the server span error=true and finished once', async () => {
    const err: any = await underParent(() => unary(client, { text: 'throw' })).catch((e) => e);
    assert.equal(err.code, grpc.status.UNKNOWN);
    await tracer.settle();
    const serverSpan = onlySpan('server', UNARY);
    assert.equal(serverSpan.tags.error, true);
    assert.equal(serverSpan.tags['grpc.status_code'], grpc.status.UNKNOWN);
    assert.equal(onlySpan('client', UNARY).tags['grpc.status_code'], grpc.status.UNKNOWN);
  });

  it('call.cancel(): the callback once with CANCELLED; each span finished once, with event cancel', async () => {
    const handlerCancelled = new Promise<string | undefined>((resolve) => (echo.onCancelled = () => resolve(activeId())));
    let calls = 0;
    const { parent, result: err } = await underParent(
      () =>
        new Promise<any>((resolve) => {
          const call = client.Unary({ text: 'slow', delay_ms: 1000 }, (e: Error | null) => {
            calls++;
            resolve(e);
          });
          assert.ok(call instanceof grpcCall.ClientUnaryCallImpl, "the library's own call object");
          echo.onArrival = () => {
            call.cancel();
            call.cancel();
          };
        }),
    );
    assert.equal(err.code, grpc.status.CANCELLED);
    const serverSpanWhenCancelled = await handlerCancelled;
    await tracer.settle();
    assert.equal(calls, 1);
    const clientSpan = onlySpan('client', UNARY);
    assert.equal(clientSpan.parentId, parent.id);
    assert.equal(clientSpan.tags['grpc.status_code'], grpc.status.CANCELLED);
    assert.equal(clientSpan.errorLog()?.fields.event, 'cancel');
    assert.equal(clientSpan.logs.length, 1);
    const serverSpan = onlySpan('server', UNARY);
    assert.equal(serverSpan.tags['grpc.status_code'], grpc.status.CANCELLED);
    assert.equal(serverSpan.errorLog()?.fields.event, 'cancel');
    assert.equal(serverSpanWhenCancelled, serverSpan.id, "the handler's 'cancelled' listener ran under the server span");
    // tracer.settle() checked that every span finished exactly once; the late answer of the handler changes nothing.
    await new Promise((r) => setTimeout(r, 50));
    tracer.assertAllFinishedOnce();
  });

  it('a server stream cancelled after its first message: spans finished once', async () => {
    await underParent(async () => {
      const stream = client.ServerStream({ text: 's', count: 50, delay_ms: 10 });
      stream.on('error', () => undefined);
      stream.once('data', () => stream.cancel());
      const [status] = (await until(stream, 'status')) as [grpc.StatusObject];
      assert.equal(status.code, grpc.status.CANCELLED);
    });
    await tracer.settle();
    assert.equal(onlySpan('client', 'grpc conformance.Echo/ServerStream').errorLog()?.fields.event, 'cancel');
    assert.equal(onlySpan('server', 'grpc conformance.Echo/ServerStream').tags['grpc.status_code'], grpc.status.CANCELLED);
  });

  it('a deadline exceeded: DEADLINE_EXCEEDED; the client span error with event timeout; the server span finished once', async () => {
    const err: any = await underParent(() => unary(client, { text: 'slow', delay_ms: 500 }, undefined, { deadline: Date.now() + 100 })).catch((e) => e);
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    await tracer.settle();
    const clientSpan = onlySpan('client', UNARY);
    assert.equal(clientSpan.tags.error, true);
    assert.equal(clientSpan.tags['grpc.status_code'], grpc.status.DEADLINE_EXCEEDED);
    assert.equal(clientSpan.errorLog()?.fields.event, 'timeout');
    // The server sees the end of the call first either by its own deadline timer, or by the client's
    // RST_STREAM (a cancellation, as far as the server can tell): both are an error of the server span.
    const serverSpan = onlySpan('server', UNARY);
    assert.equal(serverSpan.tags.error, true);
    const expected = { [grpc.status.DEADLINE_EXCEEDED]: 'timeout', [grpc.status.CANCELLED]: 'cancel' } as Record<number, string>;
    assert.equal(serverSpan.errorLog()?.fields.event, expected[serverSpan.tags['grpc.status_code']], `status ${serverSpan.tags['grpc.status_code']}`);
    // The handler answers after the deadline: its status is dropped, and the span stays finished once.
    await new Promise((r) => setTimeout(r, 500));
    tracer.assertAllFinishedOnce();
  });

  it('a client call made in the handler, after an await, is a child of the server span', async () => {
    const { parent, result: reply } = await underParent(() => unary(client, { text: 'nested' }));
    assert.equal(reply.text, 'nested:inner');
    await tracer.settle();
    const [outerClient] = spansOf('client', UNARY).filter((s) => s.parentId === parent.id);
    const outerServer = spansOf('server', UNARY).find((s) => s.parentId === outerClient.id)!;
    const innerClient = spansOf('client', UNARY).find((s) => s.parentId === outerServer.id);
    assert.ok(innerClient, `the inner call's span is a child of the server span: ${JSON.stringify(tracer.finished.map((s) => [s.operationName, s.id, s.parentId]))}`);
    const innerServer = spansOf('server', UNARY).find((s) => s.parentId === innerClient.id);
    assert.ok(innerServer);
    assert.equal(tracer.finished.filter((s) => s.traceId === parent.traceId).length, 5);
  });

  it('callbacks and events run in their own caller context, concurrent calls on a connection another request opened', async () => {
    const fresh = new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure()) as EchoClient;
    try {
      await underParent(() => unary(fresh, { text: 'opens the connection' }));
      const observe = (): Promise<{ parent: string; seen: Array<string | undefined> }> =>
        underParent(async (parent) => {
          const seen: Array<string | undefined> = [];
          await new Promise<void>((resolve) => {
            const call = fresh.Unary({ text: 'x', delay_ms: 5 }, () => seen.push(activeId()));
            call.on('metadata', () => seen.push(activeId()));
            call.on('status', () => resolve(void seen.push(activeId())));
          });
          const stream = fresh.ServerStream({ text: 's', count: 2, delay_ms: 5 });
          stream.on('data', () => seen.push(activeId()));
          await until(stream, 'end');
          return { parent: parent.id, seen };
        }).then((r) => r.result);
      for (const { parent, seen } of await Promise.all([observe(), observe(), observe()])) {
        assert.deepEqual(seen, [parent, parent, parent, parent, parent]);
      }
    } finally {
      fresh.close();
    }
  });

  describe("the caller's context, on a connection another request opened (grpc-js delivers the status in the opener's)", () => {
    /** Where the app's interceptor saw the status, where the stream's events ran, and what the caller's follow-up in 'end' makes. */
    const noted: Array<string | undefined> = [];
    const interceptor: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, _listener, next) {
          next(metadata, {
            onReceiveStatus(status, onward) {
              noted.push(activeId());
              onward(status);
            },
          });
        },
      });

    /** A fresh client whose connection request A opens; `body` then calls on it. */
    async function onConnectionOfA(body: (c: EchoClient, a: RecordedSpan) => Promise<void>): Promise<void> {
      const c = new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure(), { interceptors: [interceptor] }) as EchoClient;
      try {
        const a = tracer.startSpan('request A') as RecordedSpan;
        await withSpan(a, () => unary(c, { text: 'opens the connection' }));
        a.finish();
        await body(c, a);
      } finally {
        c.close();
      }
    }

    /** A server stream's interceptor status, 'data', 'status' and 'end' (where a Unary call follows): the span active in each. */
    function streamThenUnary(c: EchoClient): Promise<Array<string | undefined>> {
      noted.length = 0;
      const seen: Array<string | undefined> = [];
      return new Promise((resolve, reject) => {
        const stream = c.ServerStream({ text: 's', count: 1, delay_ms: 5 });
        stream.on('data', () => seen.push(activeId()));
        stream.on('status', () => seen.push(activeId()));
        stream.on('end', () => {
          seen.push(activeId());
          const result = [...noted, ...seen];
          c.Unary({ text: 'follow-up' }, (err: Error | null) => (err ? reject(err) : resolve(result)));
        });
      });
    }

    it('an ignored call: its events, and the follow-up span, in request B', async () => {
      await installedWith({ tracer, hooks: { grpc: { ignoreMethods: '/conformance.Echo/ServerStream' } } }, () =>
        onConnectionOfA(async (c, a) => {
          const { parent, result } = await underParent(() => streamThenUnary(c));
          assert.deepEqual(result, [parent.id, parent.id, parent.id, parent.id]);
          await tracer.settle();
          const parents = spansOf('client', UNARY).map((s) => s.parentId);
          assert.deepEqual(parents.sort(), [a.id, parent.id].sort(), "A's own call under A, the follow-up under B");
        }),
      );
    });

    it('a suppressed call: its events in the suppressed context, and the follow-up makes no span', async () => {
      await onConnectionOfA(async (c) => {
        const { parent, result } = await underParent(() => suppressTracing(() => streamThenUnary(c)));
        assert.deepEqual(result, [parent.id, parent.id, parent.id, parent.id]);
        await tracer.settle();
        assert.equal(spansOf('client').length, 1, `only A's call: ${tracer.finished.map((s) => s.operationName)}`);
      });
    });

    it('a call requireParent leaves untraced: its events in no context', async () => {
      await installedWith({ tracer, requireParent: true }, () =>
        onConnectionOfA(async (c) => {
          assert.deepEqual(await streamThenUnary(c), [undefined, undefined, undefined, undefined]);
          await tracer.settle();
          assert.equal(spansOf('client').length, 1, "only A's call");
        }),
      );
    });

    it("a traced call: the app's interceptor sees the status in request B", async () => {
      await onConnectionOfA(async (c) => {
        const { parent, result } = await underParent(() => streamThenUnary(c));
        assert.deepEqual(result, [parent.id, parent.id, parent.id, parent.id]);
      });
    });
  });

  it("client interceptors of the app get the caller's own Metadata, as untraced; the trace header is added below them, into a copy", async () => {
    const given: grpc.Metadata[] = [];
    const interceptor: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          given.push(metadata);
          metadata.set('x-caller', `stamped ${given.length}`);
          next(metadata, listener);
        },
      });
    const intercepted = new (loadEcho().Echo)(echo.address, grpc.credentials.createInsecure(), { interceptors: [interceptor] }) as EchoClient;
    try {
      const metadata = new grpc.Metadata();
      const first = await underParent(() => unary(intercepted, { text: 'i' }, metadata));
      const second = await underParent(() => unary(intercepted, { text: 'j' }, metadata));
      assert.deepEqual(given, [metadata, metadata], "the interceptor got the caller's object");
      assert.deepEqual(metadata.getMap(), { 'x-caller': 'stamped 2' }, 'what the interceptor set is there, and no trace header');
      await tracer.settle();
      const spans = spansOf('client', UNARY);
      assert.equal(spans.length, 2);
      for (const [{ parent, result }, text] of [[first, 'stamped 1'], [second, 'stamped 2']] as const) {
        const span = spans.find((s) => s.parentId === parent.id)!;
        assert.equal(result.traceparent, `00-${span.traceId}-${span.id}-01`, "the call's own trace header reached the server");
        assert.equal(result.caller_key, text);
      }
    } finally {
      intercepted.close();
    }
  });

  it("server interceptors: the server span records the status on the wire (grpc-js's own, or one an interceptor rewrote)", async () => {
    const passThrough = (_descriptor: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface) => new grpc.ServerInterceptingCall(call);
    const rewrite = (descriptor: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface) =>
      new grpc.ServerInterceptingCall(call, {
        sendStatus: (status, next) => next(descriptor.path === '/t.S/Rewrite' ? { ...status, code: grpc.status.PERMISSION_DENIED, details: 'rewritten' } : status),
      });
    const unserializable = (): Buffer => {
      throw new Error('cannot serialize');
    };
    const service: BytesService = {
      definition: { Unserializable: bytesMethod('/t.S/Unserializable', false, unserializable), Rewrite: bytesMethod('/t.S/Rewrite') },
      handlers: {
        Unserializable: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('x')),
        Rewrite: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'not found' }),
      },
      serverOptions: { interceptors: [passThrough, rewrite] },
    };
    await withBytesServer(service, async (raw) => {
      for (const [path, code] of [
        ['/t.S/Unserializable', grpc.status.INTERNAL],
        ['/t.S/Rewrite', grpc.status.PERMISSION_DENIED],
      ] as const) {
        tracer.reset();
        assert.equal((await callBytes(raw, path))?.code, code, 'what the client got');
        await tracer.settle();
        const span = onlySpan('server', `grpc ${path.slice(1)}`);
        assert.equal(span.tags['grpc.status_code'], code, path);
        assert.equal(span.errorLog()?.fields['error.object'].code, code);
      }
    });
  });

  it('a server interceptor that answers the call itself (auth in onReceiveMetadata, a limiter in start): one server span with its status, child of the client span', async () => {
    const gate = (descriptor: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface) =>
      new grpc.ServerInterceptingCall(call, {
        start(next) {
          if (descriptor.path === '/t.S/Limited') return call.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down' });
          next({
            onReceiveMetadata(metadata, mdNext) {
              if (metadata.get('authorization').length === 0) call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: 'no token' });
              else mdNext(metadata);
            },
          });
        },
      });
    const ok = (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('ok'));
    const service: BytesService = {
      definition: { Auth: bytesMethod('/t.S/Auth'), Limited: bytesMethod('/t.S/Limited') },
      handlers: { Auth: ok, Limited: ok },
      serverOptions: { interceptors: [gate] },
    };
    await withBytesServer(service, async (raw) => {
      for (const [path, code] of [
        ['/t.S/Auth', grpc.status.UNAUTHENTICATED],
        ['/t.S/Limited', grpc.status.RESOURCE_EXHAUSTED],
      ] as const) {
        tracer.reset();
        const { parent, result: err } = await underParent(() => callBytes(raw, path));
        assert.equal(err?.code, code, 'what the client got');
        await tracer.settle();
        const clientSpan = onlySpan('client');
        assert.equal(clientSpan.parentId, parent.id);
        const serverSpan = onlySpan('server', `grpc ${path.slice(1)}`);
        assert.equal(serverSpan.parentId, clientSpan.id, `${path}: the server span is a child of the client span`);
        assert.equal(serverSpan.traceId, parent.traceId);
        assert.equal(serverSpan.tags['grpc.status_code'], code, path);
        assert.equal(serverSpan.errorLog()?.fields['error.object'].code, code);
      }
    });
  });

  it('a server interceptor that never passes the call on, the client cancelling: the server span finishes once, CANCELLED', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const hold = (_descriptor: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface) => new grpc.ServerInterceptingCall(call, { start: () => arrived() });
    const service: BytesService = {
      definition: { Held: bytesMethod('/t.S/Held') },
      handlers: { Held: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('ok')) },
      serverOptions: { interceptors: [hold] },
    };
    await withBytesServer(service, async (raw) => {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = raw.makeUnaryRequest('/t.S/Held', bytes, bytes, Buffer.alloc(0), (e) => resolve(e));
        void arrival.then(() => call.cancel());
      });
      assert.equal(err?.code, grpc.status.CANCELLED);
      await tracer.settle();
      const serverSpan = onlySpan('server', 'grpc t.S/Held');
      assert.equal(serverSpan.tags['grpc.status_code'], grpc.status.CANCELLED);
      assert.equal(serverSpan.errorLog()?.fields.event, 'cancel');
    });
  });

  it("what a server interceptor does before it passes the call on runs in the server span: its outbound call is the server span's child, in the same trace", async () => {
    const active: Record<string, string | undefined> = {};
    const lookup = (_descriptor: grpc.ServerMethodDefinition<unknown, unknown>, call: grpc.ServerInterceptingCallInterface) =>
      new grpc.ServerInterceptingCall(call, {
        start(next) {
          next({
            onReceiveMetadata(metadata, mdNext) {
              active.interceptor = activeId();
              // A token lookup over gRPC, then the call goes on to the handler.
              void unary(client, { text: 'token' }).then(() => mdNext(metadata));
            },
          });
        },
      });
    const service: BytesService = {
      definition: { U: bytesMethod('/t.S/U') },
      handlers: {
        U: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => {
          active.handler = activeId();
          cb(null, Buffer.from('ok'));
        },
      },
      serverOptions: { interceptors: [lookup] },
    };
    await withBytesServer(service, async (raw) => {
      const { parent, result: err } = await underParent(() => callBytes(raw, '/t.S/U'));
      assert.equal(err, null);
      await tracer.settle();
      const serverSpan = onlySpan('server', 'grpc t.S/U');
      assert.equal(serverSpan.parentId, onlySpan('client', 'grpc t.S/U').id);
      assert.equal(serverSpan.traceId, parent.traceId);
      const lookupSpan = onlySpan('client', UNARY);
      assert.equal(lookupSpan.parentId, serverSpan.id, "the interceptor's lookup is a child of the server span");
      assert.equal(lookupSpan.traceId, parent.traceId);
      assert.equal(onlySpan('server', UNARY).parentId, lookupSpan.id);
      assert.deepEqual(active, { interceptor: serverSpan.id, handler: serverSpan.id });
    });
  });

  it("grpc-js's own ORCA load-report stream (weighted_round_robin, enable_oob_load_report) makes no span and carries no trace header", async () => {
    let orcaMetadata: grpc.Metadata | undefined;
    let orcaArrived!: () => void;
    const arrival = new Promise<void>((resolve) => (orcaArrived = resolve));
    const service: BytesService = {
      definition: { U: bytesMethod('/t.S/U'), Orca: bytesMethod('/xds.service.orca.v3.OpenRcaService/StreamCoreMetrics', true) },
      handlers: {
        U: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('ok')),
        Orca(call: grpc.ServerWritableStream<Buffer, Buffer>) {
          orcaMetadata = call.metadata;
          call.end();
          orcaArrived();
        },
      },
      clientOptions: { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ weighted_round_robin: { enable_oob_load_report: true } }] }) },
    };
    await withBytesServer(service, async (wrr) => {
      const { parent, result: err } = await underParent(() => callBytes(wrr, '/t.S/U'));
      assert.equal(err, null);
      await arrival;
      await tracer.settle();
      assert.deepEqual(
        spansOf('client').map((s) => [s.operationName, s.parentId]),
        [['grpc t.S/U', parent.id]],
      );
      assert.deepEqual(orcaMetadata?.get('traceparent'), [], 'no trace header on the ORCA stream');
    });
  });

  it('a malformed trace header, or a tracer that throws in inject and extract: the server span is a new root, the call unaffected', async () => {
    const bad = new grpc.Metadata();
    bad.set('traceparent', 'ff-not-a-trace-header');
    const { result } = await underParent(() => unary(client, { text: 'm' }, bad));
    assert.equal(result.text, 'm');
    assert.equal(result.traceparent, 'ff-not-a-trace-header');
    await tracer.settle();
    const serverSpan = onlySpan('server', UNARY);
    assert.equal(serverSpan.parentId, undefined, 'a new root');
    assert.notEqual(serverSpan.traceId, onlySpan('client', UNARY).traceId);

    const broken = new ThrowingTracer(['inject', 'extract']);
    await installedWith({ tracer: broken }, async () => {
      const reply = await withSpan(broken.startSpan('parent'), () => unary(client, { text: 'b' }));
      assert.equal(reply.text, 'b');
      assert.equal(reply.traceparent, '', 'nothing injected');
      assert.ok(broken.calls >= 3, 'startSpan (client and server), inject and extract were asked');
      assert.equal(reply.active_span.length, 16, 'the handler still ran with a (root) server span active');
    });
  });

  it('a key the caller set wins, the others of ours are added (its own traceparent wins over ours; its x-caller does not stop our traceparent)', async () => {
    const twoKeys = injectingAlso({ 'x-caller': 'ours' });
    await installedWith({ tracer: twoKeys }, async () => {
      const metadata = new grpc.Metadata();
      metadata.set('x-caller', 'mine');
      const reply = await withSpan(twoKeys.startSpan('parent'), () => unary(client, { text: 't' }, metadata));
      assert.equal(reply.caller_key, 'mine');
      assert.match(reply.traceparent, TRACEPARENT);
      const own = new grpc.Metadata();
      const theirs = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
      own.set('traceparent', theirs);
      const forwarded = await withSpan(twoKeys.startSpan('parent'), () => unary(client, { text: 't' }, own));
      assert.equal(forwarded.traceparent, theirs);
      assert.equal(forwarded.caller_key, 'ours');
      const plain = await withSpan(twoKeys.startSpan('parent'), () => unary(client, { text: 't' }));
      assert.equal(plain.caller_key, 'ours');
      assert.match(plain.traceparent, TRACEPARENT);
    });
  });

  it('a trace header key that Metadata refuses is left out; the others are sent', async () => {
    const odd = injectingAlso({ 'bad key!': 'x', 'x-non-ascii': 'é' });
    await installedWith({ tracer: odd }, async () => {
      const reply = await withSpan(odd.startSpan('parent'), () => unary(client, { text: 'o' }));
      assert.match(reply.traceparent, TRACEPARENT);
    });
  });

  it('requireParent: no client span without an active span; the server span is still made', async () => {
    await installedWith({ requireParent: true }, async () => {
      const reply = await unary(client, { text: 'r' });
      assert.equal(reply.traceparent, '');
      await tracer.settle();
      assert.equal(spansOf('client').length, 0);
      assert.equal(onlySpan('server', UNARY).parentId, undefined);
      tracer.reset();
      const { parent } = await underParent(() => unary(client, { text: 'r' }));
      await tracer.settle();
      assert.equal(onlySpan('client', UNARY).parentId, parent.id);
    });
  });

  it('ignoreMethods: an ignored method makes no span on either side; the others are traced', async () => {
    await installedWith({ hooks: { grpc: { ignoreMethods: ['/conformance.Echo/Unary'] } } }, async () => {
      const { result } = await underParent(() => unary(client, { text: 'i' }));
      assert.equal(result.traceparent, '');
      assert.equal(result.active_span, '');
      const { parent } = await underParent(async () => {
        const stream = client.ServerStream({ text: 's', count: 1 });
        stream.resume();
        await until(stream, 'end');
      });
      await tracer.settle();
      assert.equal(spansOf('client', UNARY).length + spansOf('server', UNARY).length, 0);
      assert.equal(onlySpan('client').parentId, parent.id);
      assert.equal(onlySpan('server').operationName, 'grpc conformance.Echo/ServerStream');
    });
  });

  it("with the httpServer and http hooks too: grpc-js's server streams (http2 'stream' events) and client requests are the grpc hook's alone, one server span, one client span", async () => {
    uninstallAllPatches();
    installPatches(['grpc', 'httpServer', 'http'], { tracer });
    // A server and a client of their own, so that the session and its streams come after this install.
    const own = await startEchoServer();
    const ownClient = new (loadEcho().Echo)(own.address, grpc.credentials.createInsecure()) as EchoClient;
    try {
      const { parent, result } = await underParent(() => unary(ownClient, { text: 'both' }));
      await tracer.settle();
      const clientSpan = onlySpan('client', UNARY);
      const serverSpan = onlySpan('server', UNARY);
      assert.equal(tracer.finished.filter((s) => s.operationName !== 'parent').length, 2, tracer.finished.map((s) => s.operationName).join(', '));
      assert.equal(clientSpan.parentId, parent.id);
      assert.equal(serverSpan.parentId, clientSpan.id);
      assert.equal(result.active_span, serverSpan.id, 'the handler ran with the grpc server span active');
    } finally {
      ownClient.close();
      await own.close();
      uninstallAllPatches();
      install();
    }
  });

  it('uninstalled: no spans and no trace header', async () => {
    uninstallAllPatches();
    try {
      const { result } = await underParent(() => unary(client, { text: 'u' }));
      assert.equal(result.traceparent, '');
      assert.equal(result.active_span, '');
      await tracer.settle();
      assert.equal(tracer.finished.filter((s) => s.operationName !== 'parent').length, 0);
    } finally {
      install();
    }
  });

  it('channel targets give peer.hostname and peer.port where there is one fixed peer', () => {
    assert.deepEqual(parseTarget('dns:127.0.0.1:50051'), { hostname: '127.0.0.1', port: 50051 });
    assert.deepEqual(parseTarget('dns:///localhost:443'), { hostname: 'localhost', port: 443 });
    assert.deepEqual(parseTarget('dns://8.8.8.8/example.com:8080'), { hostname: 'example.com', port: 8080 });
    assert.deepEqual(parseTarget('dns:example.com'), { hostname: 'example.com' });
    assert.deepEqual(parseTarget('localhost:50051'), { hostname: 'localhost', port: 50051 });
    assert.deepEqual(parseTarget('ipv6:[::1]:50051'), { hostname: '::1', port: 50051 });
    assert.deepEqual(parseTarget('ipv6:::1'), { hostname: '::1' });
    assert.deepEqual(parseTarget('ipv4:10.0.0.1:1,10.0.0.2:1'), { address: '10.0.0.1:1,10.0.0.2:1' });
    assert.deepEqual(parseTarget('unix:/tmp/grpc.sock'), { address: 'unix:/tmp/grpc.sock' });
    assert.equal(parseTarget('xds:///my-service'), null);
    assert.equal(parseTarget('dns:'), null);
  });

  it('an ES module app (`import grpc from "@grpc/grpc-js"`) is traced, client and server', async () => {
    // grpc-js is a CommonJS package: its entry is loaded by the ES-module loader without require(), the
    // files it requires are not. The hooks are installed before the import, as `--import register` does.
    const spans = await esmAppSpans(
      ['grpc'],
      `
      if (Object.keys(require.cache).some((f) => f.includes('@grpc'))) throw new Error('grpc-js was loaded by require');
      const { default: grpc } = await import('@grpc/grpc-js');
      const { default: loader } = await import('@grpc/proto-loader');
      const { Echo } = grpc.loadPackageDefinition(loader.loadSync(${JSON.stringify(path.join(root, 'test', 'fixtures', 'echo.proto'))})).conformance;
      const server = new grpc.Server();
      server.addService(Echo.service, { Unary: (call, cb) => cb(null, { text: call.request.text }) });
      const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
      const client = new Echo('127.0.0.1:' + port, grpc.credentials.createInsecure());
      const parent = tracer.startSpan('parent');
      await withSpan(parent, () => new Promise((resolve, reject) => client.Unary({ text: 'esm' }, (e, r) => (e ? reject(e) : resolve(r)))));
      parent.finish();
      await tracer.settle();
      client.close();
      server.forceShutdown();
    `,
    );
    const clientSpan = spans.find((s) => s.name === UNARY && s.tags['span.kind'] === 'client');
    const serverSpan = spans.find((s) => s.name === UNARY && s.tags['span.kind'] === 'server');
    assert.ok(clientSpan && serverSpan, JSON.stringify(spans));
    assert.equal(serverSpan.parentId, clientSpan.id);
  });
});
