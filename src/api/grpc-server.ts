// The client-facing gRPC server: etcd's KV and Maintenance services on the
// listen-client-urls. Later issues add Watch, Lease, Cluster, Auth.
import * as grpc from '@grpc/grpc-js';
import { etcdService } from '../proto';
import { AssertionError, EtcdError, limits } from '../util';
import type { Member, Logger } from '../server';
import { toServiceError } from './errors';
import { kvHandlers, kvImpls } from './kv-service';
import { installFastUnary, type FastMethod } from './fast-unary';
import { maintenanceHandlers } from './maintenance-service';
import { leaseHandlers, leaseImpls } from './lease-service';
import { watchHandlers, watchServiceDefinition } from './watch-service';
import { clusterHandlers } from './cluster-service';

/** Byte length of the encoded request, recorded by the deserializer (etcd checks request size on the encoded form). */
export const requestBytes = Symbol('requestBytes');
/** Set instead of decoding when a request is over etcd's gRPC receive limit. */
const oversizedBytes = Symbol('oversizedBytes');
export type Sized = { [requestBytes]?: number; [oversizedBytes]?: number };

export function sizeOf(req: object): number {
  return (req as Sized)[requestBytes] ?? 0;
}

function varintBytes(v: bigint): number {
  let n = 1;
  for (let x = v >> 7n; x > 0n; x >>= 7n) n++;
  return n;
}

/**
 * The size etcd compares with --max-request-bytes: the request wrapped in an
 * InternalRaftRequest with a RequestHeader{ID} (field 100), whose IDs carry
 * the member ID's low 16 bits in their top bits.
 */
export function internalRequestBytes(requestBytes: number, memberId: bigint): number {
  const idBytes = varintBytes(((memberId & 0xffffn) << 48n) | (1n << 47n));
  const header = 1 + idBytes;
  return 2 + varintBytes(BigInt(header)) + header + 1 + varintBytes(BigInt(requestBytes)) + requestBytes;
}

function withRequestSize(def: grpc.ServiceDefinition, receiveBytesMax: number): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(def)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        if (buf.length > receiveBytesMax) return { [oversizedBytes]: buf.length };
        const obj = decode(buf) as Sized;
        obj[requestBytes] = buf.length;
        return obj;
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/** Whether the size-recording deserializer refused the request as over the receive limit. */
export function hasOversizedMark(req: unknown): boolean {
  return typeof req === 'object' && req !== null && (req as Sized)[oversizedBytes] !== undefined;
}

function oversizedError(req: unknown, receiveBytesMax: number): grpc.ServiceError | undefined {
  const n = (req as Sized | null)?.[oversizedBytes];
  if (n === undefined) return undefined;
  // Go gRPC's wording, which etcd clients see.
  const details = `grpc: received message larger than max (${n} vs. ${receiveBytesMax})`;
  return Object.assign(new Error(details), { code: grpc.status.RESOURCE_EXHAUSTED, details, metadata: new grpc.Metadata() });
}

export type UnaryImpl<Req, Res> = (req: Req) => Promise<Res>;

/** What every handler needs from the server it runs in. */
export interface RpcContext {
  /** Takes the member down (an assertion failed: keel's own state is wrong). */
  fatal(e: unknown): void;
  /** etcd's gRPC receive limit: --max-request-bytes plus gRPC overhead. */
  receiveBytesMax: number;
  hasLeader(): boolean;
}

/**
 * Adapts a promise handler to grpc-js. Domain errors become etcd's status;
 * an assertion failure is a bug in keel and takes the member down.
 */
export function unary<Req, Res>(impl: UnaryImpl<Req, Res>, rpc: RpcContext): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const tooBig = oversizedError(call.request, rpc.receiveBytesMax);
    if (tooBig !== undefined) {
      callback(tooBig);
      return;
    }
    if (requiresLeader(call.metadata) && !rpc.hasLeader()) {
      callback(toServiceError(new EtcdError('NoLeader')));
      return;
    }
    let p: Promise<Res>;
    try {
      p = impl(call.request);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (res) => callback(null, res),
      (e: unknown) => {
        if (e instanceof AssertionError) rpc.fatal(e);
        callback(toServiceError(e));
      },
    );
  };
}

