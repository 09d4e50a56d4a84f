/**
 * socket.io 4 on a real server on 127.0.0.1 with a socket.io-client connected over a websocket: the emit
 * side (a server-side socket's emit, a producer span under the active span). The receive side has no
 * parent to carry (an event has no headers): see test/hooks/socket.io.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Server, Socket } from 'socket.io';
import { io as connect, Socket as ClientSocket } from 'socket.io-client';
import { messagingTags } from '../../helpers/services';
import type { Driver } from '../driver';

/** socket.io's internal files, which its `exports` map hides from a require by name. */
const dist = (file: string): string => path.join(path.dirname(require.resolve('socket.io')), `${file}.js`);
 
const typedEvents = require(dist('typed-events')) as { StrictEventEmitter: { prototype: object } };
const broadcastOperator = require(dist('broadcast-operator')) as { BroadcastOperator: { prototype: object } };
const client = require(dist('client')) as { Client: { prototype: object } };
/** engine.io's, as socket.io resolves it. */
const engineBuild = (file: string): string => path.join(path.dirname(require.resolve('engine.io', { paths: [path.dirname(require.resolve('socket.io'))] })), `${file}.js`);
const engineSocket = require(engineBuild('socket')) as { Socket: { prototype: object } };
const polling = require(engineBuild('transports/polling')) as { Polling: { prototype: object } };
 

export function socketIoTargets(): Array<[object, PropertyKey]> {
  return [
    [typedEvents.StrictEventEmitter.prototype, 'emitUntyped'],
    [Socket.prototype, 'emit'],
    [broadcastOperator.BroadcastOperator.prototype, 'emit'],
    [client.Client.prototype, 'ondata'],
    [client.Client.prototype, 'onclose'],
    [client.Client.prototype, 'onerror'],
    ...['onOpen', 'onDrain', 'onClose'].map((name): [object, PropertyKey] => [engineSocket.Socket.prototype, name]),
    ...['onRequest', 'onData', 'headers'].map((name): [object, PropertyKey] => [polling.Polling.prototype, name]),
  ];
}

/** A socket.io server on 127.0.0.1 and a client connected to it over a websocket (or the transports given). */
export async function socketIoPair(transports: string[] = ['websocket']): Promise<{ io: Server; server: http.Server; client: ClientSocket; socket: Socket; close(): Promise<void> }> {
  const server = http.createServer();
  const io = new Server(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const connected = new Promise<Socket>((resolve) => io.once('connection', resolve));
  const client = connect(`http://127.0.0.1:${port}`, { transports, upgrade: false, reconnection: false });
  const socket = await connected;
  await new Promise<void>((resolve) => (client.connected ? resolve() : client.once('connect', () => resolve())));
  return {
    io,
    server,
    client,
    socket,
    async close() {
      client.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

let pair: Awaited<ReturnType<typeof socketIoPair>> | undefined;

export const socketIoEmitDriver: Driver = {
  name: 'socket.io emit',
  hook: 'socket.io',
  kind: 'producer',
  operation: /^socket\.io emit /,
  tags: () => ({ ...messagingTags('socket.io', 'socket.io', '/'), 'socket.io.namespace': '/', 'socket.io.event': 'conformance' }),
  targets: socketIoTargets,
  async start() {
    pair = await socketIoPair();
  },
  async stop() {
    await pair?.close();
  },
  call: async () => pair!.socket.emit('conformance', { n: 1 }),
  // A reserved event name: socket.io throws.
  failingCall: async () => pair!.socket.emit('disconnect' as never),
  otel: {
    module: '@opentelemetry/instrumentation-socket.io',
    export: 'SocketIoInstrumentation',
    reload: ['socket.io', dist('socket'), dist('broadcast-operator'), dist('namespace')],
  },
};
