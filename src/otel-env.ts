/**
 * OpenTelemetry's environment variables as `register` and the built-in tracer read them, beside ours
 * (`OT_*`), which win when both are set. A leaf module: the preload reads it at start-up.
 */
import { collectorLabel } from './export-targets';
import { log, warnOnce } from './logger';
import { isAbsoluteUrl } from './url';

/**
 * The value of our variable `ours`, else of OpenTelemetry's `theirs` (blank counts as unset). When both
 * are set, ours wins and the debug log says so once.
 */
export function eitherEnv(env: NodeJS.ProcessEnv, ours: string, theirs: string): string | undefined {
  const own = env[ours];
  const other = env[theirs];
  const hasOwn = own !== undefined && own.trim() !== '';
  if (hasOwn && other !== undefined && other.trim() !== '') reportShadowed(ours, own, theirs, other);
  if (hasOwn) return own;
  return other !== undefined && other.trim() !== '' ? other : undefined;
}

const shadowed = new Set<string>();
function reportShadowed(ours: string, own: string, theirs: string, other: string): void {
  if (shadowed.has(theirs)) return;
  shadowed.add(theirs);
  log('%s=%s wins over %s=%s', ours, shownValue(own), theirs, shownValue(other));
}

/** A value as the log shows it: a URL (a collector's) without its credentials and query string. */
function shownValue(value: string): string {
  const trimmed = value.trim();
  return isAbsoluteUrl(trimmed) ? collectorLabel(trimmed) : value;
}

/**
 * OTEL_SDK_DISABLED=true: `register` installs no hook and sets up no tracer. A boolean variable of the
 * specification: only `true` (any case) is true, and a value that is neither `true` nor `false` is false
 * with a warning (`1`, `yes`).
 */
export function sdkDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase();
  if (value === 'true') return true;
  if (value !== '' && value !== 'false') warnOnce(`OTEL_SDK_DISABLED=${JSON.stringify(env.OTEL_SDK_DISABLED)} is neither true nor false: read as false (the hooks are installed)`);
  return false;
}

/** What `register` sets up as tracer: OT_TRACER, else OTEL_TRACES_EXPORTER; undefined when neither is set. */
export function tracerSpec(env: NodeJS.ProcessEnv = process.env): { variable: 'OT_TRACER' | 'OTEL_TRACES_EXPORTER'; value: string } | undefined {
  const value = eitherEnv(env, 'OT_TRACER', 'OTEL_TRACES_EXPORTER');
  if (value === undefined) return undefined;
  return { variable: env.OT_TRACER !== undefined && env.OT_TRACER.trim() !== '' ? 'OT_TRACER' : 'OTEL_TRACES_EXPORTER', value: value.trim() };
}

/**
 * OpenTelemetry's Node.js instrumentation names (as in OTEL_NODE_ENABLED_INSTRUMENTATIONS, without the
 * `@opentelemetry/instrumentation-` prefix) and the hooks that trace the same calls here. axios has no
 * instrumentation of its own there (its calls are `http` spans), so `http` covers it.
 */
export const OTEL_INSTRUMENTATION_HOOKS: Readonly<Record<string, readonly string[]>> = {
  http: ['http', 'httpServer', 'axios'],
  undici: ['fetch'],
  pg: ['pg'],
  mysql2: ['mysql2'],
  mysql: ['mysql'],
  knex: ['knex'],
  redis: ['redis'],
  'redis-4': ['redis'],
  ioredis: ['ioredis'],
  amqplib: ['amqplib'],
  grpc: ['grpc'],
  'aws-sdk': ['aws-sdk'],
  express: ['express'],
  koa: ['koa'],
  fastify: ['fastify'],
  hapi: ['hapi'],
  mongodb: ['mongodb'],
  mongoose: ['mongodb'],
  graphql: ['graphql'],
  kafkajs: ['kafkajs'],
  'socket.io': ['socket.io'],
  pino: ['pino'],
  winston: ['winston'],
  bunyan: ['bunyan'],
};

/** OpenTelemetry instrumentations with no counterpart here: named, they change nothing. */
const WITHOUT_HOOK = new Set([
  'amqp', 'aws-lambda', 'cassandra-driver', 'connect', 'cucumber', 'dataloader', 'dns', 'fs', 'generic-pool',
  'lru-memoizer', 'memcached', 'nestjs-core', 'net', 'openai', 'oracledb', 'restify', 'router', 'runtime-node', 'tedious',
]);

const PREFIX = '@opentelemetry/instrumentation-';

/**
 * The hook names for a list of OpenTelemetry instrumentation names; undefined when the variable is unset.
 * An unknown name warns once; a known one without a hook here warns once when it is asked to be enabled.
 */
export function hooksOfInstrumentations(value: string | undefined, variable: string): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const hooks: string[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const bare = name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name;
    const mapped = OTEL_INSTRUMENTATION_HOOKS[bare];
    if (mapped !== undefined) hooks.push(...mapped);
    else if (WITHOUT_HOOK.has(bare)) {
      if (variable === 'OTEL_NODE_ENABLED_INSTRUMENTATIONS') warnOnce(`${variable} names "${bare}", which opentracing-client-hooks does not trace (ignored)`);
      else log('%s names "%s", which opentracing-client-hooks does not trace', variable, bare);
    } else {
      warnOnce(`${variable} names unknown instrumentation "${bare}" (ignored); known: ${Object.keys(OTEL_INSTRUMENTATION_HOOKS).join(', ')}`);
    }
  }
  return [...new Set(hooks)];
}
