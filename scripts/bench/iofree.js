#!/usr/bin/env node
'use strict';
/**
 * `npm run bench:iofree`: the hooks' own cost per call without I/O. Each client library runs its real
 * call path over an in-process transport stub (a Duplex that answers at once: no socket, no kernel time,
 * which is most of the end-to-end figures' variance), one process per client × variant, calls one at a
 * time. Prints a markdown table of CPU µs/call and the added cost against the baseline.
 *
 * The stubs: http over an `http.Agent` whose `createConnection` returns it, fetch over an undici `Agent`
 * whose `connect` does, pg and mysql2 through their `stream` option (mysql2's promise pool of one
 * connection, as `npm run bench` queries; the stub greets, accepts the login and answers `SELECT 1`),
 * ioredis through its `Connector` option (a connector class that hands the stub over instead of opening
 * a socket), node-redis by replacing `net.createConnection` for the stub's address while `connect()` runs
 * (it has no option for a stream or a socket factory). The redis stub parses the RESP commands written
 * and answers the handshakes (HELLO, CLIENT SETINFO, INFO) and `GET`, in RESP3 after `HELLO 3` (both
 * clients' default), as Redis does.
 *
 *   node scripts/bench/iofree.js                      (BENCH_IOFREE_CALLS=20000, BENCH_IOFREE_RUNS=3)
 *   BENCH_CALLGRIND=1 node scripts/bench/iofree.js    instructions per call instead (valgrind's callgrind:
 *                                                     two processes, N and 2N calls, the difference / N)
 * BENCH_CLIENTS (http, fetch, axios, pg, mysql2, redis, ioredis), BENCH_VARIANTS (baseline, hooks, builtin, shim, otel) and
 * BENCH_CPU_PROF (a directory for each process's `--cpu-prof` profile) as for `npm run bench`.
 * Each batch is written and dropped in-process (BENCH_EXPORT=noop): this measures the call path and the
 * serialisation of its spans, not the POST.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Duplex } = require('node:stream');
const { MIN_WARMUP } = require('./config');

const CLIENTS = ['http', 'fetch', 'axios', 'pg', 'mysql2', 'redis', 'ioredis'];
const VARIANTS = ['baseline', 'hooks', 'builtin', 'shim', 'otel'];

/**
 * A socket stand-in: `answer(chunk)` returns what the "server" sends back for what the client wrote. The
 * reply arrives in a later turn of the event loop (setImmediate), as a socket's data does: delivered with
 * process.nextTick, a client that writes at once (pg, ioredis) would run the whole loop without one, and
 * whatever waits for a turn (the built-in tracer's export) would wait until the end, its queue full and
 * the spans past it dropped (spans/call 0.10 at 20,000 calls).
 */
function stubSocket(answer, remotePort = 5432) {
  const socket = new Duplex({
    read() {},
    write(chunk, _enc, done) {
      const reply = answer(chunk);
      if (reply) setImmediate(() => socket.push(reply));
      done();
    },
    final(done) {
      done();
    },
  });
  socket.setNoDelay = () => socket;
  socket.setKeepAlive = () => socket;
  socket.setTimeout = () => socket;
  socket.ref = () => socket;
  socket.unref = () => socket;
  socket.destroySoon = () => socket.destroy(); // what http does with a socket it does not keep alive
  socket.remoteAddress = '127.0.0.1';
  socket.remotePort = remotePort;
  socket.connect = () => process.nextTick(() => socket.emit('connect'));
  return socket;
}

const HTTP_RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok');

function stubAgent() {
  const http = require('node:http');
  const agent = new http.Agent();
  agent.createConnection = (_opts, done) => {
    const socket = stubSocket((chunk) => (chunk.includes('\r\n\r\n') ? HTTP_RESPONSE : undefined));
    process.nextTick(() => socket.emit('connect'));
    if (done) process.nextTick(done, null, socket);
    return socket;
  };
  return agent;
}

async function httpClient() {
  const http = require('node:http');
  const options = { host: 'stub.invalid', port: 18080, path: '/echo', agent: stubAgent() };
  return () =>
    new Promise((resolve, reject) => {
      http
        .get(options, (res) => {
          res.on('end', resolve);
          res.resume();
        })
        .on('error', reject);
    });
}

