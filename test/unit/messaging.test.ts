import assert from 'node:assert/strict';
import * as opentracing from 'opentracing';
import { storage } from '../../src/context';
import {
  extractBatchContexts,
  extractMessageContext,
  injectMessageContext,
  MAX_CONSUMER_REFERENCES,
  MessageSpanSpec,
  MessagingHookOptions,
  objectHeaders,
  runConsumer,
  startConsumer,
  startProducer,
  traceHandler,
  withTraceHeaders,
} from '../../src/cores/messaging';
import { ActiveHook } from '../../src/registry/define';
import { DbCall, redactedErrorCopy } from '../../src/cores/db-call';
import { loggedErrorText } from '../helpers/error-log';
import { RecordedSpan, RecordingContext, RecordingTracer, ThrowingTracer } from '../helpers/tracer';

const SPEC: MessageSpanSpec = { component: 'demo-mq', system: 'demo', operationName: 'demo.send orders', destination: 'orders', tags: { 'demo.partition': 3 } };

function traceparent(span: RecordedSpan): string {
  return `00-${span.traceId}-${span.id}-01`;
}

async function callerFrameMarker(fn: () => Promise<unknown>): Promise<unknown> {
  return await fn();
}

describe('messaging core', () => {
  let tracer: RecordingTracer;
  let hook: ActiveHook<MessagingHookOptions>;
  beforeEach(() => {
    tracer = new RecordingTracer();
    hook = new ActiveHook<MessagingHookOptions>('demo', {}, tracer);
  });

  describe('producer', () => {
    it('a producer span under the active span, with the messaging tags and the hook’s own', () => {
      const parent = tracer.startSpan('request') as RecordedSpan;
      const call = storage.run({ span: parent }, () => startProducer(hook, { ...SPEC, messageCount: 2 }));
      assert.ok(call !== undefined);
      call.succeed();
      call.succeed();
      const span = call.span as RecordedSpan;
      assert.equal(span.parentId, parent.id);
      assert.equal(span.operationName, 'demo.send orders');
      assert.deepEqual(span.tags, {
        'span.kind': 'producer',
        component: 'demo-mq',
        'messaging.system': 'demo',
        'message_bus.destination': 'orders',
        'messaging.batch.message_count': 2,
        'demo.partition': 3,
      });
      assert.equal(span.finishCount, 1);
    });

    it('kind client for a request; requireParent without a parent makes none', () => {
      const call = startProducer(hook, SPEC, { kind: 'client' });
      assert.equal((call?.span as RecordedSpan).tags['span.kind'], 'client');
      const strict = new ActiveHook<MessagingHookOptions>('demo', { requireParent: true }, tracer);
      assert.equal(startProducer(strict, SPEC), undefined);
    });

    it('injects through the setter, never over a header the app set', () => {
      const span = tracer.startSpan('send') as RecordedSpan;
      const set: Array<[string, string]> = [];
      assert.equal(injectMessageContext(hook, span, (name, value) => set.push([name, value])), true);
      assert.deepEqual(set, [['traceparent', traceparent(span)]]);
      set.length = 0;
      assert.equal(injectMessageContext(hook, span, (name, value) => set.push([name, value]), (name) => name === 'traceparent'), true);
      assert.deepEqual(set, []);
    });

    it('withTraceHeaders: a new object, the app’s untouched and winning, values encoded', () => {
      const span = tracer.startSpan('send') as RecordedSpan;
      const app = { 'app-id': Buffer.from('7') };
      const headers = withTraceHeaders(hook, span, app, (value) => Buffer.from(value));
      assert.ok(headers !== undefined);
      assert.notEqual(headers, app);
      assert.deepEqual(Object.keys(app), ['app-id']);
      assert.equal(headers['app-id'], app['app-id']);
      assert.equal(String(headers.traceparent), traceparent(span));
      const own = { traceparent: 'the app’s' };
      assert.equal(withTraceHeaders(hook, span, own)?.traceparent, 'the app’s');
      assert.deepEqual(withTraceHeaders(hook, span, undefined), { traceparent: traceparent(span) });
      assert.equal(withTraceHeaders(hook, span, 'not headers'), undefined);
    });

    it("the app's own trace header, in any case, keeps the rest of its format out (no tracestate of the tracer's beside the app's traceparent)", () => {
      tracer.injectAlso = { tracestate: 'ours=1', baggage: 'k=v' };
      const span = tracer.startSpan('send') as RecordedSpan;
      assert.deepEqual(withTraceHeaders(hook, span, { Traceparent: 'the app’s' }), { Traceparent: 'the app’s', baggage: 'k=v' });
      const set: string[] = [];
      assert.equal(injectMessageContext(hook, span, (name) => set.push(name), (name) => name === 'traceparent'), true);
      assert.deepEqual(set, ['baggage']);
    });

    it('a tracer whose inject throws: nothing is set', () => {
      const broken = new ActiveHook('demo', {}, new ThrowingTracer(['inject']));
      const span = tracer.startSpan('send');
      assert.equal(injectMessageContext(broken, span, () => assert.fail('set')), false);
      assert.equal(withTraceHeaders(broken, span, {}), undefined);
    });
  });

  describe('consumer', () => {
    it("a handler's error is logged as a server span logs an app's: a rethrown or wrapped database error as its span did, a quote of one, URL credentials left out; the library gets the app's own error", async () => {
      const dbError = Object.assign(new Error('duplicate key value violates unique constraint "consumer_email_key"'), { detail: 'Key (email)=(consumer-alice@example.com) already exists.' });
      new DbCall(tracer.startSpan('pg.query'), undefined, 'pg', (e) => redactedErrorCopy(e)).fail(dbError);
      const thrown = [
        dbError,
        new Error('could not store the order', { cause: dbError }),
        new Error(`db: ${dbError.detail}`),
        new Error('cannot reach postgres://app:s3cret@db/app'),
      ];
      for (const err of thrown) {
        const call = startConsumer(hook, SPEC, null)!;
        await assert.rejects(runConsumer(call, async () => { throw err; }, undefined, []), (e) => e === err);
      }
      const consumers = tracer.finished.filter((span) => span.operationName === SPEC.operationName);
      assert.equal(consumers.length, thrown.length);
      for (const span of consumers) {
        assert.equal(span.tags.error, true);
        assert.doesNotMatch(loggedErrorText(span), /consumer-alice|s3cret/);
      }
      assert.equal(dbError.detail, 'Key (email)=(consumer-alice@example.com) already exists.');
      assert.equal(thrown[3].message, 'cannot reach postgres://app:s3cret@db/app');
    });

    const producer = (): RecordedSpan => tracer.startSpan('send') as RecordedSpan;

    it('extracts from string, Buffer, byte-array and array values, through any reader', () => {
      const span = producer();
      const read = (headers: object): RecordingContext | null => extractMessageContext(hook, headers, objectHeaders) as RecordingContext | null;
      for (const value of [traceparent(span), Buffer.from(traceparent(span)), new TextEncoder().encode(traceparent(span)), [Buffer.from(traceparent(span))]]) {
        assert.equal(read({ traceparent: value, other: 7 })?.spanId, span.id);
      }
      const map = new Map([['traceparent', traceparent(span)]]);
      const fromMap = extractMessageContext(hook, map, (m: Map<string, string>, visit) => m.forEach((v, k) => visit(k, v))) as RecordingContext;
      assert.equal(fromMap.spanId, span.id);
      assert.equal(read({}), null);
      assert.equal(read({ traceparent: 'x'.repeat(9000) }), null);
      assert.equal(extractMessageContext(hook, undefined, objectHeaders), null);
      assert.equal(extractMessageContext(hook, {}, () => { throw new Error('unreadable'); }), null);
    });

    it('header names in any case (Go’s HeaderCarrier writes `Traceparent`); the first of a name with text wins', () => {
      const [span, other] = [producer(), producer()];
      const read = (headers: object): RecordingContext | null => extractMessageContext(hook, headers, objectHeaders) as RecordingContext | null;
      assert.equal(read({ Traceparent: traceparent(span) })?.spanId, span.id);
      assert.equal(read({ TRACEPARENT: Buffer.from(traceparent(span)), traceparent: traceparent(other) })?.spanId, span.id);
      assert.equal(read({ traceparent: traceparent(other), Traceparent: traceparent(span) })?.spanId, other.id);
      assert.equal(read({ Traceparent: 7, traceparent: traceparent(span) })?.spanId, span.id);
    });

    it('a consumer span follows from the producer, never from the context the library runs in', () => {
      const send = producer();
      const request = tracer.startSpan('request') as RecordedSpan;
      const call = storage.run({ span: request }, () => startConsumer(hook, SPEC, extractMessageContext(hook, { traceparent: traceparent(send) }, objectHeaders)));
      const span = call?.span as RecordedSpan;
      assert.equal(span.parentId, send.id);
      assert.equal(span.referenceType, 'followsFrom');
      assert.equal(span.tags['span.kind'], 'consumer');
      const orphan = storage.run({ span: request }, () => startConsumer(hook, SPEC, null))?.span as RecordedSpan;
      assert.equal(orphan.parentId, undefined);
      assert.notEqual(orphan.traceId, request.traceId);
      assert.equal(storage.run({ span: request, suppressed: true }, () => startConsumer(hook, SPEC, null)), undefined);
      const child = new ActiveHook<MessagingHookOptions>('demo', { consumerParent: 'childOf' }, tracer);
      assert.equal((startConsumer(child, SPEC, new RecordingContext(send.traceId, send.id))?.span as RecordedSpan).referenceType, 'childOf');
    });

    it('a batch: one reference per distinct producer context, in order, at most MAX_CONSUMER_REFERENCES', () => {
      const sends = Array.from({ length: MAX_CONSUMER_REFERENCES + 5 }, producer);
      const messages = [sends[0], sends[0], ...sends].map((s) => ({ headers: { traceparent: traceparent(s) } }));
      messages.splice(1, 0, { headers: { traceparent: 'invalid' } });
      const contexts = extractBatchContexts(hook, messages, (m) => m.headers, objectHeaders);
      assert.equal(contexts.length, MAX_CONSUMER_REFERENCES);
      assert.deepEqual(contexts.slice(0, 3).map((c) => c.toSpanId()), [sends[0].id, sends[1].id, sends[2].id]);
      const span = startConsumer(hook, SPEC, contexts)?.span as RecordedSpan;
      const refs = span.references;
      assert.equal(refs.length, MAX_CONSUMER_REFERENCES);
      assert.ok(refs.every((r) => r.type() === opentracing.REFERENCE_FOLLOWS_FROM));
    });

    it('the span is active in the handler and what it starts; same result; finished once', async () => {
      const call = startConsumer(hook, SPEC, null)!;
      const seen: unknown[] = [];
      const result = { same: true };
      const out = await runConsumer(call, async function (this: unknown, a: unknown) {
        seen.push(this, a, storage.getStore()?.span);
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(storage.getStore()?.span);
        return result;
      }, 'self', ['arg']);
      assert.equal(out, result);
      assert.deepEqual(seen, ['self', 'arg', call.span, call.span]);
      const sync = startConsumer(hook, SPEC, null)!;
      assert.equal(runConsumer(sync, () => 42, undefined, []), 42);
      await tracer.settle();
      assert.equal(tracer.finished.length, 2);
    });

    it('a handler that throws or rejects: error on the span, the very error to the library, async frames kept', async () => {
      const thrown = new Error('sync');
      const syncCall = startConsumer(hook, SPEC, null)!;
      assert.throws(() => runConsumer(syncCall, () => { throw thrown; }, undefined, []), (err) => err === thrown);
      assert.equal((syncCall.span as RecordedSpan).tags.error, true);

      let rejected: Error | undefined;
      const handler = async (): Promise<never> => {
        await new Promise((resolve) => setImmediate(resolve));
        throw (rejected = new Error('async'));
      };
      let untraced: unknown;
      await callerFrameMarker(handler).catch((err: unknown) => (untraced = (err as Error).stack));
      const asyncCall = startConsumer(hook, SPEC, null)!;
      let caught: unknown;
      try {
        await callerFrameMarker(() => runConsumer(asyncCall, handler, undefined, []));
      } catch (err) {
        caught = err;
      }
      assert.equal(caught, rejected);
      assert.equal(String(untraced).includes('callerFrameMarker'), true);
      assert.ok(String((caught as Error).stack).includes('callerFrameMarker'), String((caught as Error).stack));
      const span = asyncCall.span as RecordedSpan;
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields['error.object'], rejected);
      await tracer.settle();
    });

    it("outcomeOf: an error it names is no failure (its tags, no error); one it cannot read is a failure; the span finishes once", async () => {
      const moved = new Error('moved');
      const unreadable = new Proxy(new Error('x'), { get: () => { throw new Error('trap'); } });
      const outcomeOf = (err: unknown): Record<string, unknown> | undefined => ((err as Error).message === 'moved' ? { 'demo.moved': 'later' } : undefined);
      const first = startConsumer(hook, SPEC, null, outcomeOf)!;
      await assert.rejects(Promise.resolve(runConsumer(first, () => Promise.reject(moved), undefined, [])));
      const second = startConsumer(hook, SPEC, null, outcomeOf)!;
      let rejected: unknown;
      await Promise.resolve(runConsumer(second, () => Promise.reject(unreadable), undefined, [])).catch((e: unknown) => {
        rejected = e;
      });
      assert.equal(rejected, unreadable, 'the very error reaches the library');
      const [a, b] = [first.span, second.span] as RecordedSpan[];
      assert.deepEqual([a.tags['demo.moved'], a.tags.error], ['later', undefined]);
      assert.equal(b.tags.error, true);
      await tracer.settle();
    });

    it('traceHandler runs the handler as it is when no span is made', () => {
      const off = new ActiveHook<MessagingHookOptions>('demo', {}, new ThrowingTracer(['startSpan']));
      assert.equal(traceHandler(off, SPEC, null, (x: number) => x + 1, undefined, [1]), 2);
      assert.equal(traceHandler(hook, SPEC, null, () => storage.getStore()?.span !== undefined, undefined, []), true);
    });
  });
});
