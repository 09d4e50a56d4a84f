#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: what the hooks cost, measured the way users pay it. Run under
 * scripts/with-services.js (PostgreSQL, Redis, a Kafka broker, MariaDB, RabbitMQ and NATS on 127.0.0.1); the Performance section of README.md says
 * what is measured and how to read it.
 *
 * Orchestration: a process with the echo, OTLP sink, grpc and SQS stand-in servers (servers.js); then BENCH_ROUNDS interleaved rounds,
 * each running every client × variant in a fresh process (child-client.js, or child-server.js driven by
 * loadgen.js for the inbound scenario), variant order rotated per round; then start-up timing; then the
 * heap check. Markdown on stdout, progress on stderr, JSON to BENCH_OUT (and the change against the
 * previous JSON there).
 *
 * Environment (all optional):
 *   BENCH_ROUNDS=5            interleaved rounds
 *   BENCH_SCALE=1             multiplies each client's measured calls per process (config.js CLIENTS)
 *   BENCH_CALLS, BENCH_WARMUP the same measured / warm-up call count for every client instead
 *   BENCH_CLIENTS             http,fetch,axios,pg,redis,ioredis,kafkajs-send,kafkajs-consume,graphql,mongodb,mysql2,knex,amqplib,grpc,aws-sdk,bullmq,nats,
 *                             server,express,koa,fastify,hapi (default: all)
 *   BENCH_VARIANTS            baseline,hooks,builtin,shim,otel,ddtrace,elastic (default: all; baseline always runs)
 *   BENCH_RUNS=1 (or `-- --runs 3`) consecutive runs of the client rounds; the report says, per target,
 *                             whether they agree (start-up and heap are measured once, after the last run)
 *   BENCH_AB=1, BENCH_AB_PAIRS=10   in-process A/B of the hooks without tracer (0: off)
 *   BENCH_AB_TRACED=1         in-process A/B of the built-in tracer, the shim and OpenTelemetry (0: off)
 *   BENCH_EXPORT=noop|sink    write batches and drop them in-process (default), or OTLP/HTTP to the local sink
 *   BENCH_STARTUP_RUNS=21     alternated start-up runs per command (0: skip)
 *   BENCH_HEAP_REQUESTS=50000 heap check requests (0: skip; 200000 for the target)
 *   BENCH_HEAP_VARIANTS=baseline,builtin, BENCH_HEAP_SETTLE_MS=6000, BENCH_HEAP_FLAT_MB=2,
 *   BENCH_HEAP_SNAPSHOTS=dir  (heap snapshots at each checkpoint)
 *   BENCH_OUT=bench-results.json, BENCH_CPU_PROF=dir (--cpu-prof of every measured process),
 *   BENCH_CHILD_TIMEOUT_MS=180000
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, DIST, PEERS, CLIENTS, isServer, AB_CLIENTS, AB_VARIANTS, AB_TRACED, callsFor, settings } = require('./config');
const proc = require('./proc');
const measure = require('./measure');
const { derive, markdown, verdicts, notInstrumented } = require('./report');
const { median } = require('./stats');

function say(line) {
  process.stderr.write(`bench: ${line}\n`);
}

/** The servers scripts/with-services.js starts, by the name a client `needs`: the variables that give one, and its failure report. */
const SERVICES = {
  pg: { name: 'PostgreSQL', given: ['PGHOST', 'DATABASE_URL'], unavailable: 'OTCH_POSTGRES_UNAVAILABLE' },
  redis: { name: 'Redis', given: ['REDIS_URL'], unavailable: 'OTCH_REDIS_UNAVAILABLE' },
  kafka: { name: 'the Kafka broker', given: ['KAFKA_BROKERS'], unavailable: 'OTCH_KAFKA_UNAVAILABLE' },
  mysql: { name: 'MariaDB', given: ['MYSQL_URL'], unavailable: 'OTCH_MARIADB_UNAVAILABLE' },
  amqp: { name: 'RabbitMQ', given: ['AMQP_URL'], unavailable: 'OTCH_RABBITMQ_UNAVAILABLE' },
  nats: { name: 'NATS', given: ['NATS_URL'], unavailable: 'OTCH_NATS_UNAVAILABLE' },
};

function servicesAvailable() {
  const missing = {};
  for (const [need, service] of Object.entries(SERVICES)) {
    if (process.env[service.unavailable]) missing[need] = process.env[service.unavailable];
    else if (!service.given.some((v) => process.env[v])) missing[need] = `${service.given.join('/')} is not set (run through scripts/with-services.js)`;
  }
  return missing;
}

