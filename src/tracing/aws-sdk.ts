/**
 * AWS SDK for JavaScript v3 (`@aws-sdk/client-*`) span logic (declared in ../hooks/aws-sdk), every service
 * at once, through each client's middleware stack. A client's first `send` (the shared `Client` class of
 * `@smithy/core` >= 3.24, or of `@smithy/smithy-client` before that) adds two middlewares to that
 * client's stack, once:
 *
 * - first in the `initialize` step, one span per logical call, `aws.<Service>.<Operation>`, which stays
 *   the active span for the rest of the stack (so the SDK's retries, and anything the call does on the
 *   way such as fetching credentials, are under it). For SQS `SendMessage`/`SendMessageBatch` it puts the
 *   trace context into the message attributes of a copy of the input.
 * - last in the `deserialize` step, right above the request handler, once per attempt: it adds the trace
 *   headers to a copy of the signed request (after signing, so they are not in SigV4's SignedHeaders and
 *   change no signature), and runs the transport with the span marked as the outbound call, so that the
 *   http hook below adds to it instead of making a second span (unless `nestedClientSpans`).
 *
 * The middlewares stay on a client's stack after uninstall and pass through; a reinstall reuses them.
 * Nothing of the request (payload, headers, credentials, signature) is recorded, nor what a service's
 * error body carries beyond which failure it was (see LOGGED_FIELDS).
 */
import { FORMAT_TEXT_MAP, Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { OutboundCall, RequestContext, storage, withOutbound } from '../context';
import { chained } from '../cores/http-client';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, finishSpan, injectHeaders, logEvent, markError, setTag, startClientSpanUnder, tagLatePeer } from '../spans';
import type { AwsSdkOptions } from '../options/aws-sdk';
import { applyArgs } from '../apply-args';
import { copyWith, ownCopy } from '../own-copy';
import { guardedErrorCopy, redactErrorText } from '../cores/db-call';
import { headersToAdd } from '../trace-headers';

const CALL_MIDDLEWARE = 'opentracingClientHooksAwsSdkCall';
const ATTEMPT_MIDDLEWARE = 'opentracingClientHooksAwsSdkAttempt';
/** SQS takes at most this many message attributes per message. */
const SQS_MAX_ATTRIBUTES = 10;
/**
 * The fields of an error that a span logs: what says which failure it was. The SDK copies every field of
 * a service's error body onto its exception: DynamoDB's ConditionalCheckFailedException carries the old
 * `Item` (with `ReturnValuesOnConditionCheckFailure`), S3's errors the `Key`, `BucketName` or an
 * `ArgumentValue`, its SignatureDoesNotMatch what was signed (`StringToSign`, `CanonicalRequest`) and the
 * `SignatureProvided`. A transport error keeps Node's `code`, `syscall`, `address` and `port`.
 */
const LOGGED_FIELDS = new Set(['name', 'message', 'stack', 'code', 'Code', '__type', '$fault', 'RequestId', 'HostId', 'errno', 'syscall', 'address', 'port', 'cause']);
const isLoggedField = (name: string): boolean => LOGGED_FIELDS.has(name);

/** Middleware stacks that carry ours: a client is equipped once, whatever the installs. */
const equipped = new WeakSet<object>();
/** Commands given to a patched `send`: a stack resolved by anyone else (a presigner) makes no span. */
const sending = new WeakSet<object>();
/**
 * The config of the client whose patched `send` is running, while its synchronous part runs. `send`
 * resolves the stack and calls the handler at once, and our middleware comes first in the `initialize`
 * step (the SDK's own are of normal priority), so it runs in that window. This takes a call whose stack
 * gets another object than the command sent: `@aws-sdk/lib-dynamodb`'s commands (`PutCommand`...) run
 * the stack with the inner `PutItemCommand` they hold. `sending` still takes a command that an app's
 * earlier middleware passes on after a wait.
 */
let sendingFor: unknown;

/** One logical call: its span, and what its attempts saw. */
class AwsCall implements OutboundCall {
  readonly component = 'aws-sdk';
  injected = false;
  attempts = 0;
  status: number | undefined;
  region: string | undefined;

  constructor(
    readonly hook: ActiveHook<AwsSdkOptions>,
    readonly span: Span,
    /** The execution context of the stack it runs through: an attempt of any other stack is not its own. */
    readonly context: unknown,
    readonly config: unknown,
  ) {}

  onStatus(code: number): void {
    this.status = code;
  }

  /** Tags what the SDK's output or error says of the call, then finishes the span. */
  finish(outcome: any, err?: unknown): void {
    const span = this.span;
    const metadata = outcome?.$metadata;
    if (this.region !== undefined) setTag(span, 'aws.region', this.region);
    if (typeof metadata?.requestId === 'string') setTag(span, 'aws.request_id', metadata.requestId);
    if (typeof metadata?.extendedRequestId === 'string') setTag(span, 'aws.extended_request_id', metadata.extendedRequestId);
    const status = typeof metadata?.httpStatusCode === 'number' ? metadata.httpStatusCode : this.status;
    if (typeof status === 'number') setTag(span, Tags.HTTP_STATUS_CODE, status);
    if (this.attempts > 1) setTag(span, 'aws.attempts', this.attempts);
    if (err !== undefined) markError(span, loggedError(err));
    finishSpan(span);
  }
}

