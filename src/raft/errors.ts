// Errors the raft core reports. Refusals of a request (a proposal, a read, a
// step) are returned as RaftError values, never thrown: the caller decides.
// Invalid configuration throws RaftError('ConfigInvalid') from the
// constructor. Storage reports missing data by throwing StorageError, which the
// core handles where it can (e.g. a compacted entry means "send a snapshot").
// A broken invariant throws util's AssertionError and must crash the member.

export type RaftErrorKind =
  /** A proposal or conf change was refused; reason says why (no leader, transfer, pending change…). */
  | 'ProposalDropped'
  /** A ReadIndex request could not be issued (no leader known, too many pending). */
  | 'ReadIndexDropped'
  /** step() was handed a message type that only the node itself may generate. */
  | 'StepLocalMsg'
  /** step() was handed a response from a member that is not in the configuration. */
  | 'StepPeerNotFound'
  /** step() was handed a malformed message (bad numbers, missing snapshot, gaps in entries). */
  | 'StepInvalidMsg'
  /** The configuration given to the constructor is unsafe or inconsistent. */
  | 'ConfigInvalid';

export class RaftError extends Error {
  override name = 'RaftError';
  constructor(readonly kind: RaftErrorKind, readonly reason: string) {
    super(`${kind}: ${reason}`);
  }
}

export function isRaftError(v: unknown, kind?: RaftErrorKind): v is RaftError {
  return v instanceof RaftError && (kind === undefined || v.kind === kind);
}

export type StorageErrorKind =
  /** The requested index is at or below the last snapshot: use the snapshot. */
  | 'Compacted'
  /** The requested index is beyond the last entry. */
  | 'Unavailable'
  /** No snapshot can be produced right now; raft retries later. */
  | 'SnapshotTemporarilyUnavailable'
  /** The snapshot being applied is older than the one already held. */
  | 'SnapshotOutOfDate';

export class StorageError extends Error {
  override name = 'StorageError';
  constructor(readonly kind: StorageErrorKind, detail?: string) {
    super(detail === undefined ? kind : `${kind}: ${detail}`);
  }
}

export function isStorageError(v: unknown, kind?: StorageErrorKind): v is StorageError {
  return v instanceof StorageError && (kind === undefined || v.kind === kind);
}
