/**
 * A stand-in for a NATS server older than 2.2, which knows no headers: its INFO has no `headers` field,
 * and it answers HPUB (or any verb it does not know) with `-ERR 'Unknown Protocol Operation'` and closes
 * the connection, as such a server does. It takes CONNECT, PING, SUB, UNSUB and PUB, records every PUB
 * and HPUB line it gets, and answers a PUB to `svc` that has a reply subject with `pong` to the
 * subscription of that subject (the client's request inbox).
 */
import net from 'node:net';

export interface OldNatsServer {
  readonly url: string;
  /** The PUB and HPUB lines received, in order (not their payloads). */
  readonly received: string[];
  close(): Promise<void>;
}

/** Whether `subject` matches the subscription subject `pattern` (`*` a token, `>` the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

export function startOldNatsServer(): Promise<OldNatsServer> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const port = (server.address() as net.AddressInfo).port;
    socket.write(`INFO {"server_id":"OLD","version":"2.1.9","go":"go1.14","host":"127.0.0.1","port":${port},"max_payload":1048576,"proto":1}\r\n`);
    const subs = new Map<string, string>();
    let buffer = Buffer.alloc(0);
    /** Bytes of payload (and its CRLF) still to skip after a PUB line. */
    let skip = 0;
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buffer.length);
          buffer = buffer.subarray(n);
          skip -= n;
          if (skip > 0) return;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const line = buffer.subarray(0, end).toString();
        buffer = buffer.subarray(end + 2);
        const [verb, ...args] = line.split(' ');
        switch (verb.toUpperCase()) {
          case 'CONNECT':
          case 'PONG':
          case 'UNSUB':
            break;
          case 'PING':
            socket.write('PONG\r\n');
            break;
          case 'SUB':
            subs.set(args[args.length - 1], args[0]);
            break;
          case 'PUB': {
            received.push(line);
            skip = Number(args[args.length - 1]) + 2;
            const reply = args.length === 3 ? args[1] : undefined;
            if (args[0] === 'svc' && reply !== undefined) {
              for (const [sid, subject] of subs) if (matches(subject, reply)) socket.write(`MSG ${reply} ${sid} 4\r\npong\r\n`);
            }
            break;
          }
          default:
            received.push(line);
            socket.end("-ERR 'Unknown Protocol Operation'\r\n");
            return;
        }
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `nats://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        received,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
