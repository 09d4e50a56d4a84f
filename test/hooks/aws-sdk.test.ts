import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSClientConfig } from '@aws-sdk/client-sqs';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import type { HooksConfig } from '../../src';
import { FAKE_CREDENTIALS, FAKE_REGION, FakeAws, FakeRequest, startFakeAws } from '../helpers/fake-aws';
import { redactErrorText } from '../../src/cores/db-call';
import { closedPort } from '../helpers/servers';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';

/** A deep copy that is frozen all the way down: the SDK and the hook must leave it as it is. */
function frozen<T>(value: T): T {
  const copy = structuredClone(value);
  const freeze = (v: any): void => {
    if (v === null || typeof v !== 'object') return;
    Object.freeze(v);
    for (const key of Object.keys(v)) freeze(v[key]);
  };
  freeze(copy);
  return copy;
}

describe('aws-sdk hook (real S3, SQS and DynamoDB clients against a local fake)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let fake: FakeAws;
  const clients: Array<{ destroy(): void }> = [];

  function s3(extra: Partial<S3ClientConfig> = {}): S3Client {
    const client = new S3Client({ region: FAKE_REGION, endpoint: fake.url, forcePathStyle: true, credentials: FAKE_CREDENTIALS, maxAttempts: 1, ...extra });
    clients.push(client);
    return client;
  }
  function sqs(extra: Partial<SQSClientConfig> = {}): SQSClient {
    const client = new SQSClient({ region: FAKE_REGION, endpoint: fake.url, credentials: FAKE_CREDENTIALS, maxAttempts: 1, ...extra });
    clients.push(client);
    return client;
  }
  function dynamodb(extra: Partial<DynamoDBClientConfig> = {}): DynamoDBClient {
    const client = new DynamoDBClient({ region: FAKE_REGION, endpoint: fake.url, credentials: FAKE_CREDENTIALS, maxAttempts: 1, ...extra });
    clients.push(client);
    return client;
  }
  function install(config: Omit<HooksConfig, 'tracer'> = {}, names: Array<'aws-sdk' | 'http'> = ['aws-sdk', 'http']): void {
    uninstallAllPatches();
    installPatches(names, { tracer, ...config });
  }

  /** Runs `fn` under a parent span; returns its result (or rejection) and the parent. */
  async function underParent<T>(fn: () => Promise<T>): Promise<{ parent: RecordedSpan; result?: T; error?: any }> {
    const parent = tracer.startSpan('parent') as RecordedSpan;
    try {
      return { parent, result: await withSpan(parent, fn) };
    } catch (error) {
      return { parent, error };
    } finally {
      parent.finish();
    }
  }

  /** The client spans finished since the last reset (no http span may be among them). */
  async function clientSpans(): Promise<RecordedSpan[]> {
    await tracer.settle();
    return tracer.finished.filter((s) => s.tags['span.kind'] === 'client');
  }

  /** The one span a call made: a child of `parent`, with the SDK's tags. */
  async function oneSpan(parent: RecordedSpan, name: string): Promise<RecordedSpan> {
    const spans = await clientSpans();
    assert.deepEqual(
      spans.map((s) => s.operationName),
      [name],
      'one span per call, no http span',
    );
    const [span] = spans;
    assert.equal(span.parentId, parent.id);
    assert.equal(span.traceId, parent.traceId);
    return span;
  }

  /**
   * The span logged a copy of the app's error: the same class, name and message (quoted values taken
   * out), and of its fields only those that say which failure it was. Returns the copy.
   */
  function loggedCopy(span: RecordedSpan, error: any): any {
    const logged = span.errorLog()!.fields['error.object'];
    assert.notEqual(logged, error, 'a copy: the app keeps its own error');
    assert.equal(Object.getPrototypeOf(logged), Object.getPrototypeOf(error));
    assert.equal(logged.name, error.name);
    assert.equal(logged.message, redactErrorText(error.message));
    const allowed = ['name', 'message', 'stack', 'code', 'Code', '__type', '$fault', 'RequestId', 'HostId', 'errno', 'syscall', 'address', 'port', 'cause'];
    assert.deepEqual(Object.getOwnPropertyNames(logged).filter((name) => !allowed.includes(name)), []);
    return logged;
  }

  const traceparentOf = (span: RecordedSpan): string => `00-${span.traceId}-${span.id}-01`;

  /** The request arrived with the span's trace header once, outside what SigV4 signed (its signature verified). */
  function assertHeaderOnce(request: FakeRequest, span: RecordedSpan): void {
    assert.equal(request.traceparentCopies, 1, `one traceparent header on ${request.operation}`);
    assert.equal(request.headers.traceparent, traceparentOf(span));
    assert.ok(request.signedHeaders.length > 0, 'the signature verified');
    assert.ok(!request.signedHeaders.includes('traceparent'), 'traceparent is not among the signed headers');
    assert.ok(!('authorization' in span.tags) && !JSON.stringify(span.tags).includes(FAKE_CREDENTIALS.accessKeyId), 'no credentials in tags');
  }

  before(async () => {
    fake = await startFakeAws();
  });
  after(async () => {
    uninstallAllPatches();
    for (const client of clients) client.destroy();
    await fake.close();
  });
  beforeEach(() => {
    install();
    tracer.reset();
    fake.reset();
  });
  afterEach(async () => {
    await tracer.settle();
    uninstallAllPatches();
  });

  describe('S3 (REST XML)', () => {
    it('PutObject, GetObject, ListObjectsV2: one aws.S3.<Operation> span each, with the tags, under the active span', async () => {
      const client = s3();
      const expectations: Array<[string, () => Promise<any>, string]> = [
        ['PutObject', () => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'k1', Body: 'hello' })), 'PUT'],
        ['GetObject', async () => {
          const out = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k1' }));
          assert.equal(await out.Body!.transformToString(), 'hello');
          return out;
        }, 'GET'],
        ['ListObjectsV2', async () => {
          const out = await client.send(new ListObjectsV2Command({ Bucket: 'bucket', Prefix: 'k' }));
          assert.deepEqual(out.Contents?.map((c) => c.Key), ['k1']);
          return out;
        }, 'GET'],
      ];
      for (const [operation, run, method] of expectations) {
        tracer.reset();
        fake.reset();
        const { parent, result, error } = await underParent(run);
        assert.equal(error, undefined);
        const span = await oneSpan(parent, `aws.S3.${operation}`);
        assert.deepEqual(
          { ...span.tags },
          {
            'span.kind': 'client',
            component: 'aws-sdk',
            'aws.service': 'S3',
            'aws.operation': operation,
            'aws.region': FAKE_REGION,
            'aws.request_id': result.$metadata.requestId,
            'aws.extended_request_id': result.$metadata.extendedRequestId,
            'http.method': method,
            'http.status_code': 200,
            'peer.hostname': '127.0.0.1',
            'peer.port': fake.port,
          },
        );
        assert.match(String(span.tags['aws.request_id']), /^req-/);
        assert.equal(fake.received.length, 1);
        assert.equal(fake.received[0].operation, `S3.${operation}`);
        assertHeaderOnce(fake.received[0], span);
      }
    });

    it('peerService names the endpoint the request went to (its peer tags are known only at the first attempt)', async () => {
      install({ peerService: { [`127.0.0.1:${fake.port}`]: 'object-store' } });
      const client = s3();
      const { parent, error } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'named', Body: 'x' })));
      assert.equal(error, undefined);
      const span = await oneSpan(parent, 'aws.S3.PutObject');
      assert.equal(span.tags['peer.service'], 'object-store');
      assert.equal(span.tags['peer.hostname'], '127.0.0.1');
      assert.equal(span.tags['peer.port'], fake.port);
    });

    it('NoSuchKey: the app gets the SDK error object itself; the span has error=true, the error log (a copy without the key S3 echoes), status and request id', async () => {
      const client = s3();
      const { parent, error } = await underParent(() => client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'missing-secret-key' })));
      assert.equal(error?.name, 'NoSuchKey');
      assert.equal(error.Key, 'missing-secret-key', 'the SDK error carries the key S3 sent');
      const span = await oneSpan(parent, 'aws.S3.GetObject');
      assert.equal(span.tags.error, true);
      assert.equal(span.tags['http.status_code'], 404);
      assert.equal(span.tags['aws.request_id'], error.$metadata.requestId);
      const log = span.errorLog();
      assert.ok(log !== undefined);
      assert.equal(log.fields.event, 'error');
      assert.equal(loggedCopy(span, error).Code, 'NoSuchKey');
      assert.equal(log.fields.message, error.message);
      assert.ok(!tracer.everything().includes('missing-secret-key'));
    });

    it('a retry (500, then 200 with maxAttempts 2) stays one span: status 200, no error, both attempts carry its header', async () => {
      const client = s3({ maxAttempts: 2 });
      await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'r', Body: 'again' }));
      tracer.reset();
      fake.reset();
      fake.failNext(1);
      const { parent, result, error } = await underParent(async () => {
        const out = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'r' }));
        return { out, text: await out.Body!.transformToString() };
      });
      assert.equal(error, undefined);
      assert.equal(result!.text, 'again');
      assert.equal(result!.out.$metadata.attempts, 2);
      const span = await oneSpan(parent, 'aws.S3.GetObject');
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(span.tags.error, undefined, 'a retried-away failure is no error');
      assert.equal(span.tags['aws.attempts'], 2);
      assert.ok(span.logs.some((l) => l.fields.event === 'retry'));
      assert.equal(fake.received.length, 2, 'two attempts reached the server');
      for (const request of fake.received) assert.equal(request.traceparentCopies, 1);
      assert.equal(fake.received[0].headers.traceparent, traceparentOf(span));
      assertHeaderOnce(fake.received[1], span);
    });

    it('a retry that fails again: one span, error=true, status 500', async () => {
      const client = s3({ maxAttempts: 2 });
      fake.failNext(2);
      const { parent, error } = await underParent(() => client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'r' })));
      assert.equal(error?.name, 'InternalError');
      const span = await oneSpan(parent, 'aws.S3.GetObject');
      assert.equal(span.tags.error, true);
      assert.equal(span.tags['http.status_code'], 500);
      assert.equal(fake.received.length, 2);
    });

    it('a rejected signature: the span logs the error without what was signed or the signature; the app gets them all', async () => {
      const client = s3({ credentials: { accessKeyId: FAKE_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' } });
      const { parent, error } = await underParent(() => client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k1' })));
      assert.equal(error?.name, 'SignatureDoesNotMatch');
      assert.equal(typeof error.SignatureProvided, 'string', 'the SDK error carries the signature');
      const span = await oneSpan(parent, 'aws.S3.GetObject');
      assert.equal(span.tags.error, true);
      const logged = span.errorLog()!.fields['error.object'];
      assert.ok(logged instanceof Error && logged.name === 'SignatureDoesNotMatch');
      assert.equal(logged.message, error.message);
      for (const field of ['SignatureProvided', 'StringToSign', 'CanonicalRequest']) assert.ok(!(field in logged), `${field} is not logged`);
      assert.equal(typeof error.SignatureProvided, 'string', "the app's error is untouched");
      assert.ok(!JSON.stringify(span.tags).includes(error.SignatureProvided));
    });

    it('a transport failure (nothing listening): error=true with the SDK rejection', async () => {
      const client = s3({ endpoint: `http://127.0.0.1:${await closedPort()}` });
      const { parent, error } = await underParent(() => client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k1' })));
      assert.ok(error instanceof Error);
      const span = await oneSpan(parent, 'aws.S3.GetObject');
      assert.equal(span.tags.error, true);
      assert.equal(loggedCopy(span, error).code, 'ECONNREFUSED');
    });

    it('only the aws-sdk hook installed: the SDK call still carries the header, once', async () => {
      install({}, ['aws-sdk']);
      const client = s3();
      const { parent } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'solo', Body: 'x' })));
      const span = await oneSpan(parent, 'aws.S3.PutObject');
      assertHeaderOnce(fake.received[0], span);
    });

    it('nestedClientSpans: the http span is a child of the aws span, and the header still arrives once', async () => {
      install({ nestedClientSpans: true });
      // A new client: the SDK's http handler takes `http.request` when it first sends.
      const client = s3();
      const { parent } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'nested', Body: 'x' })));
      const spans = await clientSpans();
      const aws = spans.find((s) => s.operationName === 'aws.S3.PutObject');
      const http = spans.find((s) => s.tags.component === 'http');
      assert.equal(spans.length, 2, spans.map((s) => s.operationName).join(', '));
      assert.ok(aws !== undefined && http !== undefined);
      assert.equal(aws.parentId, parent.id);
      assert.equal(http.parentId, aws.id);
      assert.equal(http.tags['http.status_code'], 200);
      assertHeaderOnce(fake.received[0], aws);
    });

    it('without nestedClientSpans the http hook adds to the aws span (its transport is traced, yet no second span)', async () => {
      const client = s3();
      const { parent } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'flat', Body: 'x' })));
      await oneSpan(parent, 'aws.S3.PutObject');
      assert.equal(fake.received[0].traceparentCopies, 1);
    });

    // propagate: false on this hook alone too: the http hook below must not add the header either.
    for (const [option, key] of [[{ propagateHeaders: false }, 'quiet'], [{ propagate: false }, 'unpropagated']] as const) {
      it(`${Object.keys(option)[0]}: false: a span, but no trace header from this hook or the http hook below`, async () => {
        install({ hooks: { 'aws-sdk': option } });
        const client = s3();
        const { parent } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: key, Body: 'x' })));
        await oneSpan(parent, 'aws.S3.PutObject');
        assert.equal(fake.received[0].traceparentCopies, 0);
      });
    }

    it('no span and no header without an active span under requireParent, or after uninstall', async () => {
      install({ requireParent: true });
      const client = s3();
      await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'u', Body: 'x' }));
      uninstallAllPatches();
      assert.equal((await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'u', Body: 'x' })))).error, undefined);
      assert.deepEqual(await clientSpans(), []);
      assert.deepEqual(fake.received.map((r) => r.traceparentCopies), [0, 0]);
    });

    it('an SDK call made inside one (by its credentials provider) is its child and carries its own header', async () => {
      const queue = sqs();
      const client = s3({
        credentials: async () => {
          await queue.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'from the credentials provider' }));
          return FAKE_CREDENTIALS;
        },
      });
      const { parent, error } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'inner', Body: 'x' })));
      assert.equal(error, undefined);
      const spans = await clientSpans();
      const outer = spans.find((s) => s.operationName === 'aws.S3.PutObject')!;
      const inner = spans.find((s) => s.operationName === 'aws.SQS.SendMessage')!;
      assert.equal(spans.length, 2, spans.map((s) => s.operationName).join(', '));
      assert.equal(outer.parentId, parent.id);
      assert.equal(inner.parentId, outer.id);
      assert.equal(outer.tags['aws.attempts'], undefined, "the inner call's attempt is not the outer's");
      const byOperation = (op: string) => fake.received.find((r) => r.operation === op)!;
      assertHeaderOnce(byOperation('SQS.SendMessage'), inner);
      assertHeaderOnce(byOperation('S3.PutObject'), outer);
    });

    it("an untraced SDK request inside a traced call is not taken for the traced call's attempt", async () => {
      const queue = sqs();
      await queue.send(new ReceiveMessageCommand({ QueueUrl: fake.queueUrl() })); // equips its stack
      const client = s3({
        credentials: async () => {
          const command = new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'resolved without send' });
          await command.resolveMiddleware(queue.middlewareStack as any, queue.config, {})({ input: command.input });
          return FAKE_CREDENTIALS;
        },
      });
      tracer.reset();
      fake.reset();
      const { parent } = await underParent(() => client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'inner2', Body: 'x' })));
      const spans = await clientSpans();
      const outer = spans.find((s) => s.operationName === 'aws.S3.PutObject')!;
      assert.equal(outer.parentId, parent.id);
      assert.equal(outer.tags['aws.attempts'], undefined);
      const send = fake.received.find((r) => r.operation === 'SQS.SendMessage')!;
      assert.notEqual(send.headers.traceparent, traceparentOf(outer), 'not the outer call\'s header');
      assert.ok(send.traceparentCopies <= 1);
      assertHeaderOnce(fake.received.find((r) => r.operation === 'S3.PutObject')!, outer);
    });

    it('a stack resolved without send (as a presigner does) makes no aws span', async () => {
      const client = s3();
      await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'p', Body: 'x' }));
      tracer.reset();
      const command = new GetObjectCommand({ Bucket: 'bucket', Key: 'p' });
      const handler = command.resolveMiddleware(client.middlewareStack as any, client.config, {});
      const { result, error } = await underParent(() => handler({ input: command.input }));
      assert.equal(error, undefined);
      await (result!.output as any).Body.transformToString();
      // (this handler does send: its http request is traced by the http hook as any other)
      assert.deepEqual((await clientSpans()).map((s) => s.tags.component), ['http']);
    });
  });

  describe('SQS (AWS JSON 1.0)', () => {
    it('SendMessage: the trace context goes as a String message attribute, on a copy of the frozen input', async () => {
      const client = sqs();
      const input = frozen({ QueueUrl: fake.queueUrl(), MessageBody: 'hello', MessageAttributes: { app: { DataType: 'String', StringValue: 'a' } } });
      const before = structuredClone(input);
      const { parent, result, error } = await underParent(() => client.send(new SendMessageCommand(input)));
      assert.equal(error, undefined);
      const span = await oneSpan(parent, 'aws.SQS.SendMessage');
      assert.equal(span.tags.component, 'aws-sdk');
      assert.equal(span.tags['aws.service'], 'SQS');
      assert.equal(span.tags['aws.operation'], 'SendMessage');
      assert.equal(span.tags['aws.request_id'], result!.$metadata.requestId);
      assert.equal(span.tags['http.status_code'], 200);
      assert.deepEqual(input, before, "the caller's input is as it was");
      const sent = fake.received[0].json;
      assert.deepEqual(sent.MessageAttributes, {
        app: { DataType: 'String', StringValue: 'a' },
        traceparent: { DataType: 'String', StringValue: traceparentOf(span) },
      });
      assertHeaderOnce(fake.received[0], span);
      assert.equal(fake.queues.get('/000000000000/q')![0].MessageAttributes?.traceparent?.StringValue, traceparentOf(span));
    });

    it("SendMessage: a caller's own traceparent attribute is kept; at 10 attributes none is added", async () => {
      const client = sqs();
      const own = { traceparent: { DataType: 'String', StringValue: 'mine' } };
      await underParent(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'a', MessageAttributes: own })));
      assert.deepEqual(fake.received[0].json.MessageAttributes, own);
      const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: String(i) }]));
      await underParent(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'b', MessageAttributes: ten })));
      assert.deepEqual(fake.received[1].json.MessageAttributes, ten, 'no eleventh attribute (SQS would reject the message)');
      const nine = Object.fromEntries(Object.entries(ten).slice(0, 9));
      await underParent(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'c', MessageAttributes: nine })));
      assert.equal(Object.keys(fake.received[2].json.MessageAttributes).length, 10);
      assert.ok('traceparent' in fake.received[2].json.MessageAttributes);
    });

    it('SendMessageBatch: each entry gets the attribute (room permitting), on a copy of the frozen input', async () => {
      const client = sqs();
      const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: String(i) }]));
      const input = frozen({
        QueueUrl: fake.queueUrl(),
        Entries: [
          { Id: '1', MessageBody: 'one' },
          { Id: '2', MessageBody: 'two', MessageAttributes: { x: { DataType: 'Number', StringValue: '2' } } },
          { Id: '3', MessageBody: 'three', MessageAttributes: ten },
        ],
      });
      const before = structuredClone(input);
      const { parent, result } = await underParent(() => client.send(new SendMessageBatchCommand(input)));
      assert.equal(result!.Successful?.length, 3);
      const span = await oneSpan(parent, 'aws.SQS.SendMessageBatch');
      assert.deepEqual(input, before);
      const entries = fake.received[0].json.Entries;
      const tp = { DataType: 'String', StringValue: traceparentOf(span) };
      assert.deepEqual(entries[0].MessageAttributes, { traceparent: tp });
      assert.deepEqual(entries[1].MessageAttributes, { x: { DataType: 'Number', StringValue: '2' }, traceparent: tp });
      assert.deepEqual(entries[2].MessageAttributes, ten);
    });

    it('ReceiveMessage: a span, and the attribute the sender put arrives with the message', async () => {
      const client = sqs();
      const { parent: sender } = await underParent(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'hi' })));
      await tracer.settle();
      const sendSpan = tracer.finished.find((s) => s.operationName === 'aws.SQS.SendMessage')!;
      assert.equal(sendSpan.parentId, sender.id);
      tracer.reset();
      const { parent, result } = await underParent(() => client.send(new ReceiveMessageCommand({ QueueUrl: fake.queueUrl(), MessageAttributeNames: ['All'] })));
      const span = await oneSpan(parent, 'aws.SQS.ReceiveMessage');
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(result!.Messages?.[0].MessageAttributes?.traceparent?.StringValue, traceparentOf(sendSpan));
      assert.equal(fake.received[1].json.MessageAttributes, undefined, 'nothing injected into a receive');
    });

    it('QueueDoesNotExist: error=true, status 400, request id; the app gets the SDK error', async () => {
      const client = sqs();
      const { parent, error } = await underParent(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl('nope'), MessageBody: 'x' })));
      assert.equal(error?.name, 'QueueDoesNotExist');
      const span = await oneSpan(parent, 'aws.SQS.SendMessage');
      assert.equal(span.tags.error, true);
      assert.equal(span.tags['http.status_code'], 400);
      assert.equal(span.tags['aws.request_id'], error.$metadata.requestId);
      loggedCopy(span, error);
    });

    it("a region provider runs only as often as the SDK calls it, always inside the call's span; aws.region is its answer", async () => {
      /** 3 concurrent sends on a new client whose region is a provider: the spans active at each of its calls. */
      const sendThree = async (): Promise<{ parent: RecordedSpan; asked: Array<string | undefined> }> => {
        const asked: Array<string | undefined> = [];
        const region = async (): Promise<string> => {
          asked.push((currentSpan() as RecordedSpan | undefined)?.operationName);
          return 'eu-west-3';
        };
        const client = sqs({ region });
        const { parent, error } = await underParent(() => Promise.all([1, 2, 3].map(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'x' })))));
        assert.equal(error, undefined);
        return { parent, asked };
      };
      uninstallAllPatches();
      const untraced = await sendThree();
      install();
      tracer.reset();
      const traced = await sendThree();
      assert.equal(traced.asked.length, untraced.asked.length, 'no extra call of the provider');
      assert.deepEqual(new Set(traced.asked), new Set(['aws.SQS.SendMessage']), "the provider runs inside the aws span, never in the caller's context");
      const spans = await clientSpans();
      assert.deepEqual(spans.map((s) => [s.operationName, s.parentId, s.tags['aws.region']]), Array(3).fill(['aws.SQS.SendMessage', traced.parent.id, 'eu-west-3']));
    });

    it('sqsMessageAttributes: false leaves the message attributes alone (the header still goes)', async () => {
      install({ hooks: { 'aws-sdk': { sqsMessageAttributes: false } } });
      const client = sqs();
      const { parent } = await underParent(() => client.send(new SendMessageCommand({ QueueUrl: fake.queueUrl(), MessageBody: 'x' })));
      const span = await oneSpan(parent, 'aws.SQS.SendMessage');
      assert.equal(fake.received[0].json.MessageAttributes, undefined);
      assertHeaderOnce(fake.received[0], span);
    });
  });

  describe('DynamoDB (AWS JSON 1.0)', () => {
    it('DocumentClient (lib-dynamodb) put and get: one aws.DynamoDB.PutItem / GetItem span each, with its header; no item value in any span', async () => {
      const doc = DynamoDBDocumentClient.from(dynamodb());
      const item = { pk: 'user#1', ssn: 'ssn-secret-111' };
      const put = await underParent(() => doc.send(new PutCommand({ TableName: 'table', Item: item })));
      assert.equal(put.error, undefined);
      const putSpan = await oneSpan(put.parent, 'aws.DynamoDB.PutItem');
      assert.equal(putSpan.tags['aws.service'], 'DynamoDB');
      assert.equal(putSpan.tags['aws.request_id'], put.result!.$metadata.requestId);
      assert.equal(putSpan.tags['http.status_code'], 200);
      assert.deepEqual(fake.received[0].json.Item, { pk: { S: 'user#1' }, ssn: { S: 'ssn-secret-111' } }, 'the document client marshalled the item');
      assertHeaderOnce(fake.received[0], putSpan);
      assert.ok(!tracer.everything().includes('ssn-secret-111'));
      tracer.reset();
      fake.reset();
      fake.items.set(JSON.stringify({ S: 'user#1' }), { pk: { S: 'user#1' }, ssn: { S: 'ssn-secret-111' } });
      const get = await underParent(() => doc.send(new GetCommand({ TableName: 'table', Key: { pk: 'user#1' } })));
      assert.deepEqual(get.result!.Item, item, 'the app gets the unmarshalled item');
      const getSpan = await oneSpan(get.parent, 'aws.DynamoDB.GetItem');
      assertHeaderOnce(fake.received[0], getSpan);
      assert.ok(!tracer.everything().includes('ssn-secret-111'));
    });

    it('ConditionalCheckFailedException with the old item: the app gets the SDK error with it; the span logs a copy without it', async () => {
      const client = dynamodb();
      const old = { pk: { S: 'user#2' }, ssn: { S: 'ssn-secret-222' } };
      const input = {
        TableName: 'table',
        Item: { pk: { S: 'user#2' }, ssn: { S: 'new' } },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
      };
      const fail = async (): Promise<any> => {
        fake.items.set(JSON.stringify(old.pk), old);
        return client.send(new PutItemCommand(input)).then(() => assert.fail('the put succeeded'), (err: unknown) => err);
      };
      uninstallAllPatches();
      const untraced = await fail();
      install();
      const { parent, result: error } = await underParent(fail);
      assert.ok(error instanceof ConditionalCheckFailedException);
      assert.deepEqual(error.Item, old, 'the SDK error carries the old item');
      assert.deepEqual(Object.getOwnPropertyNames(error), Object.getOwnPropertyNames(untraced), 'the same fields as untraced');
      assert.deepEqual({ ...error, $metadata: undefined }, { ...untraced, $metadata: undefined });
      const span = await oneSpan(parent, 'aws.DynamoDB.PutItem');
      assert.equal(span.tags.error, true);
      assert.equal(span.tags['http.status_code'], 400);
      const logged = loggedCopy(span, error);
      assert.ok(!inspect(logged, { showHidden: true, depth: null }).includes('ssn-secret-222'));
      assert.ok(!tracer.everything().includes('ssn-secret-222'));
      assert.deepEqual(error.Item, old, "the app's error is untouched");
    });
  });
});
