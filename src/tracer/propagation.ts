/**
 * Header formats of the built-in tracer (OT_PROPAGATION), through OpenTelemetry's own propagators. Loaded
 * on the first inject or extract; only the formats asked for are loaded (the W3C ones from their own files
 * in @opentelemetry/core, not the package's index, which pulls in much more).
 */
import path from 'node:path';
import type { TextMapPropagator } from '@opentelemetry/api';
import { warnOnce } from '../logger';
import { LeanSpanContext } from './lean';
import type { Propagation } from './lean';

/* eslint-disable @typescript-eslint/no-require-imports -- propagators load when OT_PROPAGATION names them, not at start-up */

export const PROPAGATION_FORMATS = ['tracecontext', 'w3c', 'b3', 'b3single', 'jaeger', 'baggage'] as const;

/** The OT_PROPAGATION names, lowercased; unknown ones are reported once and left out. */
export function propagationNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const names = (env.OT_PROPAGATION ?? 'tracecontext').split(',').map((n) => n.trim().toLowerCase()).filter(Boolean);
  const known = names.filter((name) => {
    if ((PROPAGATION_FORMATS as readonly string[]).includes(name)) return true;
    warnOnce(`OT_PROPAGATION names unknown format "${name}" (ignored); known: tracecontext, b3, b3single, jaeger, baggage`);
    return false;
  });
  return known.length === 0 ? ['tracecontext'] : known;
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

/** W3C trace context by default; OT_PROPAGATION=tracecontext,b3,jaeger picks the formats injected and accepted. */
export function propagatorFor(env: NodeJS.ProcessEnv = process.env): TextMapPropagator {
  const propagators: TextMapPropagator[] = [];
  for (const name of propagationNames(env)) {
    if (name === 'tracecontext' || name === 'w3c') {
      propagators.push(new (fromFile<PropagatorClass>('@opentelemetry/core', 'build/src/trace/W3CTraceContextPropagator.js', 'W3CTraceContextPropagator'))());
    } else if (name === 'b3') {
      const b3 = require('@opentelemetry/propagator-b3');
      propagators.push(new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.MULTI_HEADER }));
    } else if (name === 'b3single') propagators.push(new (require('@opentelemetry/propagator-b3').B3Propagator)());
    else if (name === 'jaeger') propagators.push(new (require('@opentelemetry/propagator-jaeger').JaegerPropagator)());
    else if (name === 'baggage') {
      propagators.push(new (fromFile<PropagatorClass>('@opentelemetry/core', 'build/src/baggage/propagation/W3CBaggagePropagator.js', 'W3CBaggagePropagator'))());
    }
  }
  if (propagators.length === 1) return propagators[0];
  const Composite = fromFile<PropagatorClass>('@opentelemetry/core', 'build/src/propagation/composite.js', 'CompositePropagator');
  return new Composite({ propagators });
}

/** Inject and extract of LeanSpanContexts through `propagator`, as the OpenTracing shim did. */
export function createPropagation(propagator: TextMapPropagator): Propagation {
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { ROOT_CONTEXT, trace, propagation, defaultTextMapGetter, defaultTextMapSetter, isSpanContextValid } = api;
  return {
    inject(context, carrier) {
      let ctx = trace.setSpanContext(ROOT_CONTEXT, context);
      if (context.baggage !== undefined) ctx = propagation.setBaggage(ctx, context.baggage);
      propagator.inject(ctx, carrier, defaultTextMapSetter);
    },
    extract(carrier) {
      const ctx = propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
      const found = trace.getSpanContext(ctx);
      // An invalid context would make a root span anyway (as the SDK does with an invalid parent).
      if (found === undefined || !isSpanContextValid(found)) return null;
      return new LeanSpanContext(found.traceId, found.spanId, found.traceFlags, found.traceState, found.isRemote === true, propagation.getBaggage(ctx));
    },
    createBaggage() {
      return propagation.createBaggage();
    },
  };
}