function cpuModel() {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

/** Counters of CPU contention from other processes (Linux): PSI "some" stall time and steal time. */
function contention() {
  const out = { at: process.hrtime.bigint() };
  try {
    out.psiUs = Number(/some .*total=(\d+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'))[1]);
  } catch {
    // no PSI
  }
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    out.steal = f[7] ?? 0;
    out.ticks = f.reduce((a, b) => a + b, 0);
  } catch {
    // not Linux
  }
  return out;
}

function contentionSince(start) {
  const end = contention();
  const elapsedUs = Number(end.at - start.at) / 1e3;
  return {
    cpuPressurePct: start.psiUs !== undefined ? ((end.psiUs - start.psiUs) / elapsedUs) * 100 : undefined,
    stealPct: start.ticks !== undefined && end.ticks > start.ticks ? ((end.steal - start.steal) / (end.ticks - start.ticks)) * 100 : undefined,
  };
}

async function main() {
  const s = settings();
  if (!fs.existsSync(DIST)) throw new Error(`${path.relative(ROOT, DIST)} is missing: run \`npm run build\` first (npm run bench does)`);
  const warnings = [];
  const missing = servicesAvailable();
  const clients = s.rounds === 0 ? [] : s.clients.filter((c) => {
    const need = CLIENTS[c].needs.find((n) => missing[n]);
    if (need) warnings.push(`${c} skipped: ${SERVICES[need].name} unavailable (${missing[need]})`);
    return need === undefined;
  });
  if (s.cpuProfDir) fs.mkdirSync(s.cpuProfDir, { recursive: true });

  const servers = proc.start(path.join(__dirname, 'servers.js'), [], { name: 'servers' });
  const ports = await servers.next(15000);
  const ctx = { settings: s, clients: CLIENTS, root: ROOT, ports, sinkPort: ports.sinkPort };
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel: cpuModel(),
    loadavgStart: os.loadavg(),
    command: [
      ...Object.keys(process.env)
        .filter((k) => k.startsWith('BENCH_'))
        .sort()
        .map((k) => `${k}=${process.env[k]}`),
      'npm run bench',
    ].join(' '),
    settings: { ...s, clients, out: path.relative(ROOT, s.out), callsPerProcess: Object.fromEntries(clients.map((c) => [c, callsFor(s, c)])) },
    exportNote:
      (s.exportMode === 'noop'
        ? 'built-in, shim and OpenTelemetry: a batch processor (OTEL_BSP_* defaults: the SDK\'s BatchSpanProcessor, the built-in tracer\'s own) + an OTLP exporter that writes each batch and drops it in-process (BENCH_EXPORT=noop: not for real).'
        : 'built-in, shim and OpenTelemetry: a batch processor (OTEL_BSP_* defaults: the SDK\'s BatchSpanProcessor, the built-in tracer\'s own) + the OTLP/HTTP exporter posting to a sink process on 127.0.0.1 that drops each batch (BENCH_EXPORT=sink: for real).') +
      ' dd-trace and elastic-apm-node always export for real, to the same sink (their agent / APM Server URL).',
    exportsForReal: s.variants.filter((v) => ['ddtrace', 'elastic'].includes(v) || (s.exportMode === 'sink' && ['builtin', 'shim', 'otel'].includes(v))),
  };
  const t0 = Date.now();
  const contention0 = contention();

  const runs = [];
  for (let run = 0; run < s.runs; run++) {
  if (s.runs > 1) say(`run ${run + 1}/${s.runs}`);
  const raw = { clients: {}, ab: {}, abTraced: {}, exportsForReal: meta.exportsForReal };
  runs.push(raw);
  const abClients = s.ab && s.variants.includes('hooks') ? clients.filter((c) => AB_CLIENTS.includes(c)) : [];
  // The traced A/B of each variant that runs, on every client but the inbound server.
  const abTraced = s.abTraced ? AB_TRACED.filter((v) => s.variants.includes(AB_VARIANTS[v])) : [];
  const abRuns = (client) => [...(abClients.includes(client) ? ['ab'] : []), ...(isServer(client) ? [] : abTraced)];
  for (const c of clients) raw.clients[c] = Object.fromEntries(s.variants.map((v) => [v, { rounds: Array(s.rounds).fill(null) }]));
  for (const c of abClients) raw.ab[c] = { rounds: Array(s.rounds).fill(null) };
  for (const c of clients) if (!isServer(c) && abTraced.length) raw.abTraced[c] = Object.fromEntries(abTraced.map((v) => [AB_VARIANTS[v], { rounds: Array(s.rounds).fill(null) }]));
  say(
    `${s.rounds} rounds × ${clients.length} clients × ${s.variants.length} variants (+ in-process A/B of the hooks on ${abClients.join(', ') || 'none'}` +
      `, of ${abTraced.map((v) => AB_VARIANTS[v]).join(', ') || 'no traced variant'} on the clients); export ${s.exportMode}`,
  );
  for (let round = 0; round < s.rounds; round++) {
    for (const client of clients) {
      const runs = [...s.variants, ...abRuns(client)];
      for (let j = 0; j < runs.length; j++) {
        const variant = runs[(j + round) % runs.length];
        try {
          const r = isServer(client) ? await measure.serverRun(ctx, client, variant, round) : await measure.clientRun(ctx, client, variant, round);
          if (AB_VARIANTS[variant] !== undefined) {
            if (variant === 'ab') raw.ab[client].rounds[round] = r;
            else raw.abTraced[client][AB_VARIANTS[variant]].rounds[round] = r;
            if (r.exportError) warnings.push(`${client}/${variant}: ${r.exportError}`);
            say(
              `round ${round + 1}/${s.rounds} ${client.padEnd(7)} ${variant.padEnd(10)} added CPU ${median(r.pairs.map((x) => x.addedCpuUs)).toFixed(2)} µs/call ` +
                `(median of ${r.pairs.length} block pairs)${variant === 'ab' ? '' : `, spans/call ${r.spansPerCall.toFixed(2)}`}`,
            );
            continue;
          }
          raw.clients[client][variant].rounds[round] = r;
          if (r.exportError) warnings.push(`${client}/${variant}: ${r.exportError}`);
          say(`round ${round + 1}/${s.rounds} ${client.padEnd(7)} ${variant.padEnd(8)} CPU ${r.cpuUs.toFixed(1).padStart(6)} µs/call  wall ${r.wallUs.toFixed(1).padStart(6)} µs/call  spans/call ${r.spansPerCall.toFixed(2)}`);
        } catch (err) {
          warnings.push(`round ${round + 1} ${client}/${variant} failed: ${err.message.split('\n')[0]}`);
          say(`round ${round + 1}/${s.rounds} ${client} ${variant} FAILED: ${err.message}`);
        }
      }
    }
  }
  }
  const raw = runs[runs.length - 1];
  say(`client rounds done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  if (s.startupRuns > 0) {
    say(`start-up: ${s.startupRuns} alternated runs of each command…`);
    try {
      raw.startup = measure.startup(ctx, s.startupRuns);
    } catch (err) {
      warnings.push(`start-up failed: ${err.message}`);
    }
  }

  if (s.heapRequests > 0) {
    const heapClients = ['pg', 'redis', 'ioredis'].filter((c) => !missing[CLIENTS[c].needs[0]]);
    if (s.heapSnapshotDir) fs.mkdirSync(s.heapSnapshotDir, { recursive: true });
    raw.heap = {};
    for (const variant of s.heapVariants) {
      say(`heap, ${variant}: ${s.heapRequests} requests (http${heapClients.map((c) => ` + ${c}`).join('')} each)…`);
      try {
        raw.heap[variant] = await measure.heapRun(ctx, variant, heapClients, (x) => say(`heap, ${variant}, after ${x.at}: ${(x.heapUsed / 2 ** 20).toFixed(2)} MB`));
      } catch (err) {
        warnings.push(`heap check (${variant}) failed: ${err.message}`);
      }
    }
  }

  servers.send({ cmd: 'stats' });
  const { stats } = await servers.next(5000);
  await servers.stop();
  const otlpRequests = stats.sinkByPath['/v1/traces'] ?? 0;
  if (s.exportMode === 'noop' && otlpRequests > 0) {
    warnings.push(`the OTLP sink received ${otlpRequests} requests: some export was not dropped in-process (does the built-in tracer still use @opentelemetry/exporter-trace-otlp-proto?)`);
  }
  for (const [client, byVariant] of Object.entries(raw.clients)) {
    const builtinRounds = (byVariant.builtin?.rounds ?? []).filter(Boolean);
    const reference = builtinRounds.length ? Math.max(...builtinRounds.map((r) => r.spansPerCall)) : undefined;
    for (const [variant, { rounds }] of Object.entries(byVariant)) {
      const ok = rounds.filter(Boolean);
      if (variant === 'baseline' || variant === 'hooks' || !ok.length || !ok.every((r) => notInstrumented(client, variant, r.spansPerCall, variant === 'builtin' ? undefined : reference))) continue;
      warnings.push(
        PEERS.includes(variant)
          ? `${client}/${variant}: not instrumented, ${CLIENTS[client].notInstrumentedBy?.[variant] ?? 'no span of the call'} (spans/call ${ok[0].spansPerCall.toFixed(2)}${variant === 'elastic' ? ', its transaction included' : ''}): left out of the cheapest peer`
          : `${client}/${variant}: under half a span per call reached the exporter (spans/call ${ok[0].spansPerCall.toFixed(2)}; a batch processor whose queue fills drops the rest); its figures, and those of peers that drop as much, measure less export work`,
      );
    }
  }
  meta.loadavgEnd = os.loadavg();
  Object.assign(meta, contentionSince(contention0));
  meta.seconds = Math.round((Date.now() - t0) / 1000);
  meta.sink = stats;

  // Each run judged on its own; start-up and heap (measured once) count in each.
  const derivedRuns = runs.map((r) => derive({ ...r, startup: raw.startup, heap: raw.heap }));
  const results = { meta, raw, runs: runs.length > 1 ? runs : undefined, derived: derivedRuns[derivedRuns.length - 1], verdicts: verdicts(derivedRuns), warnings };
  let previous;
  try {
    previous = JSON.parse(fs.readFileSync(s.out, 'utf8'));
  } catch {
    previous = undefined;
  }
  // The figures first: a report that fails to render loses no run.
  fs.writeFileSync(s.out, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(markdown(results, previous));
  say(`figures written to ${path.relative(process.cwd(), s.out) || s.out}; ${meta.seconds} s in all`);
}

main().catch((err) => {
  say(err.stack || err.message);
  proc.killAll();
  process.exit(1);
});
