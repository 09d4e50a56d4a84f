import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pgConfig, redisUrl } from './helpers/services';
import { startServer } from './helpers/servers';

const root = path.join(__dirname, '..', '..');

describe('an ES module app under node -r ./register', function () {
  this.timeout(30000);
  it('traces node:http, fetch, pg, ioredis and redis imported with `import`', async () => {
    pgConfig();
    redisUrl();
    const target = await startServer();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'otch-esm-')), 'spans.jsonl');
    try {
      const child = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, ['-r', './register', 'test/fixtures/esm-app.mjs'], {
          cwd: root,
          env: { ...process.env, OT_TRACER: 'jsonl', OT_TRACER_FILE: file, TARGET_URL: `${target.url}/esm` },
        });
        let stderr = '';
        p.stderr.on('data', (d) => (stderr += d));
        p.on('exit', (status) => resolve({ status, stderr }));
      });
      assert.equal(child.status, 0, child.stderr);
      const spans = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const components = new Set(spans.map((s) => s.tags.component));
      for (const c of ['pg', 'ioredis', 'redis', 'fetch', 'http']) assert.ok(components.has(c), `${c} traced: ${[...components]}`);
      assert.equal(target.received.length, 2);
      assert.ok(target.received.every((r) => typeof r.headers.traceparent === 'string'));
    } finally {
      await target.close();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
