import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as opentracing from 'opentracing';
import pg from 'pg';
import { installPatches, uninstallAllPatches } from '../src';
import { pgConfig } from './helpers/services';
import { RecordingTracer } from './helpers/tracer';

describe('no tracer registered (opentracing\'s no-op global tracer)', function () {
  this.timeout(30000);
  let client: pg.Client;
  let hookCalls = 0;

  before(async () => {
    // Set after install, where the hooks see it: one set before they were installed is unknown to them
    // and is asked every time (only opentracing's default no-op may be skipped).
    installPatches(['pg'], { hooks: { pg: { requestHook: () => void hookCalls++ } } });
    opentracing.initGlobalTracer(new opentracing.Tracer());
    client = new pg.Client(pgConfig());
    await client.connect();
  });
  after(async () => {
    await client.end();
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it('after one span comes back as the no-op span, calls skip all span work (no statement, no requestHook)', async () => {
    await client.query('SELECT 1');
    assert.equal(hookCalls, 0, 'the no-op span is never handed to the requestHook');
    for (let i = 0; i < 20; i++) assert.equal((await client.query('SELECT $1::int AS n', [i])).rows[0].n, i);
    assert.equal(hookCalls, 0);
  });

  it('a tracer set with initGlobalTracer afterwards gets the very next call', async () => {
    const tracer = new RecordingTracer();
    opentracing.initGlobalTracer(tracer);
    await client.query('SELECT 2');
    assert.equal(tracer.byName('pg.query:SELECT').length, 1);
    assert.equal(hookCalls, 1);
  });
});

describe('no tracer registered: inbound requests', function () {
  this.timeout(30000);
  let server: http.Server;
  let port = 0;
  let looked = 0;

  function get(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
  }

  before(async () => {
    // ignoreIncoming is asked once for each request the hook looks at.
    const ignoreIncoming = (): boolean => {
      looked++;
      return false;
    };
    installPatches(['httpServer'], { hooks: { httpServer: { ignoreIncoming } } });
    opentracing.initGlobalTracer(new opentracing.Tracer());
    server = http.createServer((req, res) => res.end(`ok ${req.url}`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it('after one request finds the no-op tracer, requests are not looked at (no URL, header or peer read; regression: +51 µs a request)', async () => {
    assert.equal(await get('/first'), 'ok /first');
    const afterFirst = looked;
    assert.equal(afterFirst, 1);
    for (let i = 0; i < 5; i++) assert.equal(await get(`/next/${i}`), `ok /next/${i}`);
    assert.equal(looked, afterFirst);
  });
});
