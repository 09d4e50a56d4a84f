import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import type http from 'node:http';
import path from 'node:path';
import { childEnv, root, tracedApp } from '../helpers/child';
import { closedPort, getReply, readBody, startServer, TestServer } from '../helpers/servers';

const signalApp = path.join(root, 'test', 'fixtures', 'signal-app.js');
const beforeExitApp = path.join(root, 'test', 'fixtures', 'before-exit-app.js');

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

/** A collector's 200: an empty ExportTraceServiceResponse, in the request's encoding. */
function accepted(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.end(req.headers['content-type'] === 'application/x-protobuf' ? Buffer.alloc(0) : '{}');
}

/** An OTLP collector that answers every export with 200 and counts them. */
function collector(): Promise<TestServer> {
  return startServer((req, res) => void readBody(req).then(() => accepted(req, res)));
}

/** A collector that accepts connections and never answers; `connections` counts them. */
async function hangingCollector(): Promise<{ url: string; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    collector.connections++;
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const collector = {
    connections: 0,
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return collector;
}

/**
 * Runs test/fixtures/traced-app.js (a request to itself, then it closes its server and has nothing left
 * to do) under the preload to its end: how long it took to end after its last line, and its stderr.
 */
function runToEnd(env: NodeJS.ProcessEnv, app = tracedApp): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterLastLine: number; stderr: string }> {
  const child = spawn(process.execPath, ['-r', './register', app], { cwd: root, env: childEnv({ OT_SERVICE_NAME: 'app', ...env }) });
  let stdout = '';
  let stderr = '';
  let lastLine = 0;
  child.stdout.on('data', (d) => {
    stdout += d;
    if (lastLine === 0 && stdout.includes('response ')) lastLine = Date.now();
  });
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, afterLastLine: lastLine === 0 ? NaN : Date.now() - lastLine, stderr });
    });
  });
}

/** The built-in tracer exporting to `url`, its batches held back until a flush. */
function otlpTo(url: string): NodeJS.ProcessEnv {
  return { OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '600000' };
}

