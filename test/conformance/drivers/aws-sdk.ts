import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { GetObjectCommandInput } from '@aws-sdk/client-s3';
import { FAKE_CREDENTIALS, FAKE_REGION, FakeAws, startFakeAws } from '../../helpers/fake-aws';
import type { Driver } from '../driver';

const smithyClient = require('@smithy/core/client') as { Client: { prototype: object } };

let fake: FakeAws;
let s3: S3Client;

/** GetObject as an app does it: the body read to the end (an unread body keeps its socket). */
async function getObject(input: GetObjectCommandInput): Promise<any> {
  const output: any = await s3.send(new GetObjectCommand(input));
  output.text = await output.Body.transformToString();
  return output;
}

/** S3 GetObject with a real S3Client against the local fake S3 (path-style, static credentials, no retries). */
export const awsSdkS3Driver: Driver = {
  name: 'aws-sdk',
  hook: 'aws-sdk',
  operation: 'aws.S3.GetObject',
  tags: () => ({
    component: 'aws-sdk',
    'aws.service': 'S3',
    'aws.operation': 'GetObject',
    'aws.region': FAKE_REGION,
    'http.status_code': 200,
    'peer.hostname': '127.0.0.1',
    'peer.port': fake.port,
  }),
  targets: () => [[smithyClient.Client.prototype, 'send']],
  async start() {
    // Nothing kept per request: the heap check measures the hook alone.
    fake = await startFakeAws({ record: false });
    // `cacheMiddleware` and checksums only where required keep 22,000 calls within the heap check's time on
    // a loaded machine (the stack is otherwise sorted again on every call); the hook test uses the defaults.
    s3 = new S3Client({
      region: FAKE_REGION,
      endpoint: fake.url,
      forcePathStyle: true,
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
      cacheMiddleware: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    for (const Key of ['conformance', 'slow']) await s3.send(new PutObjectCommand({ Bucket: 'bucket', Key, Body: 'hello' }));
  },
  async stop() {
    s3.destroy();
    await fake.close();
  },
  call: () => getObject({ Bucket: 'bucket', Key: 'conformance' }),
  failingCall: () => getObject({ Bucket: 'bucket', Key: 'missing' }),
  // $metadata holds a fresh request id per call.
  normalize: (output: any) => ({ text: output.text, etag: output.ETag, contentType: output.ContentType, status: output.$metadata.httpStatusCode }),
  callbackCall(callback) {
    s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'conformance' }), (err: unknown, output?: any) => {
      if (output === undefined) return callback(err);
      output.Body.transformToString().then(() => callback(err, output.$metadata.httpStatusCode), callback);
    });
  },
  countedCall(onRead) {
    const input = {} as GetObjectCommandInput;
    for (const [key, value] of Object.entries({ Bucket: 'bucket', Key: 'conformance' })) {
      Object.defineProperty(input, key, { enumerable: true, get: () => (onRead(key), value) });
    }
    return getObject(input);
  },
  async inFlightCall() {
    const arrived = new Promise<void>((resolve) => (fake.onArrival = resolve));
    const outcome = getObject({ Bucket: 'bucket', Key: 'slow' });
    await arrived;
    fake.onArrival = undefined;
    return { outcome };
  },
  otel: { module: '@opentelemetry/instrumentation-aws-sdk', export: 'AwsInstrumentation', reload: ['@smithy/core/client'] },
};

export const awsSdkDrivers: Driver[] = [awsSdkS3Driver];
