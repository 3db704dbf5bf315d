export { createClientServer, listen, bindAddressOf } from './grpc-server';
export { grpcErrorSpec, toServiceError } from './errors';
// For unit tests of the parts (test/ imports a src folder only through its index.ts).
export * as convert from './convert';
export { int64ToNumber, kvToPb } from './convert';
export { FrameBuffer, HeaderCache, appendResponses, decodeWatchRequest, messagesOf, type HeaderIds, type WatchRequestMessage } from './watch-wire';
