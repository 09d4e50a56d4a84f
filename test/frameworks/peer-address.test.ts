/**
 * The inbound core reads the client's address without filling Node's cache of it (issue 24): a server
 * that reads `req.socket.remoteAddress` only after the client went away finds nothing, as untraced (hapi's
 * `request.info.remoteAddress` does this). The span still has `peer.address`, and `tracedAttributes`
 * `remoteAddress`/`remotePort`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { installPatches, uninstallAllPatches } from '../../src';
import { RecordingTracer } from '../helpers/tracer';

/** What `req.socket.remoteAddress` says once the client dropped the connection mid-request. */
async function addressAfterClientLeft(): Promise<unknown> {
  let seen: unknown = 'not read';
  const server = http.createServer((req, res) => {
    client.destroy();
    req.socket.once('close', () => {
      seen = req.socket.remoteAddress;
      res.destroy();
      server.close();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  client.on('error', () => undefined);
  await once(server, 'close');
  return seen;
}

describe('inbound peer address (http server core)', function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  it("leaves Node's cached peer address as it was: nothing after the client left, as untraced", async () => {
    const untraced = await addressAfterClientLeft();
    installPatches(['httpServer'], { tracer, hooks: { httpServer: { tracedAttributes: ['remoteAddress', 'remotePort'] } } });
    const traced = await addressAfterClientLeft();
    assert.equal(untraced, undefined);
    assert.equal(traced, untraced);
    const [span] = await tracer.waitFor(1);
    assert.equal(span.tags['peer.address'], '127.0.0.1', 'the span still has the address');
    assert.equal(span.tags.remoteAddress, '127.0.0.1');
    assert.equal(typeof span.tags.remotePort, 'number');
  });

  it('a server that read the address itself first gets the same (cached) address on the span', async () => {
    installPatches(['httpServer'], { tracer });
    const server = http.createServer((req, res) => res.end(String(req.socket.remoteAddress)));
    // Read before the request handler: Node caches it; the core then takes the cached one.
    server.prependListener('connection', (socket) => void socket.remoteAddress);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk)).on('end', () => resolve(text));
      }).on('error', reject);
    });
    server.close();
    assert.equal(body, '127.0.0.1');
    const [span] = await tracer.waitFor(1);
    assert.equal(span.tags['peer.address'], '127.0.0.1');
  });
});
