// What a member proposes through Raft: one request per entry, tagged with the
// proposer's request ID so the proposer can hand the result to its waiter.
import { Packr } from 'msgpackr';
import { assert } from '../util';
import type { PutRequest, DeleteRangeRequest, TxnRequest } from '../mvcc';

export type Op =
  | { op: 'put'; req: PutRequest }
  | { op: 'deleteRange'; req: DeleteRangeRequest }
  | { op: 'txn'; req: TxnRequest }
  | { op: 'compact'; revision: number }
  | { op: 'leaseGrant'; id: bigint; ttl: number }
  | { op: 'leaseRevoke'; id: bigint }
  | { op: 'alarm'; action: number; memberId: bigint; alarm: number }
  /** A member announces its name and client URLs (etcd: "published local member to cluster through raft"). */
  | { op: 'publish'; memberId: bigint; name: string; clientUrls: string[] }
  | { op: 'memberUpdate'; memberId: bigint; peerUrls: string[] };

export interface InternalRequest {
  id: bigint;
  body: Op;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

export function encodeRequest(r: InternalRequest): Uint8Array {
  return packr.pack([r.id, r.body]);
}

export function decodeRequest(data: Uint8Array): InternalRequest {
  // msgpackr yields Buffers only from a Buffer; entries that came over the network are plain Uint8Arrays.
  const src = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const v: unknown = packr.unpack(src);
  assert(Array.isArray(v) && v.length === 2, 'a raft entry holds [id, op]');
  const [id, body] = v as [unknown, Op];
  assert(typeof id === 'bigint', 'request id is a bigint');
  return { id, body };
}
