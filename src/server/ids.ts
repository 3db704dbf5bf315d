// Member and cluster IDs computed the way etcd computes them, so a keel member
// started with etcd's default flags has etcd's well-known default IDs.
import { createHash } from 'node:crypto';

export function memberIdOf(peerUrls: string[], clusterToken: string, nowSeconds?: number): bigint {
  const joined = [...peerUrls].sort().join('') + clusterToken + (nowSeconds === undefined ? '' : String(nowSeconds));
  return createHash('sha1').update(joined).digest().readBigUInt64BE(0);
}

export function clusterIdOf(memberIds: bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}

export function idToHex(id: bigint): string {
  return id.toString(16);
}
