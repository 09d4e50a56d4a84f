/**
 * kafkajs span logic (declared in ../hooks/kafkajs), for kafkajs 2.x, on the messaging core.
 *
 * Producer: every producer that `Kafka.prototype.producer` makes gets its `send`, `sendBatch` and
 * `transaction` (whose `send`/`sendBatch` likewise) wrapped once, in place; those wrappers answer to the
 * current install (they pass through when there is none). One `producer` span per call under the active
 * span, finished when kafkajs settles the call; each message is sent as a copy whose headers carry the
 * trace (a header the app set wins; the app's record, messages and headers are never written).
 * `sendBatch` to one topic is named like `send`; to several, `kafka.send` with the topics in `kafka.topics`.
 *
 * Consumer: kafkajs' Runner (shared by every consumer) calls the app's `eachMessage`/`eachBatch` through
 * `processEachMessage`/`processEachBatch`; there the runner's handler is replaced once by one that runs
 * it in a `consumer` span: per message, following from the producer's context in its headers; per
 * batch, with a reference to each distinct producer context among its messages (at most
 * MAX_CONSUMER_REFERENCES). `Runner.prototype.start` runs outside any request: the fetch loop,
 * heartbeats and commits it starts never carry a request's context; so does each broker connection's
 * `connect`, whose socket delivers responses and kafkajs' network events.
 */
import type { Span } from 'opentracing';
import type { ActiveHook, PatchContext } from '../registry/define';
import { DbCall, detached, redactedErrorCopy, redactErrorText } from '../cores/db-call';
import { extractBatchContexts, extractMessageContext, MessageSpanSpec, objectHeaders, startProducer, traceHandler, withTraceHeaders } from '../cores/messaging';
import { clientParent } from '../spans';
import type { TagMap } from '../spans';
import type { KafkajsOptions } from '../options/kafkajs';
import { applyArgs } from '../apply-args';
import { ownCopy } from '../own-copy';

type AnyFunction = (...args: any[]) => any;

const COMPONENT = 'kafkajs';
const SYSTEM = 'kafka';

/** Marks a function of ours put on a kafkajs object, so that it is never wrapped twice. */
const kTraced = Symbol('opentracing-client-hooks.kafkajs');

/** The registry's lookup of the hook's current install (`ctx.current`), kept from the first patch. */
let currentInstall: (() => ActiveHook<KafkajsOptions> | undefined) | undefined;

/** The install the wrappers left on kafkajs objects answer to now; undefined when there is none. */
function current(): ActiveHook<KafkajsOptions> | undefined {
  const hook = currentInstall?.();
  return hook !== undefined && hook.enabled ? hook : undefined;
}

function markTraced<F extends AnyFunction>(fn: F): F {
  Object.defineProperty(fn, kTraced, { value: true });
  return fn;
}

function isTraced(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { [kTraced]?: true })[kTraced] === true;
}

/** Replaces `target[name]` (a function kafkajs made for this object) by `wrap(it)`, once. */
function replaceOnce(target: Record<string, unknown>, name: string, wrap: (original: AnyFunction) => AnyFunction): void {
  const original = target[name];
  if (typeof original !== 'function' || isTraced(original)) return;
  target[name] = markTraced(wrap(original as AnyFunction));
}

// ---- producer -------------------------------------------------------------------------------------

interface TopicMessages {
  topic?: unknown;
  messages?: unknown;
}

/** The caller's record, copied (each property read once); what is left to do once the span exists. */
interface PreparedSend {
  spec: MessageSpanSpec;
  /** The record to send, messages copied; `inject` completes it. */
  record: Record<string, unknown>;
  inject(hook: ActiveHook, call: { span: Span }): void;
  /** The first message (a copy) of each topic: one of them is first in the first produce request to a broker. */
  firsts: object[];
}

/** A traced send whose span has no broker yet. */
interface SendPeer {
  readonly hook: ActiveHook<KafkajsOptions>;
  readonly call: DbCall;
  added: boolean;
}

/**
 * The send a message copy of ours belongs to (each topic's first), for the broker a produce request takes
 * it to: kafkajs groups the copies by partition leader, and hands each broker its own produce request.
 */
const sendOfMessage = new WeakMap<object, SendPeer>();

/** What kafkajs reads of a message, of a `send` record, of a `sendBatch` record and of one of its topics, in its order. */
const MESSAGE_FIELDS = ['key', 'value', 'partition', 'headers', 'timestamp'];
const SEND_FIELDS = ['acks', 'timeout', 'compression', 'topic', 'messages'];
const BATCH_FIELDS = ['acks', 'timeout', 'compression', 'topicMessages'];
const TOPIC_FIELDS = ['topic', 'messages'];

