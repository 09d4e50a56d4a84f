/**
 * graphql 16.x and 17.x: one span per operation executed (`execute`, which `graphql()`, Apollo Server and
 * Mercurius all call; also each subscription event of graphql's own `subscribe`; graphql-yoga's
 * `@graphql-tools/executor`'s `execute` and `executeSync`, not its subscriptions),
 * active while its resolvers run;
 * `parse`/`validate` spans and resolver spans when asked. graphql 16's `graphql()` calls them through
 * its internal files' exports, patched here; graphql 17 publishes diagnostics channels. The span logic is in ../tracing/graphql, loaded when graphql is.
 */
import { defineHook, fileTargets } from '../registry/define';
import type { GraphqlOptions } from '../options/graphql';

export type { GraphqlOptions } from '../options/graphql';

/** The exports of a graphql 17 that require() loaded as an ES module, if any. */
function loadedGraphql17(): object | undefined {
  for (const [filename, cached] of Object.entries(require.cache)) {
    if (!/[\\/]node_modules[\\/][^\\/]+[\\/]index\.mjs$/.test(filename)) continue;
    const exports = cached?.exports as { version?: unknown; print?: unknown; execute?: unknown } | undefined;
    if (typeof exports?.version === 'string' && exports.version.startsWith('17.') && typeof exports.print === 'function' && typeof exports.execute === 'function') return exports;
  }
  return undefined;
}

export const graphqlHook = defineHook<'graphql', GraphqlOptions, typeof import('../tracing/graphql')>({
  name: 'graphql',
  tracing: () => require('../tracing/graphql'),
  summary: 'graphql operations executed (execute, graphql(), subscription events), with the document redacted; parse/validate spans when asked',
  targets: [
    fileTargets('graphql', '>=16.0.0 <17', { 'execution/execute': 'patchExecute', 'language/parser': 'patchParse', 'validation/validate': 'patchValidate' }),
    // graphql 17 publishes tracing channels from every entry point, its ES-module build included (which
    // require() loads on Node 20.19+, through the `module-sync` export condition): its entry loading
    // binds them and gives its printer.
    { module: 'graphql', versions: '>=17.0.0 <18', patch: 'patchGraphql17' },
    // graphql-yoga (Envelop's default engine) executes with @graphql-tools/executor's own engine.
    { module: '@graphql-tools/executor', file: 'cjs/execution/execute', versions: '>=2.0.0 <3', patch: 'patchToolsExecute' },
  ],
  enable(ctx) {
    // A graphql 17 that require() loaded before install is its index.mjs, which the registry's scan of
    // loaded packages does not match (it resolves the package's `main`).
    const loaded = loadedGraphql17();
    if (loaded !== undefined) ctx.tracing.patchGraphql17(loaded, ctx);
  },
});
