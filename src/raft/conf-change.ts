// Membership changes, one at a time (Raft thesis §4.1, "single-server
// changes"). A change adds or removes one voter, or adds/removes/promotes/
// demotes one learner, so the majorities of the configurations before and
// after always overlap. A configuration takes effect on a member as soon as the
// entry is in its log (not when committed), which is what makes single-server
// changes safe; the leader allows at most one uncommitted change and none
// before it has committed an entry of its own term.
import { assert, limits } from '../util';
import type { ConfState } from './types';

/**
 * - addNode: add a voter, or promote a learner to voter.
 * - addLearnerNode: add a learner, or demote a voter to learner.
 * - removeNode: remove a voter or learner.
 */
export type ConfChangeType = 'addNode' | 'addLearnerNode' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: bigint;
  /** Opaque to raft (etcd puts the member's URLs here). */
  readonly context: Uint8Array;
}

const typeCodes: readonly ConfChangeType[] = ['addNode', 'addLearnerNode', 'removeNode'];
const headerBytes = 9;

/** Encodes a change as the data of a 'confChange' entry: type byte, 8-byte big-endian ID, context. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  assert(cc.nodeId > 0n, 'conf change node ID must be non-zero');
  assert(cc.nodeId < 1n << 64n, 'conf change node ID must fit in 64 bits');
  const out = new Uint8Array(headerBytes + cc.context.byteLength);
  out[0] = typeCodes.indexOf(cc.type);
  new DataView(out.buffer).setBigUint64(1, cc.nodeId);
  out.set(cc.context, headerBytes);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  assert(data.byteLength >= headerBytes, 'conf change entry too short');
  const type = typeCodes[data[0] as number];
  assert(type !== undefined, 'unknown conf change type');
  const nodeId = new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(1);
  return { type, nodeId, context: data.slice(headerBytes) };
}

export function confStateEqual(a: ConfState, b: ConfState): boolean {
  return idsEqual(a.voters, b.voters) && idsEqual(a.learners, b.learners);
}

function idsEqual(a: readonly bigint[], b: readonly bigint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sortedIds(ids: Iterable<bigint>): bigint[] {
  return [...new Set(ids)].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

/** Builds a normalized ConfState (sorted, deduplicated); asserts voters and learners are disjoint. */
export function makeConfState(voters: Iterable<bigint>, learners: Iterable<bigint> = []): ConfState {
  const v = sortedIds(voters);
  const l = sortedIds(learners);
  for (const id of l) assert(!v.includes(id), 'a member cannot be both voter and learner');
  for (const id of [...v, ...l]) {
    assert(id > 0n, 'member IDs are non-zero');
    assert(id < 1n << 64n, 'member IDs fit in 64 bits');
  }
  assert(v.length + l.length <= limits.raftMembersMax, 'too many members');
  return { voters: v, learners: l };
}

/** Why the change cannot be made to cs, or null if it can. */
export function confChangeRefusal(cs: ConfState, cc: ConfChange): string | null {
  if (cc.nodeId <= 0n || cc.nodeId >= 1n << 64n) return 'node ID must be a non-zero uint64';
  const isVoter = cs.voters.includes(cc.nodeId);
  const isLearner = cs.learners.includes(cc.nodeId);
  switch (cc.type) {
    case 'addNode':
      if (isVoter) return 'node is already a voter';
      if (!isLearner && cs.voters.length + cs.learners.length >= limits.raftMembersMax) return 'too many members';
      return null;
    case 'addLearnerNode':
      if (isLearner) return 'node is already a learner';
      if (isVoter && cs.voters.length === 1) return 'cannot demote the last voter';
      if (!isVoter && cs.voters.length + cs.learners.length >= limits.raftMembersMax) return 'too many members';
      return null;
    case 'removeNode':
      if (!isVoter && !isLearner) return 'node is not a member';
      if (isVoter && cs.voters.length === 1) return 'cannot remove the last voter';
      return null;
  }
}

/**
 * The configuration after cc. Pure and deterministic: every member computes
 * the same result at the same log position. A change that is refused (see
 * confChangeRefusal) leaves the configuration unchanged.
 */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  if (confChangeRefusal(cs, cc) !== null) return cs;
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  if (cc.type === 'addNode') voters.push(cc.nodeId);
  if (cc.type === 'addLearnerNode') learners.push(cc.nodeId);
  return makeConfState(voters, learners);
}

/** How many voters differ between a and b (a single-server change differs by at most one). */
export function votersDifference(a: ConfState, b: ConfState): number {
  let n = 0;
  for (const id of a.voters) if (!b.voters.includes(id)) n++;
  for (const id of b.voters) if (!a.voters.includes(id)) n++;
  return n;
}
