// Who this member is: its ID and its cluster's ID, computed from
// --initial-cluster on first start and kept in the store's meta.
import type { MvccStore } from '../mvcc';
import type { ServerConfig } from './config';
import { idToHex } from './ids';
import { bootstrapMembers, parseInitialCluster, encodeMember, memberMetaName, type MemberInfo } from './membership';

export const identityMeta = 'identity';

export interface Identity { memberId: string; clusterId: string }

/**
 * The member's identity: computed from --initial-cluster on first start and
 * then read back, so flags changed later do not change who a member is.
 */
export async function loadIdentity(store: MvccStore, config: ServerConfig): Promise<{ identity: Identity; members: MemberInfo[]; fresh: boolean }> {
  const initial = parseInitialCluster(config.initialCluster);
  const { members, clusterId } = bootstrapMembers(initial, config.initialClusterToken);
  const raw = await store.getMeta(identityMeta);
  if (raw !== undefined) {
    try {
      return { identity: JSON.parse(raw.toString('utf8')) as Identity, members, fresh: false };
    } catch {
      throw new Error(`data dir ${config.dataDir} is corrupt: member identity record is unreadable`);
    }
  }
  const self = members.find((m) => m.name === config.name);
  if (self === undefined) throw new Error(`couldn't find local name "${config.name}" in the initial cluster configuration`);
  const sameUrls = [...self.peerUrls].sort().join(',') === [...config.initialAdvertisePeerUrls].sort().join(',');
  if (!sameUrls) {
    throw new Error(`--initial-cluster has ${config.name}=${self.peerUrls.join(',')} but missing from --initial-advertise-peer-urls=${config.initialAdvertisePeerUrls.join(',')}`);
  }
  // A joining member (state existing) should learn the cluster ID from its peers; until membership changes land it derives it the same way.
  const identity: Identity = { memberId: idToHex(self.id), clusterId: idToHex(config.initialClusterState === 'existing' && config.existingClusterId !== undefined ? config.existingClusterId : clusterId) };
  const meta: Array<[string, Buffer | undefined]> = [[identityMeta, Buffer.from(JSON.stringify(identity))]];
  for (const m of members) meta.push([memberMetaName(m.id), encodeMember(m)]);
  await store.commit(meta);
  return { identity, members, fresh: true };
}

