'use strict';
/**
 * Turns the raw figures into the derived ones (medians, added cost, ratios, targets) and renders the
 * markdown report, with the change against the previous JSON when there is one.
 */
const { summary, median } = require('./stats');
const { CLIENTS, VARIANTS, PEERS, isServer } = require('./config');

/** Above this median CPU pressure the report says the machine was busy (the bench alone stays well below). */
const BUSY_PSI_PCT = 50;

const TARGETS = {
  noTracerUs: 0.5, // µs/call on pg, redis, ioredis
  noTracerHttpPct: 3, // % on the http client
  builtinRatio: 0.5, // built-in added ≤ half of OTel's added
  startupMs: 15,
  startupOtlpMs: 40,
  heapFullRequests: 200000,
};

/**
 * A variant that made no span of the library measured: one known not to instrument it (CLIENTS'
 * notInstrumentedBy), or under half a span per call, not counting the transaction child-client.js runs
 * each of Elastic's client calls in. `reference` is what the built-in tracer delivered per call in the
 * same row: where it is under one (a fast client whose spans outrun the batch processor's queue, which
 * then drops them, as on graphql), half of that is the bar, so a peer dropping as much is not taken for
 * one without spans.
 */
function notInstrumented(client, variant, spansPerCall, reference) {
  const wrapper = variant === 'elastic' && !isServer(client) ? 1 : 0;
  const bar = Number.isFinite(reference) && reference > 0 && reference < 1 ? 0.5 * reference : 0.5;
  return CLIENTS[client].notInstrumentedBy?.[variant] !== undefined || spansPerCall < wrapper + bar;
}

/** Per round, variant minus baseline of the same round (the rounds interleave, so this pairs them). */
function paired(rounds, baseRounds, key) {
  const out = [];
  for (let i = 0; i < rounds.length; i++) {
    const a = rounds[i];
    const b = baseRounds[i];
    if (a && b) out.push(a[key] - b[key]);
  }
  return out;
}

/** The block pairs of an in-process A/B's rounds: added CPU over all pairs, per-round medians, spans per call. */
function abSummary(rounds) {
  const ok = rounds.filter(Boolean);
  const pairs = ok.flatMap((r) => r.pairs);
  if (pairs.length === 0) return undefined;
  return {
    pairs: pairs.length,
    block: ok[0].block,
    addedCpu: summary(pairs.map((p) => p.addedCpuUs)),
    baseCpu: median(pairs.map((p) => p.baseCpuUs)),
    roundMedians: summary(ok.map((r) => median(r.pairs.map((p) => p.addedCpuUs)))),
    spansPerCall: median(ok.map((r) => r.spansPerCall)),
  };
}

