// The cluster's members as the application knows them: IDs, names and URLs
// (raft knows only IDs). Parsed from --initial-cluster on bootstrap, changed by
// applied conf changes and publish requests, persisted in the store's meta.
import { EtcdError } from '../util';
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

/** A change of the peer set, for the transport (which server/ does not import). */
export type PeerChange = { type: 'add'; id: bigint; peerUrls: string[] } | { type: 'remove'; id: bigint };

/** What a conf change's context carries: the proposer's request ID and the member's record. */
export function confChangeContext(requestId: bigint, member: MemberInfo): Buffer {
  return Buffer.from(JSON.stringify({ requestId: requestId.toString(), member: JSON.parse(encodeMember(member).toString('utf8')) as unknown }));
}

export function decodeConfChangeContext(context: Uint8Array): { requestId: bigint | undefined; member: MemberInfo | undefined } {
  if (context.byteLength === 0) return { requestId: undefined, member: undefined };
  const ctx = JSON.parse(Buffer.from(context).toString('utf8')) as { requestId?: string; member?: unknown };
  return {
    requestId: ctx.requestId === undefined ? undefined : BigInt(ctx.requestId),
    member: ctx.member === undefined ? undefined : decodeMember(Buffer.from(JSON.stringify(ctx.member))),
  };
}

type MetaWrite = (name: string, value: Buffer | undefined) => void;

/** The members as applied: conf changes, publish and update requests, persisted in the store's meta. */
export class MemberRecords {
  private readonly byId = new Map<bigint, MemberInfo>();

  constructor(members: Iterable<MemberInfo>) {
    for (const m of members) this.byId.set(m.id, m);
  }

  get(id: bigint): MemberInfo | undefined {
    return this.byId.get(id);
  }

  has(id: bigint): boolean {
    return this.byId.has(id);
  }

  /** In ID order, as etcd lists them. */
  list(): MemberInfo[] {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The record of a member to add, unless etcd would refuse it. */
  newMember(peerUrls: string[], isLearner: boolean, token: string, learnersMax: number): MemberInfo {
    const members = [...this.byId.values()];
    if (members.some((m) => m.peerUrls.some((u) => peerUrls.includes(u)))) throw new EtcdError('PeerURLExist');
    if (isLearner && members.filter((m) => m.isLearner).length >= learnersMax) throw new EtcdError('TooManyLearners');
    // etcd mixes the time into an added member's ID and the joiner learns it from the cluster; a keel joiner
    // derives its ID from its URLs and the token, so the ID here must be the same function of them.
    const id = memberIdOf(peerUrls, token);
    if (this.byId.has(id)) throw new EtcdError('MemberExist');
    return { id, name: '', peerUrls, clientUrls: [], isLearner };
  }

  /** Refuses an update etcd would refuse. */
  checkUpdate(id: bigint, peerUrls: string[]): void {
    if (!this.byId.has(id)) throw new EtcdError('MemberNotFound');
    for (const m of this.byId.values()) if (m.id !== id && m.peerUrls.some((u) => peerUrls.includes(u))) throw new EtcdError('PeerURLExist');
  }

  replaceAll(members: Iterable<MemberInfo>): void {
    this.byId.clear();
    for (const m of members) this.byId.set(m.id, m);
  }

  /** Applies an added, promoted or removed member; answers the peer change. */
  applyConfChange(type: 'addNode' | 'addLearnerNode' | 'removeNode', nodeId: bigint, fromContext: MemberInfo | undefined, meta: MetaWrite): PeerChange {
    if (type === 'removeNode') {
      this.byId.delete(nodeId);
      meta(memberMetaName(nodeId), undefined);
      return { type: 'remove', id: nodeId };
    }
    const existing = this.byId.get(nodeId);
    const info: MemberInfo = {
      id: nodeId,
      name: existing?.name ?? fromContext?.name ?? '',
      peerUrls: fromContext?.peerUrls ?? existing?.peerUrls ?? [],
      clientUrls: existing?.clientUrls ?? [],
      isLearner: type === 'addLearnerNode',
    };
    this.set(info, meta);
    return { type: 'add', id: info.id, peerUrls: info.peerUrls };
  }

  /** A member announced its name and client URLs; a member not (or no longer) in the cluster is ignored. */
  applyPublish(id: bigint, name: string, clientUrls: string[], meta: MetaWrite): void {
    const m = this.byId.get(id);
    if (m !== undefined) this.set({ ...m, name, clientUrls }, meta);
  }

  /** Answers undefined for an unknown member. */
  applyUpdate(id: bigint, peerUrls: string[], meta: MetaWrite): PeerChange | undefined {
    const m = this.byId.get(id);
    if (m === undefined) return undefined;
    this.set({ ...m, peerUrls }, meta);
    return { type: 'add', id, peerUrls };
  }

  private set(info: MemberInfo, meta: MetaWrite): void {
    this.byId.set(info.id, info);
    meta(memberMetaName(info.id), encodeMember(info));
  }
}
