/**
 * Log correlation (pino 8–10, winston 3, bunyan 1 and 2), with real loggers writing to streams: the ids of
 * the active span in every line logged inside it, nothing outside, the app's own fields and output as
 * before, under concurrent requests each line naming its own request's trace.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { currentTraceIds, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { createTracerFromEnv } from '../../src/tracer';
import { coexistRun } from '../helpers/coexist';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { AppLogger, LineSink, LOG_DRIVERS, pinoDriver, bunyanDriver, winstonDriver } from '../helpers/log-drivers';

 

function strip(record: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const copy = { ...record };
  for (const key of keys) delete copy[key];
  return copy;
}

for (const driver of LOG_DRIVERS) {
  describe(`log correlation: ${driver.name}`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    const install = (config: Parameters<typeof installPatches>[1] = {}): void =>
      installPatches([driver.hook], { aliases: driver.aliases, tracer, ...config });

    beforeEach(() => {
      uninstallAllPatches();
      tracer.reset();
    });
    after(() => uninstallAllPatches());

    it('a line logged inside a span names its trace and span; outside a span, nothing is added', async () => {
      install();
      const sink = new LineSink();
      const logger = driver.make(sink);
      const span = tracer.startSpan('request') as RecordedSpan;
      withSpan(span, () => logger.info({ order: 7 }, 'inside'));
      logger.info({ order: 8 }, 'outside');
      await sink.until(2);
      const [inside, outside] = sink.json();
      assert.equal(inside.trace_id, span.traceId);
      assert.equal(inside.span_id, span.id);
      assert.equal(inside.order, 7);
      assert.ok(!('trace_id' in outside) && !('span_id' in outside) && !('trace_flags' in outside), JSON.stringify(outside));
      // The recording tracer's context says nothing of sampling: no trace_flags.
      assert.ok(!('trace_flags' in inside));
    });

    it('the output is what it was untraced, besides the added fields (fields, mixins/formats, child loggers)', async () => {
      const run = async (): Promise<Array<Record<string, unknown>>> => {
        const sink = new LineSink();
        const logger = driver.make(sink);
        const span = tracer.startSpan('request') as RecordedSpan;
        withSpan(span, () => {
          logger.info({ user: 'u1', nested: { a: [1, 2] } }, 'first');
          logger.info(undefined, 'bare');
          logger.child({ component: 'db' }).info({ rows: 3 }, 'child');
        });
        await sink.until(3);
        return sink.json().map((r) => strip(r, [...driver.volatile, 'trace_id', 'span_id', 'trace_flags']));
      };
      const untraced = await run();
      install();
      const traced = await run();
      assert.deepEqual(traced, untraced);
    });

    it('never overwrites a field the app set itself (in the call, or bound on a child logger)', async () => {
      install();
      const sink = new LineSink();
      const logger = driver.make(sink);
      const span = tracer.startSpan('request') as RecordedSpan;
      withSpan(span, () => {
        logger.info({ trace_id: 'mine' }, 'own field');
        logger.child({ span_id: 'bound' }).info(undefined, 'bound field');
      });
      await sink.until(2);
      const [own, bound] = sink.json();
      assert.equal(own.trace_id, 'mine');
      assert.equal(own.span_id, span.id);
      assert.equal(bound.span_id, 'bound');
      assert.equal(bound.trace_id, span.traceId);
      // One of each key in the line itself (no duplicate key hidden by JSON.parse).
      assert.equal(sink.lines[1].split('"span_id"').length, 2, sink.lines[1]);
    });

    it('logKeys renames the fields (top level and per hook)', async () => {
      install({ logKeys: { traceId: 'dd.trace_id', spanId: 'dd.span_id' } });
      const sink = new LineSink();
      const span = tracer.startSpan('request') as RecordedSpan;
      withSpan(span, () => driver.make(sink).info({}, 'renamed'));
      await sink.until(1);
      const [line] = sink.json();
      assert.equal(line['dd.trace_id'], span.traceId);
      assert.equal(line['dd.span_id'], span.id);
      assert.ok(!('trace_id' in line));
      uninstallAllPatches();
      installPatches([driver.hook], { aliases: driver.aliases, tracer, hooks: { [driver.hook]: { logKeys: { traceId: 'traceId' } } } });
      withSpan(span, () => driver.make(sink).info({}, 'per hook'));
      await sink.until(2);
      assert.equal(sink.json()[1].traceId, span.traceId);
      assert.equal(sink.json()[1].span_id, span.id);
    });

    it('the pretty printer shows the fields too', async () => {
      install();
      const sink = new LineSink();
      const span = tracer.startSpan('request') as RecordedSpan;
      withSpan(span, () => driver.pretty(sink).info({ order: 1 }, 'pretty'));
      await sink.until(1);
      const text = sink.lines.join('\n');
      assert.ok(text.includes('trace_id') && text.includes(span.traceId), text);
      assert.ok(text.includes('span_id') && text.includes(span.id), text);
    });

    it('under concurrent traced requests, each line names its own request trace, never a neighbour', async () => {
      installPatches(['httpServer', driver.hook], { aliases: driver.aliases, tracer });
      const sink = new LineSink();
      const logger = driver.make(sink);
      const server = http.createServer((req, res) => {
        const n = Number(req.url!.slice(1));
        // Interleave: each request logs before and after a wait of its own length.
        logger.info({ n, at: 'start' }, 'request');
        setTimeout(() => {
          logger.info({ n, at: 'end' }, 'request');
          res.end(String(n));
        }, (n * 7) % 23);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      const count = 40;
      try {
        const traces: string[] = [];
        await Promise.all(
          Array.from({ length: count }, (_, n) => {
            const parent = tracer.startSpan(`client ${n}`) as RecordedSpan;
            traces[n] = parent.traceId;
            return new Promise<void>((resolve, reject) => {
              const req = http.get({ host: '127.0.0.1', port, path: `/${n}`, headers: { traceparent: `00-${parent.traceId}-${parent.id}-01` }, agent: false }, (res) => {
                res.resume();
                res.on('end', resolve);
              });
              req.on('error', reject);
            });
          }),
        );
        await sink.until(2 * count);
        const serverSpans = tracer.finished.filter((s) => s.tags['span.kind'] === 'server');
        for (const line of sink.json()) {
          const n = line.n as number;
          assert.equal(line.trace_id, traces[n], `line of request ${n}`);
          const own = serverSpans.find((s) => s.id === line.span_id);
          assert.ok(own !== undefined && own.traceId === traces[n], `span_id of request ${n} is its server span`);
        }
      } finally {
        server.close();
      }
    });

    it('the same errors: a logger option that throws throws the same, traced', async () => {
      const explode = (): AppLogger => {
        const sink = new LineSink();
        if (driver.hook === 'pino') return driver.make(sink, { serializers: { bad: () => { throw new Error('serializer broke'); } } });
        if (driver.hook === 'winston') {
          const winston = require('winston');
          const broken = winston.format(() => { throw new Error('format broke'); });
          return driver.make(sink, { format: broken() });
        }
        return driver.make(sink, { serializers: { bad: () => { throw new Error('serializer broke'); } } });
      };
      const attempt = (): unknown => {
        try {
          withSpan(tracer.startSpan('request'), () => explode().info({ bad: 1 }, 'explodes'));
          return 'no error';
        } catch (err) {
          return (err as Error).message;
        }
      };
      const untraced = attempt();
      install();
      assert.equal(attempt(), untraced);
    });

    it('keeps no memory per line (heap after GC, 20,000 lines inside a span)', async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      assert.ok(gc !== undefined, 'run with --expose-gc (the mocha config does)');
      install();
      // A sink that keeps nothing, so that only what the hook keeps could grow.
      const logger = driver.make(Object.assign(new LineSink(), { push: () => undefined }));
      const span = tracer.startSpan('request');
      const burst = (n: number): void => withSpan(span, () => { for (let i = 0; i < n; i++) logger.info({ i }, 'line'); });
      burst(2000);
      await new Promise((resolve) => setImmediate(resolve));
      gc!();
      const before = process.memoryUsage().heapUsed;
      burst(20000);
      await new Promise((resolve) => setImmediate(resolve));
      gc!();
      const grown = process.memoryUsage().heapUsed - before;
      assert.ok(grown < 2_000_000, `heap grew by ${grown} bytes over 20,000 lines`);
    });

    it('uninstall puts back the very same functions; install again adds the ids again', async () => {
      const originals = driver.targets().map(([target, key]) => (target as any)[key]);
      install();
      driver.targets().forEach(([target, key], i) => assert.notEqual((target as any)[key], originals[i]));
      uninstallAllPatches();
      driver.targets().forEach(([target, key], i) => assert.equal((target as any)[key], originals[i]));
      install();
      const sink = new LineSink();
      const span = tracer.startSpan('request') as RecordedSpan;
      withSpan(span, () => driver.make(sink).info({}, 'again'));
      await sink.until(1);
      assert.equal(sink.json()[0].trace_id, span.traceId);
    });

    // OpenTelemetry instruments the packages under their own names only, and bunyan 1 only: its bunyan
    // check runs on a copy of bunyan 1 laid out as node_modules/bunyan (see the child).
    const coexists = driver.name === 'bunyan1' || (driver.aliases === undefined && driver.name !== 'bunyan');
    for (const order of coexists ? ['otel-first', 'ours-first'] : []) {
      it(`lives beside OpenTelemetry's ${driver.otel.export} (${order}): our ids, the app's output; uninstall takes out only ours`, async () => {
        const phases = await coexistRun<{ phase: string; ours: boolean; otel: boolean; lines: number }>(path.join(__dirname, 'logs-coexist-child.js'), driver.name, order);
        assert.deepEqual(phases, [
          { phase: 'both', ours: true, otel: true, lines: 2 },
          { phase: 'after uninstall', ours: false, otel: true, lines: 2 },
          { phase: 'installed again', ours: true, otel: true, lines: 2 },
        ]);
      });
    }
  });
}

describe('log correlation: what only one logger does', function () {
  const tracer = new RecordingTracer();
  afterEach(() => uninstallAllPatches());

  it("winston: an object the app logs again keeps no earlier span's ids, inside another span or outside any", async () => {
    installPatches(['winston'], { tracer });
    const sink = new LineSink();
    const winston = require('winston');
    const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    const event: Record<string, unknown> = { message: 'tick' };
    const own: Record<string, unknown> = { message: 'own', trace_id: 'mine' };
    const [first, second] = [tracer.startSpan('first') as RecordedSpan, tracer.startSpan('second') as RecordedSpan];
    withSpan(first, () => logger.info(event));
    withSpan(second, () => logger.info(event));
    logger.info(event);
    withSpan(first, () => logger.info(own));
    logger.info(own);
    await sink.until(5);
    const lines = sink.json().map((r) => [r.trace_id, r.span_id]);
    assert.deepEqual(lines, [
      [first.traceId, first.id],
      [second.traceId, second.id],
      [undefined, undefined],
      ['mine', first.id],
      ['mine', undefined],
    ]);
    assert.ok(!('span_id' in event) && !('trace_id' in event), JSON.stringify(event));
    assert.equal(own.trace_id, 'mine');
  });

  it("pino: a trace_id that formatters.log adds is the line's only one; a nested one leaves the ids added", async () => {
    installPatches(['pino'], { tracer });
    const sink = new LineSink();
    const logger = require('pino')({ base: undefined, timestamp: false, formatters: { log: (o: object) => ({ ...o, trace_id: 'mine' }) } }, { write: (s: string) => sink.push(s) });
    const nested = require('pino')({ base: undefined, timestamp: false }, { write: (s: string) => sink.push(s) });
    const span = tracer.startSpan('request') as RecordedSpan;
    withSpan(span, () => {
      logger.info('formatted');
      nested.info({ ctx: { trace_id: 'inner' } }, 'nested');
      nested.child({ ctx: { span_id: 'bound' } }).info('bound');
    });
    await sink.until(3);
    assert.equal(sink.lines[0].split('"trace_id"').length, 2, sink.lines[0]);
    const [formatted, inner, bound] = sink.json();
    assert.deepEqual([formatted.trace_id, formatted.span_id], ['mine', span.id]);
    assert.deepEqual([inner.trace_id, inner.span_id, (inner.ctx as { trace_id: string }).trace_id], [span.traceId, span.id, 'inner']);
    assert.deepEqual([bound.trace_id, bound.span_id], [span.traceId, span.id]);
  });
});

describe('log correlation: tracers and currentTraceIds()', function () {
  this.timeout(20000);
  afterEach(() => uninstallAllPatches());

  it('currentTraceIds() is undefined outside a span, the ids inside', () => {
    const tracer = new RecordingTracer();
    assert.equal(currentTraceIds(), undefined);
    const span = tracer.startSpan('x') as RecordedSpan;
    assert.deepEqual(withSpan(span, () => currentTraceIds()), { traceId: span.traceId, spanId: span.id });
  });

  it('the built-in tracer: ids and trace_flags 01 for a sampled span', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-logs-'));
    const built = createTracerFromEnv({ OT_TRACER: 'jsonl', OT_TRACER_FILE: path.join(dir, 'traces.jsonl') })!;
    installPatches(['pino'], { tracer: built.tracer });
    const sink = new LineSink();
    const span = built.tracer.startSpan('request');
    withSpan(span, () => pinoDriver('pino').make(sink).info({}, 'built-in'));
    span.finish();
    await sink.until(1);
    const [line] = sink.json();
    assert.equal(line.trace_id, span.context().toTraceId());
    assert.equal(line.span_id, span.context().toSpanId());
    assert.equal(line.trace_flags, '01');
    await built.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('jaeger-client: its ids, and trace_flags from its sampling decision', async () => {
    const jaeger = require('jaeger-client');
    const make = (param: number): any =>
      jaeger.initTracer({ serviceName: 'logs', sampler: { type: 'const', param }, reporter: { logSpans: false } }, { logger: { info: () => undefined, error: () => undefined } });
    installPatches(['winston']);
    for (const [param, flags] of [[1, '01'], [0, '00']] as const) {
      const jaegerTracer = make(param);
      const sink = new LineSink();
      const span = jaegerTracer.startSpan('request');
      withSpan(span, () => winstonDriver.make(sink).info({}, 'jaeger'));
      await sink.until(1);
      const [line] = sink.json();
      assert.equal(line.trace_id, span.context().toTraceId());
      assert.equal(line.span_id, span.context().toSpanId());
      assert.equal(line.trace_flags, flags);
      span.finish();
      jaegerTracer.close();
    }
  });

  it('a tracer whose contexts have no ids adds nothing', async () => {
    const opentracing = require('opentracing');
    installPatches(['bunyan']);
    const sink = new LineSink();
    // opentracing's own Tracer: a span whose context's toTraceId() returns ''.
    withSpan(new opentracing.Tracer().startSpan('x'), () => bunyanDriver('bunyan').make(sink).info({}, 'no ids'));
    await sink.until(1);
    assert.ok(!('trace_id' in sink.json()[0]));
  });
});
