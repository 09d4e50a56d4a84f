import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { childEnv, root } from '../helpers/child';
import { getReply, readBody, startServer, TestServer } from '../helpers/servers';

const signalApp = path.join(root, 'test', 'fixtures', 'signal-app.js');

/** How a child process ended, and how long after the signal was sent (or after it was started). */
interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stderr: string;
}

/** test/fixtures/signal-app.js under the preload, serving; resolves once it listens. */
async function startApp(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['-r', './register', signalApp], { cwd: root, env: childEnv({ OT_SERVICE_NAME: 'app', ...env }) });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let sentAt = Date.now();
  const ended = new Promise<Ended>((resolve) => {
    // A process that outlives the test is stopped (its end is then reported as SIGKILL, and the test fails).
    const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, ms: Date.now() - sentAt, stderr });
    });
  });
  const printed = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!stdout.includes(text)) return;
        child.stdout.off('data', onData);
        resolve();
      };
      const onData = (d: Buffer): void => {
        stdout += d;
        check();
      };
      child.stdout.on('data', onData);
      void ended.then((end) => reject(new Error(`the app ended (${end.code ?? end.signal}) before printing ${text}: ${end.stderr}`)));
      check();
    });
  await printed('listening ');
  const url = `http://127.0.0.1:${/listening (\d+)/.exec(stdout)![1]}`;
  return {
    url,
    printed,
    /** Sends `signal`; resolves with how the process ended, `ms` counted from now. */
    signal(signal: NodeJS.Signals): Promise<Ended> {
      sentAt = Date.now();
      child.kill(signal);
      return ended;
    },
  };
}

/** An OTLP collector that answers every export with 200 and counts them. */
function collector(): Promise<TestServer> {
  return startServer((req, res) => void readBody(req).then(() => res.end('{}')));
}

/** A collector that accepts connections and never answers. */
async function hangingCollector(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The built-in tracer exporting to `url`, its batches held back until a flush. */
function otlpTo(url: string): NodeJS.ProcessEnv {
  return { OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '600000' };
}

describe('built-in tracer: how a traced process ends', function () {
  this.timeout(60000);

  describe('SIGTERM/SIGINT', () => {
    it('with no listener of the app’s, SIGTERM ends a busy process at once, as untraced (the tracer adds no listener)', async () => {
      const sink = await collector();
      try {
        const app = await startApp({ ...otlpTo(sink.url), BUSY_MS: '20000' });
        await getReply(`${app.url}/busy`);
        await app.printed('busy');
        const end = await app.signal('SIGTERM');
        assert.equal(end.signal, 'SIGTERM', end.stderr);
        assert.ok(end.ms < 5000, `ended ${end.ms} ms after the signal, its synchronous work takes 20 s`);
      } finally {
        await sink.close();
      }
    });

    it('with no listener of the app’s, SIGINT ends an idle process by SIGINT', async () => {
      const app = await startApp({ OT_TRACER: 'jsonl', OT_TRACER_FILE: '/dev/null' });
      const end = await app.signal('SIGINT');
      assert.equal(end.signal, 'SIGINT', end.stderr);
    });

    for (const versions of ['4', '3', '3,4']) {
      it(`with signal-exit ${versions} listening (execa, ora...): the spans are flushed, its handlers run, and SIGTERM ends the process`, async () => {
        const sink = await collector();
        try {
          const app = await startApp({ ...otlpTo(sink.url), SIGNAL_EXIT: versions });
          await getReply(`${app.url}/one`);
          assert.equal(sink.received.length, 0, 'nothing exported before the signal');
          const end = await app.signal('SIGTERM');
          assert.equal(end.signal, 'SIGTERM', end.stderr);
          assert.ok(end.ms < 5000, `ended ${end.ms} ms after the signal`);
          for (const version of versions.split(',')) assert.match(end.stderr, new RegExp(`signal-exit ${version} cleanup: code=null signal=SIGTERM`));
          assert.ok(sink.received.length > 0, 'the span was exported before the process ended');
        } finally {
          await sink.close();
        }
      });
    }

    it('with signal-exit listening and a collector that never answers, SIGTERM still ends the process within the flush’s 1 s', async () => {
      const hanging = await hangingCollector();
      try {
        const app = await startApp({ ...otlpTo(hanging.url), SIGNAL_EXIT: '4' });
        await getReply(`${app.url}/one`);
        const end = await app.signal('SIGTERM');
        assert.equal(end.signal, 'SIGTERM', end.stderr);
        assert.ok(end.ms < 4000, `ended ${end.ms} ms after the signal`);
        assert.match(end.stderr, /signal-exit 4 cleanup: code=null signal=SIGTERM/);
      } finally {
        await hanging.close();
      }
    });

    it('SIGINT with signal-exit listening ends the process by SIGINT', async () => {
      const app = await startApp({ OT_TRACER: 'jsonl', OT_TRACER_FILE: '/dev/null', SIGNAL_EXIT: '3,4' });
      const end = await app.signal('SIGINT');
      assert.equal(end.signal, 'SIGINT', end.stderr);
      assert.match(end.stderr, /signal-exit 4 cleanup: code=null signal=SIGINT/);
    });

    for (const versions of ['', '4']) {
      it(`an app that handles SIGTERM itself (closing its server${versions ? ', signal-exit listening too' : ''}) ends as it chooses, with its spans exported`, async () => {
        const sink = await collector();
        try {
          const app = await startApp({ ...otlpTo(sink.url), APP_SIGNAL: 'close', SIGNAL_EXIT: versions });
          await getReply(`${app.url}/one`);
          const end = await app.signal('SIGTERM');
          assert.equal(end.code, 0, end.stderr);
          assert.equal(end.signal, null);
          if (versions) assert.match(end.stderr, /signal-exit 4 cleanup: code=0 signal=null/);
          assert.ok(sink.received.length > 0, 'the span was exported before the process ended');
        } finally {
          await sink.close();
        }
      });
    }
  });
});
