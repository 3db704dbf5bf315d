// Loads etcd's API (.proto files under proto/) once, for the server (api/),
// the peer transport and the client. 64-bit integers decode as decimal
// strings (lossless); callers turn them into bigint or safe numbers.
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

function findProtoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'etcd', 'api', 'etcdserverpb', 'rpc.proto'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`proto/ not found above ${__dirname}`);
}

export const protoRoot = findProtoRoot();

export const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [protoRoot],
};

const files = [
  'etcd/api/etcdserverpb/rpc.proto',
  'etcd/server/v3election/v3election.proto',
  'etcd/server/v3lock/v3lock.proto',
];

let cached: grpc.GrpcObject | undefined;

/** The etcd API as a grpc-js package object: etcdserverpb, mvccpb, authpb, v3electionpb, v3lockpb. */
export function etcdPackage(): grpc.GrpcObject {
  if (cached === undefined) {
    const definition = protoLoader.loadSync(files, loaderOptions);
    cached = grpc.loadPackageDefinition(definition);
  }
  return cached;
}

export type ServiceName = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth';

/** A service's client constructor (for clients) with its .service definition (for servers). */
export function etcdService(name: ServiceName): grpc.ServiceClientConstructor {
  const pkg = etcdPackage()['etcdserverpb'] as grpc.GrpcObject;
  return pkg[name] as grpc.ServiceClientConstructor;
}

export function electionService(): grpc.ServiceClientConstructor {
  return (etcdPackage()['v3electionpb'] as grpc.GrpcObject)['Election'] as grpc.ServiceClientConstructor;
}

export function lockService(): grpc.ServiceClientConstructor {
  return (etcdPackage()['v3lockpb'] as grpc.GrpcObject)['Lock'] as grpc.ServiceClientConstructor;
}
