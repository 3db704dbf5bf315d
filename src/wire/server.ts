// The client-port server: takes accepted sockets (net, tls, or any Duplex),
// tells HTTP/2 from HTTP/1.1 by the first bytes as etcd's cmux does (or by
// ALPN), and routes HTTP/2 streams to gRPC methods or HTTP routes.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { AssertionError, limits, monotonicClock, type Clock } from '../util';
import { connectionPreface } from './frames';
import { GrpcCall, type CallHost, type MethodDef } from './grpc-call';
import { Code, goQuote, percentEncode } from './grpc-status';
import { H2Connection, type H2Dispatcher, type H2Options } from './h2-connection';
import type { H2Stream, RequestHead } from './h2-stream';
import { HttpOverH2, HttpRouter } from './http';
import { Http1Connection, type Http1Host } from './http1';

export interface WireServerOptions {
  clock?: Clock;
  /** etcd's --grpc-keepalive-min-time (ms). */
  keepaliveMinTimeMs?: number;
  /** Pings on a connection without streams are not strikes (etcd: false). */
  permitWithoutStream?: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS (etcd's --max-concurrent-streams), capped by h2StreamsPerConnectionMax. */
  streamsMax?: number;
  /** Largest request message of methods that do not set their own (etcd: --max-request-bytes + 512 KiB); grpc-go's 4 MiB by default. */
  receiveMessageBytesMax?: number;
  /** Time a connection has to send its preface or request head (wireHeadTimeoutMs; tests shorten it). */
  headTimeoutMs?: number;
  /** A handler threw something other than a GrpcError. Default: AssertionErrors crash the process, the rest are ignored. */
  onHandlerError?: (e: unknown, where: string) => void;
}

export interface TlsListenOptions {
  /** What tls.createServer takes (cert, key, ca, requestCert, SNICallback, …); ALPN is set here. */
  secure: tls.TlsOptions;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: TlsListenOptions;
}

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

export interface ServerStats {
  connections: number;
  h2Connections: number;
  http1Connections: number;
}

const grpcContentType = 'application/grpc';

export class WireServer implements H2Dispatcher, CallHost, Http1Host {
  readonly router = new HttpRouter();
  private readonly methods = new Map<string, MethodDef>();
  private readonly services = new Set<string>();
  private readonly h2 = new Set<H2Connection>();
  private readonly http1 = new Set<Http1Connection>();
  private readonly sniffing = new Set<Duplex>();
  private readonly listeners = new Set<net.Server>();
  private readonly h2Options: H2Options;
  private readonly clock: Clock;
  private readonly reportError: (e: unknown, where: string) => void;
  private closing = false;
  readonly headTimeoutMs: number;
  readonly receiveMessageBytesMax: number;
  private idleWaiters: Array<() => void> = [];

  constructor(options: WireServerOptions = {}) {
    this.clock = options.clock ?? monotonicClock;
    this.h2Options = {
      clock: this.clock,
      keepaliveMinTimeMs: options.keepaliveMinTimeMs ?? limits.grpcKeepaliveMinTimeMsDefault,
      permitWithoutStream: options.permitWithoutStream ?? false,
      streamsMax: Math.min(options.streamsMax ?? limits.h2StreamsPerConnectionMax, limits.h2StreamsPerConnectionMax),
      headerListBytesMax: limits.h2HeaderListBytesMax,
      headTimeoutMs: options.headTimeoutMs ?? limits.wireHeadTimeoutMs,
    };
    this.headTimeoutMs = this.h2Options.headTimeoutMs;
    this.receiveMessageBytesMax = options.receiveMessageBytesMax ?? limits.grpcReceiveMessageBytesDefault;
    this.reportError = options.onHandlerError ?? crashOnAssertion;
  }

  // --- registration -------------------------------------------------------

  /** Registers service "package.Service" with its methods by name ("Range": {kind, handler}). */
  addService(service: string, methods: Readonly<Record<string, MethodDef>>): void {
    this.services.add(service);
    for (const [name, def] of Object.entries(methods)) this.methods.set(`/${service}/${name}`, def);
  }

  /** HTTP routes: exact paths and prefixes (see HttpRouter). */
  get http(): HttpRouter {
    return this.router;
  }

  // --- sockets ------------------------------------------------------------

  /** Serves an accepted socket. alpn: the protocol TLS negotiated, if any. */
  accept(socket: Duplex, alpn?: string | false | null): void {
    if (this.closing || this.connectionCount() >= limits.wireConnectionsMax) {
      socket.destroy();
      return;
    }
    if (socket instanceof net.Socket) {
      socket.setNoDelay(true);
      // As Go's listeners (etcd's): TCP keepalive finds peers that vanished without a FIN.
      socket.setKeepAlive(true, limits.wireTcpKeepAliveMs);
    }
    if (alpn === 'h2') return this.startH2(socket, undefined);
    this.sniff(socket);
  }

