/**
 * The app's own spans (`traceFunction`, `startActiveSpan`): what the broader controls test
 * (test/hooks/controls.test.ts) does not cover.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

describe('a faulty tracer under startActiveSpan and traceFunction', () => {
  it('is reported once for each kind of fault, whatever the span names (no memory kept per name)', () => {
    const src = path.join(__dirname, '..', '..', 'src');
    const helpers = path.join(__dirname, '..', 'helpers', 'tracer');
    const code = `
      const opentracing = require('opentracing');
      const { startActiveSpan, traceFunction, withSpan } = require(${JSON.stringify(src)});
      const { RecordingTracer } = require(${JSON.stringify(helpers)});
      class Throwing extends opentracing.Tracer { _startSpan() { throw new Error('tracer down'); } }
      const throwing = new Throwing();
      const recording = new RecordingTracer();
      const parent = recording.startSpan('request');
      for (let i = 0; i < 5; i++) {
        startActiveSpan('job ' + i, { tracer: throwing }, () => i);
        withSpan(parent, () => traceFunction('step ' + i, () => i, { tracer: throwing })());
        withSpan(parent, () => traceFunction('hooked ' + i, () => i, { tracer: recording, onStart: () => { throw new Error('onStart'); } })());
      }
      console.log(recording.finished.length);`;
    const result = spawnSync(process.execPath, ['-e', code], {
      cwd: path.join(__dirname, '..', '..', '..'),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DEBUG: 'opentracing-client-hooks' },
      encoding: 'utf8',
      timeout: 30000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), '5', 'the spans of the working tracer were made');
    const faults = result.stderr.split('\n').filter((line) => line.includes('fault in'));
    assert.deepEqual(
      faults.map((line) => line.replace(/^.*fault in (.*) \(reported once\).*$/, '$1')).sort(),
      ['startActiveSpan: tracer.startSpan', 'traceFunction onStart: user hook', 'traceFunction: tracer.startSpan'],
    );
  });
});
