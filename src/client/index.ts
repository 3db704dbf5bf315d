// keel's client: typed promises over grpc-js for etcd's v3 API (KV, Lease,
// Watch, Cluster, Maintenance, Auth, Election, Lock), with failover across
// endpoints, deadlines and bigint IDs. Used by keelctl, bench/ and jepsen/.
export { Client, parseEndpoint, constructorFor, codecFor, toBigint, toInt64, toUint64 } from './client';
export type { AnyService, CallOptions, ClientOptions, MethodCodec, TlsOptions } from './client';
export { ClientError, DeadlineError, grpcCodeNames, isTransportError } from './errors';
export * from './types';
export { descriptor, stripDefaults, isEmptyField, int32Types, int64Types, type FieldDescriptor } from './descriptor';
export { decodeWatchResponse, type WatchResponseLite, type EventLite, type KeyValueLite } from './watch-decode';
