import type { Driver } from '../driver';

 

const graphql = require('graphql') as typeof import('graphql');
const executeModule = require('graphql/execution/execute') as any;
const schema = graphql.buildSchema('type Query { n(x: Int): Int fail: Int }');
const rootValue = {
  n: async ({ x }: { x: number }) => x,
  fail: () => {
    throw new Error('resolver failed');
  },
};

/** Resolvers that answer on the event loop's next turn: after the contract, which awaits only promises, has uninstalled. */
const slowRootValue = {
  n: ({ x }: { x: number }) => new Promise((resolve) => setImmediate(() => resolve(x))),
};

/** Starts `execute` and returns once its resolver is waiting (graphql calls it synchronously). */
function inFlight(execute: () => unknown): Promise<{ outcome: Promise<unknown> }> {
  return Promise.resolve({ outcome: Promise.resolve(execute()) });
}

// Parsed once, as a server's document cache does: the heap contract makes tens of thousands of calls.
const document = graphql.parse('query Conformance { n(x: 7) }');
const failing = graphql.parse('query Failing { fail }');

/** Execution args whose every property counts its reads. */
function countedArgs(values: Record<string, unknown>, onRead: (property: string) => void): object {
  const args = {};
  for (const [key, value] of Object.entries(values)) Object.defineProperty(args, key, { enumerable: true, get: () => (onRead(key), value) });
  return args;
}

/** graphql 16's execute (what graphql() and servers call): the operation span (in-process: no span.kind). */
const graphql16Driver: Driver = {
  name: 'graphql',
  hook: 'graphql',
  kind: 'internal',
  operation: /^query (Conformance|Failing)$/,
  tags() {
    return { component: 'graphql', 'graphql.operation.type': 'query', 'graphql.operation.name': 'Conformance', 'graphql.document': 'query Conformance {\n  n(x: ?)\n}' };
  },
  targets: () => [
    [executeModule, 'execute'],
    [executeModule, 'executeSync'],
    [require('graphql/language/parser'), 'parse'],
    [require('graphql/validation/validate'), 'validate'],
  ],
  async start() {},
  async stop() {},
  call() {
    return Promise.resolve(graphql.execute({ schema, document, rootValue }));
  },
  async failingCall() {
    const result = await graphql.execute({ schema, document: failing, rootValue });
    if (result.errors !== undefined) throw result.errors[0];
    return result;
  },
  countedCall(onRead) {
    return Promise.resolve(graphql.execute(countedArgs({ schema, document, rootValue, operationName: 'Conformance' }, onRead) as any));
  },
  inFlightCall: () => inFlight(() => graphql.execute({ schema, document, rootValue: slowRootValue })),
  normalize: (result) => JSON.parse(JSON.stringify(result)),
  otel: {
    module: '@opentelemetry/instrumentation-graphql',
    export: 'GraphQLInstrumentation',
    // OpenTelemetry patches the internal files.
    reload: ['graphql', ...['execution/execute', 'language/parser', 'validation/validate'].map((f) => require.resolve(`graphql/${f}`))],
  },
};

const graphql17 = require('graphql17') as typeof import('graphql');
const schema17 = graphql17.buildSchema('type Query { n(x: Int): Int fail: Int }');
const document17 = graphql17.parse('query Conformance { n(x: 7) }');
const failing17 = graphql17.parse('query Failing { fail }');

/** graphql 17, traced through the diagnostics channels it publishes (nothing of it is wrapped). */
const graphql17Driver: Driver = {
  ...graphql16Driver,
  name: 'graphql@17',
  config: { aliases: { graphql17: 'graphql' } },
  targets: () => [],
  call() {
    return Promise.resolve(graphql17.execute({ schema: schema17, document: document17, rootValue }));
  },
  inFlightCall: () => inFlight(() => graphql17.execute({ schema: schema17, document: document17, rootValue: slowRootValue })),
  // graphql 17 builds its channel message from the args itself (one more read of `schema`) once anything
  // subscribes; the hook reads only that message.
  countedCall: undefined,
  async failingCall() {
    const result = await graphql17.execute({ schema: schema17, document: failing17, rootValue });
    if (result.errors !== undefined) throw result.errors[0];
    return result;
  },
  // OpenTelemetry's instrumentation supports graphql up to 16.
  otel: undefined,
};

export const graphqlDrivers: Driver[] = [graphql16Driver, graphql17Driver];
