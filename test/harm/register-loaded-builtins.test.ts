import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempFiles } from '../helpers/child';

const root = path.join(__dirname, '..', '..', '..');
const register = path.join(root, 'register.js');
const tmpFile = tempFiles('otch-harm-reg-');

/** A server and a client call on 127.0.0.1, the process ending when the response is read. */
const APP = `
const s = http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', () => {
  http.get('http://127.0.0.1:' + s.address().port + '/x', (res) => { res.resume(); res.on('end', () => s.close()); });
});`;

/** Runs `args` with OT_TRACER=jsonl and returns the span kinds written (`client:http`, `server:http`). */
function spanKinds(args: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const file = tmpFile('spans.jsonl');
  const dir = path.dirname(file);
  const result = spawnSync(process.execPath, args, {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, ...env },
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(result.status, 0, result.stderr);
  const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  return lines.map((line) => JSON.parse(line)).map((r) => `${r.tags['span.kind']}:${r.tags.component}`).sort();
}

describe('register required after http is loaded (issue 18, defect 1)', () => {
  const evalCode = `const http = require('http'); require(${JSON.stringify(register)});${APP}`;

  it('node -e: http required first, then register: client and server spans', () => {
    assert.deepEqual(spanKinds(['-e', evalCode]), ['client:http', 'server:http']);
  });

  it('a main module that loads http before requiring register', () => {
    const main = tmpFile('main.js');
    fs.writeFileSync(main, `const http = require('node:http');\nrequire(${JSON.stringify(register)});\n${APP}\n`);
    assert.deepEqual(spanKinds([main]), ['client:http', 'server:http']);
  });

  it('OT_HOOKS and OT_HOOKS_DISABLED choose the hooks in that use too', () => {
    assert.deepEqual(spanKinds(['-e', evalCode], { OT_HOOKS: 'httpServer' }), ['server:http']);
    assert.deepEqual(spanKinds(['-e', evalCode], { OT_HOOKS_DISABLED: 'httpServer' }), ['client:http']);
    assert.deepEqual(spanKinds(['-e', evalCode], { OT_HOOKS: 'pg' }), []);
  });
});
