/**
 * Header formats of the built-in tracer (OT_PROPAGATION, else OTEL_PROPAGATORS), through OpenTelemetry's
 * own propagators. Loaded on the first inject or extract; only the formats asked for are loaded (the W3C
 * ones from their own files in @opentelemetry/core, not the package's index, which pulls in much more).
 */
import path from 'node:path';
import type { TextMapGetter, TextMapPropagator } from '@opentelemetry/api';
import { log, warnOnce } from '../logger';
import { eitherEnv } from '../otel-env';
import { LeanSpanContext } from './lean';
import type { Propagation } from './lean';

/* eslint-disable @typescript-eslint/no-require-imports -- propagators load when OT_PROPAGATION names them, not at start-up */

/**
 * OpenTelemetry's names, with their meaning in the specification: `b3` is the single `b3` header,
 * `b3multi` the `X-B3-*` set. Ours on top: `w3c` for `tracecontext`, `b3single` for `b3`.
 */
export const PROPAGATION_FORMATS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger', 'none', 'w3c', 'b3single'] as const;
const SYNONYMS: Readonly<Record<string, string>> = { w3c: 'tracecontext', b3single: 'b3' };
const DEFAULT_FORMATS = ['tracecontext', 'baggage'];

/**
 * The formats of OT_PROPAGATION, else OTEL_PROPAGATORS (default `tracecontext,baggage`), lowercased,
 * synonyms resolved, each once; unknown ones are reported once and left out. `none` (alone or not): none.
 */
export function propagationNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const value = eitherEnv(env, 'OT_PROPAGATION', 'OTEL_PROPAGATORS');
  if (value === undefined) return DEFAULT_FORMATS;
  const variable = value === env.OT_PROPAGATION ? 'OT_PROPAGATION' : 'OTEL_PROPAGATORS';
  const known = new Set<string>();
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if ((PROPAGATION_FORMATS as readonly string[]).includes(name)) known.add(SYNONYMS[name] ?? name);
    else warnOnce(`${variable} names unknown format "${name}" (ignored); known: ${PROPAGATION_FORMATS.join(', ')}`);
  }
  if (known.has('none')) {
    log('%s=%s: no trace headers injected or accepted', variable, value);
    return [];
  }
  return known.size === 0 ? DEFAULT_FORMATS : [...known];
}

/**
 * `name` exported by one file of a package (`file` relative to the package directory), else by the
 * package itself: the file is lighter to load, the package is what is promised.
 */
function fromFile<T>(pkg: string, file: string, name: string): T {
  try {
    const dir = path.dirname(require.resolve(`${pkg}/package.json`));
    const value = require(path.join(dir, file))[name];
    if (value !== undefined) return value as T;
  } catch {
    // moved in another version: the package's index has it
  }
  return require(pkg)[name] as T;
}

type PropagatorClass = new (config?: unknown) => TextMapPropagator;

/** Injects nothing and extracts nothing (`none`). */
const NO_PROPAGATOR: TextMapPropagator = {
  inject() {},
  extract: (context) => context,
  fields: () => [],
};

/** W3C trace context and baggage by default; OT_PROPAGATION / OTEL_PROPAGATORS pick the formats injected and accepted. */
export function propagatorFor(env: NodeJS.ProcessEnv = process.env, names = propagationNames(env)): TextMapPropagator {
  const propagators: TextMapPropagator[] = [];
  for (const name of names) {
    if (name === 'tracecontext') {
      propagators.push(new (fromFile<PropagatorClass>('@opentelemetry/core', 'build/src/trace/W3CTraceContextPropagator.js', 'W3CTraceContextPropagator'))());
    } else if (name === 'b3' || name === 'b3multi') {
      // Either one extracts both forms, as OpenTelemetry's does; they differ in what they inject.
      const b3 = require('@opentelemetry/propagator-b3');
      propagators.push(new b3.B3Propagator({ injectEncoding: name === 'b3' ? b3.B3InjectEncoding.SINGLE_HEADER : b3.B3InjectEncoding.MULTI_HEADER }));
    } else if (name === 'jaeger') propagators.push(new (require('@opentelemetry/propagator-jaeger').JaegerPropagator)());
    else if (name === 'baggage') {
      propagators.push(new (fromFile<PropagatorClass>('@opentelemetry/core', 'build/src/baggage/propagation/W3CBaggagePropagator.js', 'W3CBaggagePropagator'))());
    }
  }
  if (propagators.length === 0) return NO_PROPAGATOR;
  if (propagators.length === 1) return propagators[0];
  const Composite = fromFile<PropagatorClass>('@opentelemetry/core', 'build/src/propagation/composite.js', 'CompositePropagator');
  return new Composite({ propagators });
}

