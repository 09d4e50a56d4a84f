/**
 * A minimal RESP2 server, for what the real Redis of the tests cannot do (HIMPORT needs Redis 8.10): it
 * reads the commands clients send and answers each with what `answer` returns, raw RESP.
 */
import net from 'node:net';

export const resp = {
  ok: '+OK\r\n',
  nil: '$-1\r\n',
  error: (message: string): string => `-${message}\r\n`,
  bulk: (text: string): string => `$${Buffer.byteLength(text)}\r\n${text}\r\n`,
};

export interface RespServer {
  port: number;
  /** Every command received so far, in order. */
  received: string[][];
  /** Closes every client connection (its client reconnects). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** The commands complete in `buffer` (arrays of bulk strings, as clients send them), and what is left. */
function parse(buffer: Buffer): { commands: string[][]; rest: Buffer } {
  const commands: string[][] = [];
  let at = 0;
  const line = (from: number): [string, number] | undefined => {
    const end = buffer.indexOf('\r\n', from);
    return end === -1 ? undefined : [buffer.toString('utf8', from, end), end + 2];
  };
  for (;;) {
    const header = line(at);
    if (header === undefined) break;
    const count = Number(header[0].slice(1));
    let next = header[1];
    const args: string[] = [];
    for (let i = 0; i < count; i++) {
      const size = line(next);
      if (size === undefined) break;
      const length = Number(size[0].slice(1));
      if (buffer.length < size[1] + length + 2) break;
      args.push(buffer.toString('utf8', size[1], size[1] + length));
      next = size[1] + length + 2;
    }
    if (args.length < count) break;
    commands.push(args);
    at = next;
  }
  return { commands, rest: buffer.subarray(at) };
}

export async function startRespServer(answer: (args: string[]) => string): Promise<RespServer> {
  const received: string[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      const { commands, rest } = parse(Buffer.concat([pending, chunk]));
      pending = rest;
      for (const args of commands) {
        received.push(args);
        socket.write(answer(args));
        if (args[0].toUpperCase() === 'QUIT') socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
