/**
 * Global `fetch` and the `undici` package, through undici's diagnostics channels (the same named channels
 * serve Node's bundled undici and the package). The span logic is in ../tracing/fetch, loaded when undici
 * is, at the first channel message or at the first call of the global `fetch`.
 */
import { reportOnce } from '../logger';
import { defineHook } from '../registry/define';
import type { FetchOptions } from '../options/fetch';
import { applyArgs } from '../apply-args';

export const fetchHook = defineHook<'fetch', FetchOptions, typeof import('../tracing/fetch')>({
  name: 'fetch',
  summary: 'global fetch and undici (diagnostics channels), one span per logical call',
  tracing: () => require('../tracing/fetch'),
  targets: [{ module: 'undici', versions: '>=5.0.0 <9', patch: 'patchUndici' }],
  // Runs at install: `ctx.state` and `ctx.tracing` are read only by what runs later, as reading them loads the span logic.
  enable(ctx) {
    // The other channels from the first request on: undici's NODE_DEBUG=undici/fetch logging (its
    // lib/core/diagnostics.js, run when undici loads) subscribes to headers, trailers and error only when
    // they have no subscriber yet (another undici logging them), so a subscription made before it loads
    // silences its log of responses, trailers and errors.
    let requestChannels = false;
    ctx.subscribe('undici:request:create', (message) => {
      if (!requestChannels) {
        requestChannels = true;
        ctx.subscribe('undici:request:headers', (message) => ctx.tracing.onHeaders(message));
        ctx.subscribe('undici:request:trailers', (message) => ctx.tracing.onTrailers(message));
        ctx.subscribe('undici:request:error', (message) => ctx.tracing.onError(message));
      }
      ctx.tracing.onCreate(ctx.state, message);
    });
    ctx.onUninstall(() => ctx.tracing.detachAll(ctx.state));
    if (typeof globalThis.fetch === 'function') {
      ctx.wrap(globalThis, 'fetch', (original) => {
        // The entry-point wrapper, made at the first call (that is when the span logic loads); the
        // original itself when that fails (making its state failed, which the registry has reported), never a throw.
        let entry: ((...args: any[]) => any) | undefined;
        return function fetch(this: unknown): any {
          if (entry === undefined) {
            try {
              entry = ctx.tracing.wrapEntry(ctx.state, 'fetch')(original);
            } catch (err) {
              entry = original;
              if (ctx.hook.enabled) reportOnce('fetch: tracing global fetch', err);
            }
          }
          return applyArgs(entry, this, arguments);
        };
      });
    }
  },
});
