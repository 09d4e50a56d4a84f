import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { suiteFixture } from './suite';

const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures');
export const tlsOptions = {
  key: fs.readFileSync(path.join(fixtures, 'localhost-key.pem')),
  cert: fs.readFileSync(path.join(fixtures, 'localhost-cert.pem')),
};
export const tlsCa = tlsOptions.cert;

export interface Received {
  method?: string;
  url?: string;
  headers: http.IncomingHttpHeaders;
}

export interface TestServer {
  server: http.Server;
  port: number;
  url: string;
  received: Received[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Answers `/status/<code>` with that status, and echoes the URL, the trace header and how many copies of it came. */
export const echoHandler: Handler = (req, res) => {
  const status = /\/status\/(\d+)/.exec(req.url ?? '');
  res.statusCode = status ? Number(status[1]) : 200;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({
    url: req.url,
    traceparent: req.headers.traceparent ?? null,
    copies: req.rawHeaders.filter((h) => h.toLowerCase() === 'traceparent').length,
  }));
};

/** Answers with the request's headers as JSON: the downstream of the traced app (test/fixtures/traced-app.js). */
export const headersHandler: Handler = (req, res) => res.end(JSON.stringify(req.headers));

/**
 * A server for the suite this is called in: started before its tests (before each test, with `each`)
 * and closed after. The getter returns the running one.
 */
export function serverForSuite<S extends { close(): Promise<void> }>(start: () => Promise<S>, each = false): () => S {
  return suiteFixture(start, (server) => server.close(), each);
}

/** A real HTTP(S) server on 127.0.0.1 that remembers what it received. */
export async function startServer(handler: Handler = echoHandler, secure = false): Promise<TestServer> {
  const received: Received[] = [];
  const listener: Handler = (req, res) => {
    received.push({ method: req.method, url: req.url, headers: req.headers });
    handler(req, res);
  };
  const server = secure ? https.createServer(tlsOptions, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server: server as http.Server,
    port,
    url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a whole response body. */
export function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => (body += chunk));
    res.on('end', () => resolve(body));
    res.on('error', reject);
  });
}

/** A GET of `url` with `headers`: the status and the whole body. */
export function getReply(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)).on('error', reject);
  });
}

/** A port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `n` concurrent GETs of `${url}/${i}` (i = 0 … n-1) over one keep-alive agent: the bodies, in order. */
export async function getEach(url: string, n: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  try {
    return await Promise.all(
      Array.from({ length: n }, (_, i) => new Promise<string>((resolve, reject) => http.get(`${url}/${i}`, { agent }, (res) => readBody(res).then(resolve, reject)).on('error', reject))),
    );
  } finally {
    agent.destroy();
  }
}

/** A handler for `/<id>` that answers what `answer(id)` resolves with, or 500 with the error. */
export function answerById(answer: (id: number) => Promise<string>): Handler {
  return (req, res) => {
    answer(Number((req.url ?? '/0').slice(1))).then(
      (body) => res.end(body),
      (err) => {
        res.statusCode = 500;
        res.end(String(err));
      },
    );
  };
}
