import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { HOOKS } from '../src/hooks';

const root = path.join(__dirname, '..', '..');

/** Runs a tiny app under `node -r ./register` from the repo root and returns what it printed. */
export function runWithRegister(code: string, env: NodeJS.ProcessEnv = {}): { stdout: string; stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, ['-r', './register', '-e', code], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 30000,
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

const printHooks = "console.log(require('./dist').installedPatches().sort().join(','))";

describe('register (preload) and environment toggles', () => {
  it('installs every hook by default', () => {
    const { stdout, status } = runWithRegister(printHooks);
    assert.equal(status, 0);
    assert.equal(stdout.trim(), HOOKS.map((h) => h.name).sort().join(','));
  });

  it('OT_HOOKS enables only the listed hooks', () => {
    assert.equal(runWithRegister(printHooks, { OT_HOOKS: 'http' }).stdout.trim(), 'http');
  });

  it('OT_HOOKS_DISABLED enables all but the listed hooks', () => {
    const out = runWithRegister(printHooks, { OT_HOOKS_DISABLED: 'httpServer' }).stdout.trim().split(',');
    assert.ok(out.includes('http'));
    assert.ok(!out.includes('httpServer'));
  });

  it('an unknown hook in the environment warns once and is ignored', () => {
    const { stdout, stderr, status } = runWithRegister(printHooks, { OT_HOOKS: 'http,bogus' });
    assert.equal(status, 0);
    assert.equal(stdout.trim(), 'http');
    assert.match(stderr, /OT_HOOKS names unknown hook "bogus"/);
    assert.equal(stderr.match(/bogus/g)?.length, 1);
  });

  it('explicit config wins over the environment', () => {
    const code = "const h=require('./dist'); h.uninstallAllPatches(); h.installAllPatches({hooks:{httpServer:true, http:false}}); console.log(h.installedPatches().join(','))";
    const out = runWithRegister(code, { OT_HOOKS: 'http' }).stdout.trim().split(',');
    assert.ok(out.includes('httpServer'));
    assert.ok(!out.includes('http'));
  });

  it('the package export opentracing-client-hooks/register resolves to the preload', () => {
    const resolved = execFileSync(process.execPath, ['-p', "require.resolve('opentracing-client-hooks/register')"], { cwd: root, encoding: 'utf8' }).trim();
    assert.equal(resolved, path.join(root, 'register.js'));
  });
});
