/**
 * A local HTTP endpoint on 127.0.0.1 that answers like S3 (REST XML, path-style), SQS (AWS JSON 1.0,
 * `x-amz-target: AmazonSQS.<Operation>`) and DynamoDB (AWS JSON 1.0, `x-amz-target:
 * DynamoDB_20120810.<Operation>`: PutItem and GetItem on one table, `table`, keyed by `pk`), for real
 * SDK clients pointed at it with `endpoint`.
 *
 * Every request's SigV4 signature is checked against the static test credentials the way AWS does it
 * (only the headers named in SignedHeaders count); a request whose signature does not verify gets the
 * service's own signature error (S3's SignatureDoesNotMatch 403 with what was signed). So a trace header
 * that broke signing would fail the call.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFAKEFAKEFAKE', secretAccessKey: 'fake/secret/key/for/tests' };
export const FAKE_REGION = 'us-east-1';
export const FAKE_ACCOUNT = '000000000000';

export interface FakeRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** How many `traceparent` header lines came. */
  traceparentCopies: number;
  /** The header names SigV4 signed (from the Authorization header). */
  signedHeaders: string[];
  /** `S3.GetObject`, `SQS.SendMessage`, `DynamoDB.PutItem`, ... */
  operation: string;
  /** The parsed JSON body of an SQS or DynamoDB request. */
  json?: any;
}

export interface SqsMessage {
  MessageId: string;
  Body: string;
  MessageAttributes?: Record<string, { DataType: string; StringValue?: string }>;
}

