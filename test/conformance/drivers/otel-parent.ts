/**
 * Loaded (only) through an `otel.reload` list, in the coexistence child, after OpenTelemetry registered:
 * OpenTelemetry's express, koa and hapi instrumentations make spans only under an active OpenTelemetry span,
 * as an app running them has from OpenTelemetry's http server span. This gives them that parent: an
 * AsyncLocalStorage context manager and the http instrumentation (its `http` is required again after this).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Context, ContextManager } from '@opentelemetry/api';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';

class StorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (fn: (...args: unknown[]) => unknown, self: unknown, args: unknown[]): unknown => this.with(ctx, () => fn.apply(self, args));
    return function (this: unknown, ...args: unknown[]) {
      return run(target as (...a: unknown[]) => unknown, this, args);
    } as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

context.setGlobalContextManager(new StorageContextManager());
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