/** axios 1.x with its http adapter (follow-redirects over http) on the same stub agent. */
async function axiosClient() {
  // Node's bundled undici loads its HTTP parser (WebAssembly) when axios first touches `fetch`, and
  // `--jitless` (callgrind) has no WebAssembly: that load fails unobserved; axios's http adapter needs none.
  if (typeof WebAssembly === 'undefined') process.on('unhandledRejection', (err) => { if (!/WebAssembly/.test(String(err))) throw err; });
  const axios = require('axios');
  const instance = axios.create({ httpAgent: stubAgent() });
  return () => instance.get('http://stub.invalid:18080/echo');
}

async function fetchClient() {
  const { Agent } = require('undici');
  const dispatcher = new Agent({
    connect: (_opts, done) => {
      const socket = stubSocket((chunk) => (chunk.includes('\r\n\r\n') ? HTTP_RESPONSE_KEEP_ALIVE : undefined));
      process.nextTick(done, null, socket);
      return socket;
    },
  });
  return async () => {
    const res = await fetch('http://stub.invalid:18080/echo', { dispatcher });
    await res.text();
  };
}
const HTTP_RESPONSE_KEEP_ALIVE = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok');

/** PostgreSQL's wire protocol, just enough for `SELECT 1` over the simple query protocol. */
function pgMessage(type, body) {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const int16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const PG_READY = pgMessage('Z', Buffer.from('I'));
const PG_STARTUP_REPLY = Buffer.concat([pgMessage('R', int32(0)), PG_READY]);
const PG_SELECT_1 = Buffer.concat([
  pgMessage('T', Buffer.concat([int16(1), Buffer.from('?column?\0'), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)])),
  pgMessage('D', Buffer.concat([int16(1), int32(1), Buffer.from('1')])),
  pgMessage('C', Buffer.from('SELECT 1\0')),
  PG_READY,
]);

async function pgClient() {
  const pg = require('pg');
  const client = new pg.Client({
    host: '127.0.0.1',
    user: 'bench',
    database: 'bench',
    stream: () => {
      let started = false;
      return stubSocket((chunk) => {
        if (!started) {
          started = true;
          return PG_STARTUP_REPLY;
        }
        return chunk[0] === 0x51 /* Q */ ? PG_SELECT_1 : undefined;
      });
    },
  });
  await client.connect();
  return () => client.query('SELECT 1');
}

/** MySQL's client/server protocol, just enough for mysql2 to connect and run `SELECT 1` (text protocol). */
function mysqlPacket(seq, payload) {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
}
const lenencString = (s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
// Protocol 4.1, secure connection, plugin auth; no SSL and no CLIENT_DEPRECATE_EOF (classic EOF packets).
const MYSQL_CAPABILITIES = 0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000;
const MYSQL_GREETING = mysqlPacket(
  0,
  Buffer.concat([
    Buffer.from([10]),
    Buffer.from('8.0.36-stub\0'),
    Buffer.from([1, 0, 0, 0]), // connection id (little-endian, as every MySQL integer)
    Buffer.from('abcdefgh'),
    Buffer.from([0, MYSQL_CAPABILITIES & 0xff, (MYSQL_CAPABILITIES >> 8) & 0xff, 45, 2, 0, (MYSQL_CAPABILITIES >> 16) & 0xff, (MYSQL_CAPABILITIES >> 24) & 0xff, 21]),
    Buffer.alloc(10),
    Buffer.from('ijklmnopqrst\0'),
    Buffer.from('mysql_native_password\0'),
  ]),
);
const mysqlOk = (seq) => mysqlPacket(seq, Buffer.from([0, 0, 0, 2, 0, 0, 0]));
const mysqlEof = (seq) => mysqlPacket(seq, Buffer.from([0xfe, 0, 0, 2, 0]));
const MYSQL_SELECT_1 = Buffer.concat([
  mysqlPacket(1, Buffer.from([1])),
  mysqlPacket(
    2,
    Buffer.concat([lenencString('def'), lenencString(''), lenencString(''), lenencString(''), lenencString('1'), lenencString(''), Buffer.from([0x0c, 0x3f, 0, 1, 0, 0, 0, 0x08, 0x81, 0, 0, 0, 0])]),
  ),
  mysqlEof(3),
  mysqlPacket(4, lenencString('1')),
  mysqlEof(5),
]);

/** A MySQL server stand-in on a stub socket: the greeting at once, OK to the login, `SELECT 1`'s result to every query. */
function mysqlServer() {
  let loggedIn = false;
  const socket = stubSocket((chunk) => {
    if (!loggedIn) {
      loggedIn = true;
      return mysqlOk(2);
    }
    const command = chunk[4];
    if (command === 0x03) return MYSQL_SELECT_1; // COM_QUERY
    if (command === 0x0e) return mysqlOk(1); // COM_PING
    return undefined;
  }, 3306);
  setImmediate(() => socket.push(MYSQL_GREETING));
  return socket;
}

/** mysql2's promise pool as `npm run bench` uses it (`pool.query('SELECT 1')`), one connection, through its `stream` option. */
async function mysql2Client() {
  const mysql = require('mysql2');
  const pool = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'bench', database: 'bench', connectionLimit: 1, stream: () => mysqlServer() }).promise();
  const [rows] = await pool.query('SELECT 1');
  if (rows?.[0]?.['1'] !== 1) throw new Error(`mysql2 stub: SELECT 1 answered ${JSON.stringify(rows)}`);
  return () => pool.query('SELECT 1');
}

