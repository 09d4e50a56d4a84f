/** Which main modules `-r register` treats as ES modules (and registers the ES-module loader for). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluating, isEsModuleMain } from '../../src/esm';

describe('isEsModuleMain: the main module -r is about to run', () => {
  let dir: string;
  const write = (file: string, text: string): string => {
    const at = path.join(dir, file);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.writeFileSync(at, text);
    return at;
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-esm-main-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('.mjs is one, .cjs is not, whatever the package says', () => {
    write('package.json', JSON.stringify({ type: 'commonjs' }));
    assert.equal(isEsModuleMain(write('a.mjs', 'export {};')), true);
    write('b/package.json', JSON.stringify({ type: 'module' }));
    assert.equal(isEsModuleMain(write('b/c.cjs', "import x from 'y';")), false);
  });

  it('.js (and the path without its extension, as Node resolves it) follows the nearest package.json type', () => {
    write('esm/package.json', JSON.stringify({ type: 'module' }));
    write('esm/app.js', 'console.log(1);');
    assert.equal(isEsModuleMain(path.join(dir, 'esm/app.js')), true);
    assert.equal(isEsModuleMain(path.join(dir, 'esm/app')), true);
    write('cjs/package.json', JSON.stringify({ type: 'commonjs' }));
    assert.equal(isEsModuleMain(write('cjs/app.js', "import x from 'y';")), false);
  });

  it('with no type: import/export statements make it one (Node runs it as an ES module), require and a dynamic import() do not', () => {
    write('package.json', JSON.stringify({ name: 'no-type' }));
    assert.equal(isEsModuleMain(write('a.js', "// an app\nimport http from 'node:http';\n")), true);
    assert.equal(isEsModuleMain(write('b.js', 'const x = 1;\nexport { x };\n')), true);
    assert.equal(isEsModuleMain(write('c.js', "const http = require('node:http');\nimport('node:fs');\n")), false);
    // A line that only looks like one, in a file that compiles as CommonJS (Node's detection keeps it CommonJS).
    assert.equal(isEsModuleMain(write('d.js', "importUsers();\nexport_all();\nconst s = `\nimport data from the CSV\n`;\nif (!module.parent) return;\n")), false);
  });

  it(".ts under \"type\": \"module\" is one; a typeless .ts is left to its loader (ts-node compiles it to CommonJS); .cts is not one", () => {
    write('esm/package.json', JSON.stringify({ type: 'module' }));
    assert.equal(isEsModuleMain(write('esm/a.ts', 'const x: number = 1;')), true);
    write('package.json', JSON.stringify({ name: 'no-type' }));
    assert.equal(isEsModuleMain(write('b.ts', "import { x } from './x';\nconst y: number = x;\n")), false);
    assert.equal(isEsModuleMain(write('c.cts', 'const x = 1;')), false);
  });

  it('no main (node -e, the REPL) or a file that does not exist is not one', () => {
    assert.equal(isEsModuleMain(undefined), false);
    assert.equal(isEsModuleMain(''), false);
    assert.equal(isEsModuleMain(path.join(dir, 'missing.js')), false);
  });

  it('node -e/-p, combined (-pe) or long (--eval=, --print), runs its code, not the file after it: no loader for that file', () => {
    for (const argv of [['-e', 'x'], ['-p', 'x'], ['-pe', 'x'], ['-ep', 'x'], ['--eval', 'x'], ['--eval=x'], ['--print', 'x'], ['--print=x'], ['-r', 'r', '-pe', 'x']]) {
      assert.equal(evaluating(argv), true, argv.join(' '));
    }
    for (const argv of [[], ['-r', 'register'], ['--require', 'register'], ['--expose-gc'], ['--enable-source-maps'], ['--import', 'x.mjs']]) {
      assert.equal(evaluating(argv), false, argv.join(' '));
    }
  });
});
