import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOOK_NAMES } from '../src';
import { amqpUrl, kafkaBrokers, mysqlUrl, natsUrl, pgConfig, redisUrl } from './helpers/services';
import { startServer } from './helpers/servers';

const root = path.join(__dirname, '..', '..');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The app's parts (test/fixtures/esm/<hook>.mjs), in hook order; a file named after no hook is an error. */
function esmParts(): string[] {
  const files = fs.readdirSync(path.join(root, 'test', 'fixtures', 'esm')).filter((f) => f.endsWith('.mjs'));
  const names = files.map((f) => f.slice(0, -'.mjs'.length));
  const strays = names.filter((n) => !(HOOK_NAMES as readonly string[]).includes(n));
  assert.deepEqual(strays, [], 'every ESM part is named after a hook');
  return HOOK_NAMES.filter((n) => names.includes(n));
}

describe('an ES module app', function () {
  this.timeout(30000);

  for (const [flag, entry] of [
    ['--import', 'opentracing-client-hooks/register'],
    ['-r', './register'],
  ] as const) {
    it(`${flag} ${entry}: every hooked client an ES-module app imports is traced`, async () => {
      pgConfig();
      redisUrl();
      mysqlUrl();
      amqpUrl();
      natsUrl();
      kafkaBrokers();
      const target = await startServer();
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'otch-esm-')), 'spans.jsonl');
      try {
        const child = await run([flag, entry, 'test/fixtures/esm-app.mjs'], { OT_TRACER: 'jsonl', OT_TRACER_FILE: file, TARGET_URL: target.url, ESM_PARTS: esmParts().join(',') });
        assert.equal(child.status, 0, child.stderr);
        const parts = JSON.parse(child.stdout.trim().split('\n').pop() as string) as { components: string[]; importOnly: string[]; spans: Record<string, number>; targetRequests: number };
        const spans = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        const components = new Set(spans.map((s) => s.tags.component));
        // -r registers the same loader for an ES-module main: what only the loader sees is hooked either way.
        for (const c of [...parts.components, ...parts.importOnly]) assert.ok(components.has(c), `${c} traced: ${[...components]}`);
        // Servers named after their routes (hapi, koa, express through their default imports), pg-pool's own entry.
        for (const [name, count] of Object.entries(parts.spans)) assert.equal(spans.filter((s) => s.name === name).length, count, `spans named ${name}`);
        const byPath = (p: string) => spans.filter((s) => s.tags['span.kind'] === 'client' && String(s.tags['http.url']).endsWith(p));
        const axiosSpans = byPath('/axios');
        assert.equal(axiosSpans.length, 1, 'one span for the axios call');
        assert.equal(axiosSpans[0].tags.component, 'axios');
        for (const p of ['/fetch', '/http', '/undici', '/undici-default']) assert.equal(byPath(p).length, 1, `one span for ${p}`);
        // undici's request through the default import is its own entry's span (not only the channels' one).
        assert.equal(byPath('/undici-default')[0].tags.component, 'undici');
        for (const client of ['2', '3']) assert.equal(spans.filter((s) => s.name === `nats.publish otch.esm.${client}`).length, 1, `one publish span from nats ${client}`);
        assert.equal(spans.filter((s) => s.name.startsWith('nats.publish otch.esm.js.') && s.tags['nats.stream'] !== undefined).length, 1, "nats.js 3's JetStream publish");
        assert.ok(spans.some((s) => s.name === 'amqp.consume ' + 'amq.gen-*' && s.tags['span.kind'] === 'consumer'), 'the consumer span');
        assert.equal(spans.filter((s) => s.name === 'grpc conformance.Echo/Unary').length, 2, 'gRPC client and server spans');
        assert.equal(spans.filter((s) => s.name === 'aws.S3.HeadBucket').length, 1, 'one span for the S3 call');
        assert.equal(target.received.length, parts.targetRequests);
        for (const r of target.received) {
          // Two copies would arrive joined by a comma.
          assert.match(String(r.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, `${r.url} carries the trace header once`);
        }
      } finally {
        await target.close();
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
    });
  }

  for (const [flag, entry] of [
    ['--import', 'opentracing-client-hooks/register'],
    ['-r', './register'],
  ] as const) {
    it(`${flag} ${entry}: a CommonJS entry imported and required carries one layer on its exports and its named bindings, which uninstall takes out of both`, async () => {
      for (const order of ['import-first', 'require-first']) {
        const child = await run([flag, entry, 'test/fixtures/esm-cjs-layers.mjs', order], {});
        assert.equal(child.status, 0, `${order}:\n${child.stdout}${child.stderr}`);
      }
    });
  }

  it('--import: an app that only imports node:http (nothing requires it) is traced', async () => {
    const target = await startServer();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-esm-http-'));
    const file = path.join(dir, 'spans.jsonl');
    const app = path.join(dir, 'app.mjs');
    fs.writeFileSync(app, "import http from 'node:http';\nhttp.get(process.env.TARGET_URL + '/only-http', (res) => res.resume());\n");
    try {
      const child = await run(['--import', 'opentracing-client-hooks/register', app], { OT_TRACER: 'jsonl', OT_TRACER_FILE: file, TARGET_URL: target.url });
      assert.equal(child.status, 0, child.stderr);
      const spans = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(spans.filter((s) => s.tags.component === 'http' && s.tags['span.kind'] === 'client').length, 1);
      assert.match(String(target.received[0].headers.traceparent), /^00-/);
    } finally {
      await target.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('-r: a CommonJS app gets no ES-module loader (import-in-the-middle is never loaded); an ES-module main gets it under -r, --import or both', async () => {
    const cjs = await run(['-r', './register', '-e', "require('node:http'); process.exit(Object.keys(require.cache).some((f) => f.includes('import-in-the-middle')) ? 3 : 0)"], {});
    assert.equal(cjs.status, 0, cjs.stderr);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-esm-both-'));
    const app = path.join(dir, 'app.mjs');
    // The app asks to register the loader itself: refused when a preload did (both preloads register it once).
    fs.writeFileSync(app, "import { createRequire } from 'node:module';\nconst require = createRequire(process.cwd() + '/');\nconst esm = require('./dist/esm.js');\nprocess.exit(esm.claimLoader() ? 3 : 0);\n");
    try {
      for (const args of [['-r', './register'], ['-r', './register', '--import', 'opentracing-client-hooks/register'], ['--import', 'opentracing-client-hooks/register']]) {
        const child = await run([...args, app], {});
        assert.equal(child.status, 0, `${args.join(' ')}: the loader was registered (${child.stderr})`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--import leaves a CommonJS app traced as -r does', async () => {
    const child = await run(['--import', 'opentracing-client-hooks/register', '-e', "require('node:http'); process.exit(require('opentracing-client-hooks').installedPatches().includes('pg') ? 0 : 3)"], {});
    assert.equal(child.status, 0, child.stderr);
  });
});
