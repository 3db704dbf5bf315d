// Pure pieces of etcd's range and compare rules (etcdserver/apply.go).
import { assert } from '../util';
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type KeyValue,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type TxnRequest,
  SortOrder,
  SortTarget,
} from './types';

/** A key interval as latin1 strings (they order like the bytes). */
export interface KeyBounds {
  gte: string;
  /** undefined: no upper bound. */
  lt: string | undefined;
  /** A single key (empty rangeEnd). */
  single: boolean;
  /** rangeEnd <= key: nothing can match. */
  empty: boolean;
}

export function keyBounds(key: Buffer, rangeEnd: Buffer): KeyBounds {
  const gte = key.toString('latin1');
  if (rangeEnd.length === 0) return { gte, lt: undefined, single: true, empty: false };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { gte, lt: undefined, single: false, empty: false };
  const lt = rangeEnd.toString('latin1');
  return { gte, lt, single: false, empty: lt <= gte };
}

export function inBounds(b: KeyBounds, k: string): boolean {
  if (b.empty) return false;
  if (b.single) return k === b.gte;
  return k >= b.gte && (b.lt === undefined || k < b.lt);
}

/** How many kvs the index scan must hand over: etcd fetches everything when it sorts or filters, else limit + 1 to learn `more`. 0 = all. */
export function fetchLimit(req: RangeRequest): number {
  if (req.sortOrder !== SortOrder.None || hasFilter(req)) return 0;
  return req.limit > 0 ? req.limit + 1 : 0;
}

function hasFilter(req: RangeRequest): boolean {
  return req.minModRevision !== 0 || req.maxModRevision !== 0 || req.minCreateRevision !== 0 || req.maxCreateRevision !== 0;
}

/** etcd's apply-level Range after the index read: filter, sort, limit, keysOnly. kvs arrive in key order. */
export function finishRange(req: RangeRequest, kvs: KeyValue[], count: number, revision: number): RangeResponse {
  let out = kvs;
  if (req.maxModRevision !== 0) out = out.filter((kv) => kv.modRevision <= req.maxModRevision);
  if (req.minModRevision !== 0) out = out.filter((kv) => kv.modRevision >= req.minModRevision);
  if (req.maxCreateRevision !== 0) out = out.filter((kv) => kv.createRevision <= req.maxCreateRevision);
  if (req.minCreateRevision !== 0) out = out.filter((kv) => kv.createRevision >= req.minCreateRevision);
  out = sortKvs(req, out);
  let more = false;
  if (req.limit > 0 && out.length > req.limit) {
    out = out.slice(0, req.limit);
    more = true;
  }
  if (req.keysOnly) out = out.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
  return { revision, kvs: out, more, count };
}

function sortKvs(req: RangeRequest, kvs: KeyValue[]): KeyValue[] {
  let order = req.sortOrder;
  if (req.sortTarget !== SortTarget.Key && order === SortOrder.None) order = SortOrder.Ascend;
  else if (req.sortTarget === SortTarget.Key && order === SortOrder.Ascend) order = SortOrder.None;
  if (order === SortOrder.None) return kvs;
  const by = sortKey(req.sortTarget);
  const sign = order === SortOrder.Descend ? -1 : 1;
  // Array.prototype.sort is stable: ties keep key-ascending order either way.
  return [...kvs].sort((a, b) => sign * by(a, b));
}

function sortKey(target: SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case SortTarget.Key:
      return (a, b) => Buffer.compare(a.key, b.key);
    case SortTarget.Version:
      return (a, b) => a.version - b.version;
    case SortTarget.Create:
      return (a, b) => a.createRevision - b.createRevision;
    case SortTarget.Mod:
      return (a, b) => a.modRevision - b.modRevision;
    case SortTarget.Value:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      assert(false, `sort target is valid (api/ validates it): ${String(target)}`);
  }
}

const zeroKv: KeyValue = {
  key: Buffer.alloc(0),
  createRevision: 0,
  modRevision: 0,
  version: 0,
  value: Buffer.alloc(0),
  lease: 0n,
};

/** etcd's applyCompare over the kvs live in the compare's range. */
export function compareHolds(c: Compare, kvs: KeyValue[]): boolean {
  if (kvs.length === 0) {
    // A value compare on missing keys always fails: gRPC cannot tell a missing value from an empty one.
    if (c.target === CompareTarget.Value) return false;
    return compareKv(c, zeroKv);
  }
  return kvs.every((kv) => compareKv(c, kv));
}

function compareKv(c: Compare, kv: KeyValue): boolean {
  const r = compareTarget(c, kv);
  switch (c.result) {
    case CompareResult.Equal:
      return r === 0;
    case CompareResult.NotEqual:
      return r !== 0;
    case CompareResult.Greater:
      return r > 0;
    case CompareResult.Less:
      return r < 0;
    default:
      return true; // etcd: an unknown result compares true
  }
}

function compareTarget(c: Compare, kv: KeyValue): number {
  switch (c.target) {
    case CompareTarget.Value:
      return Buffer.compare(kv.value, c.value ?? Buffer.alloc(0));
    case CompareTarget.Create:
      return sign(kv.createRevision - (c.createRevision ?? 0));
    case CompareTarget.Mod:
      return sign(kv.modRevision - (c.modRevision ?? 0));
    case CompareTarget.Version:
      return sign(kv.version - (c.version ?? 0));
    case CompareTarget.Lease: {
      // int64 compare, as etcd does, whichever way the 64 bits arrived.
      const a = BigInt.asIntN(64, kv.lease);
      const b = BigInt.asIntN(64, c.lease ?? 0n);
      return a === b ? 0 : a > b ? 1 : -1;
    }
    default:
      return 0; // etcd: result stays 0 for an unknown target
  }
}

function sign(n: number): number {
  return n === 0 ? 0 : n > 0 ? 1 : -1;
}

/** Whether a range answers values: keys_only and count_only need none unless values decide the order. */
export function needsValues(req: RangeRequest): boolean {
  if (req.countOnly) return false;
  return !req.keysOnly || req.sortTarget === SortTarget.Value;
}

export function txnHasWrite(req: TxnRequest): boolean {
  const opWrites = (op: RequestOp): boolean => 'put' in op || 'deleteRange' in op || ('txn' in op && txnHasWrite(op.txn));
  return req.success.some(opWrites) || req.failure.some(opWrites);
}
