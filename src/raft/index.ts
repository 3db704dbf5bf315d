// keel's consensus core: a pure Raft state machine (no I/O, no timers, no
// Promise, no Math.random, no Date). The server drives one RawNode:
//
//   const rn = new RawNode({ id, peers (new cluster only), electionTicks, heartbeatTicks,
//                            storage, random, ...options });
//   every tick:  rn.tick()
//   a message:   rn.step(m)                  → RaftError | null
//   a write:     rn.propose(data) / proposeBatch([...]) / proposeConfChange(cc) → RaftError | null
//   a read:      rn.readIndex()              → request ctx (Uint8Array) | RaftError
//   then, while (rn.hasReady()):
//     const rd = rn.ready();
//     1. persist rd.snapshot, rd.entries, rd.hardState — one synced write if rd.mustSync;
//     2. send rd.messages (report MsgSnap outcomes with reportSnapshot, dead peers with reportUnreachable);
//     3. apply rd.snapshot, then rd.committedEntries (conf changes: decodeConfChange + applyConfChange
//        on the application's own ConfState, which it stores with its snapshots);
//     4. answer each rd.readStates[i] once applied ≥ its index;
//     5. rn.advance().
//   compaction: storage.createSnapshot(applied, confState, data), then storage.compact(index) —
//   raft notices through Storage.firstIndex() and sends snapshots to followers that need them.
//
// Errors: refusals are returned as RaftError values, never thrown —
//   'ProposalDropped' (no leader, forwarding disabled, transfer in progress, a conf change
//   still uncommitted or before the leader committed in its term, invalid change, too many
//   uncommitted bytes), 'ReadIndexDropped' (no leader, too many pending), 'StepLocalMsg',
//   'StepPeerNotFound', 'StepInvalidMsg'. An accepted proposal may still be lost (leader
//   change): the server times out and retries. RaftError('ConfigInvalid') is thrown by the
//   RawNode constructor. Storage signals missing data by throwing StorageError. Broken
//   invariants throw util's AssertionError: crash the member.
//
// Membership: one change at a time (addNode, addLearnerNode, removeNode; addNode on a learner
// promotes it). A configuration is in force in raft as soon as its entry is in the log.
export { RawNode, type RaftStatus, type ProgressStatus, type SnapshotStatus } from './raw-node';
export { validateConfig, type RaftConfig, type ReadOnlyOption, type RaftTestMutation } from './config';
export { MemoryStorage, type Storage, type InitialState } from './storage';
export { RaftError, StorageError, isRaftError, isStorageError, type RaftErrorKind, type StorageErrorKind } from './errors';
export {
  applyConfChange, confChangeRefusal, confStateEqual, decodeConfChange, encodeConfChange, makeConfState,
  type ConfChange, type ConfChangeType,
} from './conf-change';
export {
  None, message, entryBytes, isEmptyHardState, hardStateEqual, emptyHardState,
  type ConfState, type Entry, type EntryType, type HardState, type Message, type MessageType, type ReadState,
  type Ready, type Snapshot, type SnapshotMetadata, type SoftState, type StateType,
} from './types';
export type { ProgressState } from './progress';
export type { Random } from '../util';
// For unit tests of the parts (test/ imports a src folder only through its index.ts).
export { Raft } from './raft';
export { Inflights, Progress } from './progress';
export { Deque, LeaderReads } from './read-only';
export { transferContext } from './types';