export interface ClientServerOptions {
  member: Member;
  /** etcd's --experimental-watch-progress-notify-interval. */
  progressNotifyIntervalMs: number;
  log: Logger;
  fatal: (e: unknown) => void;
}

/** etcd clients (kube-apiserver's watches among them) send hasleader=true to be refused rather than wait when there is no leader. */
export function requiresLeader(md: grpc.Metadata): boolean {
  return md.get('hasleader')[0] === 'true';
}

export function createClientServer(opts: ClientServerOptions): grpc.Server {
  const rpc: RpcContext = {
    fatal: opts.fatal,
    receiveBytesMax: opts.member.config.maxRequestBytes + limits.grpcOverheadBytes,
    hasLeader: () => opts.member.hasLeader(),
  };
  const sized = (def: grpc.ServiceDefinition): grpc.ServiceDefinition => withRequestSize(def, rpc.receiveBytesMax);
  const kv = sized(etcdService('KV').service);
  const lease = sized(etcdService('Lease').service);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': rpc.receiveBytesMax + limits.grpcReceiveSlackBytes,
    'grpc.max_send_message_length': 2 ** 31 - 1,
    'grpc.max_concurrent_streams': 2 ** 31 - 1,
    // kube-apiserver pings every 30 s; etcd's --grpc-keepalive-min-time default is 5 s.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5000,
    'grpc.keepalive_time_ms': 2 * 60 * 60 * 1000,
    'grpc.keepalive_timeout_ms': 20 * 1000,
    // channelz bookkeeping costs every call a few counters and timestamps; keel exposes no channelz service.
    'grpc.enable_channelz': 0,
  });
  server.addService(kv, kvHandlers(opts.member, rpc) as grpc.UntypedServiceImplementation);
  server.addService(watchServiceDefinition(), watchHandlers(opts.member, opts.progressNotifyIntervalMs));
  server.addService(lease, leaseHandlers(opts.member, rpc));
  server.addService(etcdService('Cluster').service, clusterHandlers(opts.member, rpc));
  server.addService(sized(etcdService('Maintenance').service), maintenanceHandlers(opts.member, rpc) as grpc.UntypedServiceImplementation);
  if (process.env['KEEL_UNARY_FAST_PATH'] !== 'off') {
    const methods = new Map<string, FastMethod>();
    for (const [def, impls] of [[kv, kvImpls(opts.member)], [lease, leaseImpls(opts.member)]] as const) {
      for (const [name, impl] of Object.entries(impls)) {
        const m = def[name];
        if (m === undefined) continue;
        methods.set(m.path, { decode: m.requestDeserialize, encode: m.responseSerialize as (res: unknown) => Buffer, impl });
      }
    }
    fastPaths.set(server, { methods, rpc, log: opts.log });
  }
  return server;
}

/** Methods to route around grpc-js once the server is bound (see fast-unary.ts). */
const fastPaths = new WeakMap<grpc.Server, { methods: Map<string, FastMethod>; rpc: RpcContext; log: Logger }>();

/** "http://127.0.0.1:2379" → "127.0.0.1:2379"; https needs TLS (a later issue) and is refused clearly. */
export function bindAddressOf(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid listen URL ${JSON.stringify(url)}`);
  }
  if (u.protocol === 'https:') throw new Error(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
  if (u.protocol !== 'http:') throw new Error(`URL scheme must be http, https, unix, or unixs: ${url}`);
  if (u.port === '') throw new Error(`URL address does not have the form "host:port": ${url}`);
  return `${u.hostname}:${u.port}`;
}

export function listen(server: grpc.Server, urls: string[]): Promise<string[]> {
  return Promise.all(
    urls.map(
      (url) =>
        new Promise<string>((resolve, reject) => {
          const addr = bindAddressOf(url);
          server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
            if (err) reject(new Error(`listen tcp ${addr}: ${err.message}`));
            else resolve(addr);
          });
        }),
    ),
  ).then((addrs) => {
    const fast = fastPaths.get(server);
    if (fast !== undefined) {
      fastPaths.delete(server);
      if (!installFastUnary(server, fast.methods, fast.rpc)) fast.log.warn('grpc-js internals not as expected: every call takes grpc-js\'s path');
    }
    return addrs;
  });
}
