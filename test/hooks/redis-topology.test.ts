/**
 * ioredis's Cluster and node-redis's cluster against a real Redis Cluster of two masters, and ioredis
 * through a real Redis Sentinel: the app's commands keep the parent they had when the app gave them to
 * the cluster, and the library's own topology work (slot refreshes, ready checks, rediscovery after
 * MOVED, a sentinel's queries and failover watch) makes no span and never runs in a request's context.
 * A MOVED is made by moving an empty slot to the other master.
 */
import assert from 'node:assert/strict';
import { currentSpan, installPatches, suppressTracing, uninstallAllPatches, withSpan } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { next, noop, until } from '../helpers/waits';
import { redisClusterNodes, redisSentinel } from '../helpers/services';
import { assertDbErrorLogged } from '../helpers/error-log';

interface AdminNode {
  port: number;
  id: string;
  client: any;
}

/** One untraced connection to each master, to find and move slots. */
class ClusterAdmin {
  private constructor(private readonly nodes: AdminNode[]) {}

  static async open(): Promise<ClusterAdmin> {
    const Redis = require('ioredis');
    const nodes = await Promise.all(
      redisClusterNodes().map(async ({ host, port }) => {
        const client = suppressTracing(() => new Redis({ host, port }));
        client.on('error', noop);
        const id = String(await suppressTracing(() => client.cluster('MYID')));
        return { port, id, client };
      }),
    );
    return new ClusterAdmin(nodes);
  }

  async slotOf(key: string): Promise<number> {
    return Number(await suppressTracing(() => this.nodes[0].client.cluster('KEYSLOT', key)));
  }

  /** The port of the master that holds `slot`. */
  async ownerOf(slot: number): Promise<number> {
    const owner = await this.ownerSeenBy(this.nodes[0], slot);
    assert.ok(owner !== undefined, `slot ${slot} is served`);
    return owner;
  }