function derive(raw) {
  const clients = {};
  for (const [client, byVariant] of Object.entries(raw.clients)) {
    const base = byVariant.baseline?.rounds ?? [];
    clients[client] = {};
    for (const [variant, { rounds }] of Object.entries(byVariant)) {
      const ok = rounds.filter(Boolean);
      const cpu = summary(ok.map((r) => r.cpuUs));
      const entry = {
        rounds,
        cpu,
        wall: summary(ok.map((r) => r.wallUs)),
        spansPerCall: median(ok.map((r) => r.spansPerCall)),
      };
      if (variant !== 'baseline') {
        entry.addedCpu = summary(paired(rounds, base, 'cpuUs'));
        entry.addedWall = summary(paired(rounds, base, 'wallUs'));
        const baseCpu = median(base.filter(Boolean).map((r) => r.cpuUs));
        entry.addedCpuPct = (entry.addedCpu.median / baseCpu) * 100;
        entry.addedCpuPctRange = [(entry.addedCpu.min / baseCpu) * 100, (entry.addedCpu.max / baseCpu) * 100];
      }
      // A peer without spans of this library measured less work: shown as such, never the cheapest peer.
      if (PEERS.includes(variant) && ok.length) entry.notInstrumented = notInstrumented(client, variant, entry.spansPerCall, clients[client].builtin?.spansPerCall);
      clients[client][variant] = entry;
    }
  }

  const comparisons = {};
  for (const [client, v] of Object.entries(clients)) {
    // The cheapest peer (OpenTelemetry, dd-trace, Elastic) on this client: the built-in tracer's yardstick.
    const peers = PEERS.filter((p) => v[p]?.addedCpu && Number.isFinite(v[p].addedCpu.median) && !v[p].notInstrumented);
    if (peers.length && v.builtin?.addedCpu) {
      const cheapest = peers.reduce((a, b) => (v[b].addedCpu.median < v[a].addedCpu.median ? b : a));
      const ratios = [];
      const b = paired(v.builtin.rounds, v.baseline.rounds, 'cpuUs');
      const o = paired(v[cheapest].rounds, v.baseline.rounds, 'cpuUs');
      for (let i = 0; i < Math.min(b.length, o.length); i++) if (o[i] > 0) ratios.push(b[i] / o[i]);
      comparisons[client] = {
        cheapestPeer: cheapest,
        peerAdded: v[cheapest].addedCpu.median,
        builtinPeerRatio: v.builtin.addedCpu.median / v[cheapest].addedCpu.median,
        builtinPeerRatioRange: ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : [NaN, NaN],
      };
    }
    if (!v.otel?.addedCpu || v.otel.notInstrumented) continue;
    const c = { ...comparisons[client], otelAdded: v.otel.addedCpu.median };
    const perRoundRatio = (variant) => {
      const a = paired(v[variant].rounds, v.baseline.rounds, 'cpuUs');
      const o = paired(v.otel.rounds, v.baseline.rounds, 'cpuUs');
      const ratios = [];
      for (let i = 0; i < Math.min(a.length, o.length); i++) if (o[i] > 0) ratios.push(a[i] / o[i]);
      return ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : [NaN, NaN];
    };
    if (v.builtin?.addedCpu) {
      c.builtinAdded = v.builtin.addedCpu.median;
      c.builtinRatio = c.otelAdded > 0 ? c.builtinAdded / c.otelAdded : NaN;
      c.builtinRatioRange = perRoundRatio('builtin');
    }
    if (v.shim?.addedCpu) {
      c.shimAdded = v.shim.addedCpu.median;
      c.shimMinusOtel = c.shimAdded - c.otelAdded;
      const s = paired(v.shim.rounds, v.otel.rounds, 'cpuUs');
      c.shimMinusOtelRange = s.length ? [Math.min(...s), Math.max(...s)] : [NaN, NaN];
    }
    comparisons[client] = c;
  }

  const ab = {};
  for (const [client, { rounds }] of Object.entries(raw.ab ?? {})) {
    const a = abSummary(rounds);
    if (a === undefined) continue;
    ab[client] = { ...a, addedCpuPct: (a.addedCpu.median / a.baseCpu) * 100, addedCpuPctIqr: [(a.addedCpu.q1 / a.baseCpu) * 100, (a.addedCpu.q3 / a.baseCpu) * 100] };
  }

  // The traced variants in-process: each switched on and off in its own process, against the same process off.
  const abTraced = {};
  for (const [client, byVariant] of Object.entries(raw.abTraced ?? {})) {
    const entry = {};
    for (const [variant, { rounds }] of Object.entries(byVariant)) {
      const a = abSummary(rounds);
      if (a === undefined) continue;
      // Spans of the "off" blocks count over the "on" calls: well above the variant's own process, its
      // switch left (some of) the instrumentation on, e.g. wrappers put on a client when it was made.
      const whole = clients[client]?.[variant]?.spansPerCall;
      if (Number.isFinite(whole) && a.spansPerCall > whole * 1.25 + 0.1) a.offLeaks = whole;
      entry[variant] = a;
    }
    const usable = (v) => entry[v] && entry[v].offLeaks === undefined && !(v === 'otel' && notInstrumented(client, v, entry[v].spansPerCall, entry.builtin?.spansPerCall));
    const o = usable('otel') ? entry.otel.addedCpu : undefined;
    if (o && usable('builtin')) {
      entry.builtinRatio = o.median > 0 ? entry.builtin.addedCpu.median / o.median : NaN;
      // The interquartile ranges taken together: how far the ratio may move within the noise.
      entry.builtinRatioRange = o.q1 > 0 ? [entry.builtin.addedCpu.q1 / o.q3, entry.builtin.addedCpu.q3 / o.q1] : [NaN, NaN];
    }
    if (o && usable('shim')) {
      entry.shimMinusOtel = entry.shim.addedCpu.median - o.median;
      entry.shimMinusOtelRange = [entry.shim.addedCpu.q1 - o.q3, entry.shim.addedCpu.q3 - o.q1];
    }
    if (Object.keys(entry).length) abTraced[client] = entry;
  }

  // Each command against the same command without the preload (the app.js pair when there is one).
  const added = (m) => {
    const out = { register: m.register.median - m.plain.median, registerOtlp: m.registerOtlp.median - m.plain.median };
    if (m.appRegister && m.appPlain) out.appRegister = m.appRegister.median - m.appPlain.median;
    return out;
  };
  let startup;
  if (raw.startup) {
    const t = raw.startup.times;
    const med = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summary(v)]));
    const cpu = Object.fromEntries(Object.entries(raw.startup.cpu ?? {}).map(([k, v]) => [k, summary(v)]));
    startup = {
      runs: t.plain.length,
      configs: raw.startup.configs,
      ms: med,
      addedMs: added(med),
      cpuMs: cpu,
      addedCpuMs: cpu.plain ? added(cpu) : undefined,
      modules: raw.startup.modules,
    };
  }

  const targets = [];
  const verdict = (ok, range, limit, lowerIsBetter = true) => {
    if (ok === undefined || Number.isNaN(ok)) return { pass: null };
    const noisy = range && Number.isFinite(range[0]) && range[0] <= limit && limit <= range[1];
    // One round (min = max): the figure has no spread to judge the noise by.
    const unchecked = Boolean(range) && Number.isFinite(range[0]) && range[0] === range[1];
    return { pass: ok, noisy: Boolean(noisy) && lowerIsBetter, unchecked };
  };
  for (const client of ['pg', 'redis', 'ioredis']) {
    const h = clients[client]?.hooks;
    if (!h?.addedCpu) continue;
    targets.push({
      id: `noTracer.${client}`,
      target: `no tracer, ${client}: added CPU ≤ +${TARGETS.noTracerUs} µs/call`,
      measured: `${signed(h.addedCpu.median, 2)} µs [${signed(h.addedCpu.min, 1)} … ${signed(h.addedCpu.max, 1)}]`,
      ...verdict(h.addedCpu.median <= TARGETS.noTracerUs, [h.addedCpu.min, h.addedCpu.max], TARGETS.noTracerUs),
    });
  }
  if (clients.http?.hooks?.addedCpu) {
    const h = clients.http.hooks;
    targets.push({
      id: 'noTracer.http',
      target: `no tracer, http client: added CPU ≤ +${TARGETS.noTracerHttpPct}%`,
      measured: `${signed(h.addedCpuPct, 1)}% (${signed(h.addedCpu.median, 1)} µs) [${signed(h.addedCpuPctRange[0], 1)}% … ${signed(h.addedCpuPctRange[1], 1)}%]`,
      ...verdict(h.addedCpuPct <= TARGETS.noTracerHttpPct, h.addedCpuPctRange, TARGETS.noTracerHttpPct),
    });
  }
  for (const client of ['pg', 'redis', 'ioredis', 'http']) {
    const a = ab[client];
    if (!a) continue;
    const isHttp = client === 'http';
    targets.push({
      id: `noTracerAB.${client}`,
      target: isHttp
        ? `no tracer, http client, in-process A/B: added CPU ≤ +${TARGETS.noTracerHttpPct}%`
        : `no tracer, ${client}, in-process A/B: added CPU ≤ +${TARGETS.noTracerUs} µs/call`,
      measured: isHttp
        ? `${signed(a.addedCpuPct, 1)}% (${signed(a.addedCpu.median, 2)} µs) [IQR ${signed(a.addedCpuPctIqr[0], 1)}% … ${signed(a.addedCpuPctIqr[1], 1)}%, ${a.pairs} block pairs]`
        : `${signed(a.addedCpu.median, 2)} µs [IQR ${signed(a.addedCpu.q1, 2)} … ${signed(a.addedCpu.q3, 2)}, ${a.pairs} block pairs]`,
      ...(isHttp
        ? verdict(a.addedCpuPct <= TARGETS.noTracerHttpPct, a.addedCpuPctIqr, TARGETS.noTracerHttpPct)
        : verdict(a.addedCpu.median <= TARGETS.noTracerUs, [a.addedCpu.q1, a.addedCpu.q3], TARGETS.noTracerUs)),
    });
  }
  for (const client of ['http', 'pg', 'redis', 'ioredis']) {
    const c = comparisons[client];
    if (c?.builtinRatio === undefined) continue;
    targets.push({
      id: `builtin.${client}`,
      target: `built-in tracer, ${client}: added ≤ ${TARGETS.builtinRatio} × OpenTelemetry's added`,
      measured: `${fmt(c.builtinAdded, 1)} / ${fmt(c.otelAdded, 1)} µs = ×${fmt(c.builtinRatio, 2)} [per round ×${fmt(c.builtinRatioRange[0], 2)} … ×${fmt(c.builtinRatioRange[1], 2)}]`,
      ...verdict(Number.isFinite(c.builtinRatio) ? c.builtinRatio <= TARGETS.builtinRatio : NaN, c.builtinRatioRange, TARGETS.builtinRatio),
    });
  }
  for (const [client, c] of Object.entries(comparisons)) {
    if (c.builtinPeerRatio === undefined) continue;
    targets.push({
      id: `builtinPeer.${client}`,
      target: `built-in tracer, ${client}: added ≤ ${TARGETS.builtinRatio} × the cheapest peer's added`,
      measured: `${fmt(clients[client].builtin.addedCpu.median, 1)} / ${fmt(c.peerAdded, 1)} µs (${c.cheapestPeer}) = ×${fmt(c.builtinPeerRatio, 2)} [per round ×${fmt(c.builtinPeerRatioRange[0], 2)} … ×${fmt(c.builtinPeerRatioRange[1], 2)}]`,
      ...verdict(Number.isFinite(c.builtinPeerRatio) ? c.builtinPeerRatio <= TARGETS.builtinRatio : NaN, c.builtinPeerRatioRange, TARGETS.builtinRatio),
    });
  }
  for (const [client, a] of Object.entries(abTraced)) {
    if (a.builtinRatio === undefined) continue;
    targets.push({
      id: `builtinAB.${client}`,
      target: `built-in tracer, ${client}, in-process A/B: added ≤ ${TARGETS.builtinRatio} × OpenTelemetry's added`,
      measured: `${fmt(a.builtin.addedCpu.median, 2)} / ${fmt(a.otel.addedCpu.median, 2)} µs = ×${fmt(a.builtinRatio, 2)} [IQRs: ×${fmt(a.builtinRatioRange[0], 2)} … ×${fmt(a.builtinRatioRange[1], 2)}]`,
      ...verdict(Number.isFinite(a.builtinRatio) ? a.builtinRatio <= TARGETS.builtinRatio : NaN, a.builtinRatioRange, TARGETS.builtinRatio),
    });
  }
  for (const [client, a] of Object.entries(abTraced)) {
    if (a.shimMinusOtel === undefined) continue;
    targets.push({
      id: `shimAB.${client}`,
      target: `your SDK via the shim, ${client}, in-process A/B: no slower than OpenTelemetry's own`,
      measured: `${signed(a.shimMinusOtel, 2)} µs vs OTel [IQRs: ${signed(a.shimMinusOtelRange[0], 1)} … ${signed(a.shimMinusOtelRange[1], 1)}]`,
      ...verdict(a.shimMinusOtel <= 0, a.shimMinusOtelRange, 0),
    });
  }
  for (const [client, c] of Object.entries(comparisons)) {
    if (c.shimAdded === undefined) continue;
    targets.push({
      id: `shim.${client}`,
      target: `your SDK via the shim, ${client}: no slower than OpenTelemetry's own`,
      measured: `${signed(c.shimMinusOtel, 1)} µs vs OTel [per round ${signed(c.shimMinusOtelRange[0], 1)} … ${signed(c.shimMinusOtelRange[1], 1)}]`,
      ...verdict(c.shimMinusOtel <= 0, c.shimMinusOtelRange, 0),
    });
  }
  if (startup) {
    const cpuNote = (key) => (startup.addedCpuMs ? ` (CPU ${signed(startup.addedCpuMs[key], 1)} ms)` : '');
    targets.push({
      id: 'startup.none',
      target: `start-up without OT_TRACER ≤ +${TARGETS.startupMs} ms`,
      measured: `${signed(startup.addedMs.register, 1)} ms wall${cpuNote('register')}`,
      pass: startup.addedMs.register <= TARGETS.startupMs,
    });
    targets.push({
      id: 'startup.otlp',
      target: `start-up with OT_TRACER=otlp ≤ +${TARGETS.startupOtlpMs} ms`,
      measured: `${signed(startup.addedMs.registerOtlp, 1)} ms wall${cpuNote('registerOtlp')}`,
      pass: startup.addedMs.registerOtlp <= TARGETS.startupOtlpMs,
    });
  }
  const heap = raw.heap && Object.keys(raw.heap).length ? raw.heap : undefined;
  const traced = heap && (heap.builtin ?? Object.values(heap).find((h) => h.variant !== 'baseline'));
  if (traced) {
    const quick = traced.requests < TARGETS.heapFullRequests;
    const base = heap.baseline;
    targets.push({
      id: 'heap',
      target: `heap flat over ${TARGETS.heapFullRequests.toLocaleString('en-US')} requests, ${VARIANTS[traced.variant]} (settled heap, 10% → 100% < ${traced.thresholdMb} MB)`,
      measured:
        `${signed(traced.growthMb, 2)} MB over ${traced.requests.toLocaleString('en-US')} requests` +
        (base ? ` (baseline ${signed(base.growthMb, 2)} MB)` : '') +
        (quick ? ' (quick run)' : ''),
      pass: traced.flat,
      note: quick ? `BENCH_HEAP_REQUESTS=200000 for the target` : undefined,
    });
  }
  const psi = [];
  for (const byVariant of Object.values(raw.clients)) for (const { rounds } of Object.values(byVariant)) for (const r of rounds) if (r && r.psiPct !== undefined) psi.push(r.psiPct);
  for (const { rounds } of Object.values(raw.ab ?? {})) for (const r of rounds) if (r && r.psiPct !== undefined) psi.push(r.psiPct);
  for (const byVariant of Object.values(raw.abTraced ?? {})) for (const { rounds } of Object.values(byVariant)) for (const r of rounds) if (r && r.psiPct !== undefined) psi.push(r.psiPct);
  const pressure = psi.length ? summary(psi) : undefined;
  return { clients, ab, abTraced, comparisons, startup, heap, targets, pressure, exportsForReal: raw.exportsForReal };
}

