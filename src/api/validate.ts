// Request checks done before a request reaches the store, in etcd's order
// (etcd: api/v3rpc/key.go checkRangeRequest/checkPutRequest/checkTxnRequest/checkIntervals).
import { EtcdError, limits } from '../util';
import type { RangeRequest, PutRequest, DeleteRangeRequest, RequestOp } from '../mvcc';
import { rangeFromPb, putFromPb, deleteRangeFromPb, type PbTxnRequest, type PbRequestOp } from './convert';

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw new EtcdError('EmptyKey');
  if (r.sortOrder < 0 || r.sortOrder > 2) throw new EtcdError('InvalidSortOption');
  if (r.sortTarget < 0 || r.sortTarget > 4) throw new EtcdError('InvalidSortOption');
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw new EtcdError('EmptyKey');
  if (r.ignoreValue && r.value.length !== 0) throw new EtcdError('ValueProvided');
  if (r.ignoreLease && r.lease !== 0n) throw new EtcdError('LeaseProvided');
}

export function checkDeleteRange(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw new EtcdError('EmptyKey');
}

// Txn checks run on the decoded protobuf, in etcd's order, before conversion:
// an empty RequestOp is an error only when the walk reaches it.
function checkRequestOp(op: PbRequestOp, txnOpsMax: number): void {
  switch (op.request) {
    case 'request_range': return checkRange(rangeFromPb(op.request_range!));
    case 'request_put': return checkPut(putFromPb(op.request_put!));
    case 'request_delete_range': return checkDeleteRange(deleteRangeFromPb(op.request_delete_range!));
    case 'request_txn': return checkTxn(op.request_txn!, txnOpsMax);
    // etcd answers an empty RequestOp with "key not found" (checkRequestOp's default case).
    default: throw new EtcdError('KeyNotFound');
  }
}

export function checkTxn(r: PbTxnRequest, txnOpsMax: number, depth = 0): void {
  if (depth > limits.txnDepthMax) throw new EtcdError('TooManyOps');
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opCount = Math.max(compare.length, success.length, failure.length);
  if (opCount > txnOpsMax) throw new EtcdError('TooManyOps');
  for (const c of compare) if ((c.key ?? Buffer.alloc(0)).length === 0) throw new EtcdError('EmptyKey');
  for (const op of success) checkRequestOp(op, txnOpsMax - opCount);
  for (const op of failure) checkRequestOp(op, txnOpsMax - opCount);
}

/** A half-open byte interval; an empty `end` means a single point at `start`... see intersectsPoint. */
interface Interval { start: string; end: string | undefined }

// Keys are latin1 strings so that JS string order is byte order.
function contains(iv: Interval, key: string): boolean {
  if (iv.end === undefined) return iv.start === key;
  // etcd's affine intervals: an empty end is +infinity.
  return key >= iv.start && (iv.end === '' || key < iv.end);
}

function intersects(dels: Interval[], key: string): boolean {
  for (const iv of dels) if (contains(iv, key)) return true;
  return false;
}

interface Intervals { puts: Set<string>; dels: Interval[] }

/** etcd's checkIntervals: no key written twice, and no put inside a deleted range, within one txn branch tree. */
export function checkIntervals(reqs: RequestOp[]): Intervals {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (!('deleteRange' in op)) continue;
    const d = op.deleteRange;
    const start = d.key.toString('latin1');
    dels.push(d.rangeEnd.length === 0 ? { start, end: undefined } : { start, end: d.rangeEnd.toString('latin1') });
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (!('txn' in op)) continue;
    const then = checkIntervals(op.txn.success);
    const otherwise = checkIntervals(op.txn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw new EtcdError('DuplicateKey');
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // A key put by both branches of the same nested txn is fine: only one branch runs.
      if (puts.has(k) && !then.puts.has(k)) throw new EtcdError('DuplicateKey');
      if (intersects(dels, k)) throw new EtcdError('DuplicateKey');
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of reqs) {
    if (!('put' in op)) continue;
    const k = op.put.key.toString('latin1');
    if (puts.has(k) || intersects(dels, k)) throw new EtcdError('DuplicateKey');
    puts.add(k);
  }
  return { puts, dels };
}
