// Decoded protobuf objects (proto-loader: snake_case, int64 as decimal
// strings, bytes as Buffer, oneofs named) to and from keel's domain types.
import { AssertionError } from '../util';
import type * as mvcc from '../mvcc';

const safeMax = BigInt(Number.MAX_SAFE_INTEGER);
const safeMin = -safeMax;

/** An int64 from the wire as a JS number, clamped to the safe range (revisions and counts never get near it). */
export function int64ToNumber(v: string | number | undefined | null): number {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v === 'number') return v;
  const b = BigInt(v);
  if (b > safeMax) return Number.MAX_SAFE_INTEGER;
  if (b < safeMin) return -Number.MAX_SAFE_INTEGER;
  return Number(b);
}

export function int64ToBigint(v: string | number | undefined | null): bigint {
  if (v === undefined || v === null || v === '') return 0n;
  return BigInt(v);
}

const emptyBuffer = Buffer.alloc(0);
function bytes(v: Buffer | undefined | null): Buffer {
  return v ?? emptyBuffer;
}

type Int64 = string | number;

export interface PbKeyValue {
  key: Buffer; create_revision: Int64; mod_revision: Int64; version: Int64; value: Buffer; lease: Int64;
}
export interface PbHeader { cluster_id: Int64; member_id: Int64; revision: Int64; raft_term: Int64 }
export interface PbRangeRequest {
  key: Buffer; range_end: Buffer; limit: Int64; revision: Int64; sort_order: number; sort_target: number;
  serializable: boolean; keys_only: boolean; count_only: boolean;
  min_mod_revision: Int64; max_mod_revision: Int64; min_create_revision: Int64; max_create_revision: Int64;
}
export interface PbPutRequest { key: Buffer; value: Buffer; lease: Int64; prev_kv: boolean; ignore_value: boolean; ignore_lease: boolean }
export interface PbDeleteRangeRequest { key: Buffer; range_end: Buffer; prev_kv: boolean }
export interface PbCompare {
  result: number; target: number; key: Buffer; range_end: Buffer; target_union?: string;
  version?: Int64; create_revision?: Int64; mod_revision?: Int64; value?: Buffer; lease?: Int64;
}
export interface PbRequestOp {
  request?: string;
  request_range?: PbRangeRequest; request_put?: PbPutRequest;
  request_delete_range?: PbDeleteRangeRequest; request_txn?: PbTxnRequest;
}
export interface PbTxnRequest { compare: PbCompare[]; success: PbRequestOp[]; failure: PbRequestOp[] }
export interface PbCompactionRequest { revision: Int64; physical: boolean }

export function rangeFromPb(r: PbRangeRequest): mvcc.RangeRequest {
  return {
    key: bytes(r.key),
    rangeEnd: bytes(r.range_end),
    limit: Math.max(0, int64ToNumber(r.limit)),
    revision: int64ToNumber(r.revision),
    sortOrder: r.sort_order ?? 0,
    sortTarget: r.sort_target ?? 0,
    keysOnly: r.keys_only === true,
    countOnly: r.count_only === true,
    minModRevision: int64ToNumber(r.min_mod_revision),
    maxModRevision: int64ToNumber(r.max_mod_revision),
    minCreateRevision: int64ToNumber(r.min_create_revision),
    maxCreateRevision: int64ToNumber(r.max_create_revision),
  };
}

export function putFromPb(r: PbPutRequest): mvcc.PutRequest {
  return {
    key: bytes(r.key),
    value: bytes(r.value),
    lease: int64ToBigint(r.lease),
    prevKv: r.prev_kv === true,
    ignoreValue: r.ignore_value === true,
    ignoreLease: r.ignore_lease === true,
  };
}

export function deleteRangeFromPb(r: PbDeleteRangeRequest): mvcc.DeleteRangeRequest {
  return { key: bytes(r.key), rangeEnd: bytes(r.range_end), prevKv: r.prev_kv === true };
}