/**
 * Per target, over consecutive runs: met only when every run passes and none is within noise; not met
 * when every run fails; otherwise the runs disagree (which is not met either).
 */
function verdicts(derivedRuns) {
  const ids = [...new Set(derivedRuns.flatMap((d) => d.targets.map((t) => t.id)))];
  return ids.map((id) => {
    const per = derivedRuns.map((d) => d.targets.find((t) => t.id === id));
    const known = per.filter((t) => t && t.pass !== null && t.pass !== undefined);
    let verdict;
    if (known.length < derivedRuns.length) verdict = 'incomplete';
    else if (known.every((t) => t.pass && !t.noisy && !t.unchecked)) verdict = 'met';
    else if (known.every((t) => t.pass && !t.noisy)) verdict = 'every run passes, of one round (noise not checked): not met';
    else if (known.every((t) => !t.pass)) verdict = 'not met';
    else verdict = 'runs disagree or within noise: not met';
    return { id, target: (per.find(Boolean) ?? {}).target, runs: per.map((t) => (t ? passCell(t) : 'n/a')), measured: per.map((t) => t?.measured ?? 'n/a'), verdict };
  });
}

function fmt(v, digits = 1) {
  return Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}
function signed(v, digits = 1) {
  if (!Number.isFinite(v)) return 'n/a';
  const s = v.toFixed(digits);
  return v >= 0 && !s.startsWith('-') ? `+${s}` : s.replace('-', '−');
}
function passCell(t) {
  if (t.pass === null || t.pass === undefined) return 'n/a';
  const base = t.pass ? 'pass' : '**FAIL**';
  if (t.noisy) return `${base} (within noise)`;
  return t.unchecked ? `${base} (one round: noise not checked)` : base;
}
/** A peer's figure, or "not instrumented" with it (less work than the others: not comparable). */
function uninstrumented(e, figure) {
  return e.notInstrumented ? `not instrumented (${fmt(e.spansPerCall, 2)} spans/call; ${figure})` : figure;
}
function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
function change(cur, prev, digits = 1) {
  if (!Number.isFinite(cur) || !Number.isFinite(prev)) return '—';
  const pct = prev !== 0 ? ` (${signed(((cur - prev) / prev) * 100, 0)}%)` : '';
  return `${signed(cur - prev, digits)}${pct}`;
}

