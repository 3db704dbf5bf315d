// src/wire: keel's client-port server — HTTP/2 (RFC 9113, HPACK RFC 7541),
// gRPC framing and HTTP/1.1 on one port. It knows nothing of etcd: api/
// registers services and routes on it.
//
// Registration API
//
//   const server = new WireServer({ keepaliveMinTimeMs: 5000, permitWithoutStream: false,
//                                   receiveMessageBytesMax: 1.5 * 1024 * 1024 + 512 * 1024, streamsMax });
//
//   server.addService('etcdserverpb.KV', {
//     Range: { kind: 'unary', receiveMessageBytesMax: 2_097_152,
//              handler: (request: Buffer, call: ServerCall) => Buffer | Promise<Buffer> },
//   });
//   server.addService('etcdserverpb.Watch', {
//     Watch: { kind: 'bidi', handler: async (call: ServerDuplex) => {
//       for await (const message of call) { … }        // request messages (Buffers)
//       if (!call.write(response)) await call.drained(); // backpressure by bytes
//     } },
//   });
//   // also kind 'serverStream' (request, call: ServerWriter) and 'clientStream' (call: ServerReader) => Buffer
//
//   server.http.route('/health', (req: HttpRequest, res: HttpResponse) => res.end('{"health":"true"}'));
//   server.http.prefix('/v3/', gateway);              // the JSON gateway: req.body is the whole body
//
//   const listener = await server.listen({ host: '127.0.0.1', port: 2379 });          // h2c + HTTP/1.1
//   await server.listen({ host, port, tls: { secure: { cert, key, SNICallback, … } } }); // h2 / http/1.1 by ALPN
//   server.accept(socket, alpn);                      // or hand it any accepted Duplex
//   await server.close(graceMs);                      // GOAWAY, in-flight streams finish, then close
//
// Handlers and status
//   - Messages are raw protobuf bytes (the 5-byte gRPC prefix is handled here);
//     a request Buffer may be a view of the read buffer: copy what must outlive
//     the call.
//   - Throw `new GrpcError(code, message, trailers?)` to answer a status; the
//     message is percent-encoded into grpc-message; an error before any
//     response message goes out as a trailers-only response. Any other throw
//     answers UNKNOWN with its message and is reported to onHandlerError
//     (by default an AssertionError crashes the process).
//   - call.metadata.get('token'), get('hasleader'), …: request headers;
//     call.deadlineMs from grpc-timeout (the call ends DEADLINE_EXCEEDED when
//     it passes); call.cancelled / onCancel(fn) for resets, deadlines and lost
//     connections; call.setTrailer(name, value) adds trailers.
//   - Unary responses leave in one socket write per connection per turn
//     (HEADERS + DATA + trailers HEADERS, coalesced with every other stream's).
//   - Limits: every bound is in util/limits.ts (h2*, grpc*, http1*, wire*);
//     abuse (rapid reset, CONTINUATION floods, HPACK bombs, ping abuse,
//     floods from clients that do not read, zero windows, slowloris) is
//     answered there, never by crashing.
//   - Non-gRPC requests on HTTP/2 (curl --http2-prior-knowledge) and HTTP/1.1
//     requests reach the same HTTP routes.
export { WireServer, type WireServerOptions, type ListenOptions, type TlsListenOptions, type Listener, type ServerStats } from './server';
export type { MethodDef, ServerCall, ServerWriter, ServerReader, ServerDuplex, UnaryHandler, ServerStreamHandler, ClientStreamHandler, BidiHandler } from './grpc-call';
export { Code, GrpcError, Metadata, percentEncode, percentDecode, parseTimeout } from './grpc-status';
export { HttpRouter, type HttpRequest, type HttpResponse, type HttpHandler } from './http';
export type { H2Connection } from './h2-connection';
export { HpackDecoder, HpackEncoder, HpackError, DecodeStatus } from './hpack';
export { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman';
export { ErrorCode, FrameType, Flag, Setting, connectionPreface } from './frames';