describe('built-in tracer: how a traced process ends', function () {
  this.timeout(60000);

  describe('the flush at exit holds the process 3 s at most', () => {
    // The exporter's sockets and retry timers keep the process alive no longer: a collector down used to hold it 7 to 10 s.
    const collectors: Array<[string, () => Promise<{ url: string; attempts(): number; close(): Promise<void> }>]> = [
      ['refuses connections', async () => ({ url: `http://127.0.0.1:${await closedPort()}`, attempts: () => 1, close: async () => undefined })],
      [
        'never answers',
        async () => {
          const hanging = await hangingCollector();
          return { url: hanging.url, attempts: () => hanging.connections, close: () => hanging.close() };
        },
      ],
      [
        'answers 503',
        async () => {
          const busy = await startServer((req, res) => void readBody(req).then(() => ((res.statusCode = 503), res.end())));
          return { url: busy.url, attempts: () => busy.received.length, close: () => busy.close() };
        },
      ],
    ];
    for (const protocol of ['http/protobuf', 'http/json']) {
      it(`${protocol}: an export under way when the app ends is waited for, as those the flush starts`, async () => {
        // One span a batch: the first export goes while the app runs, and its answer comes 600 ms later.
        const answeredConnected: boolean[] = [];
        const slowFirst = await startServer((req, res) => {
          const first = answeredConnected.length === 0;
          answeredConnected.push(false);
          const index = answeredConnected.length - 1;
          void readBody(req).then(() =>
            setTimeout(
              () => {
                answeredConnected[index] = !req.socket.destroyed;
                accepted(req, res);
              },
              first ? 600 : 0,
            ),
          );
        });
        try {
          const r = await runToEnd({ OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_EXPORTER_OTLP_ENDPOINT: slowFirst.url, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1' });
          assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
          assert.equal(r.stderr, '');
          assert.ok(answeredConnected.length >= 2, `${answeredConnected.length} exports`);
          assert.deepEqual(answeredConnected, answeredConnected.map(() => true), 'every export was answered before the app ended');
        } finally {
          await slowFirst.close();
        }
      });

      const cases: Array<[string, (typeof collectors)[number][1], string]> = collectors.map(([what, start]) => [what, start, '']);
      // The app makes two spans: a batch of 2 goes while it runs, and is under way when it ends. (Through the
      // SDK's BatchSpanProcessor, http/json's, that export holds the process until it ends: docs/configuration.md.)
      if (protocol === 'http/protobuf') cases.push([`${collectors[1][0]}, its export under way when the app ends`, collectors[1][1], '2']);
      for (const [what, start, batch] of cases) {
        it(`${protocol}, a collector that ${what}: the app runs, ends within 3 s of its last line, and says so once`, async () => {
          const sink = await start();
          try {
            const r = await runToEnd({ OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, ...(batch ? { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: batch } : {}) });
            assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
            assert.ok(r.afterLastLine < 5000, `ended ${r.afterLastLine} ms after its last line (3 s, and room for a loaded machine)`);
            assert.ok(sink.attempts() > 0, 'the spans were sent');
            assert.equal(r.stderr, 'opentracing-client-hooks: the export of spans at exit did not finish within 3 s: the spans still being exported are dropped\n');
          } finally {
            await sink.close();
          }
        });
      }
    }
  });

  describe('zipkin', () => {
    // Regression: the Zipkin exporter sets no timeout and its socket kept the event loop alive, so an
    // endpoint that accepted the connection and never answered kept a traced app from ending at all.
    it('an endpoint that never answers: the app runs, ends within 3 s of its last line, and says so once', async () => {
      const hanging = await hangingCollector();
      try {
        const r = await runToEnd({ OT_TRACER: 'zipkin', OT_ZIPKIN_URL: `${hanging.url}/api/v2/spans` });
        assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
        assert.ok(r.afterLastLine < 5000, `ended ${r.afterLastLine} ms after its last line (3 s, and room for a loaded machine)`);
        assert.ok(hanging.connections > 0, 'the spans were sent');
        assert.equal(r.stderr, 'opentracing-client-hooks: the export of spans at exit did not finish within 3 s: the spans still being exported are dropped\n');
      } finally {
        await hanging.close();
      }
    });

    it('OTEL_EXPORTER_ZIPKIN_TIMEOUT: an export with no answer within it fails, with one message, and the next batch goes', async () => {
      const hanging = await hangingCollector();
      try {
        // One span a batch, sent at once, and the app runs 2 s more: both exports' waits (300 ms) are over before it ends.
        const r = await runToEnd({ OT_TRACER: 'zipkin', OT_ZIPKIN_URL: `${hanging.url}/api/v2/spans`, OTEL_EXPORTER_ZIPKIN_TIMEOUT: '300', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1', OTEL_BSP_SCHEDULE_DELAY: '1', LINGER_MS: '2000' });
        assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
        assert.match(r.stderr, /^opentracing-client-hooks: cannot export spans to http:\/\/127\.0\.0\.1:\d+\/api\/v2\/spans: no answer within 300 ms \(OTEL_EXPORTER_ZIPKIN_TIMEOUT\) \(the app keeps running; spans are dropped\)\n/);
        assert.ok(hanging.connections >= 2, `${hanging.connections} exports: the batch after the one that timed out went too`);
      } finally {
        await hanging.close();
      }
    });
  });

  describe('beforeExit', () => {
    /** The names of the spans in the OTLP/JSON bodies `sink` received. */
    const names = (bodies: string[]): string[] =>
      bodies.flatMap((body) => JSON.parse(body).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((span: any) => span.name))));

    async function spansAtExit(cleanup: string): Promise<{ names: string[]; code: number | null; stderr: string }> {
      const bodies: string[] = [];
      const sink = await startServer((req, res) =>
        void readBody(req).then((body) => {
          bodies.push(body);
          res.end('{}');
        }),
      );
      try {
        const r = await runToEnd({ OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, CLEANUP: cleanup }, beforeExitApp);
        return { names: names(bodies).sort(), code: r.code, stderr: r.stderr };
      } finally {
        await sink.close();
      }
    }

    it('spans that the app’s own beforeExit work finishes are exported too', async () => {
      const r = await spansAtExit('async');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.names, ['cleanup', 'request']);
    });

    it('a beforeExit listener that finishes a span each time and schedules nothing: the process still ends, its first span exported', async () => {
      // Each flush brings beforeExit back: flushing what the listener made then would never end.
      const r = await spansAtExit('sync');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.names, ['request', 'sync cleanup']);
    });
  });

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

    it('an app’s once listener put before signal-exit’s: SIGTERM ends the process, as untraced (signal-exit then finds itself alone)', async () => {
      const app = await startApp({ OT_TRACER: 'jsonl', OT_TRACER_FILE: '/dev/null', APP_SIGNAL: 'prepend', SIGNAL_EXIT: '4' });
      const end = await app.signal('SIGTERM');
      assert.equal(end.signal, 'SIGTERM', end.stderr);
      assert.match(end.stderr, /signal-exit 4 cleanup: code=null signal=SIGTERM/);
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
