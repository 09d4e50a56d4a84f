/**
 * bullmq 5 and 6 against the real Redis: a producer driver (Queue.add) and a consumer driver (a job that
 * carries the parent's context in its telemetry metadata, run by a Worker's processor), per major.
 */
import * as bullmq5 from 'bullmq';
import * as bullmq6 from 'bullmq6';
import { messagingTags, redisHostPort } from '../../helpers/services';
import type { RecordedSpan } from '../../helpers/tracer';
import type { Driver } from '../driver';

type Bullmq = typeof bullmq5;


/** Every function the bullmq hook replaces in `lib` (a class's own methods only, as the hook does). */
function targetsOf(lib: Bullmq): Array<[object, PropertyKey]> {
  const classes: Record<string, string[]> = {
    Queue: ['add', 'addBulk'],
    FlowProducer: ['add', 'addBulk', 'emit'],
    Job: ['asJSON'],
    Worker: ['callProcessJob', 'run', 'close', 'createBackend', 'startStalledCheckTimer'],
    QueueEvents: ['run', 'close'],
    QueueBase: ['emit', 'createBackend'],
    RedisConnection: ['init', 'close', 'disconnect'],
    RedisQueueBackend: ['setQueueMeta'],
    PostgresQueueBackend: ['setQueueMeta'],
    Child: ['init', 'send'],
  };
  const targets: Array<[object, PropertyKey]> = [];
  for (const [name, methods] of Object.entries(classes)) {
    const prototype = (lib as unknown as Record<string, { prototype?: object } | undefined>)[name]?.prototype;
    if (prototype === undefined) continue;
    for (const method of methods) if (Object.prototype.hasOwnProperty.call(prototype, method)) targets.push([prototype, method]);
  }
  // Inherited (EventEmitter's): wrapped on Child's prototype, where uninstall takes it out again.
  targets.push([lib.Child.prototype, 'on']);
  return targets;
}

/** What the app reads of a job, minus what differs per call. */
function seenJob(job: { name: string; data: unknown; opts: object }): unknown {
  const { telemetry: _telemetry, ...opts } = job.opts as Record<string, unknown>;
  return { name: job.name, data: job.data, opts };
}

/** What the bullmq drivers declare alike: the hook, the library's targets, and a span's tags on `queue`. */
function bullmqFacts(label: string, lib: Bullmq, config: Driver['config'], kind: 'producer' | 'consumer', queue: string, tags: Record<string, unknown>): Pick<Driver, 'name' | 'hook' | 'config' | 'kind' | 'operation' | 'tags' | 'targets'> {
  const step = kind === 'producer' ? 'add' : 'process';
  return {
    name: `${label} ${step}`,
    hook: 'bullmq',
    config,
    kind,
    operation: `bullmq.${step} ${queue}`,
    tags: () => ({ ...messagingTags('bullmq', 'bullmq', queue), 'bullmq.job.name': 'conformance', ...tags }),
    targets: () => targetsOf(lib),
  };
}

/** A queue of `lib` named `name`, ready and empty. */
async function emptyQueue(lib: Bullmq, name: string): Promise<InstanceType<Bullmq['Queue']>> {
  const queue = new lib.Queue(name, { connection: redisHostPort() });
  await queue.waitUntilReady();
  await queue.obliterate({ force: true });
  return queue;
}

/** Empties and closes a queue `emptyQueue` opened, if it did. */
async function closeQueue(queue: InstanceType<Bullmq['Queue']> | undefined): Promise<void> {
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
}