/**
 * A record's (or a topic entry's) `fields`, each read once, as kafkajs destructures them: it reads nothing
 * else of it (a message, which it spreads, is copied whole by `copyOf`).
 */
function pick(source: object, fields: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const field of fields) {
    const value = (source as Record<string, unknown>)[field];
    if (value !== undefined) copy[field] = value;
  }
  return copy;
}

/**
 * `source`'s own properties, as a spread copies them, and those of `fields` that it inherits (a class's
 * getter, which kafkajs reads as well), each read once. The inherited ones are not enumerable, as on
 * `source`: what kafkajs quotes of a message it refuses (`JSON.stringify`) is what it would quote of the app's.
 */
function copyOf(source: object, fields: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = ownCopy(source);
  for (const field of fields) {
    if (!Object.prototype.hasOwnProperty.call(copy, field) && field in source) {
      Object.defineProperty(copy, field, { value: (source as Record<string, unknown>)[field], writable: true, configurable: true, enumerable: false });
    }
  }
  return copy;
}

/** Copies of `messages` (each read once), or undefined when they are not an array of objects. */
function copyMessages(messages: unknown): Array<Record<string, unknown>> | undefined {
  if (!Array.isArray(messages)) return undefined;
  const copies: Array<Record<string, unknown>> = [];
  for (const message of messages) {
    if (message === null || typeof message !== 'object') return undefined;
    copies.push(copyOf(message as object, MESSAGE_FIELDS));
  }
  return copies;
}

/** Puts the trace headers on each (copied) message. */
function injectAll(hook: ActiveHook, span: Span, messages: Array<Record<string, unknown>>): void {
  for (const message of messages) {
    // kafkajs refuses the send quoting this message as the app wrote it: no header goes into the quote.
    if (message.value === undefined) continue;
    const headers = withTraceHeaders(hook, span, message.headers);
    if (headers !== undefined) message.headers = headers;
  }
}

function sendSpec(topics: string[], messageCount: number): MessageSpanSpec {
  const tags: TagMap = {};
  if (topics.length > 1) tags['kafka.topics'] = topics.join(',');
  return {
    component: COMPONENT,
    system: SYSTEM,
    operationName: topics.length === 1 ? `kafka.send ${topics[0]}` : 'kafka.send',
    destination: topics.length === 1 ? topics[0] : undefined,
    messageCount,
    tags,
  };
}

/** `send({ topic, messages, ... })`. */
function prepareSend(arg: unknown): PreparedSend | undefined {
  if (arg === null || typeof arg !== 'object') return undefined;
  const record = pick(arg, SEND_FIELDS);
  const messages = copyMessages(record.messages);
  if (messages === undefined || typeof record.topic !== 'string') return undefined;
  record.messages = messages;
  return { spec: sendSpec([record.topic], messages.length), record, inject: (hook, call) => injectAll(hook, call.span, messages), firsts: messages.slice(0, 1) };
}

/** `sendBatch({ topicMessages: [{ topic, messages }], ... })`. */
function prepareSendBatch(arg: unknown): PreparedSend | undefined {
  if (arg === null || typeof arg !== 'object') return undefined;
  const record = pick(arg, BATCH_FIELDS);
  if (!Array.isArray(record.topicMessages)) return undefined;
  const topics: string[] = [];
  const all: Array<Record<string, unknown>> = [];
  const firsts: object[] = [];
  const topicMessages: TopicMessages[] = [];
  for (const entry of record.topicMessages as unknown[]) {
    if (entry === null || typeof entry !== 'object') return undefined;
    const copy: TopicMessages = pick(entry, TOPIC_FIELDS);
    const messages = copyMessages(copy.messages);
    if (messages === undefined || typeof copy.topic !== 'string') return undefined;
    copy.messages = messages;
    if (!topics.includes(copy.topic)) topics.push(copy.topic);
    if (messages.length > 0) firsts.push(messages[0]);
    all.push(...messages);
    topicMessages.push(copy);
  }
  record.topicMessages = topicMessages;
  return { spec: sendSpec(topics.sort(), all.length), record, inject: (hook, call) => injectAll(hook, call.span, all), firsts };
}

/**
 * kafkajs quotes a message it refuses as JSON (`…for topic "t": {"key":…}`), a Buffer as its bytes: the
 * span logs the error with quoted values redacted and any such object cut out whole.
 */
function redactedKafkaError(err: unknown): unknown {
  return redactedErrorCopy(err, (text) => redactErrorText(text).replace(/\{.*\}/g, '{?}'));
}

