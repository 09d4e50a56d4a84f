import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { installPatches, uninstallAllPatches } from '../../src';
import { RecordingTracer } from '../helpers/tracer';
import { amqpUrl } from '../helpers/services';

/** amqplib's own "confirms works when channel is closed", traced (issue 18, defect 8). */
describe('amqplib confirm channel publish without a callback (issue 18, defect 8)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let conn: amqp.ChannelModel;

  before(async () => {
    installPatches(['amqplib'], { tracer });
    conn = await amqp.connect(amqpUrl());
  });
  after(async () => {
    await conn?.close();
    uninstallAllPatches();
  });

  it('amqplib keeps false in its unconfirmed list, and waitForConfirms rejects after close()', async () => {
    const ch = await conn.createConfirmChannel();
    const root = tracer.startSpan('request');
    const { withSpan } = await import('../../src');
    withSpan(root, () => {
      for (let i = 0; i < 50; i++) ch.publish('', '', Buffer.from('foobar'), {});
    });
    const unconfirmed = (ch as unknown as { unconfirmed: unknown[] }).unconfirmed;
    assert.ok(unconfirmed.length > 0 && unconfirmed.every((entry) => entry === false), 'nothing added to what amqplib stores');
    await ch.close();
    await assert.rejects(ch.waitForConfirms(), { message: 'channel closed' });
    root.finish();
    assert.equal(tracer.byName('amqp.publish <default>:').length, 50, 'every publish span ended, at publish');
    tracer.assertAllFinishedOnce();
  });
});
