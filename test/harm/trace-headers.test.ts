import assert from 'node:assert/strict';
import http from 'node:http';
import { installPatches, uninstallAllPatches } from '../../src';
import { validBaggage, validTraceHeaders, validTraceparent, validTracestate } from '../../src/trace-headers';
import { readBody, startServer, TestServer } from '../helpers/servers';

 
const jaeger = require('jaeger-client');

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('trace header validation (issue 18, defect 5)', () => {
  it('traceparent: valid, future versions; invalid versions, ids, hex, lengths', () => {
    assert.ok(validTraceparent(TP));
    assert.ok(validTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra'));
    for (const bad of [
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
      `01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-${'x'.repeat(600)}`,
      `${TP}, ${TP}`,
      '',
    ]) {
      assert.equal(validTraceparent(bad), false, bad);
    }
  });

  it('tracestate: members, length, characters', () => {
    assert.ok(validTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'));
    assert.ok(validTracestate('tenant@vendor=x, ,a=b'));
    assert.equal(validTracestate('a'.repeat(513)), false);
    assert.equal(validTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')), false);
    assert.equal(validTracestate('Upper=x'), false);
    assert.equal(validTracestate('a=b\u0000'), false);
    assert.equal(validTracestate('novalue'), false);
  });

  it('baggage: members, length, characters', () => {
    assert.ok(validBaggage('userId=alice,serverNode=DF%2028,isProduction=false;prop=1'));
    assert.equal(validBaggage(`k=${'v'.repeat(8200)}`), false);
    assert.equal(validBaggage(Array.from({ length: 181 }, (_, i) => `k${i}=v`).join(',')), false);
    assert.equal(validBaggage('k=v"q'), false);
    assert.equal(validBaggage('k=\u00e9'), false);
  });

  it("Jaeger's baggage (uberctx-*, jaeger-baggage, jaeger-debug-id): printable and bounded, else dropped", () => {
    const good = { 'uberctx-user': 'alice%20smith', 'Uberctx-Tenant': 'acme', 'jaeger-baggage': 'k1=v1, k2=v2', 'jaeger-debug-id': 'debug-1' };
    assert.equal(validTraceHeaders(good), good, 'nothing to drop: the very object');
    const bad = { 'uberctx-user': 'x'.repeat(5000), 'uberctx-ok': 'fine', 'uberctx-ctl': 'a\u0000b', 'jaeger-baggage': 'k=\u00e9', 'jaeger-debug-id': 'd'.repeat(300), host: 'x' };
    assert.deepEqual(validTraceHeaders(bad), { 'uberctx-ok': 'fine', host: 'x' });
    assert.equal(bad['uberctx-user'].length, 5000, "the caller's object is unchanged");
  });

  it('B3 single and multi, uber-trace-id; the caller\'s object is never changed', () => {
    const good = {
      b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90',
      'x-b3-traceid': '463ac35c9f6413ad',
      'x-b3-spanid': 'a2fb4a1d1a96d312',
      'x-b3-parentspanid': '0020000000000001',
      'x-b3-sampled': '1',
      'x-b3-flags': '1',
      'uber-trace-id': 'abcdef0123456789:1234567890abcdef:0:1',
      host: 'x',
    };
    assert.equal(validTraceHeaders(good), good, 'nothing to drop: the very object');
    assert.equal((validTraceHeaders({ 'uber-trace-id': 'abc%3A1%3A0%3A1' }) as any)['uber-trace-id'], 'abc%3A1%3A0%3A1');
    const bad = { b3: 'x-y', 'X-B3-TraceId': 'z'.repeat(16), 'x-b3-sampled': 'yes', 'uber-trace-id': `${'a'.repeat(5000)}:1:0:1`, traceparent: [TP, TP], host: 'x' };
    const frozen = JSON.stringify(bad);
    assert.deepEqual(validTraceHeaders(bad), { host: 'x' });
    assert.equal(JSON.stringify(bad), frozen);
  });

  describe('end to end with jaeger-client', () => {
    const reporter = new jaeger.InMemoryReporter();
    const tracer = new jaeger.Tracer('svc', reporter, new jaeger.ConstSampler(true));
    let server: TestServer;
    let url: string;
    before(async () => {
      installPatches(['httpServer'], { tracer });
      server = await startServer((_req, res) => res.end('ok'));
      url = server.url;
    });
    after(async () => {
      uninstallAllPatches();
      await server.close();
    });

    async function serverSpanFor(headers: http.OutgoingHttpHeaders): Promise<any> {
      reporter.clear();
      await new Promise<void>((resolve, reject) => {
        http.get(url, { headers }, (res) => void readBody(res).then(() => resolve(), reject)).on('error', reject);
      });
      assert.equal(reporter.spans.length, 1);
      return reporter.spans[0];
    }

    it('a 5,000-character uber-trace-id starts a new root trace', async () => {
      const span = await serverSpanFor({ 'uber-trace-id': `${'a'.repeat(4980)}:1234567890abcdef:0:1` });
      assert.ok(span.context().parentIdStr === null || span.context().parentIdStr === undefined || /^0*$/.test(span.context().parentIdStr), `parent ${span.context().parentIdStr}`);
      assert.notEqual(span.context().traceIdStr.length > 32, true);
    });

    it('a valid uber-trace-id still continues the trace', async () => {
      const span = await serverSpanFor({ 'uber-trace-id': 'abcdef0123456789:1234567890abcdef:0:1' });
      assert.equal(span.context().toTraceId(), 'abcdef0123456789');
      assert.equal(span.context().parentIdStr, '1234567890abcdef');
    });
  });
});
