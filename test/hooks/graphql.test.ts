/**
 * graphql hook, on graphql 16 and 17: operation spans for execute() and graphql(), the document with its
 * literals redacted, the span active while resolvers run, errors with redacted messages, parse/validate
 * spans when asked, a span per subscription event, and Apollo Server 5 on express, graphql-yoga and
 * mercurius on fastify under the HTTP server span.
 */
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import { currentSpan, installPatches, uninstallAllPatches, withSpan } from '../../src';
import { settledUnder } from '../helpers/cases';
import { until } from '../helpers/waits';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { startMongoStandIn } from '../helpers/mongo-server';

 

const VERSIONS: Array<{ name: string; graphql: any }> = [
  { name: 'graphql@16', graphql: require('graphql') },
  // Through its diagnostics channels (on Node 20.19+ require() loads its ES-module build).
  { name: 'graphql@17', graphql: require('graphql17') },
];
const ALIASES = { graphql17: 'graphql' };

/** Every string reachable from `value` through own properties, enumerable or not (an error's message, stack, source), for what must never be recorded. */
function reachableText(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return String(value);
  if (seen.has(value)) return '';
  seen.add(value);
  return Reflect.ownKeys(value)
    .map((key) => {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
      return `${String(key)}:${'value' in descriptor ? reachableText(descriptor.value, seen) : ''}`;
    })
    .join(',');
}

/** What `fn` throws. */
function thrownBy(fn: () => unknown): any {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected a throw');
}
const SDL = `
  type User { id: ID! email: String! friends: [User!]! }
  type Query { user(id: ID!): User userByEmail(email: String!): User fail: String }
  type Subscription { ticks: Int }
`;

