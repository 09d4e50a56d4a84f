/** Real loggers (pino, winston, bunyan) writing to in-memory streams, for the log-correlation tests. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { HookName } from '../../src';

 

/** A stream that keeps what is written to it, line by line. */
export class LineSink extends Writable {
  readonly lines: string[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  override _write(chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    this.push(String(chunk));
    callback();
  }
  /** For loggers that write objects or strings without going through Writable's buffering. */
  push(text: string): void {
    for (const line of text.split('\n')) if (line.trim() !== '') this.lines.push(line);
    this.waiters = this.waiters.filter((w) => (this.lines.length >= w.count ? (w.resolve(), false) : true));
  }
  /** Resolves once `count` lines have arrived: the logger's work is over. */
  until(count: number): Promise<void> {
    if (this.lines.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
  json(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l));
  }
}

export interface AppLogger {
  info(fields: Record<string, unknown> | undefined, message: string): void;
  child(bindings: Record<string, unknown>): AppLogger;
}

export interface LogDriver {
  readonly name: string;
  /** What to require for the library. */
  readonly module: string;
  readonly hook: HookName;
  readonly aliases?: Record<string, string>;
  /** A JSON logger writing to `sink`; `options` are the library's own extra logger options. */
  make(sink: LineSink, options?: Record<string, unknown>): AppLogger;
  /** The same logger's human-readable (pretty) output. */
  pretty(sink: LineSink): AppLogger;
  /** The functions the hook replaces. */
  targets(): Array<[object, PropertyKey]>;
  /** Fields that differ from run to run. */
  readonly volatile: string[];
  /** OpenTelemetry's instrumentation of the same logger. */
  readonly otel: { module: string; export: string };
}

export function pinoDriver(pkg: string): LogDriver {
  const load = (): any => require(pkg);
  const wrap = (logger: any): AppLogger => ({
    info: (fields, message) => (fields === undefined ? logger.info(message) : logger.info(fields, message)),
    child: (bindings) => wrap(logger.child(bindings)),
  });
  return {
    name: pkg,
    module: pkg,
    hook: 'pino',
    aliases: pkg === 'pino' ? undefined : { [pkg]: 'pino' },
    make: (sink, options = {}) => wrap(load()({ base: { pid: 1 }, ...options }, { write: (s: string) => sink.push(s) })),
    pretty: (sink) => wrap(load()({}, require('pino-pretty')({ destination: sink, sync: true, colorize: false }))),
    targets: () => {
      const proto = Object.getPrototypeOf(require(`${pkg}/lib/proto`)());
      return [[proto, require(`${pkg}/lib/symbols`).asJsonSym]];
    },
    volatile: ['time'],
    otel: { module: '@opentelemetry/instrumentation-pino', export: 'PinoInstrumentation' },
  };
}

export const winstonDriver: LogDriver = {
  name: 'winston',
  module: 'winston',
  hook: 'winston',
  make: (sink, options = {}) => {
    const winston = require('winston');
    const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })], ...options });
    const wrap = (l: any): AppLogger => ({
      info: (fields, message) => (fields === undefined ? l.info(message) : l.info(message, fields)),
      child: (bindings) => wrap(l.child(bindings)),
    });
    return wrap(logger);
  },
  pretty: (sink) => {
    const winston = require('winston');
    const l = winston.createLogger({ format: winston.format.prettyPrint(), transports: [new winston.transports.Stream({ stream: sink })] });
    return { info: (fields, message) => l.info(message, fields), child: () => assert.fail('not used') };
  },
  targets: () => [[require('winston/lib/winston/logger').prototype, 'write']],
  volatile: [],
  otel: { module: '@opentelemetry/instrumentation-winston', export: 'WinstonInstrumentation' },
};

export function bunyanDriver(pkg: string): LogDriver {
  const wrap = (l: any): AppLogger => ({
    info: (fields, message) => (fields === undefined ? l.info(message) : l.info(fields, message)),
    child: (bindings) => wrap(l.child(bindings)),
  });
  const make = (sink: LineSink, options: Record<string, unknown> = {}): AppLogger =>
    wrap(require(pkg).createLogger({ name: 'app', streams: [{ stream: { write: (s: string) => sink.push(s) } }], ...options }));
  return {
    name: pkg,
    module: pkg,
    hook: 'bunyan',
    aliases: pkg === 'bunyan1' ? { [pkg]: 'bunyan' } : undefined,
    make,
    // bunyan's pretty printer is its CLI, which reads the JSON lines: run it on what the logger wrote.
    pretty: (sink) => {
      const json = new LineSink();
      const logger = make(json);
      return {
        info: (fields, message) => {
          logger.info(fields, message);
          const cli = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'bunyan');
          const out = spawnSync(process.execPath, [cli, '--no-color'], { input: json.lines.join('\n') + '\n', encoding: 'utf8' });
          sink.push(out.stdout);
        },
        child: () => assert.fail('not used'),
      };
    },
    targets: () => [[require(pkg).prototype, '_emit']],
    volatile: ['time', 'hostname', 'pid'],
    otel: { module: '@opentelemetry/instrumentation-bunyan', export: 'BunyanInstrumentation' },
  };
}

export const LOG_DRIVERS: LogDriver[] = [pinoDriver('pino'), pinoDriver('pino9'), pinoDriver('pino8'), winstonDriver, bunyanDriver('bunyan'), bunyanDriver('bunyan1')];