/** Whether the formats are W3C trace context, with or without W3C baggage: the ones `inject` may write itself. */
export function isW3COnly(names: readonly string[]): boolean {
  return names.includes('tracecontext') && names.every((name) => name === 'tracecontext' || name === 'baggage');
}

/**
 * The trace flags with a meaning: `sampled` and W3C level 2's `random`. Others are reserved, and the W3C
 * specification has them set to zero: an extracted context does not keep them (OpenTelemetry's W3C
 * propagator would write a flags byte of 0x10 or more as three digits, which every reader refuses).
 */
const KNOWN_FLAGS = 0x03;

/** OpenTelemetry's W3C propagator's pattern for `traceparent` (a future version may have more parts). */
const TRACEPARENT = /^\s?((?!ff)[\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?\s?$/;

/** The remote context of a `traceparent` header value, as OpenTelemetry's W3C propagator reads it; null if none. */
function parsedTraceparent(header: unknown): LeanSpanContext | null {
  if (!header) return null;
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string') return null;
  const match = TRACEPARENT.exec(value);
  if (match === null || (match[1] === '00' && match[5] !== undefined)) return null;
  return new LeanSpanContext(match[2], match[3], parseInt(match[4], 16) & KNOWN_FLAGS, undefined, true, undefined);
}

/**
 * The header `name` (lower case) of a carrier: under that name, else under the same name in another case
 * (a text map's keys keep the case they were given; Node's HTTP headers are lower case already, and are
 * read directly). Only a carrier without the lower-case name is searched.
 */
function headerOf(carrier: Record<string, unknown>, name: string): unknown {
  const value = carrier[name];
  if (value !== undefined) return value;
  for (const key of Object.keys(carrier)) {
    if (key.length === name.length && key !== name && key.toLowerCase() === name) return carrier[key];
  }
  return undefined;
}

/** OpenTelemetry's default getter, with header names matched in any case (`headerOf`). */
const ANY_CASE_GETTER: TextMapGetter<object> = {
  keys: (carrier) => (carrier == null ? [] : Object.keys(carrier)),
  get: (carrier, key) => (carrier == null ? undefined : (headerOf(carrier as Record<string, unknown>, key) as string | string[] | undefined)),
};

/**
 * Inject and extract of LeanSpanContexts through `propagator`, as the OpenTracing shim did. With `w3cOnly`
 * (the formats are W3C trace context, and maybe baggage), a context without baggage is injected directly:
 * the same `traceparent` and `tracestate` that OpenTelemetry's W3C propagator writes, without the
 * OpenTelemetry Context, span wrapper and id checks it goes through per call (our ids are valid by construction);
 * and headers with neither `tracestate` nor `baggage` are read directly, as that propagator reads them.
 */
export function createPropagation(propagator: TextMapPropagator, w3cOnly = false): Propagation {
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { ROOT_CONTEXT, trace, propagation, defaultTextMapSetter, isSpanContextValid } = api;
  const extractThrough = (carrier: object): LeanSpanContext | null => {
    const ctx = propagator.extract(ROOT_CONTEXT, carrier, ANY_CASE_GETTER);
    const found = trace.getSpanContext(ctx);
    // An invalid context would make a root span anyway (as the SDK does with an invalid parent).
    if (found === undefined || !isSpanContextValid(found)) return null;
    return new LeanSpanContext(found.traceId, found.spanId, found.traceFlags & KNOWN_FLAGS, found.traceState, found.isRemote === true, propagation.getBaggage(ctx));
  };
  return {
    inject(context, carrier) {
      if (w3cOnly && context.baggage === undefined) {
        const headers = carrier as Record<string, string>;
        headers.traceparent = `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
        if (context.traceState !== undefined) headers.tracestate = context.traceState.serialize();
        return;
      }
      let ctx = trace.setSpanContext(ROOT_CONTEXT, context);
      if (context.baggage !== undefined) ctx = propagation.setBaggage(ctx, context.baggage);
      propagator.inject(ctx, carrier, defaultTextMapSetter);
    },
    extract(carrier) {
      if (!w3cOnly) return extractThrough(carrier);
      // The only headers W3C trace context and baggage read, each read once here.
      const headers = carrier as Record<string, unknown>;
      let traceparent: unknown;
      let tracestate: unknown;
      let baggage: unknown;
      try {
        traceparent = headerOf(headers, 'traceparent');
        if (!traceparent) return null;
        tracestate = headerOf(headers, 'tracestate');
        baggage = headerOf(headers, 'baggage');
      } catch {
        // A getter that throws: whatever the propagators make of it (one of them may catch it).
        return extractThrough(carrier);
      }
      if (!tracestate && !baggage) return parsedTraceparent(traceparent);
      return extractThrough({ traceparent, tracestate, baggage });
    },
    createBaggage() {
      return propagation.createBaggage();
    },
  };
}