describe('graphql hook', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  beforeEach(() => {
    tracer.reset();
    installPatches(['graphql'], { tracer, aliases: ALIASES });
  });
  afterEach(() => uninstallAllPatches());

  const underParent = <T>(fn: () => T | Promise<T>): Promise<{ parent: RecordedSpan; result: T }> => settledUnder(tracer, fn);

  for (const { name, graphql } of VERSIONS) {
    describe(name, () => {
      const schema = graphql.buildSchema(SDL);
      const rootValue = {
        user: async ({ id }: { id: string }) => {
          // Work a resolver does is a child of the operation span.
          tracer.startSpan('resolver-work', { childOf: currentSpan() }).finish();
          return { id, email: 'secret@example.com', friends: [] };
        },
        userByEmail: ({ email }: { email: string }) => ({ id: '1', email, friends: [] }),
        fail: () => {
          throw new Error('lookup failed for "secret-value"');
        },
      };

      it('graphql(): one span named after the operation, document redacted, active while resolvers run', async () => {
        const source = 'query GetUser($e: String! = "default-secret") { user(id: "secret-id-42") { id email } byEmail: userByEmail(email: $e) { id } }';
        const { parent, result } = await underParent(() => graphql.graphql({ schema, source, rootValue, variableValues: { e: 'var-secret' } }));
        assert.equal((result as any).errors, undefined);
        const [span] = tracer.byName('query GetUser');
        assert.ok(span, tracer.finished.map((s) => s.operationName).join(', '));
        assert.equal(span.parentId, parent.id);
        assert.equal(span.tags.component, 'graphql');
        assert.equal(span.tags['graphql.operation.type'], 'query');
        assert.equal(span.tags['graphql.operation.name'], 'GetUser');
        assert.equal(span.tags['span.kind'], undefined);
        const doc = String(span.tags['graphql.document']);
        assert.match(doc, /user\(id: \?\)/);
        assert.match(doc, /\$e: String! = \?/);
        assert.ok(!/secret/.test(doc), doc);
        assert.ok(!span.hasError());
        const [work] = tracer.byName('resolver-work');
        assert.equal(work.parentId, span.id);
        assert.equal(tracer.byName(/^graphql\.(parse|validate)$/).length, 0, 'no parse/validate spans unless asked');
      });

      it('execute() directly; an anonymous operation is graphql.execute', async () => {
        const document = graphql.parse('{ user(id: 1) { id } }');
        const { parent } = await underParent(() => graphql.execute({ schema, document, rootValue }));
        const [span] = tracer.byName('graphql.execute');
        assert.equal(span.parentId, parent.id);
        assert.equal(span.tags['graphql.operation.type'], 'query');
        assert.equal(span.tags['graphql.operation.name'], undefined);
        assert.equal(tracer.finished.filter((s) => s.tags.component === 'graphql').length, 1);
      });

      it('execute() with args of a class of its own (getters on its prototype): the same result, one span', async () => {
        const document = graphql.parse('query Who { user(id: "1") { id } }');
        class Args {
          get schema(): unknown {
            return schema;
          }
          get document(): unknown {
            return document;
          }
          get rootValue(): unknown {
            return rootValue;
          }
        }
        const { result } = await underParent(() => graphql.execute(new Args()));
        assert.deepEqual(JSON.parse(JSON.stringify(result)), { data: { user: { id: '1' } } });
        assert.equal(tracer.byName('query Who').length, 1);
      });

      it('errors in the result: error=true, messages logged with values redacted; the result is unchanged', async () => {
        const source = 'query Bad($id: ID!) { fail user(id: $id) { id } }';
        const variableValues = { id: { nested: 'variable-secret' } };
        const untraced = await (uninstallAllPatches(), graphql.graphql({ schema, source, rootValue, variableValues }));
        installPatches(['graphql'], { tracer, aliases: ALIASES });
        const { result } = await underParent(() => graphql.graphql({ schema, source, rootValue, variableValues }));
        assert.deepEqual(JSON.parse(JSON.stringify(result)), JSON.parse(JSON.stringify(untraced)));
        const [span] = tracer.byName('query Bad');
        assert.equal(span.tags.error, true);
        const logs = span.logs.filter((l) => l.fields.event === 'error');
        assert.ok(logs.length >= 1);
        assert.ok(!JSON.stringify(logs.map((l) => l.fields)).includes('secret'), JSON.stringify(logs.map((l) => l.fields.message)));

        tracer.reset();
        await underParent(() => graphql.graphql({ schema, source: '{ fail }', rootValue }));
        const [failed] = tracer.byName('graphql.execute');
        assert.equal(failed.tags.error, true);
        assert.match(String(failed.errorLog()!.fields.message), /lookup failed for "\?"/);
      });

      it('a value echoed after `value`/`found` is redacted as a whole, a `;` or quote inside its strings included; the names around it stay', async () => {
        const coercion = graphql.buildSchema(`
          enum Color { RED GREEN }
          input Login { user: String! pin: Int! }
          type Query { a(x: Int): Int b(l: Login): Int c(col: Color): Int d(s: String): Int e(pin: Int): Int }
        `);
        const runs: Array<[string, Record<string, unknown>?]> = [
          ['query Q($x: Int) { a(x: $x) }', { x: 'pw;secret-1' }],
          ['query Q($l: Login) { b(l: $l) }', { l: { user: 'alice', pin: 'abc;secret-2', extra: 1 } }],
          ['query Q($c: Color) { c(col: $c) }', { c: 'token;secret-3' }],
          ['query Q($s: String) { d(s: $s) }', { s: { card: '4111;secret-4 "x;y' } }],
          ['{ e(pin: "0000;secret-5") }'],
          ['{ e(pin: """block "quoted";\nsecret-6""") }'],
        ];
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { parseSpans: true } } });
        for (const [source, variableValues] of runs) {
          const { result } = await underParent(() => graphql.graphql({ schema: coercion, source, variableValues }));
          assert.ok((result as any).errors.length > 0, source);
        }
        const logged = tracer.finished.flatMap((s) => s.logs.filter((l) => l.fields.event === 'error').map((l) => String(l.fields.message)));
        assert.ok(logged.length >= runs.length, logged.join('\n'));
        assert.ok(logged.some((m) => m.startsWith('Variable "$x" ')), logged.join('\n'));
        const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
        for (const secret of ['secret-1', 'secret-2', 'secret-3', 'secret-4', 'secret-5', 'secret-6']) assert.ok(!recorded.includes(secret), `${secret} recorded: ${logged.join('\n')}`);
      });

      /** A schema of these Query fields. */
      const querySchema = (fields: Record<string, unknown>): unknown => new graphql.GraphQLSchema({ query: new graphql.GraphQLObjectType({ name: 'Query', fields }) });
      /** `runs` of graphql() on `runSchema`, untraced, then traced with parseSpans under a parent: the app gets the same results. */
      const sameAsUntraced = async (runSchema: unknown, runs: Array<[string, Record<string, unknown>?]>): Promise<unknown[]> => {
        const all = (): Promise<unknown[]> => Promise.all(runs.map(([source, variableValues]) => graphql.graphql({ schema: runSchema, source, variableValues })));
        uninstallAllPatches();
        const untraced = await all();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { parseSpans: true } } });
        const { result } = await underParent(all);
        assert.deepEqual(JSON.parse(JSON.stringify(result)), JSON.parse(JSON.stringify(untraced)), 'the app gets the same errors');
        return result;
      };

      it("a custom scalar's refusal that prints the value bare (graphql-scalars' DateTime): its text is logged as `?`, in message and stack; graphql's words stay", async () => {
        const refuse = (value: unknown): never => {
          throw new TypeError(`DateTime cannot represent an invalid date-time-string ${String(value)}.`);
        };
        const DateTime = new graphql.GraphQLScalarType({
          name: 'DateTime',
          parseValue: (value: unknown) => (/^\d{4}-/.test(String(value)) ? value : refuse(value)),
          parseLiteral: (ast: any) => (/^\d{4}-/.test(ast.value) ? ast.value : refuse(ast.value)),
        });
        // A scalar that refuses with a GraphQLError of its own: graphql prints no words of its own before it.
        const Token = new graphql.GraphQLScalarType({
          name: 'Token',
          parseValue: (value: unknown) => {
            throw new graphql.GraphQLError(`Not a token: ${String(value)}`);
          },
        });
        const scalars = querySchema({
          at: { type: graphql.GraphQLString, args: { d: { type: DateTime } }, resolve: () => 'x' },
          tok: { type: graphql.GraphQLString, args: { t: { type: Token } }, resolve: () => 'x' },
        });
        const runs: Array<[string, Record<string, unknown>?]> = [
          ['query Q($d: DateTime) { at(d: $d) }', { d: 'sk_live_SECRET1' }],
          ['{ at(d: "card SECRET2") }'],
          ['query T($t: Token) { tok(t: $t) }', { t: 'tok SECRET3' }],
        ];
        await sameAsUntraced(scalars, runs);
        const logged = tracer.finished.flatMap((s) => s.logs.filter((l) => l.fields.event === 'error').map((l) => `${s.operationName}: ${String(l.fields.message)}`));
        assert.equal(logged.length, 3, logged.join('\n'));
        assert.ok(logged.some((m) => /^query Q: Variable "[^"]+" (?:got invalid value \?; |has invalid value: Expected value of type "[^"]+", but encountered error "\?"; found: \?$)/.test(m)), logged.join('\n'));
        assert.ok(logged.some((m) => /^graphql\.validate: Expected value /.test(m)), logged.join('\n'));
        const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
        for (const secret of ['SECRET1', 'SECRET2', 'SECRET3']) assert.ok(!recorded.includes(secret), `${secret} recorded: ${logged.join('\n')}`);
        const stacks = tracer.finished.flatMap((s) => s.logs.map((l) => String(l.fields.stack)));
        assert.ok(stacks.some((stack) => /\n\s+at /.test(stack)), 'the frames stay');
      });

      it("a custom scalar's own GraphQLError for a literal (graphql-scalars' EmailAddress), which graphql reports as it is: logged as `?` on the validate span; graphql's own messages about a literal keep their words", async () => {
        // graphql-scalars' way: a GraphQLError located at the literal, its text printing the value bare.
        const Email = new graphql.GraphQLScalarType({
          name: 'Email',
          parseValue: (value: unknown) => {
            throw new graphql.GraphQLError(`Value is not a valid email address: ${String(value)}`);
          },
          parseLiteral: (ast: any) => {
            throw new graphql.GraphQLError(`Value is not a valid email address: ${ast.value}`, { nodes: ast });
          },
        });
        // The same, not located.
        const Phone = new graphql.GraphQLScalarType({
          name: 'Phone',
          parseValue: (value: unknown) => value,
          parseLiteral: (ast: any) => {
            throw new graphql.GraphQLError(`Invalid phone ${JSON.stringify(ast.fields?.map((f: any) => f.value.value))}`);
          },
        });
        const Role = new graphql.GraphQLEnumType({ name: 'Role', values: { ADMIN: {} } });
        const scalars = querySchema({
          mail: { type: graphql.GraphQLString, args: { e: { type: Email } }, resolve: () => 'x' },
          call: { type: graphql.GraphQLString, args: { p: { type: Phone } }, resolve: () => 'x' },
          n: { type: graphql.GraphQLString, args: { i: { type: graphql.GraphQLInt }, r: { type: Role } }, resolve: () => 'x' },
        });
        const runs: Array<[string, Record<string, unknown>?]> = [
          ['{ mail(e: "alice.SECRET1@example.com") }'],
          ['{ call(p: { n: "SECRET2" }) }'],
          ['{ n(i: "SECRET3", r: 42) }'],
          ['query M($e: Email) { mail(e: $e) }', { e: 'bob.SECRET4@example.com' }],
        ];
        const result = await sameAsUntraced(scalars, runs);
        assert.match(JSON.stringify(result), /Value is not a valid email address: alice\.SECRET1@example\.com/, "the app gets the scalar's text");
        const validated = tracer.byName('graphql.validate').map((s) => s.logs.filter((l) => l.fields.event === 'error').map((l) => String(l.fields.message)));
        assert.deepEqual(validated.filter((m) => m.length > 0).sort(), [['?'], ['?'], ['Int cannot represent non-integer value: ?', 'Enum "Role" cannot represent non-enum value: ?']].sort());
        assert.match(String(tracer.byName('query M')[0]?.errorLog()?.fields.message), /^Variable "\$e" (got|has) invalid value:? \?/);
        const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
        for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4']) assert.ok(!recorded.includes(secret), `${secret} recorded: ${validated.join('\n')}`);
      });

      it("a custom scalar's `serialize` refusing a resolver's value (graphql-scalars' EmailAddress), or returning none, and a scalar's `parseValue` text over lines (graphql 17): the value is logged as `?`; graphql's own words stay", async () => {
        const scalar = (name: string, refuse: (value: unknown) => never): unknown => new graphql.GraphQLScalarType({ name, serialize: refuse, parseValue: refuse, parseLiteral: (ast: any) => ast.value });
        const Email = scalar('Email', (value) => {
          throw new graphql.GraphQLError(`Value is not a valid email address: ${String(value)}`);
        });
        const Phone = scalar('Phone', (value) => {
          throw new Error(`Invalid phone ${String(value)}`);
        });
        const Lines = scalar('Lines', (value) => {
          throw new graphql.GraphQLError(`Not a token:\n${String(value)}`);
        });
        const Card = new graphql.GraphQLScalarType({ name: 'Card', serialize: () => null });
        const Role = new graphql.GraphQLEnumType({ name: 'Role', values: { ADMIN: {} } });
        const scalars = querySchema({
          mail: { type: Email, resolve: () => 'alice.SECRET1@example.com' },
          phones: { type: new graphql.GraphQLList(Phone), resolve: () => ['SECRET2'] },
          card: { type: Card, resolve: () => 4111111111111111 },
          role: { type: Role, resolve: () => 'SECRET3' },
          tok: { type: graphql.GraphQLString, args: { t: { type: Lines } }, resolve: () => 'x' },
        });
        const runs: Array<[string, Record<string, unknown>?]> = [['query S { mail phones card role }'], ['query T($t: Lines) { tok(t: $t) }', { t: 'SECRET4' }]];
        const result = await sameAsUntraced(scalars, runs);
        assert.match(JSON.stringify(result), /Value is not a valid email address: alice\.SECRET1@example\.com/, "the app gets the scalar's text");
        const logged = (name: string): string[] => tracer.byName(name)[0]?.logs.filter((l) => l.fields.event === 'error').map((l) => String(l.fields.message)) ?? [];
        assert.deepEqual(logged('query S').sort(), ['?', '?', `Expected \`Card.${name === 'graphql@16' ? 'serialize' : 'coerceOutputValue'}(?)\` to return non-nullable value, returned: null`, 'Enum "Role" cannot represent value: ?'].sort());
        assert.match(logged('query T').join(), /^Variable "\$t" (got|has) invalid value:? \?(; \?)?$/);
        const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
        for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', '4111111111111111']) assert.ok(!recorded.includes(secret), `${secret} recorded: ${logged('query S').join('\n')}`);
      });

      it("a resolver's GraphQLError (as Apollo and yoga advise for user errors) is redacted as the app's text, as a plain Error is", async () => {
        const message = (args: { t: string; c: string }): string => `Payment with token "${args.t}" declined for card: ${args.c}`;
        const payments = graphql.buildSchema('type Query { plain(t: String!, c: String!): String gql(t: String!, c: String!): String }');
        const fields = (payments.getType('Query') as any).getFields();
        fields.plain.resolve = (_: unknown, args: { t: string; c: string }) => {
          throw new Error(message(args));
        };
        fields.gql.resolve = async (_: unknown, args: { t: string; c: string }) => {
          throw new graphql.GraphQLError(message(args), { extensions: { code: 'BAD_USER_INPUT' } });
        };
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
        const variableValues = { t: 'tok_live_abc123', c: '4111111111111111' };
        const { result } = await underParent(async () => [
          await graphql.graphql({ schema: payments, source: 'query P($t: String!, $c: String!) { plain(t: $t, c: $c) }', variableValues }),
          await graphql.graphql({ schema: payments, source: 'query G($t: String!, $c: String!) { gql(t: $t, c: $c) }', variableValues }),
        ]);
        assert.equal(result[1].errors[0].message, message(variableValues), 'the app gets its message');
        const redacted = 'Payment with token "?" declined for card: ?';
        for (const name of ['query P', 'graphql.resolve plain', 'query G', 'graphql.resolve gql']) {
          assert.equal(tracer.byName(name)[0]?.errorLog()?.fields.message, redacted, name);
        }
        const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
        for (const secret of ['tok_live_abc123', '4111111111111111']) assert.ok(!recorded.includes(secret), `${secret} recorded`);
      });

      it("a resolver's database error: the operation and resolver spans log it redacted as the database's own span does (no echoed value of a variable); graphql's own messages keep their names", async () => {
        const standIn = await startMongoStandIn();
        const { MongoClient } = require('mongodb') as typeof import('mongodb');
        const client = new MongoClient(standIn.url);
        try {
          await client.connect();
          const cards = client.db('test').collection('cards');
          await cards.insertOne({ _id: 4111111111111111 as never });
          const mutations = graphql.buildSchema('type Query { x: Int } type Mutation { addCard(number: Float!): Boolean  addUser(email: String!): Boolean }');
          const fields = (mutations.getType('Mutation') as any).getFields();
          fields.addCard.resolve = async (_: unknown, { number }: { number: number }) => (await cards.insertOne({ _id: number as never }), true);
          // As node-postgres and mysql2 word theirs: a quoted name-like value, a key's row.
          fields.addUser.resolve = (_: unknown, { email }: { email: string }) => {
            throw new Error(`unique constraint "users_email_key" violated: Key (email)=(${email}) already exists; user "${email.split('@')[0]}"`);
          };
          uninstallAllPatches();
          installPatches(['graphql', 'mongodb'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
          const { result } = await underParent(async () => [
            await graphql.graphql({ schema: mutations, source: 'mutation Add($n: Float!) { addCard(number: $n) }', variableValues: { n: 4111111111111111 } }),
            await graphql.graphql({ schema: mutations, source: 'mutation User($e: String!) { addUser(email: $e) }', variableValues: { e: 'alicesecret@example.com' } }),
            await graphql.graphql({ schema: mutations, source: 'mutation Bad($e: String!) { addUser(email: $e) }', variableValues: { e: 4242 } }),
          ]);
          assert.match(result[0].errors[0].message, /dup key: \{ _id: 4111111111111111 \}/, 'the app gets the error as it is');
          assert.match(result[1].errors[0].message, /alicesecret/);
          const [insert] = tracer.byName('mongodb.insert cards');
          assert.match(String(insert.errorLog()!.fields.message), /dup key: \{ _id: \? \}/);
          for (const name of ['mutation Add', 'graphql.resolve addCard']) {
            assert.equal(tracer.byName(name)[0].errorLog()!.fields.message, String(insert.errorLog()!.fields.message), name);
          }
          for (const name of ['mutation User', 'graphql.resolve addUser']) {
            assert.equal(tracer.byName(name)[0].errorLog()!.fields.message, 'unique constraint "?" violated: Key (email)=(?) already exists; user "?"', name);
          }
          assert.match(String(tracer.byName('mutation Bad')[0].errorLog()!.fields.message), /^Variable "\$e" (?:got invalid value \?|has invalid value: String cannot represent a non string value: \?$)/);
          const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
          for (const secret of ['4111111111111111', 'alicesecret', '4242']) assert.ok(!recorded.includes(secret), `${secret} recorded`);
        } finally {
          await client.close();
          await standIn.close();
        }
      });

      it('parseSpans: parse and validate spans under the same parent', async () => {
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { parseSpans: true } } });
        const { parent } = await underParent(() => graphql.graphql({ schema, source: '{ user(id: 1) { id } }', rootValue }));
        const phases = tracer.finished.filter((s) => s.tags.component === 'graphql').map((s) => s.operationName);
        assert.deepEqual(phases, ['graphql.parse', 'graphql.validate', 'graphql.execute']);
        for (const s of tracer.finished.filter((x) => x.tags.component === 'graphql')) assert.equal(s.parentId, parent.id);
      });

      it('resolverSpans: a span per resolver the app wrote, under its parent field; resolverDepth limits them', async () => {
        const nested = graphql.buildSchema(SDL);
        const user = (id: string): any => ({ id, email: 'e', friends: () => [user(`${id}1`), user(`${id}2`)] });
        const fields = (nested.getType('Query') as any).getFields();
        fields.user.resolve = async (_: unknown, { id }: { id: string }) => user(id);
        const userFields = (nested.getType('User') as any).getFields();
        userFields.friends.resolve = (u: any) => {
          tracer.startSpan('friends-work', { childOf: currentSpan() }).finish();
          return u.friends();
        };
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
        const source = 'query Deep { user(id: "1") { id friends { id friends { id } } } }';
        await underParent(() => graphql.graphql({ schema: nested, source }));
        const [op] = tracer.byName('query Deep');
        const [userSpan] = tracer.byName('graphql.resolve user');
        assert.equal(userSpan.parentId, op.id);
        const friends = tracer.byName('graphql.resolve user.friends');
        assert.equal(friends.length, 1);
        assert.equal(friends[0].parentId, userSpan.id);
        const deeper = tracer.byName('graphql.resolve user.friends.friends');
        assert.equal(deeper.length, 2, 'one per list item');
        for (const span of deeper) assert.equal(span.parentId, friends[0].id);
        assert.equal(deeper.map((s) => s.tags['graphql.field.path']).sort().join(), 'user.friends.0.friends,user.friends.1.friends');
        assert.equal(tracer.byName('graphql.resolve user.id').length, 0, 'no span for the default property resolver');
        const work = tracer.byName('friends-work');
        assert.equal(work[0].parentId, friends[0].id, 'the resolver span is active while it runs');

        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true, resolverDepth: 1 } } });
        tracer.reset();
        await underParent(() => graphql.graphql({ schema: nested, source }));
        assert.deepEqual(tracer.byName(/^graphql\.resolve/).map((s) => s.operationName), ['graphql.resolve user']);
      });

      describe('subscriptions', () => {
        const EVENTS_SDL = `
          type Query { ok: Int }
          type Event { n: Int! work: Int fail: String }
          type Subscription { events(from: Int!): Event }
        `;
        const DOCUMENT = 'subscription Events { events(from: 7) { n work fail } }';
        /** A schema whose event source is an async generator; `seen` gets each payload an event's resolvers receive. */
        function eventsSchema(seen: unknown[]): { schema: any; yielded: object[] } {
          const events = graphql.buildSchema(EVENTS_SDL);
          const yielded: object[] = [];
          const root = (events.getType('Subscription') as any).getFields().events;
          root.subscribe = async function* (_: unknown, { from }: { from: number }) {
            for (const n of [from, from + 1, from + 2]) {
              const payload = { n };
              yielded.push(payload);
              yield payload;
            }
          };
          root.resolve = (payload: unknown) => payload;
          const fields = (events.getType('Event') as any).getFields();
          fields.work.resolve = async (payload: { n: number }) => {
            seen.push(payload);
            await new Promise((resolve) => setImmediate(resolve));
            // Work an event's resolvers do is a child of that event's span.
            tracer.startSpan('event-work', { childOf: currentSpan() }).finish();
            return payload.n * 10;
          };
          fields.fail.resolve = ({ n }: { n: number }) => {
            if (n === 8) throw new Error('event failed for "secret-value"');
            return null;
          };
          return { schema: events, yielded };
        }

        /** Subscribes under `subscriber`'s span (if any) and reads every event under `consumer`'s. */
        async function run(subscriber?: RecordedSpan, consumer?: RecordedSpan): Promise<{ results: unknown[]; seen: unknown[]; yielded: object[]; keys: string[] }> {
          const seen: unknown[] = [];
          const { schema, yielded } = eventsSchema(seen);
          const subscribe = () => graphql.subscribe({ schema, document: graphql.parse(DOCUMENT) });
          const stream = await (subscriber === undefined ? subscribe() : withSpan(subscriber, subscribe));
          const results: unknown[] = [];
          const consume = async () => {
            for await (const event of stream) results.push(event);
          };
          await (consumer === undefined ? consume() : withSpan(consumer, consume));
          return { results, seen, yielded, keys: Object.keys(stream) };
        }

        it('a span per event delivered, under the consumer’s span, active while the event’s resolvers run; the app gets the same values', async () => {
          uninstallAllPatches();
          const untraced = await run();
          installPatches(['graphql'], { tracer, aliases: ALIASES });
          tracer.reset();
          const subscriber = tracer.startSpan('subscriber') as RecordedSpan;
          const consumer = tracer.startSpan('consumer') as RecordedSpan;
          const traced = await run(subscriber, consumer);
          subscriber.finish();
          consumer.finish();
          await tracer.settle();

          assert.deepEqual(JSON.parse(JSON.stringify(traced.results)), JSON.parse(JSON.stringify(untraced.results)));
          assert.equal(traced.results.length, 3);
          assert.deepEqual(traced.keys, untraced.keys, 'the same kind of stream');
          assert.equal(traced.seen.length, 3);
          traced.seen.forEach((payload, i) => assert.equal(payload, traced.yielded[i], 'resolvers get the very payload the source yielded'));

          const spans = tracer.byName('subscription Events');
          assert.equal(spans.length, 3, tracer.finished.map((s) => s.operationName).join(', '));
          assert.equal(tracer.finished.filter((s) => s.tags.component === 'graphql').length, 3, 'no span for subscribe() itself');
          const work = tracer.byName('event-work');
          assert.equal(work.length, 3);
          for (const [i, span] of spans.entries()) {
            assert.equal(span.parentId, consumer.id, 'the span of the code that reads the stream');
            assert.equal(span.finishCount, 1);
            assert.equal(span.tags.component, 'graphql');
            assert.equal(span.tags['graphql.operation.type'], 'subscription');
            assert.equal(span.tags['graphql.operation.name'], 'Events');
            assert.equal(span.tags['graphql.document'], 'subscription Events {\n  events(from: ?) {\n    n\n    work\n    fail\n  }\n}');
            assert.equal(span.hasError(), i === 1, `event ${i}`);
            assert.ok(work.some((w) => w.parentId === span.id), `event ${i}: its resolvers' work is its child`);
          }
          const logged = spans[1].errorLog()!.fields;
          assert.equal(logged.message, 'event failed for "?"');
          assert.equal(logged['graphql.path'], 'events.fail');
          assert.ok(!JSON.stringify(spans.map((s) => s.logs.map((l) => l.fields))).includes('secret'));
        });

        it('execute() of a subscription document: one span; none per event without a parent under requireParent', async () => {
          const seen: unknown[] = [];
          const { schema } = eventsSchema(seen);
          const document = graphql.parse(DOCUMENT);
          const { parent, result } = await underParent(() => graphql.execute({ schema, document, rootValue: { n: 1 } }));
          assert.deepEqual(JSON.parse(JSON.stringify(result)), { data: { events: { n: 1, work: 10, fail: null } } });
          const spans = tracer.finished.filter((s) => s.tags.component === 'graphql');
          assert.deepEqual(spans.map((s) => s.operationName), ['subscription Events']);
          assert.equal(spans[0].parentId, parent.id);

          uninstallAllPatches();
          installPatches(['graphql'], { tracer, aliases: ALIASES, requireParent: true });
          tracer.reset();
          assert.equal((await run()).results.length, 3);
          await tracer.settle();
          assert.equal(tracer.finished.filter((s) => s.tags.component === 'graphql').length, 0);
        });
      });

      it('thrown errors (a parse error, a resolver’s): logged as redacted copies, values nowhere in the spans; the app gets its very error, unchanged', async () => {
        const secrets = ['hunter2', 'tok-SECRET', 'var-SECRET'];
        // The first fails past its literals; the second's message quotes one.
        const documents = ['{ login(password: "hunter2" token: "tok-SECRET" x ) }', '{ login(password: "hunter2" "tok-SECRET") }'];
        uninstallAllPatches();
        const untraced = documents.map((d) => thrownBy(() => graphql.parse(d)));
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { parseSpans: true, resolverSpans: true } } });
        const logins = graphql.buildSchema('type Query { login(password: String, token: String): String }');
        let rejected: Error | undefined;
        (logins.getType('Query') as any).getFields().login.resolve = async (_: unknown, { password }: { password: string }) => {
          throw (rejected = new Error(`no account for "${password}"`));
        };
        const { result } = await underParent(async () => {
          const parseErrors = documents.map((d) => thrownBy(() => graphql.parse(d)));
          const source = 'query Login($p: String) { login(password: $p, token: "tok-SECRET") }';
          return { parseErrors, executed: await graphql.graphql({ schema: logins, source, variableValues: { p: 'var-SECRET' } }) };
        });

        result.parseErrors.forEach((err: any, i: number) => {
          assert.ok(err instanceof graphql.GraphQLError);
          assert.equal(err.message, untraced[i].message);
          assert.equal(err.source.body, documents[i], 'the app’s error keeps its source');
        });
        // Those two failed (buildSchema's and graphql()'s parses succeed).
        const parseSpans = tracer.byName('graphql.parse').filter((span) => span.hasError());
        assert.equal(parseSpans.length, 2);
        parseSpans.forEach((span, i) => {
          const logged = span.errorLog()!.fields;
          assert.notEqual(logged['error.object'], result.parseErrors[i], 'a copy, not the error itself');
          assert.equal(logged['error.object'].name, 'GraphQLError');
        });
        assert.equal(parseSpans[1].errorLog()!.fields['error.object'].message, 'Syntax Error: Expected Name, found ?');

        assert.equal(result.executed.errors[0].originalError, rejected, 'the app gets the very error its resolver threw');
        assert.equal(rejected!.message, 'no account for "var-SECRET"', 'unchanged');
        const [resolverSpan] = tracer.byName('graphql.resolve login');
        assert.equal(resolverSpan.tags.error, true);
        assert.notEqual(resolverSpan.errorLog()!.fields['error.object'], rejected);
        assert.equal(resolverSpan.errorLog()!.fields['error.object'].message, 'no account for "?"');
        assert.equal(tracer.byName('query Login')[0].tags.error, true);

        const recorded = reachableText(tracer.finished.map((s) => ({ tags: s.tags, logs: s.logs })));
        for (const secret of secrets) assert.ok(!recorded.includes(secret), `${secret} recorded`);
      });

      it('uninstall while an operation is in flight: the app gets its result, and its spans finish once', async () => {
        const slow = graphql.buildSchema('type Query { slow: String }');
        let release!: (value: string) => void;
        (slow.getType('Query') as any).getFields().slow.resolve = () => new Promise<string>((resolve) => (release = resolve));
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
        const parent = tracer.startSpan('parent');
        const outcome = withSpan(parent, () => graphql.execute({ schema: slow, document: graphql.parse('query Slow { slow }') }));
        assert.equal(typeof release, 'function', 'the resolver is waiting');
        uninstallAllPatches();
        release('done');
        assert.deepEqual(JSON.parse(JSON.stringify(await outcome)), { data: { slow: 'done' } });
        parent.finish();
        // Every end graphql reports (a channel's asyncEnd, the promise's) came before the app's result.
        const spans = tracer.started.filter((s) => s.tags.component === 'graphql');
        assert.deepEqual(spans.map((s) => s.operationName).sort(), ['graphql.resolve slow', 'query Slow']);
        for (const span of spans) assert.equal(span.finishCount, 1, span.operationName);
      });

      it('uninstall while an operation is in flight: its spans finish when it does, with the error it ends with', async () => {
        const slow = graphql.buildSchema('type Query { slow: String }');
        let fail!: (err: Error) => void;
        (slow.getType('Query') as any).getFields().slow.resolve = () => new Promise<string>((_, reject) => (fail = reject));
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
        const parent = tracer.startSpan('parent');
        const outcome = withSpan(parent, () => graphql.execute({ schema: slow, document: graphql.parse('query Slow { slow }') }));
        uninstallAllPatches();
        const spans = tracer.started.filter((s) => s.tags.component === 'graphql');
        assert.deepEqual(spans.map((s) => [s.operationName, s.finishCount]).sort(), [['graphql.resolve slow', 0], ['query Slow', 0]], 'still running at uninstall');
        fail(new Error('backend down'));
        assert.deepEqual((await outcome).errors.map((e: Error) => e.message), ['backend down']);
        parent.finish();
        for (const span of spans) {
          assert.equal(span.finishCount, 1, span.operationName);
          assert.equal(span.tags.error, true, span.operationName);
          assert.equal(span.errorLog()?.fields.message, 'backend down', span.operationName);
        }
        // The last end unsubscribed what uninstall kept.
        for (const end of ['end', 'asyncEnd']) assert.equal(diagnostics.channel(`tracing:graphql:execute:${end}`).hasSubscribers, false, end);
      });

      it('a call that never settles, once the app drops it, is collected, installed or not; the end channels uninstall kept for it then unsubscribe, its spans abandoned', async () => {
        if (typeof global.gc !== 'function') throw new Error('run mocha with --expose-gc (npm test does)');
        const hung = graphql.buildSchema('type Query { hang: String }');
        (hung.getType('Query') as any).getFields().hang.resolve = () => new Promise<never>(() => undefined);
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
        const parent = tracer.startSpan('parent');
        const document = graphql.parse('query Hang { hang }');
        /** A call that never settles, dropped: a WeakRef to its context value. */
        const dropped = (): WeakRef<object> => {
          const contextValue = { big: new Array(1e4).fill('x') };
          void withSpan(parent, () => graphql.execute({ schema: hung, document, contextValue }));
          return new WeakRef(contextValue);
        };
        // gc() after a turn: deref() keeps its target alive to the end of the turn it runs in.
        const collected = async (ref: WeakRef<object>): Promise<boolean> => {
          for (let i = 0; i < 50; i++) {
            await new Promise((r) => setTimeout(r, 20));
            global.gc!();
            if (ref.deref() === undefined) return true;
          }
          return false;
        };
        assert.ok(await collected(dropped()), 'collected while installed');
        const last = dropped();
        uninstallAllPatches();
        assert.ok(await collected(last), 'collected after uninstall');
        const ends = ['execute', 'resolve'].flatMap((name) => ['end', 'asyncEnd'].map((end) => `tracing:graphql:${name}:${end}`));
        await until(() => ends.every((channel) => !diagnostics.channel(channel).hasSubscribers), 'the end channels unsubscribed');
        const spans = tracer.started.filter((s) => s.tags.component === 'graphql');
        assert.deepEqual(spans.map((s) => [s.operationName, s.finishCount]).sort(), [['graphql.resolve hang', 0], ['graphql.resolve hang', 0], ['query Hang', 0], ['query Hang', 0]]);
        parent.finish();
      });

      it('no span after uninstall; none without a parent under requireParent', async () => {
        uninstallAllPatches();
        installPatches(['graphql'], { tracer, aliases: ALIASES, requireParent: true });
        await graphql.graphql({ schema, source: '{ user(id: 1) { id } }', rootValue });
        uninstallAllPatches();
        await underParent(() => graphql.graphql({ schema, source: '{ user(id: 1) { id } }', rootValue }));
        assert.equal(tracer.finished.filter((s) => s.tags.component === 'graphql').length, 0);
      });
    });
  }

  it('graphql 16 and @graphql-tools/executor: execute() args of a class of its own are read no more often than untraced, its getters on the very object', async () => {
    const graphql = VERSIONS[0].graphql;
    const schema = graphql.buildSchema(SDL);
    const document = graphql.parse('query Who { user(id: "1") { id } }');
    const reads = new Map<string, number>();
    const read = <T>(property: string, value: T): T => (reads.set(property, (reads.get(property) ?? 0) + 1), value);
    class Args {
      // A private field behind a getter: read with any other `this`, it throws.
      readonly #rootValue = { user: ({ id }: { id: string }) => ({ id, email: 'e', friends: [] }) };
      get schema(): unknown {
        return read('schema', schema);
      }
      get document(): unknown {
        return read('document', document);
      }
      get operationName(): unknown {
        return read('operationName', 'Who');
      }
      get rootValue(): unknown {
        return read('rootValue', this.#rootValue);
      }
    }
    const executors: Array<[string, (args: object) => unknown]> = [
      ['graphql', (args) => graphql.execute(args)],
      ['@graphql-tools/executor', (args) => require('@graphql-tools/executor').execute(args)],
    ];
    for (const [name, execute] of executors) {
      const counted = async (): Promise<{ result: unknown; counts: Map<string, number> }> => {
        reads.clear();
        const result = JSON.parse(JSON.stringify(await execute(new Args())));
        return { result, counts: new Map(reads) };
      };
      uninstallAllPatches();
      const untraced = await counted();
      assert.deepEqual(untraced.result, { data: { user: { id: '1' } } }, name);
      installPatches(['graphql'], { tracer, aliases: ALIASES, hooks: { graphql: { resolverSpans: true } } });
      tracer.reset();
      const { result: traced } = await underParent(counted);
      assert.deepEqual(traced.result, untraced.result, name);
      assert.equal(tracer.byName('query Who').length, 1, name);
      for (const [property, n] of traced.counts) {
        assert.ok(n <= (untraced.counts.get(property) ?? 0), `${name}: ${property} read ${n} times traced, ${untraced.counts.get(property) ?? 0} untraced`);
      }
    }
  });

  it("@graphql-tools/executor's executeSync: one operation span, active while the resolvers run; the same result, and the same throw for an operation that does not complete synchronously", async () => {
    const executor = require('@graphql-tools/executor');
    const graphql = VERSIONS[0].graphql;
    const schema = graphql.buildSchema(SDL);
    const rootValue = {
      user: ({ id }: { id: string }) => {
        tracer.startSpan('resolver-work', { childOf: currentSpan() }).finish();
        return { id, email: 'e', friends: [] };
      },
      fail: async () => 'late',
    };
    const run = (source: string): unknown => {
      try {
        return JSON.parse(JSON.stringify(executor.executeSync({ schema, document: graphql.parse(source), rootValue })));
      } catch (err) {
        return `threw ${(err as Error).message}`;
      }
    };
    uninstallAllPatches();
    const untraced = [run('query Sync { user(id: "secret-3") { id } }'), run('query Async { fail }')];
    installPatches(['graphql'], { tracer, aliases: ALIASES });
    tracer.reset();
    const { parent, result } = await underParent(() => [run('query Sync { user(id: "secret-3") { id } }'), run('query Async { fail }')]);
    assert.deepEqual(result, untraced);
    assert.equal(untraced[1], 'threw GraphQL execution failed to complete synchronously.');
    const [sync] = tracer.byName('query Sync');
    assert.ok(sync, tracer.finished.map((s) => s.operationName).join(', '));
    assert.equal(sync.parentId, parent.id);
    assert.equal(sync.tags['graphql.document'], 'query Sync {\n  user(id: ?) {\n    id\n  }\n}');
    assert.equal(tracer.byName('resolver-work')[0].parentId, sync.id);
    const [async] = tracer.byName('query Async');
    assert.equal(async.errorLog()!.fields.message, 'GraphQL execution failed to complete synchronously.');
    assert.equal(tracer.finished.filter((s) => s.tags.component === 'graphql').length, 2, 'one span each');
  });

  it('graphql-yoga subscriptions (@graphql-tools/executor runs each event itself): the events are delivered as untraced, and make no graphql span (a limit, documented)', async () => {
    const { createYoga, createSchema } = require('graphql-yoga');
    const typeDefs = 'type Query { x: Int } type Subscription { ticks: Int }';
    const resolvers = { Subscription: { ticks: { subscribe: async function* () { for (let i = 1; i <= 3; i++) yield { ticks: i }; } } } };
    const subscribe = async (): Promise<string[]> => {
      const yoga = createYoga({ schema: createSchema({ typeDefs, resolvers }), logging: false });
      const res = await yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: 'subscription Ticks { ticks }' }) });
      // The whole body: the stream is over.
      return (await res.text()).match(/"ticks":\d/g) ?? [];
    };
    uninstallAllPatches();
    const untraced = await subscribe();
    installPatches(['graphql'], { tracer, aliases: ALIASES });
    tracer.reset();
    const { result } = await underParent(subscribe);
    assert.deepEqual(result, untraced);
    assert.deepEqual(untraced, ['"ticks":1', '"ticks":2', '"ticks":3']);
    assert.deepEqual(tracer.finished.filter((s) => s.tags.component === 'graphql').map((s) => s.operationName), []);
  });

  it('graphql 17: a root selection set executed outside execute() (legacyExecuteIncrementally, executeRootSelectionSet) gets its one span', async () => {
    const graphql = VERSIONS[1].graphql;
    const schema = graphql.buildSchema(SDL);
    const document = graphql.parse('query Direct { user(id: "secret-1") { id } }');
    const rootValue = { user: ({ id }: { id: string }) => ({ id, email: 'e', friends: [] }) };
    const runs: Array<[string, () => unknown]> = [
      ['legacyExecuteIncrementally', () => graphql.legacyExecuteIncrementally({ schema, document, rootValue })],
      ['executeRootSelectionSet', () => graphql.executeRootSelectionSet(graphql.validateExecutionArgs({ schema, document, rootValue }))],
    ];
    for (const [name, call] of runs) {
      tracer.reset();
      const { parent, result } = await underParent(call);
      assert.deepEqual(JSON.parse(JSON.stringify(result)), { data: { user: { id: 'secret-1' } } }, name);
      const spans = tracer.finished.filter((s) => s.tags.component === 'graphql');
      assert.deepEqual(spans.map((s) => s.operationName), ['query Direct'], name);
      assert.equal(spans[0].parentId, parent.id, name);
      assert.ok(!String(spans[0].tags['graphql.document']).includes('secret'), name);
    }
  });

  it('graphql 17: an event executed after the subscription was aborted throws; its span is marked and finished once', async () => {
    const graphql = VERSIONS[1].graphql;
    const schema = graphql.buildSchema(SDL);
    const ticks = (schema.getType('Subscription') as any).getFields().ticks;
    ticks.resolve = (payload: number) => payload;
    /** Reads one event, aborts while the source produces the second, and reads on: what the app sees. */
    async function abortMidway(): Promise<unknown[]> {
      let release!: () => void;
      ticks.subscribe = async function* () {
        yield 1;
        await new Promise<void>((resolve) => (release = resolve));
        yield 2;
      };
      const controller = new AbortController();
      const stream = await graphql.subscribe({ schema, document: graphql.parse('subscription Ticks { ticks }'), abortSignal: controller.signal });
      const seen: unknown[] = [await stream.next()];
      const second = stream.next();
      controller.abort(new Error('stopped by the app'));
      release();
      await second.then((value: unknown) => seen.push(value), (err: Error) => seen.push(`rejected: ${err.message}`));
      return seen;
    }
    uninstallAllPatches();
    const untraced = await abortMidway();
    installPatches(['graphql'], { tracer, aliases: ALIASES });
    const { parent, result } = await underParent(abortMidway);
    assert.deepEqual(result, untraced);
    const spans = tracer.byName('subscription Ticks');
    assert.equal(spans.length, 2, 'the second event still runs, and throws');
    for (const span of spans) {
      assert.equal(span.parentId, parent.id);
      assert.equal(span.finishCount, 1);
    }
    assert.ok(!spans[0].hasError());
    assert.equal(spans[1].errorLog()!.fields.message, 'stopped by the app');
  });

  /** Posts `query` (which asks for user "<secret>") to a GraphQL server; returns the operation span, checked to be the server span's child. */
  async function postedOperation(url: string, operation: string, secret: string): Promise<RecordedSpan> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `query ${operation} { user(id: "${secret}") { id } }` }),
    });
    assert.deepEqual(await res.json(), { data: { user: { id: secret } } });
    await tracer.settle();
    const [op] = tracer.byName(`query ${operation}`);
    assert.ok(op, tracer.finished.map((s) => s.operationName).join(', '));
    const serverSpan = tracer.finished.find((s) => s.tags['span.kind'] === 'server')!;
    assert.equal(op.parentId, serverSpan.id);
    assert.ok(!String(op.tags['graphql.document']).includes(secret));
    return op;
  }

  it('graphql-yoga (which executes with @graphql-tools/executor): the operation span under the HTTP server span', async () => {
    uninstallAllPatches();
    installPatches(['httpServer', 'graphql'], { tracer, aliases: ALIASES });
    const { createYoga, createSchema } = require('graphql-yoga');
    const yoga = createYoga({ schema: createSchema({ typeDefs: SDL, resolvers: { Query: { user: (_: unknown, { id }: { id: string }) => ({ id, email: 'x', friends: [] }) } } }), logging: false });
    const server = http.createServer(yoga);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const op = await postedOperation(`http://127.0.0.1:${port}/graphql`, 'Two', 'secret-8');
      assert.equal(op.tags['graphql.document'], 'query Two {\n  user(id: ?) {\n    id\n  }\n}');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('mercurius on fastify: the operation span under the HTTP server span', async () => {
    uninstallAllPatches();
    installPatches(['httpServer', 'fastify', 'graphql'], { tracer, aliases: ALIASES });
    const Fastify = require('fastify');
    const mercurius = require('mercurius');
    const app = Fastify();
    app.register(mercurius, { schema: SDL, resolvers: { Query: { user: async (_: unknown, { id }: { id: string }) => ({ id, email: 'x', friends: [] }) } } });
    const address: string = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      await postedOperation(`${address}/graphql`, 'Three', 'secret-9');
    } finally {
      await app.close();
    }
  });

  it('Apollo Server 5 on express: the HTTP server span is the operation span’s parent', async () => {
    uninstallAllPatches();
    installPatches(['httpServer', 'express', 'graphql'], { tracer, aliases: ALIASES });
    const express = require('express');
    const { ApolloServer } = require('@apollo/server');
    const { expressMiddleware } = require('@as-integrations/express5');
    const graphql = VERSIONS[0].graphql;
    const apollo = new ApolloServer({ typeDefs: SDL, resolvers: { Query: { user: (_: unknown, { id }: { id: string }) => ({ id, email: 'x', friends: [] }) } } });
    await apollo.start();
    const app = express();
    app.use('/graphql', express.json(), expressMiddleware(apollo));
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'query One { user(id: "secret-7") { id } }' }),
      });
      assert.deepEqual(await res.json(), { data: { user: { id: 'secret-7' } } });
      await tracer.settle();
      const [op] = tracer.byName('query One');
      assert.ok(op, tracer.finished.map((s) => s.operationName).join(', '));
      const serverSpan = tracer.finished.find((s) => s.tags['span.kind'] === 'server');
      assert.ok(serverSpan);
      // The operation span's parent is the HTTP server span (or a framework span under it).
      let at: RecordedSpan | undefined = op;
      const chain: string[] = [];
      while (at !== undefined && at !== serverSpan) {
        chain.push(at.operationName);
        at = tracer.finished.find((s) => s.id === at!.parentId);
      }
      assert.equal(at, serverSpan, chain.join(' <- '));
      assert.ok(!String(op.tags['graphql.document']).includes('secret'));
      void graphql;
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await apollo.stop();
    }
  });
});
