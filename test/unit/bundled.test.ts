import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { bundledLibraries } from '../../src/bundled';

describe('the start-up check for a bundled main file', () => {
  const packages = ['express', 'pg', 'ioredis'];
  let dir = '';
  let entry = '';
  const app = "const express = require('express');\nconst app = express();\napp.get('/users/:id', (req, res) => res.send('ok'));\napp.listen(0);\n";

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-bundle-'));
    entry = path.join(dir, 'app.js');
    fs.writeFileSync(entry, app);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function bundle(minify: boolean, format: 'cjs' | 'esm' = 'cjs'): string {
    const result = buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format, minify, write: false, logLevel: 'silent', nodePaths: [path.join(__dirname, '..', '..', '..', 'node_modules')] });
    return result.outputFiles[0].text;
  }

  it('names the hooked libraries an esbuild bundle holds', () => {
    assert.deepEqual(bundledLibraries(bundle(false), packages), ['express']);
  });

  it('says that a minified esbuild bundle is one (its module paths are gone; regression: it said nothing)', () => {
    assert.equal(bundledLibraries(bundle(true), packages), 'minified');
    assert.equal(bundledLibraries(bundle(true, 'esm'), packages), 'minified');
  });

  it('says nothing of a file that is no bundle', () => {
    assert.deepEqual(bundledLibraries(app, packages), []);
    assert.deepEqual(bundledLibraries('const module = { exports: {} };\n(module.exports = {}).exports;\n', packages), []);
  });
});