/**
 * Added CPU per call over every round of every run (`derive` on the runs' rounds put together), with the
 * built-in tracer against the cheapest peer and the shim against OpenTelemetry: a steadier figure than
 * one run's, next to the per-run verdicts (which it does not replace).
 */
function renderPooled(out, runs) {
  const clients = {};
  for (const run of runs) {
    for (const [client, byVariant] of Object.entries(run.clients)) {
      clients[client] ??= {};
      for (const [variant, { rounds }] of Object.entries(byVariant)) (clients[client][variant] ??= { rounds: [] }).rounds.push(...rounds);
    }
  }
  const d = derive({ clients });
  const columns = ['hooks', 'builtin', 'shim', ...PEERS];
  const short = { hooks: 'no tracer', builtin: 'built-in', shim: 'shim', otel: 'OpenTelemetry', ddtrace: 'dd-trace', elastic: 'Elastic' };
  const rows = Object.entries(d.clients).map(([client, v]) => {
    const c = d.comparisons[client];
    return [
      client,
      ...columns.map((variant) => (v[variant]?.addedCpu ? uninstrumented(v[variant], signed(v[variant].addedCpu.median)) : '—')),
      c?.builtinPeerRatio !== undefined ? `×${fmt(c.builtinPeerRatio, 2)} (${c.cheapestPeer})` : '—',
      c?.shimAdded !== undefined && c.otelAdded > 0 ? `×${fmt(c.shimAdded / c.otelAdded, 2)}` : '—',
    ];
  });
  out.push(`### Pooled over the ${runs.length} runs: added CPU µs/call (median over all their rounds)`);
  out.push('');
  out.push(table(['client', ...columns.map((v) => short[v]), 'built-in ÷ cheapest peer', 'shim ÷ OTel'], rows));
  out.push('');
}