export interface FakeAws {
  url: string;
  port: number;
  /** Every request, in arrival order (cleared by `reset`). */
  received: FakeRequest[];
  /** What each SQS queue (by URL path) holds. */
  queues: Map<string, SqsMessage[]>;
  /** The items of the DynamoDB table `table`, by the JSON of their `pk` attribute (as sent, typed: `{"S":"a"}`). */
  items: Map<string, Record<string, unknown>>;
  /** The URL of an SQS queue that exists. */
  queueUrl(name?: string): string;
  /** Answers the next `n` requests with a 500 InternalError, before doing anything else. */
  failNext(n: number): void;
  /** Called when a GetObject of a key starting with `slow` arrives (it answers 50 ms later). */
  onArrival?: () => void;
  reset(): void;
  close(): Promise<void>;
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it. */
const encode = (text: string): string => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Whether the request's SigV4 signature verifies with the fake credentials; the reason when not. S3 paths
 * are signed as sent (no double encoding); others' paths are encoded once more, as the SDK signs them.
 */
function verifySignature(req: http.IncomingMessage, body: Buffer, s3: boolean): { ok: true; signed: string[] } | { ok: false; why: string; signature?: string } {
  const auth = req.headers.authorization;
  const match = typeof auth === 'string' ? /^AWS4-HMAC-SHA256 Credential=([^/]+)\/([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(auth) : null;
  if (match === null) return { ok: false, why: `bad Authorization header: ${auth}` };
  const [, keyId, scope, signedList, signature] = match;
  if (keyId !== FAKE_CREDENTIALS.accessKeyId) return { ok: false, why: `unknown access key ${keyId}` };
  const signed = signedList.split(';');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = s3 ? url.pathname : url.pathname.split('/').map((p) => encode(decodeURIComponent(p))).join('/');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = signed.map((name) => {
    const value = req.headers[name];
    return `${name}:${(Array.isArray(value) ? value.join(',') : String(value ?? '')).trim().replace(/\s+/g, ' ')}\n`;
  });
  const payload = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(body);
  const canonical = [req.method, path, query, headers.join(''), signedList, payload].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const [date, region, service] = scope.split('/');
  const key = hmac(hmac(hmac(hmac(`AWS4${FAKE_CREDENTIALS.secretAccessKey}`, date), region), service), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature ? { ok: true, signed } : { ok: false, why: 'signature mismatch', signature };
}

let ids = 0;
const nextId = (prefix: string): string => `${prefix}${(++ids).toString(16).padStart(8, '0')}`;

const xmlEscape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An S3 error; `fields` are the others its body carries (NoSuchKey's `Key`, as S3 sends it). */
function s3Error(res: http.ServerResponse, status: number, code: string, message: string, requestId: string, fields: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/xml');
  const more = Object.entries(fields).map(([name, value]) => `<${name}>${xmlEscape(value)}</${name}>`).join('');
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${more}<RequestId>${requestId}</RequestId><HostId>fakehost</HostId></Error>`);
}

/** An AWS JSON 1.0 error: `__type` in the service's namespace, the message, and any other fields the body carries. */
function jsonError(res: http.ServerResponse, namespace: string, status: number, type: string, message: string, fields: Record<string, unknown> = {}): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/x-amz-json-1.0');
  res.end(JSON.stringify({ __type: `${namespace}#${type}`, message, ...fields }));
}

function sqsError(res: http.ServerResponse, status: number, type: string, queryError: string, message: string): void {
  res.setHeader('x-amzn-query-error', queryError);
  jsonError(res, 'com.amazonaws.sqs', status, type, message);
}

function dynamoError(res: http.ServerResponse, status: number, type: string, message: string, fields?: Record<string, unknown>): void {
  jsonError(res, 'com.amazonaws.dynamodb.v20120810', status, type, message, fields);
}

const replyJson = (res: http.ServerResponse, output: unknown): void => {
  res.setHeader('content-type', 'application/x-amz-json-1.0');
  res.end(JSON.stringify(output));
};

/** `record: false` keeps nothing per request (for the heap check). */
export async function startFakeAws(options: { record?: boolean } = {}): Promise<FakeAws> {
  const objects = new Map<string, Buffer>();
  const queues = new Map<string, SqsMessage[]>([[`/${FAKE_ACCOUNT}/q`, []]]);
  const items = new Map<string, Record<string, unknown>>();
  const received: FakeRequest[] = [];
  let failures = 0;
  // eslint-disable-next-line prefer-const -- assigned at the end, after the handlers that read it
  let fake: FakeAws;

  function s3(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, requestId: string, record: FakeRequest): void {
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', `ext-${requestId}`);
    const url = new URL(req.url ?? '/', 'http://fake');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const path = `${bucket}/${key}`;
    if (bucket !== 'bucket') return s3Error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist', requestId);
    if (req.method === 'HEAD' && key === '') {
      record.operation = 'S3.HeadBucket';
      res.setHeader('x-amz-bucket-region', FAKE_REGION);
      return void res.end();
    }
    if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2') {
      record.operation = 'S3.ListObjectsV2';
      const prefix = url.searchParams.get('prefix') ?? '';
      const keys = [...objects.keys()].filter((k) => k.startsWith(`bucket/${prefix}`)).map((k) => k.slice('bucket/'.length)).sort();
      res.setHeader('content-type', 'application/xml');
      return void res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>${xmlEscape(prefix)}</Prefix>` +
          `<KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>` +
          keys.map((k) => `<Contents><Key>${xmlEscape(k)}</Key><Size>${objects.get(`bucket/${k}`)!.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`).join('') +
          '</ListBucketResult>',
      );
    }
    if (req.method === 'PUT' && key !== '') {
      record.operation = 'S3.PutObject';
      objects.set(path, body);
      res.setHeader('etag', `"${md5(body.toString('latin1'))}"`);
      return void res.end();
    }
    if (req.method === 'GET' && key !== '') {
      record.operation = 'S3.GetObject';
      const answer = (): void => {
        const object = objects.get(path);
        if (object === undefined) return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.', requestId, { Key: key });
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('content-length', object.length);
        res.setHeader('etag', `"${md5(object.toString('latin1'))}"`);
        res.end(object);
      };
      if (!key.startsWith('slow')) return answer();
      fake.onArrival?.();
      return void setTimeout(answer, 50);
    }
    s3Error(res, 400, 'InvalidRequest', `unsupported ${req.method} ${req.url}`, requestId);
  }

  function sqs(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, requestId: string, record: FakeRequest): void {
    res.setHeader('x-amzn-requestid', requestId);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.replace(/^AmazonSQS\./, '');
    record.operation = `SQS.${operation}`;
    let input: any;
    try {
      input = JSON.parse(body.toString('utf8') || '{}');
    } catch {
      return sqsError(res, 400, 'InvalidParameterValue', 'AWS.SimpleQueueService.InvalidParameterValue;Sender', 'bad JSON');
    }
    record.json = input;
    const queue = queues.get(new URL(String(input.QueueUrl ?? ''), 'http://fake').pathname);
    if (queue === undefined) {
      return sqsError(res, 400, 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue;Sender', 'The specified queue does not exist.');
    }
    const tooMany = (attrs: unknown): boolean => attrs != null && Object.keys(attrs).length > 10;
    const reply = (output: unknown): void => replyJson(res, output);
    switch (operation) {
      case 'SendMessage': {
        if (tooMany(input.MessageAttributes)) {
          return sqsError(res, 400, 'InvalidParameterValue', 'AWS.SimpleQueueService.InvalidParameterValue;Sender', 'Number of message attributes exceeds 10');
        }
        const message: SqsMessage = { MessageId: nextId('msg-'), Body: input.MessageBody, MessageAttributes: input.MessageAttributes };
        queue.push(message);
        return reply({ MessageId: message.MessageId, MD5OfMessageBody: md5(input.MessageBody ?? '') });
      }
      case 'SendMessageBatch': {
        const Successful = [];
        const Failed = [];
        for (const entry of input.Entries ?? []) {
          if (tooMany(entry.MessageAttributes)) {
            Failed.push({ Id: entry.Id, Code: 'InvalidParameterValue', SenderFault: true, Message: 'Number of message attributes exceeds 10' });
            continue;
          }
          const message: SqsMessage = { MessageId: nextId('msg-'), Body: entry.MessageBody, MessageAttributes: entry.MessageAttributes };
          queue.push(message);
          Successful.push({ Id: entry.Id, MessageId: message.MessageId, MD5OfMessageBody: md5(entry.MessageBody ?? '') });
        }
        return reply({ Successful, Failed });
      }
      case 'ReceiveMessage': {
        const messages = queue.splice(0, Math.max(1, Number(input.MaxNumberOfMessages ?? 1)));
        return reply({
          Messages: messages.map((m) => ({
            MessageId: m.MessageId,
            ReceiptHandle: `rh-${m.MessageId}`,
            Body: m.Body,
            MD5OfBody: md5(m.Body ?? ''),
            ...(m.MessageAttributes !== undefined ? { MessageAttributes: m.MessageAttributes } : {}),
          })),
        });
      }
      default:
        return sqsError(res, 400, 'InvalidAction', 'AWS.SimpleQueueService.InvalidAction;Sender', `unsupported ${operation}`);
    }
  }

  /**
   * DynamoDB's PutItem and GetItem on `table`. A PutItem's only ConditionExpression is
   * `attribute_not_exists(pk)`: over an item that exists it fails as DynamoDB does, with
   * ConditionalCheckFailedException, and with the old item in the error under `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
   */
  function dynamodb(req: http.IncomingMessage, res: http.ServerResponse, input: any, requestId: string, record: FakeRequest): void {
    res.setHeader('x-amzn-requestid', requestId);
    const operation = String(req.headers['x-amz-target']).replace(/^DynamoDB_20120810\./, '');
    record.operation = `DynamoDB.${operation}`;
    if (input.TableName !== 'table') return dynamoError(res, 400, 'ResourceNotFoundException', 'Requested resource not found');
    switch (operation) {
      case 'PutItem': {
        const key = JSON.stringify(input.Item?.pk);
        const old = items.get(key);
        if (input.ConditionExpression !== undefined) {
          if (input.ConditionExpression !== 'attribute_not_exists(pk)') return dynamoError(res, 400, 'ValidationException', 'unsupported ConditionExpression');
          if (old !== undefined) {
            const fields = input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' ? { Item: old } : {};
            return dynamoError(res, 400, 'ConditionalCheckFailedException', 'The conditional request failed', fields);
          }
        }
        items.set(key, input.Item);
        return replyJson(res, {});
      }
      case 'GetItem': {
        const item = items.get(JSON.stringify(input.Key?.pk));
        return replyJson(res, item === undefined ? {} : { Item: item });
      }
      default:
        return dynamoError(res, 400, 'UnknownOperationException', `unsupported ${operation}`);
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = req.headers['x-amz-target'];
      const isDynamo = typeof target === 'string' && target.startsWith('DynamoDB_');
      const isSqs = typeof target === 'string' && !isDynamo;
      const requestId = nextId('req-');
      const record: FakeRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        traceparentCopies: req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'traceparent').length,
        signedHeaders: [],
        operation: isDynamo ? 'DynamoDB' : isSqs ? 'SQS' : 'S3',
      };
      if (options.record !== false) received.push(record);
      if (failures > 0) {
        failures--;
        if (isDynamo) return dynamoError(res, 500, 'InternalServerError', 'Internal server error');
        if (isSqs) return sqsError(res, 500, 'InternalError', 'AWS.SimpleQueueService.InternalError;Receiver', 'We encountered an internal error.');
        return s3Error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.', requestId);
      }
      const verified = verifySignature(req, body, !isSqs && !isDynamo);
      if (!verified.ok) {
        if (isDynamo) return dynamoError(res, 400, 'InvalidSignatureException', verified.why);
        if (isSqs) return sqsError(res, 403, 'SignatureDoesNotMatch', 'SignatureDoesNotMatch;Sender', verified.why);
        // As S3 does: what it computed and the signature it got, in the error.
        res.statusCode = 403;
        res.setHeader('content-type', 'application/xml');
        return void res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message>` +
            `<AWSAccessKeyId>${FAKE_CREDENTIALS.accessKeyId}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 ...</StringToSign><SignatureProvided>${verified.signature}</SignatureProvided>` +
            `<CanonicalRequest>${xmlEscape(req.method ?? '')} ...</CanonicalRequest><RequestId>${requestId}</RequestId></Error>`,
        );
      }
      record.signedHeaders = verified.signed;
      if (isDynamo) {
        try {
          record.json = JSON.parse(body.toString('utf8'));
        } catch {
          return dynamoError(res, 400, 'SerializationException', 'bad JSON');
        }
        return dynamodb(req, res, record.json, requestId, record);
      }
      if (isSqs) sqs(req, res, body, requestId, record);
      else s3(req, res, body, requestId, record);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  fake = {
    url,
    port,
    received,
    queues,
    items,
    queueUrl: (name = 'q') => `${url}/${FAKE_ACCOUNT}/${name}`,
    failNext: (n) => void (failures = n),
    reset: () => {
      received.length = 0;
      failures = 0;
      for (const queue of queues.values()) queue.length = 0;
      items.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
