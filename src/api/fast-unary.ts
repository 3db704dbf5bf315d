// A shorter path for etcd's unary KV and Lease calls. grpc-js costs about 130 µs of
// server CPU per unary call on this machine, against about 60 µs for the same
// exchange answered on node:http2 directly (bench/RESULTS.md, issue 7): its
// call objects, interceptor chain, metadata copies and per-call timers are
// more than a unary etcd request needs. So on the HTTP/2 servers grpc-js
// opened, streams for the methods below are answered here (same decoder, same
// handler, same encoder, same status codes and messages as through grpc-js);
// every other stream — Watch, LeaseKeepAlive, Snapshot, the other services,
// compressed requests — still goes to grpc-js, which keeps owning the
// sessions (keepalive, shutdown, limits).
//
// grpc-js does not offer this hook: it is found in its private http2Servers
// map. When that is not there (a grpc-js that works differently), nothing is
// changed and every call takes grpc-js's path.
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { AssertionError, EtcdError } from '../util';
import { toServiceError } from './errors';
import { hasOversizedMark, type RpcContext, type UnaryImpl } from './rpc';

export interface FastMethod {
  /** grpc-js's request deserializer for the method (it records the request's size). */
  decode(buf: Buffer): unknown;
  encode(res: unknown): Buffer;
  impl: UnaryImpl<never, unknown>;
}

const okHeaders = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
};
const okTrailers = { 'grpc-status': '0', 'grpc-message': 'OK' };
const messagePrefixBytes = 5;
const statusInternal = 13;
const statusResourceExhausted = 8;
const statusUnimplemented = 12;

type StreamListener = (this: http2.Http2Server, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/**
 * Routes the given methods ("/etcdserverpb.KV/Range" → method) of an already
 * bound grpc-js server through the short path. Returns whether it could.
 */
export function installFastUnary(server: grpc.Server, methods: ReadonlyMap<string, FastMethod>, rpc: RpcContext): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  const targets: Array<[http2.Http2Server, StreamListener]> = [];
  for (const h2 of servers.keys() as IterableIterator<http2.Http2Server>) {
    const listeners = h2.listeners('stream') as StreamListener[];
    const grpcJs = listeners[0];
    if (listeners.length !== 1 || grpcJs === undefined) return false;
    targets.push([h2, grpcJs]);
  }
  for (const [h2, grpcJs] of targets) {
    h2.removeListener('stream', grpcJs);
    const route: StreamListener = function (this: http2.Http2Server, stream, headers, flags, rawHeaders) {
      const path = headers[':path'];
      const method = path === undefined ? undefined : methods.get(path);
      if (method === undefined || !takesShortPath(headers)) {
        grpcJs.call(this, stream, headers, flags, rawHeaders);
        return;
      }
      serve(stream, headers, method, rpc);
    };
    h2.on('stream', route);
  }
  return true;
}

/** What grpc-js would refuse or decompress goes to grpc-js. */
function takesShortPath(headers: http2.IncomingHttpHeaders): boolean {
  if (headers[':method'] !== 'POST') return false;
  const ct = headers['content-type'];
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) return false;
  const enc = headers['grpc-encoding'];
  return enc === undefined || enc === 'identity';
}

function serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, method: FastMethod, rpc: RpcContext): void {
  // A client reset surfaces as an error on the stream: nothing to answer then.
  stream.on('error', () => undefined);
  const limit = rpc.receiveBytesMax;
  const chunks: Buffer[] = [];
  let received = 0;
  let refused = false;
  stream.on('data', (chunk: Buffer) => {
    if (refused) return;
    received += chunk.length;
    if (received >= messagePrefixBytes) {
      const first = chunks.length === 0 ? chunk : Buffer.concat([...chunks, chunk]);
      const declared = first.readUInt32BE(1);
      // Go gRPC's wording, which etcd clients see (the same check grpc-server.ts makes).
      if (declared > limit) {
        refused = true;
        chunks.length = 0;
        fail(stream, statusResourceExhausted, `grpc: received message larger than max (${declared} vs. ${limit})`);
        return;
      }
      if (chunks.length > 0) {
        chunks.length = 0;
        chunks.push(first);
        return;
      }
    }
    chunks.push(chunk);
  });
  stream.on('end', () => {
    if (refused) return;
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    // As grpc-js: one whole message is the request; a trailing partial one is ignored; the
    // compressed flag means nothing without a grpc-encoding (which takes grpc-js's path).
    const first = body.length >= messagePrefixBytes ? messagePrefixBytes + body.readUInt32BE(1) : Infinity;
    if (first > body.length) {
      fail(stream, statusUnimplemented, `Received no request message for server streaming method ${headers[':path'] ?? ''}`);
      return;
    }
    if (body.length - first >= messagePrefixBytes && first + messagePrefixBytes + body.readUInt32BE(first + 1) <= body.length) {
      fail(stream, statusUnimplemented, `Received a second request message for server streaming method ${headers[':path'] ?? ''}`);
      return;
    }
    let req: unknown;
    try {
      req = method.decode(body.subarray(messagePrefixBytes, first));
    } catch {
      fail(stream, statusInternal, 'Error deserializing request');
      return;
    }
    if (hasOversizedMark(req)) {
      fail(stream, statusResourceExhausted, `grpc: received message larger than max (${first - messagePrefixBytes} vs. ${limit})`);
      return;
    }
    let p: Promise<unknown>;
    try {
      if (headers['hasleader'] === 'true' && !rpc.hasLeader()) throw new EtcdError('NoLeader');
      p = method.impl(req as never);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (res) => reply(stream, method.encode(res)),
      (e: unknown) => {
        if (e instanceof AssertionError) rpc.fatal(e);
        const se = toServiceError(e);
        fail(stream, se.code ?? statusInternal, se.details ?? se.message);
      },
    );
  });
}

function reply(stream: http2.ServerHttp2Stream, message: Buffer): void {
  if (stream.closed || stream.destroyed) return;
  const framed = Buffer.allocUnsafe(messagePrefixBytes + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, messagePrefixBytes);
  stream.respond(okHeaders, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(okTrailers));
  stream.end(framed);
}

/** A trailers-only response, as grpc-js sends for an error before any message. */
function fail(stream: http2.ServerHttp2Stream, code: number, details: string): void {
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(code), 'grpc-message': encodeURI(details) },
    { endStream: true },
  );
}
