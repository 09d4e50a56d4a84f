'use strict';
/**
 * Load generator, in its own process, never instrumented: `node loadgen.js <port> <concurrency> [path]`
 * with an IPC channel. On `{ cmd: 'run', requests }` it sends that many GET requests over keep-alive
 * connections, `concurrency` at a time, waits for all, and answers `{ wallNs, errors }`.
 */
const http = require('node:http');

const port = Number(process.argv[2]);
const concurrency = Number(process.argv[3]);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const options = { host: '127.0.0.1', port, path: process.argv[4] || '/work', agent };

function one() {
  return new Promise((resolve) => {
    http
      .get(options, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      })
      .on('error', () => resolve(false));
  });
}

async function run(requests) {
  let issued = 0;
  let errors = 0;
  const worker = async () => {
    while (issued < requests) {
      issued += 1;
      if (!(await one())) errors += 1;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  return { wallNs: Number(process.hrtime.bigint() - t0), errors };
}

process.on('message', (msg) => {
  if (msg.cmd === 'run') run(msg.requests).then((r) => process.send(r));
  else if (msg.cmd === 'exit') {
    agent.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