function wrapSend(prepare: (arg: unknown) => PreparedSend | undefined) {
  return (original: AnyFunction) =>
    function send(this: unknown): unknown {
      const hook = current();
      // No span to make (requireParent, no tracer...): the record is not read here at all.
      if (hook === undefined || clientParent(hook) === undefined) return applyArgs(original, this, arguments);
      let prepared: PreparedSend | undefined;
      try {
        prepared = prepare(arguments[0]);
      } catch {
        // Input kafkajs will reject (or read) itself: sent as it is.
        prepared = undefined;
      }
      if (prepared === undefined) return applyArgs(original, this, arguments);
      const args: unknown[] = Array.prototype.slice.call(arguments);
      // The copies from now on: what they hold has been read once already.
      args[0] = prepared.record;
      // kafkajs's errors can quote a message (its key, its headers): the span logs them redacted.
      const call = startProducer(hook, prepared.spec, { loggedError: redactedKafkaError });
      if (call === undefined) return Reflect.apply(original, this, args);
      try {
        prepared.inject(hook, call);
      } catch {
        // Headers that cannot be copied: the message goes without them.
      }
      const peer: SendPeer = { hook, call, added: false };
      for (const message of prepared.firsts) sendOfMessage.set(message, peer);
      return call.invokeAndChain(original, this, args);
    };
}

/** A transaction's `send`/`sendBatch` are traced like the producer's. */
function wrapTransaction(original: AnyFunction): AnyFunction {
  return function transaction(this: unknown): unknown {
    const result = applyArgs(original, this, arguments);
    if (result === null || typeof result !== 'object' || typeof (result as PromiseLike<unknown>).then !== 'function') return result;
    return (result as PromiseLike<unknown>).then((txn) => {
      if (txn !== null && typeof txn === 'object') traceProducer(txn as Record<string, unknown>);
      return txn;
    });
  };
}

function traceProducer(producer: Record<string, unknown>): void {
  replaceOnce(producer, 'send', wrapSend(prepareSend));
  replaceOnce(producer, 'sendBatch', wrapSend(prepareSendBatch));
}

function wrapProducerFactory(original: AnyFunction): AnyFunction {
  return function producer(this: unknown): unknown {
    const made = applyArgs(original, this, arguments);
    if (current() !== undefined && made !== null && typeof made === 'object') {
      try {
        traceProducer(made as Record<string, unknown>);
        replaceOnce(made as Record<string, unknown>, 'transaction', wrapTransaction);
      } catch {
        // A producer object we cannot change stays untraced.
      }
    }
    return made;
  };
}

// ---- consumer -------------------------------------------------------------------------------------

interface KafkaMessage {
  headers?: unknown;
  offset?: unknown;
}

interface RunnerLike {
  eachMessage?: unknown;
  eachBatch?: unknown;
  consumerGroup?: { groupId?: unknown };
}

function processSpec(runner: RunnerLike, topic: unknown, partition: unknown, tags: TagMap): MessageSpanSpec {
  const groupId = runner.consumerGroup?.groupId;
  if (typeof partition === 'number') tags['kafka.partition'] = partition;
  if (typeof groupId === 'string') tags['kafka.consumer_group'] = groupId;
  const name = typeof topic === 'string' ? topic : '';
  return { component: COMPONENT, system: SYSTEM, operationName: `kafka.process ${name}`, destination: name, tags };
}

/** `eachMessage({ topic, partition, message, ... })` in a span per message. */
function traceEachMessage(runner: RunnerLike, handler: AnyFunction): AnyFunction {
  return function eachMessage(this: unknown, payload: { topic?: unknown; partition?: unknown; message?: KafkaMessage } | null): unknown {
    const hook = current();
    if (hook === undefined || payload == null || payload.message == null || typeof payload.message !== 'object') {
      return applyArgs(handler, this, arguments);
    }
    const message = payload.message;
    const tags: TagMap = {};
    if (typeof message.offset === 'string') tags['kafka.offset'] = message.offset;
    const spec = processSpec(runner, payload.topic, payload.partition, tags);
    return traceHandler(hook, spec, extractMessageContext(hook, message.headers, objectHeaders), handler, this, arguments);
  };
}

