// The MVCC store's domain types. Revisions and versions are JS numbers
// (asserted safe integers: etcd's int64 revisions never approach 2^53 in
// practice); lease IDs are bigint (int64, may use all 64 bits).
// Byte strings are Buffers. An empty rangeEnd means "single key"; a rangeEnd
// of one zero byte means "every key >= key" (etcd's rules).

export interface KeyValue {
  key: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Buffer;
  lease: bigint;
}

export const enum SortOrder { None = 0, Ascend = 1, Descend = 2 }
export const enum SortTarget { Key = 0, Version = 1, Create = 2, Mod = 3, Value = 4 }

export interface RangeRequest {
  key: Buffer;
  rangeEnd: Buffer;
  /** 0 = no limit. */
  limit: number;
  /** 0 = current revision. */
  revision: number;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

/** `header` holds only the revision; cluster/member/term are added by api/. */
export interface RangeResponse {
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease: bigint;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface PutResponse {
  revision: number;
  prevKv: KeyValue | undefined;
}

export interface DeleteRangeRequest {
  key: Buffer;
  rangeEnd: Buffer;
  prevKv: boolean;
}

export interface DeleteRangeResponse {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

export const enum CompareResult { Equal = 0, Greater = 1, Less = 2, NotEqual = 3 }
export const enum CompareTarget { Version = 0, Create = 1, Mod = 2, Value = 3, Lease = 4 }

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Buffer;
  rangeEnd: Buffer;
  /** The target_union member that was set, if any; a union member that does not match `target` reads as 0 / empty, as in etcd. */
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Buffer;
  lease?: bigint;
}

export type RequestOp =
  | { range: RangeRequest }
  | { put: PutRequest }
  | { deleteRange: DeleteRangeRequest }
  | { txn: TxnRequest };

export type ResponseOp =
  | { range: RangeResponse }
  | { put: PutResponse }
  | { deleteRange: DeleteRangeResponse }
  /** A nested txn's header is empty in etcd (revision 0). */
  | { txn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

export const enum EventType { Put = 0, Delete = 1 }

/** One change made by a write; a delete's kv carries the key and modRevision only (etcd's tombstone). */
export interface Event {
  type: EventType;
  kv: KeyValue;
  prevKv: KeyValue | undefined;
}
