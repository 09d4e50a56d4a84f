'use strict';
/**
 * The other-process servers of the bench, never instrumented, on free 127.0.0.1 ports:
 *  - echo: answers every request with a 2-byte body, keep-alive;
 *  - sink: an OTLP/HTTP collector that reads each POST, drops it and answers 200 `{}` (where
 *    OTEL_EXPORTER_OTLP_ENDPOINT points; it only sees traffic with BENCH_EXPORT=sink);
 *  - grpc: a @grpc/grpc-js server whose unary method /bench.Echo/Echo answers the request's bytes;
 *  - sqs: a stand-in for SQS's JSON protocol that answers every request as SendMessage does (the
 *    message's id, and the MD5 of its body, which the SDK checks).
 * Sends `{ echoPort, sinkPort, grpcPort, sqsPort }` over IPC when listening; answers `{ cmd: 'stats' }`; exits when the
 * parent goes away.
 */
const crypto = require('node:crypto');
const http = require('node:http');
const { GRPC_ECHO } = require('./grpc-echo');

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

const sqs = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const { MessageBody = '' } = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    const md5 = crypto.createHash('md5').update(MessageBody).digest('hex');
    const body = JSON.stringify({ MessageId: crypto.randomUUID(), MD5OfMessageBody: md5 });
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': crypto.randomUUID() });
    res.end(body);
  });
});
sqs.keepAliveTimeout = 120000;

function listenGrpc() {
  const grpc = require('@grpc/grpc-js');
  const server = new grpc.Server();
  server.addService(GRPC_ECHO, { echo: (call, done) => done(null, call.request) });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

Promise.all([listen(echo), listen(sink), listenGrpc(), listen(sqs)]).then(
  ([echoPort, sinkPort, grpcPort, sqsPort]) => process.send({ echoPort, sinkPort, grpcPort, sqsPort }),
  (err) => {
    process.stderr.write(`servers: ${err.message}\n`);
    process.exit(1);
  },
);

process.on('message', (msg) => {
  if (msg && msg.cmd === 'stats') process.send({ stats });
});
process.on('disconnect', () => process.exit(0));