/**
 * The error as the span logs it: when it has other fields than the LOGGED_FIELDS (an SDK error has at
 * least `$metadata`), a copy (the app gets the original) with only those, the quoted values in its
 * message (`Value 'x' at 'tableName'`) taken out as a database's are.
 */
function loggedError(err: unknown): unknown {
  return guardedErrorCopy(err, redactErrorText, isLoggedField);
}

/** `S3`, `SQS`, `DynamoDB`: the client's serviceId (spaces taken out), else its class name without `Client`. */
function serviceOf(config: any, context: any): string {
  const id = config?.serviceId;
  if (typeof id === 'string' && id !== '') return id.replace(/\s+/g, '');
  const name = context?.clientName;
  return typeof name === 'string' && name !== '' ? name.replace(/Client$/, '') : 'AWS';
}

/** `GetObject`: the command's name without `Command`. */
function operationOf(context: any, args: any): string {
  const name = context?.commandName ?? args?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name.replace(/Command$/, '') : 'Unknown';
}

/** Message attributes with the trace context added, or undefined when there is nothing to add or no room. */
function withTraceAttributes(attributes: unknown, carrier: Record<string, string>): Record<string, unknown> | undefined {
  const existing = attributes !== null && typeof attributes === 'object' ? (attributes as Record<string, unknown>) : undefined;
  const names = existing === undefined ? [] : Object.keys(existing);
  const taken = new Set(names.map((name) => name.toLowerCase()));
  const added = headersToAdd(Object.keys(carrier), (name) => taken.has(name));
  if (added.length === 0 || names.length + added.length > SQS_MAX_ATTRIBUTES) return undefined;
  const out = ownCopy(existing);
  for (const name of added) out[name] = { DataType: 'String', StringValue: carrier[name] };
  return out;
}

/** For SQS sends: the middleware arguments with a copy of the input that carries the trace context. */
function withSqsPropagation(hook: ActiveHook<AwsSdkOptions>, span: Span, operation: string, args: any): any {
  if (operation !== 'SendMessage' && operation !== 'SendMessageBatch') return args;
  const input = args?.input;
  if (input === null || typeof input !== 'object') return args;
  const carrier = injectHeaders(hook, span, FORMAT_TEXT_MAP);
  if (carrier === undefined) return args;
  if (operation === 'SendMessage') {
    const attributes = withTraceAttributes(input.MessageAttributes, carrier);
    return attributes === undefined ? args : { ...args, input: copyWith(input, 'MessageAttributes', attributes) };
  }
  if (!Array.isArray(input.Entries)) return args;
  let changed = false;
  const entries = input.Entries.map((entry: any) => {
    if (entry === null || typeof entry !== 'object') return entry;
    const attributes = withTraceAttributes(entry.MessageAttributes, carrier);
    if (attributes === undefined) return entry;
    changed = true;
    return copyWith(entry, 'MessageAttributes', attributes);
  });
  return changed ? { ...args, input: { ...input, Entries: entries } } : args;
}

/** The context a traced call runs its middleware stack in: the attempt middleware finds its call there. */
class AwsCallContext implements RequestContext {
  constructor(
    readonly span: Span,
    readonly call: AwsCall,
  ) {}
}

/**
 * The region the SDK resolved for this call: the config's string, else the region of the auth scheme the
 * SDK selected (`@smithy/core`'s httpAuthSchemeMiddleware, which asked the provider): the app's region
 * provider is never called by us (it may do I/O, and would run once more per call).
 */
function resolvedRegion(config: any, context: any): string | undefined {
  if (typeof config?.region === 'string') return config.region;
  const properties = context?.__smithy_context?.selectedHttpAuthScheme?.httpAuthOption?.signingProperties;
  const region = properties?.region ?? properties?.signingRegion;
  return typeof region === 'string' && region !== '' ? region : undefined;
}

type Handler = (args: any) => any;
/** The hook's current install: a client's middlewares stay for good and answer to it. */
type CurrentInstall = PatchContext<AwsSdkOptions, undefined>['current'];

