/**
 * Child process of the coexistence contract: OpenTelemetry's instrumentation of the same library and our
 * hook, installed in the order given, then uninstalled and installed again. Prints what each recorded.
 *   node coexist-child.js <driver name> otel-first|ours-first
 */
import { trace } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { coexistPhases, runChild } from '../helpers/coexist';
import { RecordingTracer } from '../helpers/tracer';
import type { Driver } from './driver';

async function main(): Promise<unknown> {
  const [name, order] = process.argv.slice(2);
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  const tracer = new RecordingTracer();
  const hooks = require('../../src') as typeof import('../../src');

  const loadDriver = (): Driver => {
    const driver = (require('./drivers') as typeof import('./drivers')).DRIVERS.find((d) => d.name === name);
    if (driver === undefined) throw new Error(`no driver ${name}`);
    return driver;
  };
  const registerOtel = (driver: Driver): void => {
    const otel = driver.otel!;
    const Instrumentation = require(otel.module)[otel.export];
    registerInstrumentations({ instrumentations: [new Instrumentation(otel.config)] });
    for (const m of otel.reload) require(m);
  };
  const installOurs = (driver: Driver): void => hooks.installPatches([driver.hook, ...(driver.alsoInstall ?? [])], { ...driver.config, tracer });

  let driver: Driver;
  if (order === 'otel-first') {
    // The library loads after OpenTelemetry registered (the drivers import it), then ours wraps over.
    driver = loadDriver();
    registerOtel(driver);
    installOurs(driver);
  } else {
    installOurs(loadDriver());
    driver = loadDriver();
    registerOtel(driver);
  }
  await driver.start();
  const phases = await coexistPhases({ uninstall: () => hooks.uninstallAllPatches(), install: () => installOurs(driver) }, async () => {
    const oursBefore = tracer.startedCount;
    const otelBefore = exporter.getFinishedSpans().length;
    let ok = true;
    let error: string | undefined;
    try {
      await driver.call();
    } catch (err) {
      ok = false;
      error = String((err as Error)?.stack ?? err);
    }
    await tracer.settle();
    // OpenTelemetry ends its spans when the call completes; give its processor the same turn.
    await new Promise((resolve) => setImmediate(resolve));
    return { ours: tracer.startedCount - oursBefore, otel: exporter.getFinishedSpans().length - otelBefore, ok, error };
  });
  await driver.stop();
  return phases;
}

runChild(main);
