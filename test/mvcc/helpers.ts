// Request builders with etcd's defaults, for MVCC tests.
import type {
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from '../../src/mvcc';
import { MvccStore } from '../../src/mvcc';
import { memoryBackend, type Backend } from '../../src/storage';

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');

export function rangeReq(key: string | Buffer, rangeEnd: string | Buffer = '', o: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key: typeof key === 'string' ? b(key) : key,
    rangeEnd: typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd,
    limit: 0,
    revision: 0,
    sortOrder: 0,
    sortTarget: 0,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...o,
  };
}

export function putReq(key: string | Buffer, value: string | Buffer, o: Partial<PutRequest> = {}): PutRequest {
  return {
    key: typeof key === 'string' ? b(key) : key,
    value: typeof value === 'string' ? b(value) : value,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
    ...o,
  };
}

export function delReq(key: string | Buffer, rangeEnd: string | Buffer = '', prevKv = false): DeleteRangeRequest {
  return {
    key: typeof key === 'string' ? b(key) : key,
    rangeEnd: typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd,
    prevKv,
  };
}

export function txnReq(compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): TxnRequest {
  return { compare, success, failure };
}

export function cmp(key: string, target: Compare['target'], result: Compare['result'], value: Partial<Compare> = {}, rangeEnd = ''): Compare {
  return { key: b(key), rangeEnd: b(rangeEnd), target, result, ...value };
}

export async function openMemory(leases: bigint[] = []): Promise<{ store: MvccStore; backend: Backend }> {
  const backend = memoryBackend();
  const store = await MvccStore.open(backend, { leaseExists: (id) => leases.includes(id) });
  return { store, backend };
}

export function keys(kvs: { key: Buffer }[]): string[] {
  return kvs.map((kv) => kv.key.toString('latin1'));
}
