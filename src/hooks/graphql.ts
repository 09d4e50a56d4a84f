/**
 * graphql 16.x: one span per operation executed (`execute`, which `graphql()`, Apollo Server, Yoga and
 * Mercurius all call, and subscriptions per event), active while its resolvers run; `parse` and
 * `validate` spans when asked. `graphql()` calls them through the internal files' exports, patched here. The span logic is in ../tracing/graphql, loaded when graphql is.
 */
import { defineHook, fileTargets, lazyModule } from '../registry/define';
import type { GraphqlOptions } from '../options/graphql';

export type { GraphqlOptions } from '../options/graphql';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/graphql') as typeof import('../tracing/graphql'));

export const graphqlHook = defineHook<'graphql', GraphqlOptions>({
  name: 'graphql',
  summary: 'graphql 16 operations executed (execute, graphql(), subscription events), with the document redacted; parse/validate spans when asked',
  // graphql 17 is not traced yet: on Node 20.19+ require() loads its ES-module build (the `module-sync`
  // export condition), which no require hook sees; its diagnostics channels are the way in.
  targets: fileTargets<GraphqlOptions, undefined>('graphql', '>=16.0.0 <17', {
      'execution/execute': (exports, ctx) => tracing().patchExecute(exports, ctx),
      'language/parser': (exports, ctx) => tracing().patchParse(exports, ctx),
      'validation/validate': (exports, ctx) => tracing().patchValidate(exports, ctx),
  }),
});
