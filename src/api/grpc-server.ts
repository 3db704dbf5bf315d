// The client-facing gRPC server: etcd's KV and Maintenance services on the
// listen-client-urls. Later issues add Watch, Lease, Cluster, Auth.
import * as grpc from '@grpc/grpc-js';
import { etcdService } from '../proto';
import { limits } from '../util';
import type { Member, Logger } from '../server';
import { withRequestSize, type RpcContext } from './rpc';
import { kvHandlers, kvImpls } from './kv-service';
import { installFastUnary, type FastMethod } from './fast-unary';
import { maintenanceHandlers } from './maintenance-service';
import { leaseService } from './lease-service';
import { watchHandlers, watchServiceDefinition } from './watch-service';
import { clusterHandlers } from './cluster-service';

export interface ClientServerOptions {
  member: Member;
  /** Unary KV and Lease calls answered without grpc-js's call machinery (fast-unary.ts); cmd/ turns it off with KEEL_UNARY_FAST_PATH=off. */
  fastUnary: boolean;
  /** etcd's --experimental-watch-progress-notify-interval. */
  progressNotifyIntervalMs: number;
  log: Logger;
  fatal: (e: unknown) => void;
}

export function createClientServer(opts: ClientServerOptions): grpc.Server {
  const rpc: RpcContext = {
    fatal: opts.fatal,
    receiveBytesMax: opts.member.config.maxRequestBytes + limits.grpcOverheadBytes,
    hasLeader: () => opts.member.hasLeader(),
  };
  const sized = (def: grpc.ServiceDefinition): grpc.ServiceDefinition => withRequestSize(def, rpc.receiveBytesMax);
  const kv = sized(etcdService('KV').service);
  const leaseSvc = leaseService(opts.member, rpc);
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
  server.addService(lease, leaseSvc.handlers);
  server.addService(etcdService('Cluster').service, clusterHandlers(opts.member, rpc));
  server.addService(sized(etcdService('Maintenance').service), maintenanceHandlers(opts.member, rpc) as grpc.UntypedServiceImplementation);
  if (opts.fastUnary) {
    const methods = new Map<string, FastMethod>();
    for (const [def, impls] of [[kv, kvImpls(opts.member)], [lease, leaseSvc.impls]] as const) {
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