function markdown(results, previous) {
  const d = results.derived;
  const m = results.meta;
  const out = [];
  const prevClients = previous?.derived?.clients ?? {};
  out.push(`## Overhead results (${m.date})`);
  out.push('');
  out.push(`Command: \`${m.command}\``);
  out.push('');
  out.push(
    `Machine: ${m.nproc} cores, ${m.cpuModel}, Node ${m.node}; load average ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')} at start, ` +
      `${m.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} at end` +
      (m.cpuPressurePct !== undefined ? `; CPU pressure (PSI "some", the bench's own processes included) ${fmt(m.cpuPressurePct, 0)}%, steal ${fmt(m.stealPct, 1)}%` : '') +
      `; ${m.seconds} s in all. ${m.settings.rounds} interleaved rounds; each round runs every ` +
      `variant in a new process (variant order rotated per round): warm-up calls, then measured calls (` +
      Object.entries(m.settings.callsPerProcess)
        .map(([c, n]) => `${c} ${n.warmup} + ${n.calls}`)
        .join(', ') +
      `). Exporter: ${m.exportNote}`,
  );
  out.push('');
  if (d.pressure) {
    out.push(
      `CPU pressure while the measured processes ran (PSI "some": share of time some task waited for a CPU; the bench's own ` +
        `client, server and database processes included): median ${fmt(d.pressure.median, 0)}% [${fmt(d.pressure.min, 0)} … ${fmt(d.pressure.max, 0)}].` +
        (d.pressure.median > BUSY_PSI_PCT
          ? ` **The machine was busy with other work: figures are noisy; run again on a quiet machine.**`
          : ''),
    );
    out.push('');
  }
  if (Object.keys(d.clients).length) renderClients(out, d, prevClients);
  return renderRest(out, d, results, previous);
}