  /** Listens on host:port (plain TCP, or TLS offering ALPN h2 and http/1.1). */
  listen(options: ListenOptions): Promise<Listener> {
    const server = options.tls === undefined
      ? net.createServer((s) => this.accept(s))
      : tls.createServer({ ...options.tls.secure, ALPNProtocols: ['h2', 'http/1.1'] }).on('secureConnection', (s: tls.TLSSocket) => this.accept(s, s.alpnProtocol));
    server.on('tlsClientError', (_e: Error, s: tls.TLSSocket) => s.destroy());
    this.listeners.add(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.host, port: options.port }, () => {
        server.off('error', reject);
        const addr = server.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : options.port;
        resolve({ port, close: () => this.closeListener(server) });
      });
    });
  }

  private closeListener(server: net.Server): Promise<void> {
    this.listeners.delete(server);
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** Stops listening, sends GOAWAY, lets in-flight streams finish (at most graceMs), then drops the rest. */
  async close(graceMs: number = limits.wireShutdownGraceMs): Promise<void> {
    this.closing = true;
    const listening = [...this.listeners].map((l) => this.closeListener(l));
    for (const s of this.sniffing) s.destroy();
    for (const c of this.h2) c.shutdown();
    for (const c of this.http1) c.shutdown();
    await this.waitForConnections(graceMs);
    for (const c of [...this.h2]) c.destroy();
    for (const c of [...this.http1]) c.destroy();
    await Promise.all(listening);
  }

  private waitForConnections(graceMs: number): Promise<void> {
    if (this.connectionCount() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(finish, graceMs);
      const waiters = this.idleWaiters;
      function finish(): void {
        clearTimeout(timer);
        const i = waiters.indexOf(finish);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(finish);
    });
  }

  private noteClosed(): void {
    if (this.connectionCount() > 0 || this.idleWaiters.length === 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  stats(): ServerStats {
    return { connections: this.connectionCount(), h2Connections: this.h2.size, http1Connections: this.http1.size };
  }

  /** The HTTP/2 connections (tests and /metrics read their counters). */
  h2Connections(): H2Connection[] {
    return [...this.h2];
  }

  private connectionCount(): number {
    return this.h2.size + this.http1.size + this.sniffing.size;
  }

  /** cmux's rule: the HTTP/2 preface (prior knowledge) means HTTP/2; anything else is HTTP/1. */
  private sniff(socket: Duplex): void {
    this.sniffing.add(socket);
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.headTimeoutMs);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      this.sniffing.delete(socket);
      this.noteClosed();
      socket.off('data', onData);
      socket.off('error', onGone);
      socket.off('close', onGone);
    };
    const onGone = (): void => {
      done();
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, connectionPreface.length);
      const matches = seen.compare(connectionPreface, 0, n, 0, n) === 0;
      if (matches && n < connectionPreface.length) return;
      done();
      if (matches) this.startH2(socket, seen);
      else this.startHttp1(socket, seen);
    };
    socket.on('data', onData);
    socket.on('error', onGone);
    socket.on('close', onGone);
  }

  private startH2(socket: Duplex, first: Buffer | undefined): void {
    this.h2.add(new H2Connection(socket, this, this.h2Options, first));
  }

  private startHttp1(socket: Duplex, first: Buffer): void {
    this.http1.add(new Http1Connection(socket, this, first));
  }

  // --- H2Dispatcher, Http1Host, CallHost ------------------------------------

  onStream(stream: H2Stream, head: RequestHead, endStream: boolean): void {
    const ct = contentType(head.fields);
    if (ct !== undefined && ct.startsWith(grpcContentType) && (ct.length === grpcContentType.length || ct.charCodeAt(grpcContentType.length) === 43 /* + */ || ct.charCodeAt(grpcContentType.length) === 59 /* ; */)) {
      this.startCall(stream, head, endStream);
      return;
    }
    const http = new HttpOverH2(stream, head, this.router.find(head.path), (e) => this.reportError(e, head.path));
    if (endStream) http.run();
  }

  private startCall(stream: H2Stream, head: RequestHead, endStream: boolean): void {
    if (head.method !== 'POST') return trailersOnly(stream, 405, Code.Internal, `Received a HEADERS frame with :method ${goQuote(head.method)} which should be POST`);
    const def = this.methods.get(head.path);
    if (def === undefined) return trailersOnly(stream, 200, Code.Unimplemented, this.unknownMethod(head.path));
    const call = new GrpcCall(stream, def, head, this);
    if (!call.begin()) return;
    if (endStream) call.onData(emptyBuffer, true);
  }

  /** grpc-go's words for a method nobody registered. */
  private unknownMethod(path: string): string {
    const sm = path.startsWith('/') ? path.slice(1) : path;
    const pos = sm.lastIndexOf('/');
    if (pos < 0) return `malformed method name: ${goQuote(path)}`;
    const service = sm.slice(0, pos);
    if (!this.services.has(service)) return `unknown service ${service}`;
    return `unknown method ${sm.slice(pos + 1)} for service ${service}`;
  }

  onClose(conn: H2Connection | Http1Connection): void {
    if (conn instanceof H2Connection) this.h2.delete(conn);
    else this.http1.delete(conn);
    this.noteClosed();
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  onHandlerError(e: unknown, where = 'http'): void {
    this.reportError(e, where);
  }
}

const emptyBuffer = Buffer.alloc(0);

function contentType(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'content-type') return fields[i + 1];
  return undefined;
}

function trailersOnly(stream: H2Stream, httpStatus: number, code: number, message: string): void {
  stream.respond([':status', String(httpStatus), 'content-type', grpcContentType, 'grpc-status', String(code), 'grpc-message', percentEncode(message)], true);
}

function crashOnAssertion(e: unknown): void {
  if (e instanceof AssertionError) {
    // An invariant broke: the process must not go on (DESIGN.md), and a rethrow from here would only reject a promise.
    setImmediate(() => {
      throw e;
    });
  }
}