/** `eachBatch({ batch, ... })` in a span per batch, referring to its messages' producers. */
function traceEachBatch(runner: RunnerLike, handler: AnyFunction): AnyFunction {
  return function eachBatch(this: unknown, payload: { batch?: { topic?: unknown; partition?: unknown; messages?: unknown } } | null): unknown {
    const hook = current();
    const batch = payload?.batch;
    if (hook === undefined || batch == null || typeof batch !== 'object' || !Array.isArray(batch.messages)) {
      return applyArgs(handler, this, arguments);
    }
    const messages = batch.messages as KafkaMessage[];
    const spec = processSpec(runner, batch.topic, batch.partition, {});
    spec.messageCount = messages.length;
    const contexts = extractBatchContexts(hook, messages, (message) => message?.headers, objectHeaders);
    return traceHandler(hook, spec, contexts, handler, this, arguments);
  };
}

/** Puts the traced handler on the runner once (kafkajs calls `this.eachMessage`/`this.eachBatch`). */
function wrapProcess(field: 'eachMessage' | 'eachBatch', trace: (runner: RunnerLike, handler: AnyFunction) => AnyFunction) {
  return (original: AnyFunction) =>
    function processTraced(this: RunnerLike): unknown {
      if (current() !== undefined && this !== null && typeof this === 'object') {
        replaceOnce(this as Record<string, unknown>, field, (handler) => trace(this, handler));
      }
      return applyArgs(original, this, arguments);
    };
}

/**
 * kafkajs' own work, run outside whatever request called it: the consumer's fetch loop, heartbeats and
 * commits (`Runner.start`, which `run` calls), and each broker connection (`Connection.connect`, which
 * `connect()`, a send to a broker not yet connected and a reconnect call), whose socket delivers every
 * response after it: the network events kafkajs emits from there (`*.network.request`...) reach the app's
 * listeners outside any request, never in that of the request that connected.
 */
function wrapDetached(original: AnyFunction): AnyFunction {
  return function ownWork(this: unknown): unknown {
    if (current() === undefined) return applyArgs(original, this, arguments);
    const args = arguments;
    return detached(() => applyArgs(original, this, args));
  };
}

interface BrokerLike {
  connectionPool?: { host?: unknown; port?: unknown };
}

/**
 * The broker of a traced send's first produce request (a send whose partitions have several leaders
 * goes to several): its host and port become the span's peer tags, and `peerService` names it.
 */
function notePeer(broker: BrokerLike, request: unknown): void {
  const topicData = (request as { topicData?: unknown } | null)?.topicData;
  if (!Array.isArray(topicData)) return;
  for (const topic of topicData as Array<{ partitions?: unknown }>) {
    if (!Array.isArray(topic?.partitions)) continue;
    for (const partition of topic.partitions as Array<{ messages?: unknown }>) {
      const first: unknown = Array.isArray(partition?.messages) ? partition.messages[0] : undefined;
      const peer = first !== null && typeof first === 'object' ? sendOfMessage.get(first) : undefined;
      if (peer === undefined || peer.added) continue;
      peer.added = true;
      const { host, port } = broker.connectionPool ?? {};
      if (typeof host === 'string') peer.call.addPeer(peer.hook.options.peerService, { host, port: Number.isInteger(Number(port)) ? Number(port) : undefined });
      return;
    }
  }
}

function wrapProduce(original: AnyFunction): AnyFunction {
  return function produce(this: BrokerLike, request: unknown): unknown {
    if (current() !== undefined && this !== null && typeof this === 'object') {
      try {
        notePeer(this, request);
      } catch {
        // A request we cannot read: the span has no broker.
      }
    }
    return applyArgs(original, this, arguments);
  };
}

/** `src` (its index: the Kafka class itself), which the entry requires: an ES-module import of kafkajs loads it through require too. */
export function patchKafka(Kafka: any, { wrap, current: lookup }: PatchContext<KafkajsOptions, undefined>): void {
  currentInstall = lookup;
  wrap(Kafka?.prototype, 'producer', wrapProducerFactory);
}

export function patchRunner(Runner: any, { wrap, current: lookup }: PatchContext<KafkajsOptions, undefined>): void {
  currentInstall = lookup;
  wrap(Runner.prototype, 'processEachMessage', wrapProcess('eachMessage', traceEachMessage));
  wrap(Runner.prototype, 'processEachBatch', wrapProcess('eachBatch', traceEachBatch));
  wrap(Runner.prototype, 'start', wrapDetached);
}

export function patchBroker(Broker: any, { wrap, current: lookup }: PatchContext<KafkajsOptions, undefined>): void {
  currentInstall = lookup;
  wrap(Broker?.prototype, 'produce', wrapProduce);
}

export function patchConnection(Connection: any, { wrap, current: lookup }: PatchContext<KafkajsOptions, undefined>): void {
  currentInstall = lookup;
  wrap(Connection?.prototype, 'connect', wrapDetached);
}
