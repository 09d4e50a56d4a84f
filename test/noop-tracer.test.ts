import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as opentracing from 'opentracing';
import mysql from 'mysql2';
import pg from 'pg';
import { installPatches, uninstallAllPatches } from '../src';
import { mysqlConfig, pgConfig } from './helpers/services';
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

describe('no tracer registered: a pool hands out connections', function () {
  this.timeout(30000);
  // mysql2 keeps getConnection on a base class; a spy under the hook's layer sees what the hook passes on.
  let poolProto: { getConnection: (...args: any[]) => unknown };
  let original: (...args: any[]) => unknown;
  const received: unknown[] = [];
  let pool: mysql.Pool;

  before(async () => {
    for (let p: any = (mysql as any).Pool.prototype; p !== null; p = Object.getPrototypeOf(p)) {
      if (Object.prototype.hasOwnProperty.call(p, 'getConnection')) {
        poolProto = p;
        break;
      }
    }
    original = poolProto.getConnection;
    poolProto.getConnection = function (this: unknown, callback: unknown) {
      received.push(callback);
      return Reflect.apply(original, this, arguments);
    };
    installPatches(['mysql2']);
    opentracing.initGlobalTracer(new opentracing.Tracer());
    pool = mysql.createPool({ ...mysqlConfig(), connectionLimit: 2 });
    // The first statement finds the no-op tracer.
    await pool.promise().query('SELECT 1');
  });
  after(async () => {
    await pool.promise().end();
    uninstallAllPatches();
    poolProto.getConnection = original;
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it("mysql2's getConnection gets the app's own callback, no wrapper of ours (regression: a wrapper and a context per call)", async () => {
    received.length = 0;
    let done: (err?: unknown) => void = () => undefined;
    const released = new Promise((resolve, reject) => (done = (err) => (err == null ? resolve(undefined) : reject(err))));
    const callback = (err: unknown, connection: mysql.PoolConnection): void => {
      if (err == null) connection.release();
      done(err);
    };
    pool.getConnection(callback);
    await released;
    assert.equal(received.length, 1);
    assert.equal(received[0], callback, 'the very function the app passed');
    for (let i = 0; i < 5; i++) assert.deepEqual((await pool.promise().query('SELECT ? AS n', [i]))[0], [{ n: i }]);
  });
});

describe('no tracer registered: after uninstallAllPatches() and a new install (reconfiguring)', function () {
  this.timeout(30000);
  let server: http.Server;
  let port = 0;
  let asked = 0;
  const startSpan = opentracing.Tracer.prototype.startSpan;

  function get(): Promise<void> {
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  }

  before(async () => {
    opentracing.Tracer.prototype.startSpan = function (this: opentracing.Tracer) {
      asked++;
      return Reflect.apply(startSpan, this, arguments);
    };
    server = http.createServer((req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    opentracing.Tracer.prototype.startSpan = startSpan;
    await new Promise((resolve) => server.close(resolve));
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });

  it('the hooks still know the default no-op after the new install: its calls skip span work (regression: every call asked the tracer)', async () => {
    installPatches(['http']);
    opentracing.initGlobalTracer(new opentracing.Tracer());
    await get();
    uninstallAllPatches();
    installPatches(['http']);
    asked = 0;
    for (let i = 0; i < 20; i++) await get();
    assert.ok(asked <= 1, `the no-op tracer was asked ${asked} times for 20 calls`);
  });

  it('a tracer the app sets while the hooks are uninstalled gets every call of the next install', async () => {
    uninstallAllPatches();
    const tracer = new RecordingTracer();
    opentracing.initGlobalTracer(tracer);
    installPatches(['http']);
    for (let i = 0; i < 3; i++) await get();
    await tracer.settle();
    assert.equal(tracer.finished.length, 3);
    uninstallAllPatches();
    opentracing.initGlobalTracer(new opentracing.Tracer());
  });
});
