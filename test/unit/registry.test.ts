import assert from 'node:assert/strict';
import shimmer from 'shimmer';
import { Wrapper, asWrapperOf, callbackWrapper, isOurWrapper } from '../../src/registry/wrap';

type Fn = (...args: any[]) => any;

/** A wrapper that logs `tag` and calls through, as any instrumentation's would. */
function tagging(log: string[], tag: string) {
  return (original: Fn): Fn =>
    function (this: unknown, ...args: unknown[]) {
      log.push(tag);
      return original.apply(this, args);
    };
}

describe('registry: layered wrapping', () => {
  it("wraps, keeps the original's name and length, and unwraps to the very same function and descriptor", () => {
    const target = { run(a: number, b: number) { return a + b; } };
    const original = target.run;
    const before = Object.getOwnPropertyDescriptor(target, 'run');
    const log: string[] = [];
    const w = new Wrapper('test');
    assert.equal(w.wrap(target, 'run', tagging(log, 'ours')), true);
    assert.notEqual(target.run, original);
    assert.equal(target.run.name, 'run');
    assert.equal(target.run.length, 2);
    assert.ok(isOurWrapper(target.run));
    assert.equal(target.run(1, 2), 3);
    assert.deepEqual(log, ['ours']);
    w.unwrapAll();
    assert.equal(target.run, original);
    assert.deepEqual(Object.getOwnPropertyDescriptor(target, 'run'), before);
  });

  it('an inherited method is wrapped on the object and the own property removed again at unwrap', () => {
    class Base { hello() { return 'hi'; } }
    class Child extends Base {}
    const w = new Wrapper('test');
    w.wrap(Child.prototype, 'hello', tagging([], 'ours'));
    assert.ok(Object.prototype.hasOwnProperty.call(Child.prototype, 'hello'));
    w.unwrapAll();
    assert.ok(!Object.prototype.hasOwnProperty.call(Child.prototype, 'hello'));
    assert.equal(new Child().hello(), 'hi');
  });

  it('never runs a getter while looking for the function, and leaves accessors and non-functions alone', () => {
    let reads = 0;
    const proto = { get options(): unknown { reads++; throw new Error('getter ran'); } };
    const target = Object.create(proto) as Record<string, unknown>;
    target.value = 42;
    const w = new Wrapper('test');
    assert.equal(w.wrap(target, 'options', tagging([], 'ours')), false);
    assert.equal(w.wrap(target, 'value', tagging([], 'ours')), false);
    assert.equal(w.wrap(target, 'missing', tagging([], 'ours')), false);
    assert.equal(reads, 0);
  });

  it('a read-only method is left as it is', () => {
    const target = {};
    Object.defineProperty(target, 'frozen', { value: () => 1, writable: false, configurable: false });
    assert.equal(new Wrapper('test').wrap(target, 'frozen', tagging([], 'ours')), false);
  });

  it("wraps over a shimmer wrapper (OpenTelemetry's, Elastic's) and unwraps only its own layer", () => {
    const target = { run() { return 'done'; } };
    const original = target.run;
    const log: string[] = [];
    shimmer.wrap(target, 'run', tagging(log, 'theirs'));
    const theirs = target.run;
    const w = new Wrapper('test');
    assert.equal(w.wrap(target, 'run', tagging(log, 'ours')), true);
    assert.equal(target.run(), 'done');
    assert.deepEqual(log, ['ours', 'theirs']);
    w.unwrapAll();
    assert.equal(target.run, theirs, 'their wrapper is back on top');
    shimmer.unwrap(target, 'run');
    assert.equal(target.run, original, 'and they can still unwrap theirs');
  });

  it('does not set the shimmer marks, so that an instrumentation that unwraps marked functions first leaves ours in place', () => {
    const target = { run() { return 1; } };
    new Wrapper('test').wrap(target, 'run', tagging([], 'ours'));
    const fn = target.run as Fn & { __wrapped?: unknown; __unwrap?: unknown; __original?: unknown };
    assert.equal(fn.__wrapped, undefined);
    assert.equal(fn.__unwrap, undefined);
    assert.equal(fn.__original, undefined);
  });

  it('when another instrumentation wrapped over ours, unwrap leaves both in place (ours must then pass through)', () => {
    const target = { run() { return 'done'; } };
    const log: string[] = [];
    let enabled = true;
    const w = new Wrapper('test');
    w.wrap(target, 'run', (original) =>
      function (this: unknown) {
        if (enabled) log.push('ours');
        return original.apply(this);
      },
    );
    shimmer.wrap(target, 'run', tagging(log, 'theirs'));
    const theirs = target.run;
    enabled = false;
    w.unwrapAll();
    assert.equal(target.run, theirs, 'their layer is not removed');
    assert.equal(target.run(), 'done');
    assert.deepEqual(log, ['theirs']);
  });

  it('layers of two installs unwrap in reverse order, each its own', () => {
    const target = { run() { return 'done'; } };
    const original = target.run;
    const first = new Wrapper('first');
    const second = new Wrapper('second');
    first.wrap(target, 'run', tagging([], 'a'));
    const afterFirst = target.run;
    second.wrap(target, 'run', tagging([], 'b'));
    second.unwrapAll();
    assert.equal(target.run, afterFirst);
    first.unwrapAll();
    assert.equal(target.run, original);
  });

  it("share: copies of a module's exports (an ES-module namespace) get the very layers the exports got, and lose them at unwrap", () => {
    const exports = { run() { return 'run'; }, stop() { return 'stop'; }, other() { return 'other'; } };
    const { run, stop, other } = exports;
    const copiedBefore = { run, stop: () => 'not the exports one', other };
    const log: string[] = [];
    const w = new Wrapper('test');
    w.wrap(exports, 'run', tagging(log, 'ours'));
    w.wrap(exports, 'stop', tagging(log, 'ours'));
    const copiedAfter = { run: exports.run };
    w.share(exports, copiedBefore);
    w.share(exports, copiedBefore);
    w.share(exports, copiedAfter);
    assert.equal(copiedBefore.run, exports.run, 'the same layer, not a second one');
    assert.equal(copiedBefore.other, other, 'what the exports did not get is left as it is');
    assert.notEqual(copiedBefore.stop, exports.stop, 'a binding that holds another function is left as it is');
    assert.equal(copiedBefore.run(), 'run');
    assert.deepEqual(log, ['ours']);
    // Another instrumentation wraps the exports over ours: unwrap leaves theirs there, and the copies get the original.
    shimmer.wrap(exports, 'run', tagging([], 'theirs'));
    const theirs = exports.run;
    w.unwrapAll();
    assert.equal(exports.run, theirs);
    assert.equal(exports.stop, stop);
    assert.equal(copiedBefore.run, run);
    assert.equal(copiedAfter.run, run, 'a copy made with our layer on loses it too');
  });
});

