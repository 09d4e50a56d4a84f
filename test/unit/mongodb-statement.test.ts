import assert from 'node:assert/strict';
import { ObjectId } from 'bson';
import { commandStatement } from '../../src/tracing/mongodb';

describe('mongodb db.statement (the shape of a command)', () => {
  it("the command's own fields, each value a \"?\", keys kept and escaped as JSON; the command name and the driver's fields left out", () => {
    const command = { find: 'users', filter: { email: 'secret@example.com', 'a"b': { $in: [1, 2] } }, limit: 1, lsid: { id: 'x' }, $db: 'test', txnNumber: 3 };
    assert.equal(commandStatement(command, 'find', false), '{"filter":{"email":"?","a\\"b":{"$in":["?","?"]}},"limit":"?"}');
  });

  it('BSON scalars, dates, regexes, buffers and maps are one value; arrays show their first ten elements; nesting deeper than 16 levels is a "?"', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { k: deep };
    const command = { insert: 'c', documents: [{ _id: new ObjectId(), at: new Date(), re: /x/, bin: Buffer.from('x'), m: new Map([[1, 2]]) }], list: Array.from({ length: 12 }, (_, i) => i), deep };
    const statement = JSON.parse(commandStatement(command, 'insert', false)) as { documents: unknown[]; list: unknown[]; deep: unknown };
    assert.deepEqual(statement.documents, [{ _id: '?', at: '?', re: '?', bin: '?', m: '?' }]);
    assert.equal(statement.list.length, 10);
    let depth = 0;
    for (let level: unknown = statement.deep; typeof level === 'object' && level !== null; level = (level as { k?: unknown }).k) depth++;
    assert.equal(depth, 17); // levels 0 to 16
  });

  it("an accessor is a \"?\" and is never run (the app's objects are read by the driver alone); an own __proto__ key is shown like any other", () => {
    const filter = Object.defineProperty({ plain: 1 }, 'lazy', {
      enumerable: true,
      get() {
        throw new Error('getter ran');
      },
    });
    const withProto = JSON.parse('{"__proto__": {"role": "admin"}, "n": 1}') as object;
    assert.equal(commandStatement({ find: 'c', filter, extra: withProto }, 'find', false), '{"filter":{"plain":"?","lazy":"?"},"extra":{"__proto__":{"role":"?"},"n":"?"}}');
  });

  it('captureParameters: the values as they are (BigInt as its digits), what JSON leaves out left out', () => {
    assert.equal(commandStatement({ find: 'c', filter: { n: 10n, s: 'shown', none: undefined, f: () => 1 }, list: [1, undefined, null], $db: 'x' }, 'find', true), '{"filter":{"n":"10","s":"shown"},"list":[1,null,null]}');
  });

  it('captureParameters: BSON values as text, dates in ISO form, a regex as written; bytes and maps a "?"', () => {
    const id = new ObjectId();
    const at = new Date(Date.UTC(2026, 11, 5));
    const statement = commandStatement({ insert: 'c', documents: [{ _id: id, at, bad: new Date(NaN), re: /x+/i, bin: Buffer.from('secret'), m: new Map([[1, 2]]) }] }, 'insert', true);
    assert.equal(statement, `{"documents":[{"_id":"${id.toHexString()}","at":"2026-12-05T00:00:00.000Z","bad":null,"re":"/x+/i","bin":"?","m":"?"}]}`);
  });

  it("captureParameters: no getter of the app's is run (the driver runs it, once) and no toJSON called (the driver never does)", () => {
    let reads = 0;
    const filter = Object.defineProperty({ plain: 1, custom: { toJSON: () => (reads++, 'custom') } }, 'lazy', {
      enumerable: true,
      get() {
        reads++;
        return 'lazy';
      },
    });
    assert.equal(commandStatement({ find: 'c', filter }, 'find', true), '{"filter":{"plain":1,"custom":{},"lazy":"?"}}');
    assert.equal(reads, 0);
  });

  it("a Proxy among the app's values is a \"?\": none of its traps fires, with or without captureParameters", () => {
    const fired: string[] = [];
    const traps: ProxyHandler<object> = {};
    for (const trap of ['get', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf'] as const) {
      (traps as Record<string, unknown>)[trap] = (...args: unknown[]) => {
        fired.push(trap);
        return (Reflect[trap] as (...a: unknown[]) => unknown)(...args);
      };
    }
    const doc = new Proxy({ name: 'n', nested: { k: 1 } }, traps);
    for (const capture of [false, true]) {
      assert.equal(commandStatement({ insert: 'c', documents: [doc], filter: { doc } }, 'insert', capture), '{"documents":["?"],"filter":{"doc":"?"}}');
    }
    assert.deepEqual(fired, []);
  });

  it('toBSON (own, inherited, or a getter) makes an object a "?" never walked and nothing of it run; a Proxy among its prototypes too; a toBSON that is data but no function is walked, as BSON does', () => {
    const fired: string[] = [];
    const proto = Object.defineProperty({}, 'toBSON', {
      get() {
        fired.push('getter');
        return () => ({});
      },
    });
    const viaGetter = Object.assign(Object.create(proto) as object, { secret: 1 });
    const own = { secret: 1, toBSON: () => (fired.push('toBSON'), {}) };
    class Model {
      secret = 1;
      toBSON(): object {
        fired.push('method');
        return {};
      }
    }
    const behindProxy = Object.assign(Object.create(new Proxy({}, { getOwnPropertyDescriptor: () => (fired.push('trap'), undefined), getPrototypeOf: () => (fired.push('trap'), null) })) as object, { secret: 1 });
    const field = { toBSON: 'a field', secret: 1 };
    for (const capture of [false, true]) {
      const statement = commandStatement({ insert: 'c', documents: [viaGetter, own, new Model(), behindProxy, field] }, 'insert', capture);
      assert.equal(statement, `{"documents":["?","?","?","?",{"toBSON":${capture ? '"a field"' : '"?"'},"secret":${capture ? 1 : '"?"'}}]}`);
    }
    assert.deepEqual(fired, []);
  });

  it('the walk stops at the limit given; an object inside itself is a "?"', () => {
    const wide = Object.fromEntries(Array.from({ length: 10000 }, (_, i) => [`k${i}`, i]));
    assert.ok(commandStatement({ insert: 'c', documents: [wide] }, 'insert', false, 100).length <= 110);
    const node: Record<string, unknown> = {};
    node.a = node;
    node.b = [node, { c: node }];
    assert.equal(commandStatement({ find: 'c', filter: node }, 'find', false), '{"filter":{"a":"?","b":["?",{"c":"?"}]}}');
  });
});