function renderClients(out, d, prevClients) {
  out.push('### Summary: added CPU per call against the baseline (median over rounds)');
  out.push('');
  const cell = (e) => (e?.addedCpu ? uninstrumented(e, `${signed(e.addedCpu.median)} µs (${signed(e.addedCpuPct, 0)}%)`) : '—');
  out.push(
    table(
      ['client', 'baseline CPU µs/call', 'hooks, no tracer', 'hooks + built-in tracer', 'hooks + your SDK (shim)', "OpenTelemetry's own", 'dd-trace', 'elastic-apm-node', 'built-in ÷ OTel', 'shim ÷ OTel', 'built-in ÷ cheapest peer'],
      Object.entries(d.clients).map(([client, v]) => {
        const c = d.comparisons[client];
        return [
          client,
          fmt(v.baseline?.cpu.median),
          cell(v.hooks) + (d.ab?.[client] ? ` · A/B ${signed(d.ab[client].addedCpu.median, 2)} µs` : ''),
          cell(v.builtin),
          cell(v.shim),
          cell(v.otel),
          cell(v.ddtrace),
          cell(v.elastic),
          c?.builtinRatio !== undefined ? `×${fmt(c.builtinRatio, 2)}` : '—',
          c?.shimAdded !== undefined && c.otelAdded > 0 ? `×${fmt(c.shimAdded / c.otelAdded, 2)}` : '—',
          c?.builtinPeerRatio !== undefined ? `×${fmt(c.builtinPeerRatio, 2)} (${c.cheapestPeer})` : '—',
        ];
      }),
    ),
  );
  out.push('');
  out.push('### Per call, by client and variant');
  out.push('');
  out.push(`Export for real (to the sink): ${(d.exportsForReal ?? []).join(', ') || 'none'}; the others drop their batches in-process. Spans per call count what reached each exporter (ours and OpenTelemetry's: the batches handed to it; dd-trace: its finished spans; Elastic: its spans and transactions as they are sent).`);
  out.push('');
  out.push(
    'CPU = `process.cpuUsage()` (user + system) of the client process around the measured loop only, per call (for `server`: of the ' +
      'traced server process, per inbound request). Median over rounds [min … max]. "Added" is the median of the per-round differences to ' +
      'the baseline process of the same round.',
  );
  out.push('');
  const rows = [];
  for (const [client, byVariant] of Object.entries(d.clients)) {
    for (const [variant, e] of Object.entries(byVariant)) {
      const prev = prevClients[client]?.[variant]?.cpu?.median;
      rows.push([
        variant === 'baseline' ? `**${client}**` : '',
        VARIANTS[variant] + (e.notInstrumented ? ' — **not instrumented**' : ''),
        `${fmt(e.cpu.median)} [${fmt(e.cpu.min)} … ${fmt(e.cpu.max)}]`,
        e.addedCpu ? `${signed(e.addedCpu.median)} [${signed(e.addedCpu.min)} … ${signed(e.addedCpu.max)}]` : '—',
        e.addedCpu ? `${signed(e.addedCpuPct, 1)}%` : '—',
        `${fmt(e.wall.median)} [${fmt(e.wall.min)} … ${fmt(e.wall.max)}]`,
        e.addedWall ? signed(e.addedWall.median) : '—',
        fmt(e.spansPerCall, 2),
        change(e.cpu.median, prev),
      ]);
    }
  }
  out.push(table(['client', 'variant', 'CPU µs/call', 'added CPU µs/call', 'added CPU %', 'wall µs/call', 'added wall µs', 'spans/call', 'CPU vs last run'], rows));
  out.push('');
  out.push(`Clients: ${Object.keys(d.clients).map((c) => `\`${c}\` = ${CLIENTS[c].label}, ${CLIENTS[c].concurrency} concurrent`).join('; ')}.`);
  out.push('');

}

function renderRest(out, d, results, previous) {
  if (Object.keys(d.ab ?? {}).length) {
    out.push('### Hooks without tracer, in-process A/B');
    out.push('');
    out.push(
      'One process per client and round: hooks installed before the client loads, then `uninstallAllPatches()` and ' +
        '`installAllPatches()` alternate between blocks of calls on the same connections (ABBA order). Median over all block ' +
        'pairs of all rounds [interquartile range]. Finer than the process-to-process figure above, whose spread is several µs.',
    );
    out.push('');
    const prevAb = previous?.derived?.ab ?? {};
    out.push(
      table(
        ['client', 'added CPU µs/call', 'added CPU %', 'per-round medians', 'block pairs × calls', 'CPU µs/call without hooks', 'vs last run'],
        Object.entries(d.ab).map(([client, a]) => [
          client,
          `${signed(a.addedCpu.median, 2)} [${signed(a.addedCpu.q1, 2)} … ${signed(a.addedCpu.q3, 2)}]`,
          `${signed(a.addedCpuPct, 1)}%`,
          `${signed(a.roundMedians.min, 2)} … ${signed(a.roundMedians.max, 2)}`,
          `${a.pairs} × ${a.block}`,
          fmt(a.baseCpu),
          change(a.addedCpu.median, prevAb[client]?.addedCpu?.median, 2).replace(/ \(.*\)$/, ''),
        ]),
      ),
    );
    out.push('');
  }

  if (Object.keys(d.abTraced ?? {}).length) {
    out.push('### Traced, in-process A/B');
    out.push('');
    out.push(
      'One process per client, variant and round, set up as that variant (the preload with `OT_TRACER=otlp`; your SDK through the ' +
        "shim; OpenTelemetry's instrumentations on the same SDK), whose instrumentation is switched off and on between blocks of calls " +
        "on the same connections (ours with `uninstallAllPatches()` / `installAllPatches()`, OpenTelemetry's with `disable()` / " +
        '`enable()`; ABBA order). Added CPU µs/call: median over all block pairs of all rounds [interquartile range]. The ' +
        'process, its connections and its JIT state are shared by both halves of a pair, so this is much finer than the ' +
        'process-to-process figures above; it leaves out what switching off does not undo (an AsyncLocalStorage already ' +
        'switched on stays on, in both halves).',
    );
    out.push('');
    const prevT = previous?.derived?.abTraced ?? {};
    const cellT = (e, prev) =>
      e
        ? (e.offLeaks !== undefined ? `switching off left it on (${fmt(e.spansPerCall, 2)} spans/call, ${fmt(e.offLeaks, 2)} in its own process): ` : '') +
          `${signed(e.addedCpu.median, 2)} [${signed(e.addedCpu.q1, 1)} … ${signed(e.addedCpu.q3, 1)}]${prev ? ` (last ${signed(prev.addedCpu.median, 2)})` : ''}`
        : '—';
    out.push(
      table(
        ['client', 'hooks + built-in', 'hooks + your SDK (shim)', "OpenTelemetry's own", 'built-in ÷ OTel', `≤ ×${TARGETS.builtinRatio}?`, 'shim − OTel', 'shim ≤ OTel?', 'block pairs × calls', 'spans/call (b / s / o)'],
        Object.entries(d.abTraced).map(([client, a]) => {
          const bt = d.targets.find((t) => t.id === `builtinAB.${client}`);
          const st = d.targets.find((t) => t.id === `shimAB.${client}`);
          const any = a.builtin ?? a.shim ?? a.otel;
          return [
            client,
            cellT(a.builtin, prevT[client]?.builtin),
            cellT(a.shim, prevT[client]?.shim),
            a.otel && notInstrumented(client, 'otel', a.otel.spansPerCall, a.builtin?.spansPerCall) ? uninstrumented({ ...a.otel, notInstrumented: true }, cellT(a.otel, prevT[client]?.otel)) : cellT(a.otel, prevT[client]?.otel),
            a.builtinRatio !== undefined ? `×${fmt(a.builtinRatio, 2)}` : '—',
            bt ? passCell(bt) : '—',
            a.shimMinusOtel !== undefined ? `${signed(a.shimMinusOtel, 2)} µs` : '—',
            st ? passCell(st) : '—',
            `${any.pairs} × ${any.block}`,
            ['builtin', 'shim', 'otel'].map((v) => (a[v] ? fmt(a[v].spansPerCall, 2) : '—')).join(' / '),
          ];
        }),
      ),
    );
    out.push('');
  }

  if (Object.keys(d.comparisons).length) {
    out.push("### Our added cost against OpenTelemetry's (added CPU µs/call, medians)");
    out.push('');
    const crow = Object.entries(d.comparisons).map(([client, c]) => {
      const bt = d.targets.find((t) => t.id === `builtin.${client}`);
      const st = d.targets.find((t) => t.id === `shim.${client}`);
      return [
        client,
        signed(c.otelAdded),
        c.builtinAdded !== undefined ? signed(c.builtinAdded) : '—',
        c.builtinAdded !== undefined ? `×${fmt(c.builtinRatio, 2)}` : '—',
        bt ? passCell(bt) : '—',
        c.shimAdded !== undefined ? signed(c.shimAdded) : '—',
        c.shimAdded !== undefined ? `×${fmt(c.shimAdded / c.otelAdded, 2)}` : '—',
        st ? passCell(st) : '—',
      ];
    });
    out.push(
      table(
        ['client', "OTel's own", 'hooks + built-in', 'built-in ÷ OTel', `≤ ×${TARGETS.builtinRatio}?`, 'hooks + your SDK (shim)', 'shim ÷ OTel', 'shim ≤ OTel?'],
        crow,
      ),
    );
    out.push('');
  }

  if (d.startup) {
    const s = d.startup;
    const prevS = previous?.derived?.startup;
    out.push(`### Start-up (per process, median of ${s.runs} alternated runs [min … max])`);
    out.push('');
    const tNone = d.targets.find((t) => t.id === 'startup.none');
    const tOtlp = d.targets.find((t) => t.id === 'startup.otlp');
    const changeSince = (now, before) => (now === undefined || before === undefined ? '—' : change(now, before));
    const srows = s.configs.map(({ key, label }) => [
      label,
      `${fmt(s.ms[key].median)} [${fmt(s.ms[key].min)} … ${fmt(s.ms[key].max)}]`,
      s.addedMs[key] === undefined ? '—' : signed(s.addedMs[key]),
      s.cpuMs?.[key] ? fmt(s.cpuMs[key].median) : 'n/a',
      s.addedCpuMs?.[key] === undefined ? '—' : signed(s.addedCpuMs[key]),
      `${s.modules[key].files} / ${s.modules[key].builtins}`,
      key === 'register' ? `≤ +${TARGETS.startupMs} ms: ${passCell(tNone)}` : key === 'registerOtlp' ? `≤ +${TARGETS.startupOtlpMs} ms: ${passCell(tOtlp)}` : '—',
      changeSince(key === 'plain' ? s.ms.plain.median : s.addedMs[key], key === 'plain' ? prevS?.ms.plain.median : prevS?.addedMs[key]),
    ]);
    out.push(table(['command', 'wall ms', 'added wall ms', 'CPU ms', 'added CPU ms', 'modules loaded (files / builtins)', 'target (wall)', 'added vs last run'], srows));
    out.push('');
    for (const { key, label } of s.configs) {
      const by = s.modules[key].byPackage;
      if (!by || Object.keys(by).length === 0) continue;
      const top = Object.entries(by).sort((a, b) => b[1] - a[1]).slice(0, 8);
      out.push(`- Files loaded by ${label}: ${top.map(([n, c]) => `${n} ${c}`).join(', ')}${Object.keys(by).length > top.length ? ', …' : ''}.`);
    }
    out.push('');
  }

  if (d.heap) {
    const variants = Object.keys(d.heap);
    const any = d.heap[variants[0]];
    out.push(
      `### Heap (${any.requests.toLocaleString('en-US')} requests from a load generator, 16 at a time, each calling ${any.perRequest.join(', ')})`,
    );
    out.push('');
    out.push(
      `Heap used after \`global.gc()\`, MB: "hot" as soon as the load pauses, "settled" ${any.settleMs / 1000} s later (node-redis leaves a ` +
        '5 s `AbortSignal.timeout` timer per command, which keeps the async context of the call, so its span, alive until it fires; ' +
        'the batch processor exports every 5 s). req/s is the rate of the chunk before the reading. ' +
        'Flat is judged on the settled figures.',
    );
    out.push('');
    const withRate = variants.some((v) => d.heap[v].samples.some((y) => y.rps !== undefined));
    const header = ['after', 'requests', ...variants.flatMap((v) => [`${v} hot`, `${v} settled`, ...(withRate ? [`${v} req/s`] : [])])];
    const rowsH = any.samples.map((x, i) => [
      x.at,
      x.requests.toLocaleString('en-US'),
      ...variants.flatMap((v) => {
        const y = d.heap[v].samples[i];
        const cells = y ? [fmt(y.hotHeapUsed / 2 ** 20, 2), fmt(y.heapUsed / 2 ** 20, 2)] : ['n/a', 'n/a'];
        if (withRate) cells.push(y && y.at !== 'warm-up' ? fmt(y.rps, 0) : '—');
        return cells;
      }),
    ]);
    out.push(table(header, rowsH));
    out.push('');
    const prevH = previous?.derived?.heap ?? {};
    for (const v of variants) {
      const h = d.heap[v];
      out.push(
        `- ${VARIANTS[v]}: settled growth 10% → 100% ${signed(h.growthMb, 2)} MB → ${h.flat ? 'flat' : '**not flat**'} (threshold ${h.thresholdMb} MB)` +
          (prevH[v] ? `; last run ${signed(prevH[v].growthMb, 2)} MB over ${prevH[v].requests.toLocaleString('en-US')} requests` : '') +
          `; ${fmt(h.seconds, 0)} s.`,
      );
    }
    out.push('');
  }

  // No target at all (a client no peer instruments, such as nats, alone): no verdicts to show.
  if (results.verdicts?.length > 0 && results.meta.settings.runs > 1) {
    out.push(`### Verdicts over ${results.meta.settings.runs} consecutive runs`);
    out.push('');
    out.push('A target is met only when every run passes and none is "within noise" (nor of a single round, whose noise cannot be judged); the tables above are the last run\'s.');
    out.push('');
    out.push(table(['target', ...results.verdicts[0].runs.map((_, i) => `run ${i + 1}`), 'verdict'], results.verdicts.map((v) => [v.target, ...v.runs.map((r, i) => `${r}: ${v.measured[i]}`), v.verdict === 'met' ? 'met' : `**${v.verdict}**`])));
    out.push('');
  }
  if (results.runs && results.runs.length > 1) renderPooled(out, results.runs);
  out.push('### Targets');
  out.push('');
  out.push(table(['target', 'measured', 'result'], d.targets.map((t) => [t.target, t.measured + (t.note ? ` — ${t.note}` : ''), passCell(t)])));
  out.push('');
  out.push(
    '"within noise": the target lies inside the round-to-round range of the figure, so another run may give the other answer.',
  );
  if (results.warnings.length) {
    out.push('');
    out.push('### Warnings');
    out.push('');
    for (const w of results.warnings) out.push(`- ${w}`);
  }
  if (previous) {
    out.push('');
    const ps = previous.meta?.settings ?? {};
    out.push(
      `"vs last run": against ${previous.meta?.date ?? 'the previous file'} (\`${previous.meta?.command ?? '?'}\`: ${ps.rounds ?? '?'} rounds, ` +
        `call scale ${ps.calls ?? ps.scale ?? '?'}).`,
    );
  }
  return out.join('\n') + '\n';
}

module.exports = { derive, markdown, verdicts, notInstrumented, TARGETS };
