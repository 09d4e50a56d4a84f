/**
 * The app's own spans (`traceFunction`, `startActiveSpan`): what the broader controls test
 * (test/hooks/controls.test.ts) does not cover.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { currentSpan, installPatches, startActiveSpan, suppressTracing, traceFunction, uninstallAllPatches, withSpan } from '../../src';
import { getReply, startServer, TestServer } from '../helpers/servers';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import type { Span } from 'opentracing';
import { DbCall, redactedErrorCopy } from '../../src/cores/db-call';
import { loggedErrorText } from '../helpers/error-log';

describe('a faulty tracer under startActiveSpan and traceFunction', () => {
  it('is reported once for each kind of fault, whatever the span names (no memory kept per name)', () => {
    const src = path.join(__dirname, '..', '..', 'src');
    const helpers = path.join(__dirname, '..', 'helpers', 'tracer');
    const code = `
      const opentracing = require('opentracing');
      const { startActiveSpan, traceFunction, withSpan } = require(${JSON.stringify(src)});
      const { RecordingTracer } = require(${JSON.stringify(helpers)});
      class Throwing extends opentracing.Tracer { _startSpan() { throw new Error('tracer down'); } }
      const throwing = new Throwing();
      const recording = new RecordingTracer();
      const parent = recording.startSpan('request');
      for (let i = 0; i < 5; i++) {
        startActiveSpan('job ' + i, { tracer: throwing }, () => i);
        withSpan(parent, () => traceFunction('step ' + i, () => i, { tracer: throwing })());
        withSpan(parent, () => traceFunction('hooked ' + i, () => i, { tracer: recording, onStart: () => { throw new Error('onStart'); } })());
      }
      console.log(recording.finished.length);`;
    const result = spawnSync(process.execPath, ['-e', code], {
      cwd: path.join(__dirname, '..', '..', '..'),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DEBUG: 'opentracing-client-hooks' },
      encoding: 'utf8',
      timeout: 30000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), '5', 'the spans of the working tracer were made');
    const faults = result.stderr.split('\n').filter((line) => line.includes('fault in'));
    assert.deepEqual(
      faults.map((line) => line.replace(/^.*fault in (.*) \(reported once\).*$/, '$1')).sort(),
      ['startActiveSpan: tracer.startSpan', 'traceFunction onStart: user hook', 'traceFunction: tracer.startSpan'],
    );
  });
});

describe('traceFunction called with new', () => {
  function Point(this: { x: number }, x: number): void {
    this.x = x;
  }
  Point.prototype.norm = function (this: { x: number }): number {
    return Math.abs(this.x);
  };
  class Box {
    constructor(readonly w: number) {}
    area(): number {
      return this.w * this.w;
    }
  }
  class Later extends Promise<number> {}

  for (const [where, run] of [
    ['in a span (a child span is made)', (fn: () => void) => withSpan(new RecordingTracer().startSpan('request'), fn)],
    ['outside any span (no span)', (fn: () => void) => fn()],
  ] as const) {
    it(`constructs as the function does, ${where}: a constructor function, a class, a subclass of the traced class`, () => {
      const tracer = new RecordingTracer();
      const TPoint = traceFunction('Point', Point as unknown as (x: number) => void, { tracer }) as unknown as new (x: number) => { x: number; norm(): number };
      const TBox = traceFunction('Box', Box as unknown as (w: number) => Box, { tracer }) as unknown as typeof Box;
      const TLater = traceFunction('Later', Later as unknown as () => Later, { tracer }) as unknown as typeof Later;
      class Cube extends TBox {
        volume(): number {
          return this.area() * this.w;
        }
      }
      run(() => {
        const point = new TPoint(-3);
        assert.ok(point instanceof Point);
        assert.ok(point instanceof TPoint);
        assert.equal(point.norm(), 3);
        const box = new TBox(2);
        assert.ok(box instanceof Box);
        assert.equal(box.area(), 4);
        assert.equal(new Cube(2).volume(), 8);
        let resolveLater: (n: number) => void = () => undefined;
        const later = new TLater((resolve) => (resolveLater = resolve));
        assert.ok(later instanceof Later, 'the very object made, not a promise chained on it');
        resolveLater(1);
        const self = { x: 0 };
        assert.equal((TPoint as unknown as (this: { x: number }, x: number) => void).call(self, 5), undefined);
        assert.equal(self.x, 5, 'a plain call still gets its this');
      });
      assert.deepEqual(
        tracer.finished.map((s) => s.operationName),
        where.startsWith('in') ? ['Point', 'Box', 'Box', 'Later', 'Point'] : [],
      );
    });
  }

  it('a function that is no constructor throws under new as it does untraced', () => {
    const arrow = (): number => 1;
    const traced = traceFunction('arrow', arrow) as unknown as new () => unknown;
    assert.throws(() => new traced(), TypeError);
  });
});

describe('startActiveSpan under suppressTracing', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });
  afterEach(() => uninstallAllPatches());

  it('makes no span, and all that runs under it stays suppressed: hook calls, traceFunction, startActiveSpan, withSpan', async () => {
    const tracer = new RecordingTracer();
    installPatches(['http'], { tracer });
    const request = tracer.startSpan('request');
    const traced = traceFunction('traced', () => 1, { requireParent: false });
    const result = await withSpan(request, () =>
      suppressTracing(() =>
        startActiveSpan('export-batch', {}, async (span) => {
          assert.ok(!(span instanceof RecordedSpan), 'a no-op span');
          assert.equal(currentSpan(), request, 'the context is the one it was called in');
          assert.equal(traced(), 1);
          startActiveSpan('root', { ignoreActiveSpan: true }, () => undefined);
          await getReply(`${server.url}/under-startActiveSpan`);
          await withSpan(request, () => startActiveSpan('nested', {}, () => getReply(`${server.url}/under-withSpan`)));
          return 'exported';
        }),
      ),
    );
    assert.equal(result, 'exported');
    assert.deepEqual(server.received.map((r) => [r.url, r.headers.traceparent]), [['/under-startActiveSpan', undefined], ['/under-withSpan', undefined]]);
    assert.deepEqual(tracer.started.map((s) => s.operationName), ['request']);
  });
});

describe('an error thrown in a local span', () => {
  it('is logged without the URL credentials in its message and stack; the caller gets it unchanged', async () => {
    const tracer = new RecordingTracer();
    const err = new Error('cannot reach postgres://app:s3cret@db/app');
    assert.throws(() => startActiveSpan('sync job', { tracer }, () => { throw err; }), (e) => e === err);
    await assert.rejects(traceFunction('async job', async () => { throw err; }, { tracer, requireParent: false })(), (e) => e === err);
    assert.equal(tracer.finished.length, 2);
    for (const span of tracer.finished) {
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields.message, 'cannot reach postgres://db/app');
      assert.doesNotMatch(JSON.stringify(span.logs.map((l) => [l.fields.message, l.fields.stack, (l.fields['error.object'] as Error)?.message])), /s3cret/);
    }
    assert.equal(err.message, 'cannot reach postgres://app:s3cret@db/app');
  });
});

describe('an error wrapping a database error, thrown in a local span', () => {
  /** A pg-like error a database span failed with: its span logged a copy with the echoed value left out. */
  function failedDbError(tracer: RecordingTracer, under?: Span): Error & { detail: string } {
    const dbError = Object.assign(new Error('duplicate key value violates unique constraint "users_email_key"'), { detail: 'Key (email)=(alice@example.com) already exists.' });
    const call = new DbCall(tracer.startSpan('pg.query', { childOf: under }), undefined, 'pg', (e) => redactedErrorCopy(e));
    call.fail(dbError);
    return dbError;
  }

  it('logs each `cause` that a database span logged as that copy, a bounded number deep; the caller gets it unchanged', async () => {
    const tracer = new RecordingTracer();
    const dbError = failedDbError(tracer);
    const wrapped = new Error('could not create user', { cause: dbError });
    const deep = new Error('1', { cause: new Error('2', { cause: new Error('3', { cause: wrapped }) }) });
    for (const err of [wrapped, deep]) {
      await assert.rejects(traceFunction('job', async () => { throw err; }, { tracer, requireParent: false })(), (e) => e === err);
    }
    const [, first, second] = tracer.finished;
    const cause = (first.errorLog()?.fields['error.object'] as Error).cause as Error & { detail: string };
    assert.equal(cause.message, 'duplicate key value violates unique constraint "?"');
    assert.equal(cause.detail, 'Key (email)=(?) already exists.');
    assert.doesNotMatch(loggedErrorText(first), /alice/);
    // Three causes deep at most: `wrapped` is the last, without its own cause.
    const third = (((second.errorLog()?.fields['error.object'] as Error).cause as Error).cause as Error).cause as Error;
    assert.equal(third.message, 'could not create user');
    assert.equal(third.cause, undefined);
    assert.doesNotMatch(loggedErrorText(second), /alice/);
    assert.equal(wrapped.cause, dbError);
    assert.equal(dbError.detail, 'Key (email)=(alice@example.com) already exists.');
  });

  it('logs an error of the app\'s own that quotes a recent database error (here one that failed in a span inside it), with the database span\'s texts', async () => {
    const tracer = new RecordingTracer();
    let dbError: (Error & { detail: string }) | undefined;
    let err: Error | undefined;
    await assert.rejects(
      startActiveSpan('request', { tracer }, async () => {
        await traceFunction('createUser', async () => {
          dbError = failedDbError(tracer, currentSpan());
        })();
        err = new Error(`db: ${dbError!.detail}, 4711`);
        throw err;
      }),
      (e) => e === err,
    );
    const request = tracer.finished[tracer.finished.length - 1];
    assert.equal(request.operationName, 'request');
    assert.equal(request.errorLog()?.fields.message, 'db: Key (email)=(?) already exists., 4711');
    assert.doesNotMatch(loggedErrorText(request), /alice/);
    assert.equal(err!.message, 'db: Key (email)=(alice@example.com) already exists., 4711');
  });

  it('logs a quote of a database error that failed elsewhere (another request) redacted too, of the latest 32 such texts', async () => {
    const tracer = new RecordingTracer();
    const quoteOf = async (detail: string): Promise<unknown> => {
      await assert.rejects(traceFunction('job', async () => { throw new Error(`db: ${detail}`); }, { tracer, requireParent: false })());
      return tracer.finished[tracer.finished.length - 1].errorLog()?.fields.message;
    };
    // Values of this test's own: other tests' database errors (in the same process) are among the latest texts too.
    const first = failedDbError(tracer);
    Object.assign(first, { message: 'duplicate key value violates unique constraint "ring_first_key"', detail: 'Key (email)=(ring-first@example.com) already exists.' });
    new DbCall(tracer.startSpan('pg.query'), undefined, 'pg', (e) => redactedErrorCopy(e)).fail(first);
    assert.equal(await quoteOf(first.detail), 'db: Key (email)=(?) already exists.');
    // 32 texts later (a message and a detail each), the first error's are no longer known.
    for (let i = 0; i < 16; i++) {
      const other = failedDbError(tracer);
      Object.assign(other, { message: `duplicate key value violates unique constraint "ring_${i}_key"`, detail: `Key (email)=(ring-${i}@example.com) already exists.` });
      new DbCall(tracer.startSpan('pg.query'), undefined, 'pg', (e) => redactedErrorCopy(e)).fail(other);
    }
    assert.equal(await quoteOf('Key (email)=(ring-15@example.com) already exists.'), 'db: Key (email)=(?) already exists.');
    assert.equal(await quoteOf(first.detail), 'db: Key (email)=(ring-first@example.com) already exists.');
    // A text failed with again is the latest again: older ones leave the ring first.
    const failWith = (message: string, detail: string): void => new DbCall(tracer.startSpan('pg.query'), undefined, 'pg', (e) => redactedErrorCopy(e)).fail(Object.assign(new Error(message), { detail }));
    const second = ['duplicate key value violates unique constraint "ring_second_key"', 'Key (email)=(ring-second@example.com) already exists.'] as const;
    failWith(...second);
    for (let i = 0; i < 14; i++) failWith(`duplicate key value violates unique constraint "ring_older_${i}_key"`, `Key (email)=(older-${i}@example.com) already exists.`);
    failWith(...second);
    for (let i = 0; i < 2; i++) failWith(`duplicate key value violates unique constraint "ring_newer_${i}_key"`, `Key (email)=(newer-${i}@example.com) already exists.`);
    assert.equal(await quoteOf(second[1]), 'db: Key (email)=(?) already exists.');
  });

  it('calls no getter of the app\'s error, and logs a copy without them (a `cause` one, one that throws)', () => {
    const tracer = new RecordingTracer();
    const dbError = failedDbError(tracer);
    let reads = 0;
    const err = new Error('could not create user');
    Object.defineProperty(err, 'cause', {
      get() {
        reads++;
        throw new Error('no');
      },
    });
    Object.defineProperty(err, 'original', { get: () => (reads++, dbError) });
    assert.throws(() => startActiveSpan('job', { tracer }, () => { throw err; }), (e) => e === err);
    assert.equal(reads, 0);
    const span = tracer.finished[1];
    assert.equal(span.errorLog()?.fields.message, 'could not create user');
    assert.doesNotMatch(loggedErrorText(span), /alice/);
  });
});
