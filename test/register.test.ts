import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOOKS } from '../src/hooks';

const root = path.join(__dirname, '..', '..');

/** Runs `node -r ./register <args>` from the repo root and returns what it printed. */
function runRegister(args: string[], env: NodeJS.ProcessEnv = {}): { stdout: string; stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, ['-r', './register', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 30000,
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

/** Runs a tiny app under `node -r ./register -e` from the repo root and returns what it printed. */
export function runWithRegister(code: string, env: NodeJS.ProcessEnv = {}): { stdout: string; stderr: string; status: number | null } {
  return runRegister(['-e', code], env);
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

describe("register: undici's own NODE_DEBUG log", () => {
  it('logs what it logs without the hooks: the hooks subscribe to its response channels only from the first request', () => {
    const code = `
      const s = require('http').createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', async () => {
        const r = await require('undici').fetch('http://127.0.0.1:' + s.address().port + '/x');
        await r.text();
        s.close();
      });`;
    const events = (stderr: string): string[] => stderr.split('\n').filter((line) => line.startsWith('FETCH ')).map((line) => line.replace(/^FETCH \d+: /, '').replace(/:\d+/g, ':PORT'));
    const plain = spawnSync(process.execPath, ['-e', code], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_DEBUG: 'fetch' }, encoding: 'utf8', timeout: 30000 });
    const hooked = runWithRegister(code, { NODE_DEBUG: 'fetch', OT_TRACER: 'jsonl', OT_TRACER_FILE: os.devNull });
    assert.equal(hooked.status, 0, hooked.stderr);
    assert.ok(events(plain.stderr).some((line) => line.startsWith('received response')), plain.stderr);
    assert.deepEqual(events(hooked.stderr), events(plain.stderr));
  });
});

describe('register: start-up loads declarations only; the rest comes with the library', () => {
  // An app with no tracer at first: what is loaded at start, then an http call (untraced: no tracer),
  // then a MockTracer set with initGlobalTracer and a second call, which must be traced at once.
  const app = (getHttp: string): string => `
    const rel = (f) => f.startsWith(process.cwd() + '/') ? f.slice(process.cwd().length + 1) : f;
    const atStart = Object.keys(require.cache).map(rel);
    const builtinsAtStart = process.moduleLoadList.filter((m) => /^NativeModule (https?|http2|tty|tls)$/.test(m));
    const realDebug = typeof require('debug').enable === 'function';
    const http = ${getHttp};
    const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
      const get = (then) => http.get({ host: '127.0.0.1', port: server.address().port, agent: false }, (res) => { res.resume(); res.on('end', then); });
      get(() => {
        const { MockTracer, initGlobalTracer } = require('opentracing');
        const tracer = new MockTracer();
        // MockTracer keeps no start tags: note each span's kind as it starts.
        const kinds = [];
        const startSpan = tracer.startSpan;
        tracer.startSpan = function (name, options) {
          kinds.push(options.tags['span.kind']);
          return startSpan.apply(this, arguments);
        };
        initGlobalTracer(tracer);
        get(function poll() {
          if (tracer.report().spans.length < 2) return setImmediate(poll);
          server.close();
          console.log(JSON.stringify({ atStart, builtinsAtStart, realDebug, spans: kinds.sort() }));
        });
      });
    });`;

  for (const [how, getHttp] of [
    ['require', "require('node:http')"],
    ['process.getBuiltinModule', "process.getBuiltinModule ? process.getBuiltinModule('http') : require('http')"],
  ]) {
    it(`no span logic, opentracing, debug or https at start; http patched when the app gets it (${how}); a tracer set later traces the next call`, () => {
      const { stdout, stderr, status } = runWithRegister(app(getHttp));
      assert.equal(status, 0, stderr);
      const r = JSON.parse(stdout.trim().split('\n').pop()!);
      const heavy = (r.atStart as string[]).filter((f) => /^dist\/(tracing|cores|tracer)\/|^dist\/(spans|sql|context)|node_modules\/(opentracing|debug|import-in-the-middle)\//.test(f));
      assert.deepEqual(heavy, []);
      assert.deepEqual(r.builtinsAtStart, []);
      assert.equal(r.realDebug, true, 'the app gets the real debug module');
      assert.deepEqual(r.spans, ['client', 'server']);
    });
  }
});

describe('in code: the package loads no span side, so that with no tracer a hook costs a wrapper and one check', () => {
  // Regression: src/index.ts loaded opentracing (through traceFunction's module) before installAllPatches(),
  // so the registry could not tell that the global tracer was the default no-op, and every call of every
  // hook was traced into no-op spans (+18 µs per http call on the I/O-free bench).
  it("require('opentracing-client-hooks') loads no opentracing; with no tracer, only the first call asks the tracer", () => {
    const code = `
      const hooks = require('./dist');
      const loaded = Object.keys(require.cache).filter((f) => /node_modules\\/opentracing\\/|dist\\/(spans|local-spans|cores\\/http-server)\\.js/.test(f));
      hooks.installAllPatches();
      const http = require('node:http');
      const { Tracer } = require('opentracing');
      let asked = 0;
      const startSpan = Tracer.prototype.startSpan;
      Tracer.prototype.startSpan = function () { asked += 1; return startSpan.apply(this, arguments); };
      const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
        let left = 5;
        const get = () => http.get({ host: '127.0.0.1', port: server.address().port, agent: false }, (res) => {
          res.resume();
          res.on('end', () => (--left > 0 ? get() : (server.close(), console.log(JSON.stringify({ loaded, asked })))));
        });
        get();
      });`;
    const result = spawnSync(process.execPath, ['-e', code], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8', timeout: 30000 });
    assert.equal(result.status, 0, result.stderr);
    const r = JSON.parse(result.stdout.trim().split('\n').pop()!);
    assert.deepEqual(r.loaded, []);
    // The first call (client or server side) finds the no-op tracer and opens the no-op window.
    assert.ok(r.asked <= 2, `the no-op tracer was asked ${r.asked} times for 5 calls`);
  });
});

describe('register: builtins imported by ES-module code of a CommonJS app', () => {
  it('a .cjs main whose ES-module dependency imports node:http: its calls are traced', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-cjs-esm-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'dep.mjs'),
        `import { request, createServer } from 'node:http';
        export function roundTrip() {
          return new Promise((resolve) => {
            const server = createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
              request({ host: '127.0.0.1', port: server.address().port, agent: false }, (res) => {
                res.resume();
                res.on('end', () => server.close(resolve));
              }).end();
            });
          });
        }`,
      );
      fs.writeFileSync(
        path.join(dir, 'main.cjs'),
        `const { MockTracer, initGlobalTracer } = require(${JSON.stringify(require.resolve('opentracing'))});
        const tracer = new MockTracer();
        initGlobalTracer(tracer);
        import('./dep.mjs').then((dep) => dep.roundTrip()).then(() => console.log(tracer.report().spans.length));`,
      );
      const r = runRegister([path.join(dir, 'main.cjs')]);
      assert.equal(r.status, 0, r.stderr);
      // The client span and the server span.
      assert.equal(r.stdout.trim(), '2');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('register: http2 is loaded by the app only, and traced once it is', () => {
  // An app that serves one request over h2c with a MockTracer set: it prints whether http2 was loaded
  // before its own code ran, and the names of the spans (the http2 client's and the server's).
  const app = (load: string, atStart: string): string => `${load}
    const atStart = ${atStart};
    const { MockTracer, initGlobalTracer } = require(${JSON.stringify(require.resolve('opentracing'))});
    const tracer = new MockTracer();
    initGlobalTracer(tracer);
    const server = http2.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
      const session = http2.connect('http://127.0.0.1:' + server.address().port);
      const stream = session.request({ ':path': '/x' });
      stream.resume();
      stream.on('end', () => {
        session.close();
        server.close(() => console.log(JSON.stringify({ atStart, spans: tracer.report().spans.map((s) => s.operationName()) })));
      });
      stream.end();
    });`;

  for (const [how, file, args, code] of [
    ['-r, a CommonJS main', 'main.cjs', ['-r', './register'], app("const http2Loaded = process.moduleLoadList.includes('NativeModule http2');\nconst http2 = require('node:http2');", 'http2Loaded')],
    [
      '--import, an ES-module main importing node:http2',
      'main.mjs',
      ['--import', './register.mjs'],
      app("import http2 from 'node:http2';\nimport { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);", 'null'),
    ],
  ] as const) {
    it(`${how}: its client's and its server's request get a span${file === 'main.cjs' ? ', and http2 was not loaded before the app required it' : ''}`, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-http2-'));
      try {
        fs.writeFileSync(path.join(dir, file), code);
        const result = spawnSync(process.execPath, [...args, path.join(dir, file)], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8', timeout: 30000 });
        assert.equal(result.status, 0, result.stderr);
        const out = JSON.parse(result.stdout.trim().split('\n').pop()!);
        assert.deepEqual(out, { atStart: file === 'main.cjs' ? false : null, spans: ['HTTP GET', 'HTTP GET'] });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('two copies of the package in one process (a preload from one, the app\'s dependency the other)', function () {
  this.timeout(60000);
  let dir = '';
  let copy = '';

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-two-copies-'));
    copy = path.join(dir, 'node_modules', 'opentracing-client-hooks');
    fs.mkdirSync(copy, { recursive: true });
    fs.cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
    for (const file of ['package.json', 'register.js', 'register.mjs']) fs.copyFileSync(path.join(root, file), path.join(copy, file));
    // Its dependencies (and opentracing) are the same files as the repository's.
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** An app that uses its own copy (`hooks`), with a recording tracer; `body` ends by printing its JSON. */
  function app(body: string): string {
    const file = path.join(dir, 'app.js');
    fs.writeFileSync(
      file,
      `const http = require('http');
      const opentracing = require(${JSON.stringify(require.resolve('opentracing'))});
      const { RecordingTracer } = require(${JSON.stringify(path.join(__dirname, 'helpers', 'tracer'))});
      const hooks = require('opentracing-client-hooks');
      const tracer = new RecordingTracer();
      const parentOf = (s) => { const p = tracer.started.find((q) => q.id === s.parentId); return p === undefined ? (s.parentId === undefined ? 'none' : 'other') : p.operationName + (p.tags['span.kind'] ? ' ' + p.tags['span.kind'] : ''); };
      const spans = () => tracer.started.map((s) => [s.operationName + (s.tags['span.kind'] ? ' ' + s.tags['span.kind'] : ''), parentOf(s)]);
      const server = http.createServer((req, res) => res.end(String(hooks.currentSpan() !== undefined && hooks.currentSpan() === tracer.started.find((s) => s.tags['span.kind'] === 'server'))));
      const get = () => new Promise((resolve) => http.get({ host: '127.0.0.1', port: server.address().port, agent: false }, (res) => {
        let body = ''; res.on('data', (c) => (body += c)); res.on('close', () => resolve(body));
      }));
      server.listen(0, '127.0.0.1', async () => {
        ${body}
        server.close();
      });`,
    );
    return file;
  }

  it("-r register of one copy, installAllPatches() of the app's: one install, one warning, and the app's spans parent the hooks' spans", () => {
    const file = app(`
      opentracing.initGlobalTracer(tracer);
      hooks.installAllPatches({ hooks: { http: { propagate: false } } });
      const installed = hooks.installedPatches();
      const parent = tracer.startSpan('app-span');
      const served = await hooks.withSpan(parent, () => hooks.startActiveSpan('job', {}, () => get()));
      parent.finish();
      await tracer.settle();
      console.log(JSON.stringify({ installed, served, spans: spans() }));`);
    const r = spawnSync(process.execPath, ['-r', path.join(root, 'register'), file], { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.deepEqual(out.installed, [], "the app's copy installed nothing");
    assert.equal(out.served, 'true', "the app's copy sees the server span the other copy made");
    assert.deepEqual(out.spans, [
      ['app-span', 'none'],
      ['job', 'app-span'],
      ['HTTP GET client', 'job'],
      ['HTTP GET server', 'HTTP GET client'],
    ]);
    const warnings = r.stderr.split('\n').filter((line) => line.includes('another copy'));
    assert.equal(warnings.length, 1, r.stderr);
    assert.ok(warnings[0].includes(`at ${root})`) && warnings[0].includes(`at ${copy})`), warnings[0]);
  });

  it("in code: the second copy's install does nothing, its startActiveSpan takes the tracer the first one was given; after the first uninstalls, the second can install", () => {
    const file = app(`
      const first = require(${JSON.stringify(root)});
      first.installAllPatches({ tracer });
      hooks.installAllPatches();
      const before = hooks.installedPatches().length;
      await hooks.startActiveSpan('job', {}, () => get());
      await tracer.settle();
      const traced = spans();
      first.uninstallAllPatches();
      hooks.installAllPatches({ tracer });
      console.log(JSON.stringify({ before, traced, after: hooks.installedPatches().length > 0 }));`);
    const r = spawnSync(process.execPath, [file], { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME }, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.before, 0);
    assert.deepEqual(out.traced, [
      ['job', 'none'],
      ['HTTP GET client', 'job'],
      ['HTTP GET server', 'HTTP GET client'],
    ]);
    assert.equal(out.after, true);
    assert.equal(r.stderr.split('\n').filter((line) => line.includes('another copy')).length, 1, r.stderr);
  });
});
