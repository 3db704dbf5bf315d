// A thin promise wrapper over grpc-js clients for etcd's KV, Lease and
// Maintenance services. It returns the decoded objects exactly as
// proto-loader produces them (snake_case, int64 as decimal strings, bytes as
// Buffer, oneof discriminators) so compat tests compare what is on the wire.
import * as grpc from '@grpc/grpc-js';
import { etcdService, type ServiceName } from '../../src/proto';

export type Int64 = string;

export interface ResponseHeader {
  cluster_id: Int64;
  member_id: Int64;
  revision: Int64;
  raft_term: Int64;
}

export interface KeyValue {
  key: Buffer;
  create_revision: Int64;
  mod_revision: Int64;
  version: Int64;
  value: Buffer;
  lease: Int64;
}

export type Bytes = Buffer | Uint8Array | string;
export type Int64In = Int64 | number | bigint;

export interface RangeRequest {
  key: Bytes;
  range_end?: Bytes;
  limit?: Int64In;
  revision?: Int64In;
  sort_order?: number;
  sort_target?: number;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
  min_mod_revision?: Int64In;
  max_mod_revision?: Int64In;
  min_create_revision?: Int64In;
  max_create_revision?: Int64In;
}

export interface RangeResponse {
  header: ResponseHeader | null;
  kvs: KeyValue[];
  more: boolean;
  count: Int64;
}

export interface PutRequest {
  key: Bytes;
  value?: Bytes;
  lease?: Int64In;
  prev_kv?: boolean;
  ignore_value?: boolean;
  ignore_lease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader | null;
  prev_kv: KeyValue | null;
}

export interface DeleteRangeRequest {
  key: Bytes;
  range_end?: Bytes;
  prev_kv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader | null;
  deleted: Int64;
  prev_kvs: KeyValue[];
}

export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;

export interface Compare {
  result?: number;
  target?: number;
  key: Bytes;
  version?: Int64In;
  create_revision?: Int64In;
  mod_revision?: Int64In;
  value?: Bytes;
  lease?: Int64In;
  range_end?: Bytes;
}

export type RequestOp =
  | { request_range: RangeRequest }
  | { request_put: PutRequest }
  | { request_delete_range: DeleteRangeRequest }
  | { request_txn: TxnRequest }
  | Record<string, never>;

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface ResponseOp {
  response?: 'response_range' | 'response_put' | 'response_delete_range' | 'response_txn';
  response_range?: RangeResponse;
  response_put?: PutResponse;
  response_delete_range?: DeleteRangeResponse;
  response_txn?: TxnResponse;
}

export interface TxnResponse {
  header: ResponseHeader | null;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: Int64In;
  physical?: boolean;
}

export interface CompactionResponse {
  header: ResponseHeader | null;
}

export interface LeaseGrantRequest {
  TTL: Int64In;
  ID?: Int64In;
}

export interface LeaseGrantResponse {
  header: ResponseHeader | null;
  ID: Int64;
  TTL: Int64;
  error: string;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader | null;
}

export interface StatusResponse {
  header: ResponseHeader | null;
  version: string;
  dbSize: Int64;
  leader: Int64;
  raftIndex: Int64;
  raftTerm: Int64;
  raftAppliedIndex: Int64;
  errors: string[];
  dbSizeInUse: Int64;
  isLearner: boolean;
}

/** A call's outcome: the decoded response, or the gRPC status code and message. */
export type RpcResult<T> = { ok: true; value: T } | { ok: false; code: number; details: string };

export interface ClientOptions {
  /** Per-call deadline. */
  deadlineMs?: number;
}

type UnaryFn = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => unknown;

const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

export class EtcdClient {
  readonly endpoint: string;
  private readonly deadlineMs: number;
  private readonly clients = new Map<ServiceName, grpc.Client>();

  constructor(endpoint: string, opts: ClientOptions = {}) {
    this.endpoint = endpoint;
    this.deadlineMs = opts.deadlineMs ?? 10_000;
  }

  private client(service: ServiceName): grpc.Client {
    let c = this.clients.get(service);
    if (c === undefined) {
      const Ctor = etcdService(service);
      c = new Ctor(this.endpoint, grpc.credentials.createInsecure(), channelOptions);
      this.clients.set(service, c);
    }
    return c;
  }

  /** Any unary method by name; never rejects for gRPC errors. */
  call<T>(service: ServiceName, method: string, req: unknown, deadlineMs = this.deadlineMs): Promise<RpcResult<T>> {
    const c = this.client(service) as unknown as Record<string, UnaryFn | undefined>;
    const fn = c[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`${service} has no method ${method}`));
    return new Promise((resolve) => {
      fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err !== null) {
          resolve({ ok: false, code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? err.message });
        } else {
          resolve({ ok: true, value: res as T });
        }
      });
    });
  }

  range(req: RangeRequest): Promise<RpcResult<RangeResponse>> {
    return this.call('KV', 'Range', req);
  }

  put(req: PutRequest): Promise<RpcResult<PutResponse>> {
    return this.call('KV', 'Put', req);
  }

  deleteRange(req: DeleteRangeRequest): Promise<RpcResult<DeleteRangeResponse>> {
    return this.call('KV', 'DeleteRange', req);
  }

  txn(req: TxnRequest): Promise<RpcResult<TxnResponse>> {
    return this.call('KV', 'Txn', req);
  }

  compact(req: CompactionRequest): Promise<RpcResult<CompactionResponse>> {
    return this.call('KV', 'Compact', req);
  }

  leaseGrant(req: LeaseGrantRequest): Promise<RpcResult<LeaseGrantResponse>> {
    return this.call('Lease', 'LeaseGrant', req);
  }

  leaseRevoke(id: Int64In): Promise<RpcResult<LeaseRevokeResponse>> {
    return this.call('Lease', 'LeaseRevoke', { ID: id });
  }

  status(): Promise<RpcResult<StatusResponse>> {
    return this.call('Maintenance', 'Status', {});
  }

  hashKv(revision: number): Promise<RpcResult<{ header?: ResponseHeader; hash: number; compact_revision: string }>> {
    return this.call('Maintenance', 'HashKV', { revision });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** Unwraps a result or throws with the gRPC code and message. */
export function must<T>(r: RpcResult<T>): T {
  if (r.ok) return r.value;
  throw new Error(`gRPC error ${r.code} (${grpc.status[r.code] ?? '?'}): ${r.details}`);
}

/** "a" → Buffer; the key helpers compat tests use everywhere. Latin-1 so "\xff" is one byte. */
export function b(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
