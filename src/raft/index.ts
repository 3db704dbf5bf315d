// keel's consensus core: a pure Raft state machine. See raw-node.ts for the
// Ready loop and DESIGN.md for how the server drives it.
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
