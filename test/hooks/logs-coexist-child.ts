/**
 * Child process of the log hooks' coexistence test: OpenTelemetry's instrumentation of the same logger
 * and our hook, installed in the order given, then ours uninstalled and installed again. Each phase logs
 * one line inside both an OpenTelemetry span and one of ours, and one outside both; prints whether each
 * instrumentation's fields were in the first line (ours under renamed keys, so both can be seen).
 *   node logs-coexist-child.js <driver name> otel-first|ours-first
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { coexistPhases, runChild } from '../helpers/coexist';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import type { LineSink as Sink } from '../helpers/log-drivers';

async function main(): Promise<unknown> {
  const [name, order] = process.argv.slice(2);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider());
  const otelTracer = trace.getTracer('coexist');
  const tracer = new RecordingTracer();
  const hooks = require('../../src') as typeof import('../../src');
  const { LOG_DRIVERS, LineSink, bunyanDriver } = require('../helpers/log-drivers') as typeof import('../helpers/log-drivers');
  const listed = LOG_DRIVERS.find((d) => d.name === name);
  if (listed === undefined) throw new Error(`no driver ${name}`);
  let driver = listed;
  if (name === 'bunyan1') {
    // OpenTelemetry's instrumentation matches bunyan 1 by its own name: a copy at node_modules/bunyan.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-bunyan1-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const copy = path.join(dir, 'node_modules', 'bunyan');
    fs.cpSync(path.dirname(require.resolve('bunyan1/package.json')), copy, { recursive: true });
    driver = bunyanDriver(copy);
  }
  const chosen = driver;
  const installOurs = (): void => hooks.installPatches([chosen.hook], { tracer, logKeys: { traceId: 'ours.trace_id', spanId: 'ours.span_id' } });
  const registerOtel = (): void => {
    const Instrumentation = require(chosen.otel.module)[chosen.otel.export];
    registerInstrumentations({ instrumentations: [new Instrumentation({ disableLogSending: true })] });
  };
  if (order === 'otel-first') {
    registerOtel();
    require(driver.module);
    installOurs();
  } else {
    installOurs();
    registerOtel();
    require(driver.module);
  }
  return coexistPhases({ uninstall: () => hooks.uninstallAllPatches(), install: installOurs }, async () => {
    const sink: Sink = new LineSink();
    const logger = driver.make(sink);
    const ours = tracer.startSpan('ours') as RecordedSpan;
    const otelSpan = otelTracer.startSpan('otel');
    context.with(trace.setSpan(context.active(), otelSpan), () => hooks.withSpan(ours, () => logger.info({ n: 1 }, 'inside')));
    logger.info({ n: 2 }, 'outside');
    await sink.until(2);
    const [inside] = sink.json();
    return {
      ours: inside['ours.trace_id'] === ours.traceId && inside['ours.span_id'] === ours.id,
      otel: inside.trace_id === otelSpan.spanContext().traceId,
      lines: sink.lines.length,
    };
  });
}

runChild(main);
