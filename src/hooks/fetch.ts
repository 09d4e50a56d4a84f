/**
 * Global `fetch` and the `undici` package, through undici's diagnostics channels (the same named channels
 * serve Node's bundled undici and the package). The span logic is in ../tracing/fetch, loaded when undici
 * is, at the first channel message or at the first call of the global `fetch`.
 */
import type { HttpClientOptions } from '../cores/http-client';
import { reportOnce } from '../logger';
import { defineHook, lazyModule } from '../registry/define';
import type { FetchState } from '../tracing/fetch';

export interface FetchOptions extends HttpClientOptions {
  /**
   * Finish the span when the response headers arrive instead of when the body is done
   * (default false). Useful when response bodies are often left unread.
   */
  finishOnHeaders?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/fetch') as typeof import('../tracing/fetch'));

export const fetchHook = defineHook<'fetch', FetchOptions, FetchState>({
  name: 'fetch',
  summary: 'global fetch and undici (diagnostics channels), one span per logical call',
  setup: (hook) => tracing().makeState(hook),
  targets: [{ module: 'undici', versions: '>=5.0.0 <9', patch: (exports, ctx) => tracing().patchUndici(exports, ctx) }],
  // Runs at install: `ctx.state` is read only by what runs later, as reading it loads the span logic.
  enable(ctx) {
    ctx.subscribe('undici:request:create', (message) => tracing().onCreate(ctx.state, message));
    ctx.subscribe('undici:request:headers', (message) => tracing().onHeaders(message));
    ctx.subscribe('undici:request:trailers', (message) => tracing().onTrailers(message));
    ctx.subscribe('undici:request:error', (message) => tracing().onError(message));
    ctx.onUninstall(() => tracing().detachAll(ctx.state));
    if (typeof globalThis.fetch === 'function') {
      ctx.wrap(globalThis, 'fetch', (original) => {
        // The entry-point wrapper, made at the first call (that is when the span logic loads); the
        // original itself when that fails (a setup error the registry has reported), never a throw.
        let entry: ((...args: any[]) => any) | undefined;
        return function fetch(this: unknown): any {
          if (entry === undefined) {
            try {
              entry = tracing().wrapEntry(ctx.state, 'fetch')(original);
            } catch (err) {
              entry = original;
              if (ctx.hook.enabled) reportOnce('fetch: tracing global fetch', err);
            }
          }
          return entry.apply(this, arguments as unknown as any[]);
        };
      });
    }
  },
});