describe('registry: per-call callback wrappers', () => {
  const callbacks: Fn[] = [
    () => 0,
    (a: unknown) => a,
    (a: unknown, b: unknown) => [a, b],
    function named(a: unknown, b: unknown, c: unknown) {
      return [a, b, c];
    },
    (a: unknown, b: unknown, c: unknown, d: unknown) => [a, b, c, d],
    (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown) => [a, b, c, d, e, f],
    Object.defineProperty(() => 0, 'length', { value: 2 }),
  ];
  for (const callback of callbacks) {
    it(`callbackWrapper: the name "${callback.name}" and length ${callback.length} of the callback; this, arguments and result passed through`, () => {
      const seen: unknown[] = [];
      const wrapped = callbackWrapper(callback, (self, args) => {
        seen.push(self, Array.from(args));
        return Reflect.apply(callback, self, args);
      });
      assert.equal(wrapped.name, callback.name);
      assert.equal(wrapped.length, callback.length);
      const self = {};
      const result = wrapped.call(self, 1, 2, 3, 4, 5, 6, 7);
      assert.deepEqual(result, Reflect.apply(callback, self, [1, 2, 3, 4, 5, 6, 7]));
      assert.equal(seen[0], self);
      assert.deepEqual(seen[1], [1, 2, 3, 4, 5, 6, 7]);
    });
  }

  it("asWrapperOf: the original's name and length whether they differ or not", () => {
    const wrapper = asWrapperOf((a: unknown, b: unknown) => [a, b], function (_x: unknown, _y: unknown) {
      return 0;
    });
    assert.equal(wrapper.name, '');
    assert.equal(wrapper.length, 2);
    const named = asWrapperOf(function done(_e: unknown) {}, () => 0);
    assert.equal(named.name, 'done');
    assert.equal(named.length, 1);
  });
});