/** The `initialize` middleware of one client: a span per call through `send`. */
function callMiddleware(config: any, currentInstall: CurrentInstall) {
  return (next: Handler, context: any): Handler =>
    function traceAwsCall(args: any): any {
      const hook = currentInstall();
      if (hook === undefined || !hook.enabled || !((sendingFor === config && config !== undefined) || sending.has(args))) return next(args);
      const parent = clientParent(hook);
      if (parent === undefined) return next(args);
      const service = serviceOf(config, context);
      const operation = operationOf(context, args);
      const span = startClientSpanUnder(hook, parent, `aws.${service}.${operation}`, {
        [Tags.COMPONENT]: 'aws-sdk',
        'aws.service': service,
        'aws.operation': operation,
      });
      if (span === undefined) return next(args);
      const call = new AwsCall(hook, span, context, config);
      let input = args;
      try {
        if (service === 'SQS' && hook.options.sqsMessageAttributes !== false) input = withSqsPropagation(hook, span, operation, args);
      } catch {
        // An input we cannot copy goes as it is.
        input = args;
      }
      const store = new AwsCallContext(span, call);
      let result: unknown;
      try {
        result = storage.run(store, () => next(input));
      } catch (err) {
        call.finish(err, err);
        throw err;
      }
      return chained(
        result,
        (value: any) => call.finish(value?.output),
        (err: unknown) => call.finish(err, err),
        () => call.finish(undefined),
      );
    };
}

/** The request with `headers` added to a copy of its headers (those headersToAdd keeps). */
function withHeaders(request: any, headers: Record<string, string>): any {
  const own: Record<string, unknown> = request.headers ?? {};
  const taken = new Set(Object.keys(own).map((name) => name.toLowerCase()));
  const copy = ownCopy(own);
  for (const name of headersToAdd(Object.keys(headers), (lower) => taken.has(lower))) copy[name] = headers[name];
  return Object.assign(Object.create(Object.getPrototypeOf(request)), request, { headers: copy });
}

/**
 * The `deserialize` middleware, last before the request handler: once per attempt of a traced call (of
 * this stack: not of an untraced SDK call made inside a traced one, such as a credentials fetch).
 */
function attemptMiddleware(next: Handler, context: unknown): Handler {
  return function traceAwsAttempt(args: any): any {
    const store = storage.getStore();
    const call = store instanceof AwsCallContext ? store.call : undefined;
    if (call === undefined || call.context !== context) return next(args);
    const request = args?.request;
    let out = args;
    try {
      if (call.attempts === 0) call.region = resolvedRegion(call.config, context);
      if (++call.attempts === 1 && request != null && typeof request === 'object') {
        const secure = request.protocol === 'https:';
        tagLatePeer(call.span, call.hook.options.peerService, {
          [Tags.HTTP_METHOD]: request.method,
          [Tags.PEER_HOSTNAME]: request.hostname,
          [Tags.PEER_PORT]: Number(request.port) || (secure ? 443 : 80),
        });
      } else if (call.attempts > 1) logEvent(call.span, { event: 'retry', attempt: call.attempts });
      // Switched off (headers, or this hook's propagation), the transport below is told the headers are done: it adds none either.
      const options = call.hook.options;
      if (options.propagateHeaders === false || options.propagate === false) call.injected = true;
      else if (request != null && typeof request === 'object') {
        const headers = injectHeaders(call.hook, call.span);
        if (headers !== undefined) {
          out = { ...args, request: withHeaders(request, headers) };
          call.injected = true;
        }
      }
    } catch {
      // A request we cannot copy goes out as it is.
      out = args;
    }
    // The status comes from the http hook below (onStatus), else from the output's or error's $metadata.
    return withOutbound(call, () => next(out));
  };
}

/** Adds our middlewares to a client's stack, once per stack. */
function equip(client: any, currentInstall: CurrentInstall): void {
  const stack = client?.middlewareStack;
  if (stack === null || typeof stack !== 'object' || typeof stack.add !== 'function' || equipped.has(stack)) return;
  equipped.add(stack);
  stack.add(callMiddleware(client.config, currentInstall), { step: 'initialize', priority: 'high', name: CALL_MIDDLEWARE, override: true });
  stack.add(attemptMiddleware, { step: 'deserialize', priority: 'low', name: ATTEMPT_MIDDLEWARE, override: true });
  // A client with `cacheMiddleware` keeps resolved handlers: they predate ours.
  if (client.handlers !== undefined) delete client.handlers;
}

function wrapSend(hook: ActiveHook<AwsSdkOptions>, currentInstall: CurrentInstall) {
  return (original: (...args: any[]) => any) =>
    function send(this: unknown, command: unknown): any {
      if (!hook.enabled) return applyArgs(original, this, arguments);
      let config: unknown;
      try {
        equip(this, currentInstall);
        if (command !== null && typeof command === 'object') sending.add(command);
        config = (this as { config?: unknown }).config;
      } catch {
        // A client we cannot equip still sends.
      }
      const outer = sendingFor;
      sendingFor = config;
      try {
        return applyArgs(original, this, arguments);
      } finally {
        sendingFor = outer;
      }
    };
}

/** A `Client` class's `send`: its client gets our middlewares at the first call. */
export function patchClient(exports: any, { hook, wrap, current }: PatchContext<AwsSdkOptions, undefined>): void {
  const proto = exports?.Client?.prototype;
  if (proto !== undefined) wrap(proto, 'send', wrapSend(hook, current));
}
