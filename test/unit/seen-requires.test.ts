import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Module from 'node:module';
import { skipSeenRequires } from '../../src/registry/seen-requires';
import { installPatches, uninstallAllPatches } from '../../src';

type RequireFunction = (this: unknown, id: string) => unknown;
const proto = Module.prototype as unknown as { require: RequireFunction };
const internals = Module as unknown as { _resolveFilename: (request: string, parent: unknown, ...rest: unknown[]) => string };

/** The fixtures' directories, removed (with their modules from the require cache) after the suite. */
const fixtureDirs: string[] = [];

/** A directory with `lazy.js`, whose export requires `./dep` each time it is called (as kafkajs does per request). */
function fixture(): { dir: string; lazy: () => unknown; dep: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seen-requires-'));
  fixtureDirs.push(dir);
  fs.writeFileSync(path.join(dir, 'dep.js'), 'module.exports = { value: 42 };\n');
  fs.writeFileSync(path.join(dir, 'lazy.js'), "module.exports = () => require('./dep');\n");
  return { dir, lazy: require(path.join(dir, 'lazy.js')), dep: path.join(dir, 'dep.js') };
}

/** A stand-in for require-in-the-middle's function: counts what it sees and calls `below`. */
function countingHook(below: RequireFunction): { fn: RequireFunction; seen: string[] } {
  const seen: string[] = [];
  const fn = function (this: unknown, id: string): unknown {
    seen.push(id);
    return below.apply(this, [id]);
  };
  return { fn, seen };
}

describe('registry: requires the module hook has seen go past it', () => {
  let original: RequireFunction;
  beforeEach(() => {
    original = proto.require;
  });
  afterEach(() => {
    proto.require = original;
  });
  after(() => {
    for (const dir of fixtureDirs.splice(0)) {
      for (const file of ['lazy.js', 'dep.js', 'inner.js', 'outer.js', 'entry.js']) delete require.cache[path.join(dir, file)];
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a require site seen twice goes to the function below the hook after; the same exports either way', () => {
    const { lazy, dep } = fixture();
    const hook = countingHook(original);
    proto.require = hook.fn;
    const layer = skipSeenRequires(hook.fn, original);
    assert.ok(layer);
    const first = lazy();
    const second = lazy();
    const third = lazy();
    const fourth = lazy();
    assert.equal(first, second);
    assert.equal(second, third);
    assert.equal(third, fourth);
    // The second require resolves the site's filename (a site required once, as most are, costs nothing more).
    assert.deepEqual(hook.seen, ['./dep', './dep']);
    // Out of the cache: through the hook again, which sees the module load anew.
    delete require.cache[dep];
    const reloaded = lazy();
    assert.notEqual(reloaded, first);
    assert.deepEqual(hook.seen, ['./dep', './dep', './dep']);
    layer.remove();
    assert.equal(proto.require, hook.fn);
  });

  it('a module that requires from its own directory while it loads keeps what the layer learnt of those sites', () => {
    const { dir } = fixture();
    fs.writeFileSync(path.join(dir, 'inner.js'), 'module.exports = {};\n');
    fs.writeFileSync(path.join(dir, 'outer.js'), "require('./inner');\nrequire('./inner');\nmodule.exports = () => require('./inner');\n");
    fs.writeFileSync(path.join(dir, 'entry.js'), "module.exports = () => require('./outer');\n");
    const entry = require(path.join(dir, 'entry.js')) as () => () => unknown;
    const hook = countingHook(original);
    proto.require = hook.fn;
    const layer = skipSeenRequires(hook.fn, original)!;
    // outer.js loads (the directory's first site seen) and requires ./inner twice meanwhile.
    const again = entry();
    for (let i = 0; i < 5; i++) again();
    // ./inner's site was resolved at its second require, inside the load, and kept.
    assert.deepEqual(hook.seen.filter((id) => id === './inner'), ['./inner', './inner']);
    layer.remove();
  });

  it('builtins, and requires that fail, always go through the hook', () => {
    const hook = countingHook(original);
    proto.require = hook.fn;
    const layer = skipSeenRequires(hook.fn, original)!;
    const here = module as unknown as { require: (id: string) => unknown };
    here.require('node:path');
    here.require('node:path');
    assert.throws(() => here.require('./no-such-module-here'), { code: 'MODULE_NOT_FOUND' });
    assert.throws(() => here.require('./no-such-module-here'), { code: 'MODULE_NOT_FOUND' });
    assert.deepEqual(hook.seen, ['node:path', 'node:path', './no-such-module-here', './no-such-module-here']);
    layer.remove();
  });

  it('not put on when the hook is not on top; taken out under another layer, it passes everything to the hook', () => {
    const { lazy } = fixture();
    const hook = countingHook(original);
    assert.equal(skipSeenRequires(hook.fn, original), undefined);
    proto.require = hook.fn;
    const layer = skipSeenRequires(hook.fn, original)!;
    const ours = proto.require;
    const other = countingHook(ours);
    proto.require = other.fn;
    lazy();
    layer.remove();
    assert.equal(proto.require, other.fn);
    lazy();
    lazy();
    assert.deepEqual(hook.seen, ['./dep', './dep', './dep']);
    assert.deepEqual(other.seen, ['./dep', './dep', './dep']);
  });

  it('installed hooks: a library requiring in its hot path resolves nothing after the second time (regression: kafkajs +119 µs a message)', () => {
    const { lazy } = fixture();
    installPatches(['pg']);
    const resolve = internals._resolveFilename;
    let resolved = 0;
    internals._resolveFilename = function (this: unknown, ...args: [string, unknown, ...unknown[]]): string {
      resolved++;
      return resolve.apply(this, args);
    };
    try {
      lazy();
      lazy();
      const afterSecond = resolved;
      assert.ok(afterSecond > 0);
      for (let i = 0; i < 100; i++) lazy();
      assert.equal(resolved, afterSecond);
    } finally {
      internals._resolveFilename = resolve;
      uninstallAllPatches();
    }
    assert.equal(proto.require, original);
  });
});
