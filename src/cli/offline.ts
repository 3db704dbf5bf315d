// Offline work on snapshot files and data dirs (etcdctl 3.4's snapshot
// status|restore and defrag --data-dir, etcdutl's commands). It needs the
// storage layers, which src/cli may not import: cmd/ passes an implementation
// in. The snapshot file format lives behind snapshotStatus/snapshotRestore
// alone, so it can change (keel's own today, etcd's bbolt file later)
// without the commands noticing.
import type { DbHashKV, DbStatus } from './printers';

export type OfflineErrorKind =
  /** The file is not an intact snapshot of the format the implementation reads. */
  | 'invalid-snapshot'
  /** A running member holds the data dir's lock. */
  | 'in-use'
  /** The data dir has no backend. */
  | 'missing'
  | 'compacted'
  | 'future-revision';

/** A failure the commands turn into etcd's message; anything else is printed as it is. */
export class OfflineError extends Error {
  override name = 'OfflineError';
  constructor(readonly kind: OfflineErrorKind, message: string) {
    super(message);
  }
}

export interface DefragResult {
  /** The backend's path (for etcd's log lines). */
  path: string;
  sizeBeforeBytes: number;
  sizeAfterBytes: number;
}

export interface RestoreResult {
  keys: number;
  revision: number;
  /** The last finished compaction in the restored store, 0 if none. */
  compactRevision: number;
}

export interface BootstrapMember {
  name: string;
  peerUrls: readonly string[];
}

export interface BootstrapIds {
  clusterId: bigint;
  /** In the order of the members given. */
  memberIds: bigint[];
}

export interface OfflineTools {
  /** Hash, revision, keys and size of a snapshot file. */
  snapshotStatus(file: string): Promise<DbStatus>;
  /** Writes a data dir (absent or empty) that a new member starts from. */
  snapshotRestore(file: string, dataDir: string): Promise<RestoreResult>;
  /** The member and cluster IDs etcd derives from --initial-cluster and its token. */
  bootstrapIds(members: readonly BootstrapMember[], clusterToken: string): Promise<BootstrapIds>;
  /** Rewrites a stopped member's backend to drop deleted data. */
  defragment(dataDir: string): Promise<DefragResult>;
  /** HashKV of a stopped member's backend at `revision` (0: the current one). */
  hashKv(dataDir: string, revision: number): Promise<DbHashKV>;
}
