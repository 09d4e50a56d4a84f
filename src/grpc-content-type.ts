/**
 * gRPC runs over HTTP/2 (grpc-js, for every call, client and server): a request whose `content-type` is
 * gRPC's (`application/grpc`, `application/grpc+proto`, `application/grpc-web`…) is the grpc hook's, and the
 * http and httpServer hooks leave it as it is.
 */
export function isGrpc(contentType: unknown): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}
