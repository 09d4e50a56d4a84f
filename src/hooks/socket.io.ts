/**
 * socket.io 4 (server): a `socket.io receive <event>` server span around the listeners of each event a
 * socket receives, and a `socket.io emit <event>` producer span for each emit, to one socket or broadcast
 * (`socket.emit`, `io.emit`, `io.to(room).emit`, `socket.broadcast.emit`...). Patches on internal files
 * (`dist/typed-events`, `dist/socket`, `dist/broadcast-operator`, `dist/client`), which CommonJS and ES-module imports
 * of the package both load through require(), and on engine.io's (`build/socket`, `build/transports/polling`),
 * which makes no span: it only takes what a connection does by itself out of the HTTP polls' context. The span
 * logic is in ../tracing/socket.io.
 */
import type { SocketIoOptions } from '../options/socket.io';
import { defineHook, fileTargets } from '../registry/define';

export const socketIoHook = defineHook<'socket.io', SocketIoOptions, typeof import('../tracing/socket.io')>({
  name: 'socket.io',
  tracing: () => require('../tracing/socket.io'),
  summary: 'socket.io server: a server span per received event around its listeners, a producer span per emit or broadcast',
  targets: [
    fileTargets('socket.io', '>=4.0.0 <5', { 'dist/typed-events': 'patchEmitter', 'dist/socket': 'patchSocket', 'dist/broadcast-operator': 'patchBroadcast', 'dist/client': 'patchClient' }),
    // engine.io 6 (socket.io 4.2 and later): the connection under each socket.io client.
    fileTargets('engine.io', '>=6.0.0 <7', { 'build/socket': 'patchEngineSocket', 'build/transports/polling': 'patchPolling' }),
  ],
});
