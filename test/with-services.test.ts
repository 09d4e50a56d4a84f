import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('scripts/with-services.js', function () {
  this.timeout(60000);

  it('stops the services already up when it is sent SIGTERM while it is still starting them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-with-services-test-'));
    // Only Redis and its Sentinel are started (every other server counts as given); the signal comes once
    // Redis is up, while the Sentinel starts. The state file is the test's own, not the suite's.
    const env: NodeJS.ProcessEnv = { ...process.env, OTCH_SERVICES_STATE: path.join(dir, 'state.json') };
    delete env.REDIS_URL;
    delete env.REDIS_SENTINEL;
    Object.assign(env, {
      PGHOST: '127.0.0.1',
      REDIS_CLUSTER_NODES: '127.0.0.1:1',
      MYSQL_URL: 'mysql://127.0.0.1:1',
      AMQP_URL: 'amqp://127.0.0.1:1',
      KAFKA_BROKERS: '127.0.0.1:1',
      NATS_URL: 'nats://127.0.0.1:1',
    });
    const child = spawn(process.execPath, ['scripts/with-services.js', process.execPath, '-e', 'setTimeout(() => {}, 60000)'], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const ports: number[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      for (const match of chunk.matchAll(/Redis(?: Sentinel)? on 127\.0\.0\.1:(\d+)/g)) {
        ports.push(Number(match[1]));
        if (ports.length === 1) child.kill('SIGTERM');
      }
    });
    try {
      const { code, signal } = await exited;
      assert.ok(ports.length >= 1, stderr);
      assert.equal(signal, null, stderr);
      assert.ok(code === 143 || code === 1, `exit ${code}\n${stderr}`);
      for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open\n${stderr}`);
      assert.equal(fs.existsSync(env.OTCH_SERVICES_STATE!), false, 'state file left behind');
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scripts/services.js', () => {
  const { startedEpmd } = require(path.join(root, 'scripts', 'services.js')) as { startedEpmd(before: number[], now: number[]): boolean };

  it("stops the epmd that RabbitMQ's Erlang started, also when another one was still exiting at its start", () => {
    // None before: the one running now is ours.
    assert.equal(startedEpmd([], [4242]), true);
    // The app's own epmd, there before and after: left alone.
    assert.equal(startedEpmd([4242], [4242]), false);
    // A previous run's epmd was exiting when RabbitMQ started, and Erlang started another: that one is ours.
    assert.equal(startedEpmd([4242], [4343]), true);
    // None now (it has gone already): nothing to stop.
    assert.equal(startedEpmd([], []), false);
  });
});
