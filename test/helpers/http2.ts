import http2 from 'node:http2';
import { tlsCa } from './servers';

/** A request on `session` of `path` with `headers` (and `body`, a POST): its stream, and the status and body it got once it closed. */
export function h2stream(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}, body?: string): { stream: http2.ClientHttp2Stream; done: Promise<{ status: number; body: string }> } {
  const stream = session.request({ ':path': path, ':method': body === undefined ? 'GET' : 'POST', ...headers });
  let status = 0;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('response', (h) => (status = Number(h[':status'])));
  stream.on('data', (d: string) => (text += d));
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('close', () => resolve({ status, body: text }));
  });
  stream.end(body);
  return { stream, done };
}

/** One request on its own session, which is closed after: its status and body. */
export function h2request(url: string, path: string, headers: http2.OutgoingHttpHeaders = {}, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { ca: tlsCa });
    session.on('error', reject);
    h2stream(session, path, headers, body).done.then((got) => {
      session.close();
      resolve(got);
    }, reject);
  });
}