const REDIS_KEY = 'opentracing-client-hooks:bench'; // what `npm run bench` reads (scripts/bench/clients.js)
const REDIS_INFO = '# Server\r\nredis_version:7.4.0\r\nredis_mode:standalone\r\n# Persistence\r\nloading:0\r\n';
/** A reply in RESP: null, integer, bulk string, array, Map (a RESP3 map, a flat array in RESP2), `{ simple }` or `{ error }`. */
function respEncode(value, resp) {
  if (value === null) return resp === 3 ? '_\r\n' : '$-1\r\n';
  if (typeof value === 'number') return `:${value}\r\n`;
  if (typeof value === 'string') return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
  if (Array.isArray(value)) return `*${value.length}\r\n${value.map((v) => respEncode(v, resp)).join('')}`;
  if (value instanceof Map) {
    const pairs = [...value].map(([k, v]) => respEncode(k, resp) + respEncode(v, resp)).join('');
    return resp === 3 ? `%${value.size}\r\n${pairs}` : `*${value.size * 2}\r\n${pairs}`;
  }
  return value.error ? `-${value.error}\r\n` : `+${value.simple}\r\n`;
}
const OK = { simple: 'OK' };
function redisReply(args, state) {
  const name = args[0].toUpperCase();
  if (name === 'GET') return args[1] === REDIS_KEY ? 'v' : null;
  if (name === 'HELLO') {
    if (args[1]) state.resp = Number(args[1]);
    return new Map([
      ['server', 'redis'],
      ['version', '7.4.0'],
      ['proto', state.resp],
      ['id', 1],
      ['mode', 'standalone'],
      ['role', 'master'],
      ['modules', []],
    ]);
  }
  if (name === 'INFO') return REDIS_INFO;
  if (name === 'PING') return { simple: 'PONG' };
  if (['SET', 'SELECT', 'QUIT'].includes(name)) return OK;
  if (name === 'CLIENT') {
    // Redis 7.4 knows SETINFO and SETNAME, not node-redis's MAINT_NOTIFICATIONS (which it then goes without).
    const sub = String(args[1]).toUpperCase();
    return sub === 'SETINFO' || sub === 'SETNAME' ? OK : { error: `ERR unknown subcommand '${args[1]}'. Try CLIENT HELP.` };
  }
  return { error: `ERR unknown command '${args[0]}'` };
}
/**
 * A Redis server for one connection (the stub's `answer`), just enough for the clients' handshakes and
 * `GET`: parses the RESP arrays a client writes (in whatever pieces it writes them) and answers each
 * command in RESP2, or in RESP3 once the client has sent `HELLO 3`, as Redis does. Unknown commands get
 * Redis's error.
 */
