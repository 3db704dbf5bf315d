// The cluster's members as the application knows them: IDs, names and URLs
// (raft knows only IDs). Parsed from --initial-cluster on bootstrap, changed by
// applied conf changes and publish requests, persisted in the store's meta.
import { memberIdOf, clusterIdOf } from './ids';

export interface MemberInfo {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export class InitialClusterError extends Error {}

/** "a=http://1:2380,b=http://2:2380" → name → peer URLs (a name may repeat for several URLs). */
export function parseInitialCluster(v: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of v.split(',').map((x) => x.trim()).filter((x) => x.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InitialClusterError(`invalid value "${v}" for flag -initial-cluster: missing "=" in "${part}"`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    try {
      new URL(url);
    } catch {
      throw new InitialClusterError(`invalid value "${v}" for flag -initial-cluster: bad URL "${url}"`);
    }
    out.set(name, [...(out.get(name) ?? []), url]);
  }
  return out;
}

/** The bootstrap members with etcd's IDs, and the cluster ID derived from them. */
export function bootstrapMembers(initialCluster: Map<string, string[]>, token: string): { members: MemberInfo[]; clusterId: bigint } {
  const members = [...initialCluster].map(([name, peerUrls]) => ({ id: memberIdOf(peerUrls, token), name, peerUrls, clientUrls: [], isLearner: false }));
  return { members, clusterId: clusterIdOf(members.map((m) => m.id)) };
}

export function encodeMember(m: MemberInfo): Buffer {
  return Buffer.from(JSON.stringify({ id: m.id.toString(), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner }));
}

export function decodeMember(b: Uint8Array): MemberInfo {
  const o = JSON.parse(Buffer.from(b).toString('utf8')) as { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean };
  return { id: BigInt(o.id), name: o.name, peerUrls: o.peerUrls, clientUrls: o.clientUrls, isLearner: o.isLearner };
}

export const memberMetaPrefix = 'member/';

export function memberMetaName(id: bigint): string {
  return memberMetaPrefix + id.toString(16).padStart(16, '0');
}
