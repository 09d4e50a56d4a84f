'use strict';
/**
 * The other-process servers of the bench, never instrumented, on free 127.0.0.1 ports:
 *  - echo: answers every request with a 2-byte body, keep-alive;
 *  - sink: an OTLP/HTTP collector that reads each POST, drops it and answers 200 `{}` (where
 *    OTEL_EXPORTER_OTLP_ENDPOINT points; it only sees traffic with BENCH_EXPORT=sink).
 * Sends `{ echoPort, sinkPort }` over IPC when listening; answers `{ cmd: 'stats' }`; exits when the
 * parent goes away.
 */
const http = require('node:http');

const stats = { echoRequests: 0, sinkRequests: 0, sinkBytes: 0, sinkByPath: {} };

const echo = http.createServer((req, res) => {
  stats.echoRequests += 1;
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
echo.keepAliveTimeout = 120000;

const sink = http.createServer((req, res) => {
  stats.sinkRequests += 1;
  // Who exported: /v1/traces (OTLP), /v0.4/traces (dd-trace), /intake/v2/events (Elastic), and the rest.
  const where = (req.url || '/').split('?')[0];
  stats.sinkByPath[where] = (stats.sinkByPath[where] || 0) + 1;
  req.on('data', (chunk) => {
    stats.sinkBytes += chunk.length;
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
    res.end('{}');
  });
});
sink.keepAliveTimeout = 120000;

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

Promise.all([listen(echo), listen(sink)]).then(
  ([echoPort, sinkPort]) => process.send({ echoPort, sinkPort }),
  (err) => {
    process.stderr.write(`servers: ${err.message}\n`);
    process.exit(1);
  },
);

process.on('message', (msg) => {
  if (msg && msg.cmd === 'stats') process.send({ stats });
});
process.on('disconnect', () => process.exit(0));