  /** Moves the empty `slot` to the other master, on both, and waits until both agree. */
  async moveToOther(slot: number): Promise<void> {
    const owner = await this.ownerOf(slot);
    const target = this.nodes.find((n) => n.port !== owner);
    assert.ok(target);
    for (const node of [target, ...this.nodes.filter((n) => n !== target)]) {
      await suppressTracing(() => node.client.cluster('SETSLOT', slot, 'NODE', target.id));
    }
    for (const node of this.nodes) {
      for (let i = 0; (await this.ownerSeenBy(node, slot)) !== target.port; i++) {
        assert.ok(i < 100, `node ${node.port} learns the new owner of slot ${slot}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Starts migrating the empty `slot` to the other master: its owner answers ASK for a key it lacks. */
  async startMigration(slot: number): Promise<void> {
    const owner = await this.ownerOf(slot);
    const source = this.nodes.find((n) => n.port === owner);
    const target = this.nodes.find((n) => n.port !== owner);
    assert.ok(source && target);
    await suppressTracing(() => target.client.cluster('SETSLOT', slot, 'IMPORTING', source.id));
    await suppressTracing(() => source.client.cluster('SETSLOT', slot, 'MIGRATING', target.id));
  }

  async endMigration(slot: number): Promise<void> {
    for (const node of this.nodes) await suppressTracing(() => node.client.cluster('SETSLOT', slot, 'STABLE'));
  }

  private async ownerSeenBy(node: AdminNode, slot: number): Promise<number | undefined> {
    const ranges = (await suppressTracing(() => node.client.cluster('SLOTS'))) as Array<[number, number, [string, number]]>;
    const range = ranges.find(([from, to]) => from <= slot && slot <= to);
    return range === undefined ? undefined : Number(range[2][1]);
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => suppressTracing(() => n.client.quit()).catch(noop)));
  }
}

/** A key never written, so that its slot can move (a slot moves only while empty). */
const KEY = 'otch-cluster-probe';

function redisSpans(tracer: RecordingTracer): RecordedSpan[] {
  return tracer.finished.filter((s) => s.operationName.startsWith('redis.'));
}

function assertNoClusterSpan(tracer: RecordingTracer): void {
  const own = redisSpans(tracer).filter((s) => s.operationName === 'redis.CLUSTER' || s.operationName === 'redis.INFO');
  assert.deepEqual(
    own.map((s) => s.tags['db.statement']),
    [],
    'the cluster topology work makes no span',
  );
}

for (const [pkg, label] of [['ioredis5', 'ioredis@5'], ['ioredis', 'ioredis@6']] as const) {
  describe(`${label} hook: Cluster (real Redis Cluster)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    const Cluster = (): any => require(pkg).Cluster;
    const startup = (): Array<{ host: string; port: number }> => redisClusterNodes().slice(0, 1);
    let admin: ClusterAdmin;
    const clusters: any[] = [];
    const cluster = (options: Record<string, unknown> = {}): any => {
      const c = new (Cluster())(startup(), options);
      c.on('error', noop);
      clusters.push(c);
      return c;
    };

    before(async () => {
      admin = await ClusterAdmin.open();
      installPatches(['ioredis'], { tracer, aliases: { ioredis5: 'ioredis' } });
    });
    after(async () => {
      uninstallAllPatches();
      await admin.close();
    });
    beforeEach(() => tracer.reset());
    afterEach(async () => {
      await Promise.all(clusters.splice(0).map((c) => c.quit().catch(noop)));
    });

    it('commands given to a Cluster before it is ready keep their caller as parent; its slot refresh and ready check make no span', async () => {
      const c = cluster({ lazyConnect: true });
      const a = tracer.startSpan('request A') as RecordedSpan;
      const b = tracer.startSpan('request B') as RecordedSpan;
      const set = withSpan(a, () => c.set('{a}key', 'v'));
      const get = withSpan(b, () => c.get('{b}key'));
      assert.deepEqual(await Promise.all([set, get]), ['OK', null]);
      a.finish();
      b.finish();
      const spans = redisSpans(tracer);
      const setSpan = spans.find((s) => s.operationName === 'redis.SET');
      const getSpan = spans.find((s) => s.operationName === 'redis.GET');
      assert.equal(setSpan?.parentId, a.id, 'SET is a child of the request that gave it');
      assert.equal(getSpan?.parentId, b.id, 'GET is a child of the request that gave it, not of the one that started the connection');
      assertNoClusterSpan(tracer);
      // Regression: the node connection a queued command opened was a root redis.connect span.
      assert.deepEqual(
        spans.filter((x) => x !== setSpan && x !== getSpan).map((x) => x.operationName),
        [],
        "the Cluster's node connections make no span",
      );
    });

    it("SUBSCRIBE inside a request: its span is the request's; the subscriber connection the Cluster opens for it makes no span, and a message reaches the listener outside the request", async () => {
      const c = cluster();
      const publisher = cluster();
      const request = tracer.startSpan('request') as RecordedSpan;
      await withSpan(request, () => c.subscribe('otch-topology-channel'));
      request.finish();
      const heard = new Promise<unknown>((resolve) => c.once('message', () => resolve(currentSpan())));
      await suppressTracing(() => publisher.publish('otch-topology-channel', 'hello'));
      assert.equal(await heard, undefined, 'the message listener runs in no request');
      const spans = tracer.started.filter((s) => s.operationName.startsWith('redis.'));
      assert.deepEqual(
        spans.map((s) => [s.operationName, s.parentId === request.id]),
        [['redis.SUBSCRIBE', true]],
        'no redis.connect for the subscriber connection, nor for the publisher\'s node',
      );
    });

    it("a pipeline and a MULTI on a Cluster, before and after it is ready: one span each, with the address of the node their keys' slot is on", async () => {
      // Regression: the span took the Cluster's own options for its server, and said localhost:6379.
      const keys = ['{a}never-set', '{b}never-set'];
      const owners = await Promise.all(keys.map(async (key) => admin.ownerOf(await admin.slotOf(key))));
      const c = cluster({ lazyConnect: true });
      const request = tracer.startSpan('request') as RecordedSpan;
      const replies = await withSpan(request, async () => [
        await c.pipeline().get(keys[0]).get(keys[0]).exec(),
        await c.multi().get(keys[1]).exec(),
        await c.pipeline().get(keys[1]).exec(),
      ]);
      request.finish();
      assert.deepEqual(replies, [[[null, null], [null, null]], [[null, null]], [[null, null]]]);
      const batches = redisSpans(tracer).filter((s) => s.operationName !== 'redis.connect');
      assert.deepEqual(
        batches.map((s) => [s.operationName, s.parentId === request.id, s.tags['peer.hostname'], s.tags['peer.port'], s.tags['db.instance']]),
        [
          ['redis.PIPELINE', true, '127.0.0.1', owners[0], '0'],
          ['redis.MULTI', true, '127.0.0.1', owners[1], '0'],
          ['redis.PIPELINE', true, '127.0.0.1', owners[1], '0'],
        ],
      );
    });

    it('a Cluster batch gets the peer.service its node is named by in `peerService`', async () => {
      const owner = await admin.ownerOf(await admin.slotOf('{a}key'));
      uninstallAllPatches();
      installPatches(['ioredis'], { tracer, aliases: { ioredis5: 'ioredis' }, hooks: { ioredis: { peerService: { [`127.0.0.1:${owner}`]: 'sessions' } } } });
      try {
        const c = cluster();
        await next(c, 'ready');
        tracer.reset();
        await c.pipeline().get('{a}key').exec();
        // (The node's connection may open only now, for the pipeline: its redis.connect span is named alike.)
        assert.deepEqual(
          redisSpans(tracer)
            .filter((s) => s.operationName !== 'redis.connect')
            .map((s) => [s.operationName, s.tags['peer.port'], s.tags['peer.service']]),
          [['redis.PIPELINE', owner, 'sessions']],
        );
      } finally {
        uninstallAllPatches();
        installPatches(['ioredis'], { tracer, aliases: { ioredis5: 'ioredis' } });
      }
    });

    it('a command whose slot moved: one span under its request with the reply, and the refresh MOVED brings makes no span', async () => {
      const c = cluster();
      await next(c, 'ready');
      assert.equal(await c.get(KEY), null);
      const slot = await admin.slotOf(KEY);
      await admin.moveToOther(slot);
      tracer.reset();
      const refreshed = next(c, 'refresh');
      const request = tracer.startSpan('request') as RecordedSpan;
      const reply = await withSpan(request, () => c.get(KEY));
      request.finish();
      await refreshed;
      assert.equal(reply, null);
      const gets = redisSpans(tracer).filter((s) => s.operationName === 'redis.GET');
      assert.equal(gets.length, 1, 'one span for the command, re-sent or not');
      assert.equal(gets[0].parentId, request.id);
      assert.equal(gets[0].finishCount, 1);
      assertNoClusterSpan(tracer);
      assert.deepEqual(
        redisSpans(tracer).filter((s) => s.parentId === request.id).map((s) => s.operationName),
        ['redis.GET'],
        'nothing of the refresh under the request',
      );
    });

    it('a MOVED command ends its span with the final reply, not the redirect: no error after a redirect that succeeds, the final error after one that fails', async () => {
      // Regression: on ioredis 5 the span finished at the MOVED, with error=true and the MOVED error logged.
      const delay = 100;
      const c = cluster({ retryDelayOnMoved: delay });
      await next(c, 'ready');
      assert.equal(await c.get(KEY), null);
      const slot = await admin.slotOf(KEY);
      const request = tracer.startSpan('request') as RecordedSpan;
      await admin.moveToOther(slot);
      tracer.reset();
      const refreshed = next(c, 'refresh');
      assert.equal(await withSpan(request, () => c.get(KEY)), null);
      // The slot map the MOVED brings, before the slot moves back: the next command is redirected too.
      await refreshed;
      await admin.moveToOther(slot);
      // LPOP's count is checked only where the key lives: the node the MOVED sends it to answers an error.
      const failure = await withSpan(request, () => c.lpop(KEY, -1)).then(
        () => assert.fail('LPOP with a negative count fails'),
        (e: Error) => e,
      );
      request.finish();
      assert.match(failure.message, /out of range/);
      const [get, lpop] = redisSpans(tracer).filter((s) => s.operationName !== 'redis.connect');
      assert.deepEqual([get?.operationName, lpop?.operationName], ['redis.GET', 'redis.LPOP']);
      for (const span of [get, lpop]) {
        assert.equal(span.parentId, request.id);
        assert.equal(span.finishCount, 1);
        // ioredis re-sends `delay` ms after the MOVED: a span that ends at the redirect is shorter.
        assert.ok(span.endTime! - span.startTime >= delay, `${span.operationName} ends with the reply after the re-send (${span.endTime! - span.startTime} ms)`);
      }
      assert.equal(get.tags.error, undefined, 'the redirect is no error of the command');
      assert.deepEqual(get.logs, []);
      assert.equal(lpop.tags.error, true);
      assertDbErrorLogged(lpop, failure);
    });

    it('an ASK redirect (a slot being migrated): one span for the command under its request, none for the ASKING ioredis sends', async () => {
      const c = cluster();
      await next(c, 'ready');
      assert.equal(await c.get(KEY), null);
      const slot = await admin.slotOf(KEY);
      await admin.startMigration(slot);
      try {
        tracer.reset();
        const request = tracer.startSpan('request') as RecordedSpan;
        assert.equal(await withSpan(request, () => c.get(KEY)), null);
        request.finish();
        assert.deepEqual(
          tracer.started.filter((s) => s !== request).map((s) => [s.operationName, s.parentId === request.id]),
          [['redis.GET', true]],
        );
        const [get] = tracer.byName('redis.GET');
        assert.equal(get.finishCount, 1);
        assert.equal(get.tags.error, undefined, 'the ASK redirect is no error of the command');
        assert.deepEqual(get.logs, []);
      } finally {
        await admin.endMigration(slot);
      }
    });

    if (pkg === 'ioredis') {
      it("managed HIMPORT fieldsets: the PREPARE sent to each master makes no span (this Redis rejects it: 'node error')", async () => {
        const c = cluster({ lazyConnect: true, himportFieldsets: [{ name: 'profile', fields: ['name', 'email'] }] });
        const rejectedBy: string[] = [];
        c.on('node error', (err: Error, key: string) => /HIMPORT/i.test(err.message) && rejectedBy.push(key));
        const request = tracer.startSpan('request') as RecordedSpan;
        assert.equal(await withSpan(request, () => c.get(KEY)), null);
        request.finish();
        const masters: any[] = c.nodes('master');
        assert.equal(masters.length, redisClusterNodes().length);
        // A master connects when first used, and is ready once its handshake's replies, the PREPARE's among them, are in.
        await Promise.all(masters.map((n) => (n.status === 'ready' ? n.ping() : Promise.all([next(n, 'ready'), n.ping()]))));
        assert.deepEqual(rejectedBy.sort(), masters.map((n) => `${n.options.host}:${n.options.port}`).sort(), 'each master was sent the PREPARE');
        assert.deepEqual(tracer.byName('redis.HIMPORT'), []);
        assert.deepEqual(tracer.finished.filter((s) => s.parentId === request.id).map((s) => s.operationName), ['redis.GET']);
      });
    }

    it('the periodic slot refresh of a Cluster first used inside a request makes no span', async () => {
      const c = cluster({ lazyConnect: true, slotsRefreshInterval: 20 });
      const request = tracer.startSpan('request') as RecordedSpan;
      await withSpan(request, () => c.get(KEY));
      request.finish();
      tracer.reset();
      for (let i = 0; i < 3; i++) await next(c, 'refresh');
      assert.deepEqual(redisSpans(tracer).map((s) => s.operationName), []);
    });

    it("the app's 'ready' and '+node' listeners run outside the cluster's own work: a command each makes has its span", async () => {
      const c = cluster({ lazyConnect: true });
      // The node pool announces the startup node inside connect() itself (the app's call), and the
      // other master from inside the slot refresh: the listener for that one is the test.
      const other = redisClusterNodes()[1].port;
      const fromNode = new Promise((resolve) => c.on('+node', (node: any) => node.options.port === other && resolve(c.get('{node}key'))));
      const fromReady = new Promise((resolve) => c.once('ready', () => resolve(c.get('{ready}key'))));
      const request = tracer.startSpan('request') as RecordedSpan;
      await withSpan(request, () => c.connect());
      request.finish();
      assert.deepEqual(await Promise.all([fromNode, fromReady]), [null, null]);
      const gets = redisSpans(tracer).filter((s) => s.operationName === 'redis.GET');
      assert.deepEqual(gets.map((s) => s.tags['db.statement']).sort(), ['GET {node}key', 'GET {ready}key'], "each listener's command is traced");
      for (const get of gets) assert.notEqual(get.parentId, request.id, 'and is not a child of the request that connected');
    });
  });
}

for (const [pkg, label] of [['ioredis5', 'ioredis@5'], ['ioredis', 'ioredis@6']] as const) {
  describe(`${label} hook: through a Sentinel (real Redis Sentinel)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    let sentinelAdmin: any;
    const clients: any[] = [];
    const viaSentinel = (options: Record<string, unknown>): any => {
      const { host, port, name } = redisSentinel();
      const c = new (require(pkg))({ sentinels: [{ host, port }], name, lazyConnect: true, ...options });
      c.on('error', noop);
      clients.push(c);
      return c;
    };
    /** Whether the sentinel has a client subscribed to a channel (the failover detector's `+switch-master`). */
    const watched = async (): Promise<boolean> => {
      const list = String(await suppressTracing(() => sentinelAdmin.client('LIST')));
      return list.split('\n').some((line) => / sub=1 /.test(line));
    };

    before(async () => {
      const { host, port } = redisSentinel();
      sentinelAdmin = suppressTracing(() => new (require('ioredis'))({ host, port }));
      sentinelAdmin.on('error', noop);
      installPatches(['ioredis'], { tracer, aliases: { ioredis5: 'ioredis' } });
    });
    after(async () => {
      uninstallAllPatches();
      await suppressTracing(() => sentinelAdmin.quit()).catch(noop);
    });
    beforeEach(() => tracer.reset());
    afterEach(async () => {
      for (const c of clients.splice(0)) c.disconnect();
      await until(async () => !(await watched()), 'no failover detector is left subscribed');
    });

    it("the sentinel's queries make no span; the connection to the master and the command are the request's", async () => {
      const c = viaSentinel({ failoverDetector: false });
      const request = tracer.startSpan('request') as RecordedSpan;
      // The sentinel is asked, and its connection closed, before the master's connection is made.
      assert.equal(await withSpan(request, () => c.get(KEY)), null);
      request.finish();
      assert.deepEqual(
        tracer.started
          .filter((s) => s !== request)
          .map((s) => [s.operationName, s.parentId === request.id])
          .sort(),
        [
          ['redis.GET', true],
          ['redis.connect', true],
        ],
      );
    });

    it("the failover detector's connections and subscription make no span", async () => {
      const c = viaSentinel({ failoverDetector: true });
      const request = tracer.startSpan('request') as RecordedSpan;
      assert.equal(await withSpan(request, () => c.get(KEY)), null);
      request.finish();
      await until(watched, "the failover detector's subscription");
      // Its connection stays ioredis's own whatever context it sends from (as a re-subscribe after a
      // reconnect that a timer outside its work started would): here, from inside another request.
      const detectorClient = c.connector.failoverDetector.sentinels[0].client;
      const other = tracer.startSpan('other request') as RecordedSpan;
      await withSpan(other, () => detectorClient.subscribe('+switch-master'));
      other.finish();
      assert.deepEqual(
        tracer.started
          .filter((s) => s !== request && s !== other)
          .map((s) => s.operationName)
          .sort(),
        ['redis.GET', 'redis.connect'],
      );
    });
  });
}

for (const [pkg, label] of [['redis4', 'redis@4'], ['redis5', 'redis@5'], ['redis', 'redis@6']] as const) {
  describe(`${label} hook: cluster (real Redis Cluster)`, function () {
    this.timeout(20000);
    const tracer = new RecordingTracer();
    let admin: ClusterAdmin;
    let client: any;

    before(async () => {
      admin = await ClusterAdmin.open();
      installPatches(['redis'], { tracer });
      const { createCluster } = require(pkg);
      client = createCluster({ rootNodes: redisClusterNodes().slice(0, 1).map(({ host, port }) => ({ url: `redis://${host}:${port}` })) });
      client.on('error', noop);
      await client.connect();
    });
    after(async () => {
      uninstallAllPatches();
      await (client.close?.() ?? client.quit()).catch(noop);
      await admin.close();
    });
    beforeEach(() => tracer.reset());

    it("connect's discovery makes no span: a cluster connected inside a request puts only the app's commands under it", async () => {
      const { createCluster } = require(pkg);
      const fresh = createCluster({ rootNodes: redisClusterNodes().slice(0, 1).map(({ host, port }) => ({ url: `redis://${host}:${port}` })) });
      fresh.on('error', noop);
      const request = tracer.startSpan('request') as RecordedSpan;
      try {
        const reply = await withSpan(request, async () => {
          await fresh.connect();
          return fresh.get(KEY);
        });
        request.finish();
        assert.equal(reply, null);
        assert.deepEqual(
          tracer.started.filter((s) => s !== request).map((s) => [s.operationName, s.parentId === request.id]),
          [['redis.GET', true]],
        );
      } finally {
        await (fresh.close?.() ?? fresh.quit()).catch(noop);
      }
    });

    it('SUBSCRIBE and SSUBSCRIBE inside a request: the Pub/Sub connections the cluster opens for them make no span, and a message reaches the listener outside the request', async () => {
      const { createCluster } = require(pkg);
      const fresh = createCluster({ rootNodes: redisClusterNodes().slice(0, 1).map(({ host, port }) => ({ url: `redis://${host}:${port}` })) });
      fresh.on('error', noop);
      await fresh.connect();
      tracer.reset();
      try {
        let resolveHeard: (span: unknown) => void = noop;
        const heard = new Promise<unknown>((resolve) => (resolveHeard = resolve));
        const request = tracer.startSpan('request') as RecordedSpan;
        await withSpan(request, async () => {
          await fresh.subscribe('otch-topology-channel', () => resolveHeard(currentSpan()));
          await fresh.sSubscribe('otch-topology-shard', noop);
        });
        request.finish();
        await suppressTracing(() => client.publish('otch-topology-channel', 'hello'));
        assert.equal(await heard, undefined, 'the listener runs in no request');
        // Regression: each Pub/Sub connection was a redis.connect span under the request.
        assert.deepEqual(tracer.started.filter((s) => s.operationName.startsWith('redis.')).map((s) => s.operationName), []);
      } finally {
        await (fresh.close?.() ?? fresh.quit()).catch(noop);
      }
    });

    it('a command whose slot moved: its rediscovery makes no span and nothing of it is under the request', async () => {
      assert.equal(await client.get(KEY), null);
      await admin.moveToOther(await admin.slotOf(KEY));
      tracer.reset();
      const request = tracer.startSpan('request') as RecordedSpan;
      // The client awaits the rediscovery before it sends the command again: the reply says it is over.
      const reply = await withSpan(request, () => client.get(KEY));
      request.finish();
      assert.equal(reply, null);
      assertNoClusterSpan(tracer);
      const spans = redisSpans(tracer);
      assert.deepEqual([...new Set(spans.map((s) => s.operationName))], ['redis.GET'], 'no connect of the rediscovery either');
      for (const s of spans) assert.equal(s.parentId, request.id, 'each attempt of the command is a child of its request');
    });
  });
}