function producerDriver(label: string, lib: Bullmq, config?: Driver['config']): Driver {
  const QUEUE = `otch-conformance-add-${label.replace(/\W/g, '')}-${process.pid}`;
  let queue: InstanceType<Bullmq['Queue']>;
  return {
    ...bullmqFacts(label, lib, config, 'producer', QUEUE, {}),
    async start() {
      queue = await emptyQueue(lib, QUEUE);
    },
    stop: () => closeQueue(queue),
    call: () => queue.add('conformance', { n: 1 }, { attempts: 2 }),
    // bullmq refuses a fractional priority once it has the job's stored form.
    failingCall: () => queue.add('conformance', { n: 1 }, { priority: 0.5 }),
    normalize: (job) => seenJob(job as { name: string; data: unknown; opts: object }),
    countedCall(onRead) {
      const opts: Record<string, unknown> = {};
      for (const [key, value] of Object.entries({ attempts: 2, priority: 1, removeOnComplete: true })) {
        Object.defineProperty(opts, key, { enumerable: true, get: () => (onRead(key), value) });
      }
      return queue.add('conformance', { n: 1 }, opts);
    },
    async inFlightCall() {
      return { outcome: queue.add('conformance', { n: 1 }, { attempts: 2 }) };
    },
  };
}

function consumerDriver(label: string, lib: Bullmq, config?: Driver['config']): Driver {
  const QUEUE = `otch-conformance-process-${label.replace(/\W/g, '')}-${process.pid}`;
  interface Data {
    id: string;
    fail?: boolean;
  }
  let queue: InstanceType<Bullmq['Queue']>;
  let worker: bullmq5.Worker<Data>;
  const waiting = new Map<string, { resolve: (seen: unknown) => void; reject: (err: unknown) => void }>();
  let sequence = 0;

  /** Adds a job (with `parent`'s context, as a producer would store it); resolves with what the processor saw. */
  function send(data: { id: string; fail?: boolean }, parent?: RecordedSpan): Promise<unknown> {
    return new Promise((resolve, reject) => {
      waiting.set(data.id, { resolve, reject });
      const telemetry = parent === undefined ? undefined : { metadata: JSON.stringify({ traceparent: `00-${parent.traceId}-${parent.id}-01` }) };
      queue.add('conformance', data, { telemetry, removeOnComplete: true, removeOnFail: true }).catch(reject);
    });
  }

  return {
    ...bullmqFacts(label, lib, config, 'consumer', QUEUE, { 'bullmq.job.attempt': 1 }),
    async start() {
      queue = await emptyQueue(lib, QUEUE);
      worker = new lib.Worker<Data>(
        QUEUE,
        async (job) => {
          if (job.data.fail === true) throw new Error('the processor failed');
          const seen = { name: job.name, data: job.data };
          // Settled after this returns: the span is finished by then.
          setImmediate(() => waiting.get(job.data.id)?.resolve(seen));
          return seen;
        },
        { connection: redisHostPort(), concurrency: 50 },
      );
      worker.on('completed', (job) => waiting.delete(job.data.id));
      worker.on('failed', (job, err) => {
        if (job === undefined) return;
        const waiter = waiting.get(job.data.id);
        waiting.delete(job.data.id);
        setImmediate(() => waiter?.reject(err));
      });
      await worker.waitUntilReady();
    },
    async stop() {
      await worker?.close();
      await closeQueue(queue);
    },
    call: (parent) => send({ id: `${++sequence}` }, parent),
    failingCall: () => send({ id: `${++sequence}`, fail: true }),
    // Each call is a job added, fetched by the worker, run and moved to completed: 22,000 of them take
    // about 30 s on a quiet machine.
    heapCheckMs: 180000,
    normalize: (seen) => {
      const { data, ...rest } = seen as { data: { id: string } };
      return { ...rest, data: { ...data, id: 'any' } };
    },
  };
}

const BULLMQ6_CONFIG: Driver['config'] = { aliases: { bullmq6: 'bullmq' } };

export const bullmqDrivers: Driver[] = [
  producerDriver('bullmq@5', bullmq5),
  consumerDriver('bullmq@5', bullmq5),
  producerDriver('bullmq@6', bullmq6 as unknown as Bullmq, BULLMQ6_CONFIG),
  consumerDriver('bullmq@6', bullmq6 as unknown as Bullmq, BULLMQ6_CONFIG),
];