function redisServer() {
  const state = { resp: 2 };
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let out = '';
    for (;;) {
      const command = parseRespArray(pending);
      if (!command) break;
      pending = pending.subarray(command.end);
      out += respEncode(redisReply(command.args, state), state.resp);
    }
    return out ? Buffer.from(out) : undefined;
  };
}
/** `*N\r\n` then N `$len\r\nbytes\r\n`: the command's arguments and where it ends, or undefined if incomplete. */
function parseRespArray(buf) {
  const line = (from) => {
    const end = buf.indexOf('\r\n', from);
    return end < 0 ? undefined : { text: buf.toString('latin1', from + 1, end), next: end + 2 };
  };
  if (buf.length === 0) return undefined;
  if (buf[0] !== 0x2a /* * */) throw new Error(`redis stub: expected a RESP array, got ${JSON.stringify(buf.toString('latin1', 0, 20))}`);
  const head = line(0);
  if (!head) return undefined;
  const args = [];
  let pos = head.next;
  for (let i = 0; i < Number(head.text); i++) {
    const len = line(pos);
    if (!len) return undefined;
    const end = len.next + Number(len.text);
    if (buf.length < end + 2) return undefined;
    args.push(buf.toString('utf8', len.next, end));
    pos = end + 2;
  }
  return { args, end: pos };
}

/** Where the redis clients "connect": an IP, as node-redis would otherwise look the name up for its handshake. */
const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;

/**
 * node-redis (`redis`): no socket option takes a stream or a socket factory (its RedisSocket calls
 * `net.createConnection` itself when it connects), so `net.createConnection` is replaced for the
 * stub's address only, and only while `connect()` runs; the command path (queue, RESP encoder and decoder)
 * is the library's own. RESP3 (`HELLO 3`), node-redis 6's default.
 */
async function redisClient() {
  const net = require('node:net');
  const { createClient } = require('redis');
  const createConnection = net.createConnection;
  let stubs = 0;
  net.createConnection = function (options, ...rest) {
    if (options?.host !== REDIS_HOST || options.port !== REDIS_PORT) return Reflect.apply(createConnection, this, [options, ...rest]);
    stubs++;
    const socket = stubSocket(redisServer(), options.port);
    process.nextTick(() => socket.emit('connect'));
    return socket;
  };
  // No reconnection: the stub never drops the connection, and a reconnect would not reach it.
  const client = createClient({ socket: { host: REDIS_HOST, port: REDIS_PORT, reconnectStrategy: false } });
  try {
    await client.connect();
  } finally {
    net.createConnection = createConnection;
  }
  if (stubs !== 1) throw new Error(`node-redis connected through net.createConnection ${stubs} times, not once: the stub is not in use`);
  return checkedGet(client);
}

/**
 * ioredis: its public `Connector` option (the class that opens the connection, StandaloneConnector by
 * default) is replaced by one that hands over the stub. RESP3, ioredis 6's default (`HELLO 3`).
 */
async function ioredisClient() {
  const m = require('ioredis');
  const Redis = m.Redis ?? m.default ?? m;
  class StubConnector extends m.AbstractConnector {
    constructor(options) {
      super(options.disconnectTimeout);
    }
    connect() {
      this.connecting = true;
      this.stream = stubSocket(redisServer(), REDIS_PORT);
      return Promise.resolve(this.stream);
    }
  }
  const client = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true, maxRetriesPerRequest: 1, Connector: StubConnector });
  await client.connect();
  return checkedGet(client);
}

/** The measured call, `GET` of the key, once checked to round-trip through the stub. */
async function checkedGet(client) {
  const value = await client.get(REDIS_KEY);
  if (value !== 'v') throw new Error(`redis stub: GET answered ${JSON.stringify(value)}, not "v"`);
  return () => client.get(REDIS_KEY);
}

const FACTORIES = { http: httpClient, fetch: fetchClient, axios: axiosClient, pg: pgClient, mysql2: mysql2Client, redis: redisClient, ioredis: ioredisClient };

async function child(job) {
  const { setup } = require('./variants');
  const info = setup(job.variant);
  const call = await FACTORIES[job.client]();
  for (let i = 0; i < job.warmup; i++) await call();
  // No forced GC before the measured calls (see child-client.js).
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < job.calls; i++) await call();
  const cpu = process.cpuUsage(cpu0);
  const counter = require('./export-counter');
  await info.flush();
  return { cpuUs: (cpu.user + cpu.system) / job.calls, spansPerCall: counter.spans / (job.calls + job.warmup), installed: info.installed, exportError: counter.error };
}

function list(name, known) {
  const raw = process.env[name];
  if (!raw) return known;
  const names = raw.split(',').map((s) => s.trim());
  return known.filter((n) => names.includes(n));
}