for (const [pkg, label] of [['redis5', 'redis@5'], ['redis', 'redis@6']] as const) describe(`${label} hook: through a Sentinel (real Redis Sentinel)`, function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  let sentinelAdmin: any;

  /** How many connections the sentinel has accepted: each scan of the topology opens one. */
  const accepted = async (): Promise<number> => {
    const info = String(await suppressTracing(() => sentinelAdmin.info('stats')));
    return Number(/total_connections_received:(\d+)/.exec(info)?.[1]);
  };

  before(async () => {
    const { host, port } = redisSentinel();
    sentinelAdmin = suppressTracing(() => new (require('ioredis'))({ host, port }));
    sentinelAdmin.on('error', noop);
    installPatches(['redis'], { tracer });
  });
  after(async () => {
    uninstallAllPatches();
    await suppressTracing(() => sentinelAdmin.quit()).catch(noop);
  });

  it("the sentinel's queries and the clients it opens make no span, at connect and at every scan; the app's command is the request's", async () => {
    const { createSentinel } = require(pkg);
    const { host, port, name } = redisSentinel();
    const sentinel = createSentinel({ name, sentinelRootNodes: [{ host, port }], scanInterval: 20 });
    sentinel.on('error', noop);
    const request = tracer.startSpan('request') as RecordedSpan;
    try {
      const reply = await withSpan(request, async () => {
        await sentinel.connect();
        return sentinel.get(KEY);
      });
      request.finish();
      assert.equal(reply, null);
      // Scans do not overlap: once a third has connected, two have ended.
      const before = await accepted();
      await until(async () => (await accepted()) >= before + 3, 'three scans of the topology');
      assert.deepEqual(
        tracer.started.filter((s) => s !== request).map((s) => [s.operationName, s.parentId === request.id]),
        [['redis.GET', true]],
      );
    } finally {
      await sentinel.close().catch(noop);
    }
  });
});