function compareFromPb(c: PbCompare): mvcc.Compare {
  const out: mvcc.Compare = { result: c.result ?? 0, target: c.target ?? 0, key: bytes(c.key), rangeEnd: bytes(c.range_end) };
  switch (c.target_union) {
    case 'version': out.version = int64ToNumber(c.version); break;
    case 'create_revision': out.createRevision = int64ToNumber(c.create_revision); break;
    case 'mod_revision': out.modRevision = int64ToNumber(c.mod_revision); break;
    case 'value': out.value = bytes(c.value); break;
    case 'lease': out.lease = int64ToBigint(c.lease); break;
    default: break;
  }
  return out;
}

function requestOpFromPb(op: PbRequestOp, depth: number): mvcc.RequestOp {
  switch (op.request) {
    case 'request_range': return { range: rangeFromPb(op.request_range as PbRangeRequest) };
    case 'request_put': return { put: putFromPb(op.request_put as PbPutRequest) };
    case 'request_delete_range': return { deleteRange: deleteRangeFromPb(op.request_delete_range as PbDeleteRangeRequest) };
    case 'request_txn': return { txn: txnFromPbAt(op.request_txn as PbTxnRequest, depth + 1) };
    // validate.checkTxn refused empty ops before conversion.
    default: throw new AssertionError('txn ops are checked before they are converted');
  }
}

function txnFromPbAt(r: PbTxnRequest, depth: number): mvcc.TxnRequest {
  return {
    compare: (r.compare ?? []).map(compareFromPb),
    success: (r.success ?? []).map((op) => requestOpFromPb(op, depth)),
    failure: (r.failure ?? []).map((op) => requestOpFromPb(op, depth)),
  };
}

export function txnFromPb(r: PbTxnRequest): mvcc.TxnRequest {
  return txnFromPbAt(r, 0);
}

// ---- responses ----

export interface HeaderFields { clusterId: bigint; memberId: bigint; raftTerm: bigint }

export function header(h: HeaderFields, revision: number): PbHeader {
  return { cluster_id: h.clusterId.toString(), member_id: h.memberId.toString(), revision, raft_term: h.raftTerm.toString() };
}

/** Headers of ops nested in a txn carry only the revision (etcd fills cluster/member/term only at the top). */
function nestedHeader(revision: number): PbHeader {
  return { cluster_id: 0, member_id: 0, revision, raft_term: 0 };
}

export function kvToPb(kv: mvcc.KeyValue): PbKeyValue {
  return {
    key: kv.key,
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    value: kv.value,
    lease: kv.lease === 0n ? 0 : kv.lease.toString(),
  };
}

export function rangeToPb(h: PbHeader, r: mvcc.RangeResponse): object {
  return { header: h, kvs: r.kvs.map(kvToPb), more: r.more, count: r.count };
}

export function putToPb(h: PbHeader, r: mvcc.PutResponse): object {
  return r.prevKv === undefined ? { header: h } : { header: h, prev_kv: kvToPb(r.prevKv) };
}

export function deleteRangeToPb(h: PbHeader, r: mvcc.DeleteRangeResponse): object {
  return { header: h, deleted: r.deleted, prev_kvs: r.prevKvs.map(kvToPb) };
}

function responseOpToPb(op: mvcc.ResponseOp): object {
  if ('range' in op) return { response_range: rangeToPb(nestedHeader(op.range.revision), op.range) };
  if ('put' in op) return { response_put: putToPb(nestedHeader(op.put.revision), op.put) };
  if ('deleteRange' in op) return { response_delete_range: deleteRangeToPb(nestedHeader(op.deleteRange.revision), op.deleteRange) };
  return { response_txn: txnToPb(nestedHeader(op.txn.revision), op.txn) };
}

export function txnToPb(h: PbHeader, r: mvcc.TxnResponse): object {
  return { header: h, succeeded: r.succeeded, responses: r.responses.map(responseOpToPb) };
}
