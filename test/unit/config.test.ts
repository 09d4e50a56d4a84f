import assert from 'node:assert/strict';
import { enabledHooks, hookOptions, HOOK_NAMES, assertHookNames } from '../../src/config';
import { HOOKS } from '../../src/hooks';
import { compileMatcher } from '../../src/matchers';

describe('config', () => {
  it('HOOK_NAMES is derived from the list of hooks, in install order', () => {
    assert.deepEqual(HOOK_NAMES, HOOKS.map((h) => h.name));
    assert.ok(HOOKS.every((h) => typeof h.summary === 'string' && h.summary.length > 0 && h.targets.length + (h.enable ? 1 : 0) > 0));
  });

  it('enabledHooks: explicit config wins, then OT_HOOKS, then OT_HOOKS_DISABLED, else all', () => {
    assert.deepEqual(enabledHooks({}, {}), HOOK_NAMES);
    assert.deepEqual(enabledHooks({}, { OT_HOOKS: 'pg, http' }), ['http', 'pg']);
    assert.deepEqual(enabledHooks({}, { OT_HOOKS_DISABLED: 'httpServer' }), HOOK_NAMES.filter((n) => n !== 'httpServer'));
    assert.deepEqual(enabledHooks({ hooks: { pg: false, redis: true } }, { OT_HOOKS: 'pg' }), ['redis']);
    assert.deepEqual(enabledHooks({ hooks: { redis: true } }, { OT_HOOKS: 'pg' }), ['pg', 'redis']);
  });

  it('unknown names: a TypeError listing the valid ones', () => {
    assert.throws(() => assertHookNames(['pg', 'mongo'], 'here'), (err: Error) => err instanceof TypeError && err.message.includes('"mongo"') && err.message.includes('ioredis'));
    assert.throws(() => enabledHooks({ hooks: { nope: true } as never }, {}), TypeError);
  });

  it('hookOptions: shared top-level options, overridden per hook', () => {
    const config = { requireParent: true, maxStatementLength: 10, hooks: { pg: { maxStatementLength: 99, captureParameters: true } } };
    assert.deepEqual(hookOptions('pg', config), { requireParent: true, maxStatementLength: 99, captureParameters: true });
    assert.deepEqual(hookOptions('redis', config), { requireParent: true, maxStatementLength: 10 });
    assert.deepEqual(hookOptions('http', {}), {});
  });

  it('hookOptions: the options several hooks read (middlewareSpans, captureParameters, sanitizeStatement, traceConnect, consumerParent) work at the top level too', () => {
    const config = { middlewareSpans: true, captureParameters: true, sanitizeStatement: false, traceConnect: false, consumerParent: 'childOf' as const, hooks: { koa: { middlewareSpans: false } } };
    assert.equal(hookOptions('express', config).middlewareSpans, true);
    assert.equal(hookOptions('koa', config).middlewareSpans, false, "a hook's own setting wins");
    assert.equal(hookOptions('mysql2', config).captureParameters, true);
    assert.equal(hookOptions('mongodb', config).captureParameters, true);
    assert.equal(hookOptions('pg', config).sanitizeStatement, false);
    assert.equal(hookOptions('ioredis', config).traceConnect, false);
    assert.equal(hookOptions('kafkajs', config).consumerParent, 'childOf');
  });

  it('compileMatcher: strings exact, RegExps (global ones too), predicates; a throwing predicate is no match', () => {
    const match = compileMatcher(['a', /^b/g, (v: string) => v === 'c', () => { throw new Error('bug'); }])!;
    assert.equal(match('a'), true);
    assert.equal(match('bx'), true);
    assert.equal(match('bx'), true, 'a global RegExp does not carry lastIndex over');
    assert.equal(match('c'), true);
    assert.equal(match('d'), false);
    assert.equal(compileMatcher([]), undefined);
    assert.throws(() => compileMatcher([42 as never]), TypeError);
  });
});