function runChild(job, callgrind) {
  const { processOptions } = require('./variants');
  const { execArgv, env } = processOptions(job.variant, { ...process.env, BENCH_EXPORT: 'noop' });
  const prof = process.env.BENCH_CPU_PROF && !callgrind ? [`--cpu-prof`, `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`, `--cpu-prof-name=${job.client}-${job.variant}-${process.hrtime.bigint()}.cpuprofile`] : [];
  const args = ['--expose-gc', ...prof, ...execArgv, __filename, 'child', JSON.stringify(job)];
  let cmd = process.execPath;
  let outFile;
  if (callgrind) {
    outFile = path.join(os.tmpdir(), `otch-callgrind-${process.pid}-${job.client}-${job.variant}-${job.calls}.out`);
    // --jitless: valgrind cannot follow V8's generated code reliably; the counts compare like with like.
    args.unshift('--tool=callgrind', `--callgrind-out-file=${outFile}`, process.execPath, '--jitless');
    cmd = 'valgrind';
  }
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 1800000, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${job.client}/${job.variant}: exit ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-4).join(' | ')}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop());
  // A variant whose batches were not written would be measured without its serialisation.
  if (result.exportError) throw new Error(`${job.client}/${job.variant}: ${result.exportError}`);
  if (callgrind) {
    const m = /^summary:\s+(\d+)/m.exec(fs.readFileSync(outFile, 'utf8')) || /^totals:\s+(\d+)/m.exec(fs.readFileSync(outFile, 'utf8'));
    fs.rmSync(outFile, { force: true });
    result.instructions = m ? Number(m[1]) : NaN;
  }
  return result;
}

function main() {
  const callgrind = process.env.BENCH_CALLGRIND === '1';
  const calls = Number(process.env.BENCH_IOFREE_CALLS || (callgrind ? 200 : 20000));
  const runs = Number(process.env.BENCH_IOFREE_RUNS || (callgrind ? 1 : 3));
  const clients = list('BENCH_CLIENTS', CLIENTS);
  const variants = list('BENCH_VARIANTS', VARIANTS);
  if (!variants.includes('baseline')) variants.unshift('baseline');
  const rows = [];
  for (const client of clients) {
    const figures = {};
    for (const variant of variants) {
      const per = [];
      let spans;
      for (let run = 0; run < runs; run++) {
        if (callgrind) {
          // Start-up, warm-up and set-up cancel out: (2N calls − N calls) / N.
          const one = runChild({ client, variant, calls, warmup: 50 }, true);
          const two = runChild({ client, variant, calls: 2 * calls, warmup: 50 }, true);
          per.push((two.instructions - one.instructions) / calls);
          spans = two.spansPerCall;
        } else {
          const r = runChild({ client, variant, calls, warmup: Math.max(Math.round(calls / 4), MIN_WARMUP) }, false);
          per.push(r.cpuUs);
          spans = r.spansPerCall;
        }
        process.stderr.write(`iofree: ${client} ${variant} run ${run + 1}/${runs}: ${per[per.length - 1].toFixed(callgrind ? 0 : 2)} ${callgrind ? 'instructions' : 'µs CPU'}/call\n`);
      }
      const sorted = [...per].sort((a, b) => a - b);
      figures[variant] = { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], spans };
    }
    for (const variant of variants) {
      const f = figures[variant];
      const added = variant === 'baseline' ? undefined : f.median - figures.baseline.median;
      const digits = callgrind ? 0 : 2;
      rows.push([
        variant === 'baseline' ? `**${client}**` : '',
        variant,
        `${f.median.toFixed(digits)} [${f.min.toFixed(digits)} … ${f.max.toFixed(digits)}]`,
        added === undefined ? '—' : `${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(digits)}`,
        f.spans.toFixed(2),
      ]);
    }
  }
  const unit = callgrind ? 'instructions/call (callgrind, `node --jitless`)' : 'CPU µs/call';
  const out = [
    `### I/O-free: the call path over an in-process transport stub (${callgrind ? `${calls} vs ${2 * calls} calls` : `${calls} calls × ${runs} processes`}, Node ${process.version})`,
    '',
    `| client | variant | ${unit} median [min … max] | added | spans/call |`,
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ];
  process.stdout.write(out.join('\n'));
}

if (process.argv[2] === 'child') {
  child(JSON.parse(process.argv[3])).then(
    (r) => {
      process.stdout.write(`\n${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`${err.stack}\n`);
      process.exit(1);
    },
  );
} else {
  main();
}
