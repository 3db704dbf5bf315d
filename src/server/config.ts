import { limits } from '../util';
import type { AutoCompactionConfig } from './compactor';

export interface ServerConfig {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialClusterToken: string;
  maxRequestBytes: number;
  maxTxnOps: number;
  quotaBackendBytes: number;
  listenPeerUrls: string[];
  /** etcd's --initial-cluster: name=peerURL,... */
  initialCluster: string;
  initialClusterState: 'new' | 'existing';
  heartbeatMs: number;
  electionTimeoutMs: number;
  preVote: boolean;
  snapshotCount: number;
  /** etcd's --experimental-snapshot-catchup-entries: entries kept after a compaction for slow followers. */
  snapshotCatchupEntries: number;
  /** For --initial-cluster-state existing: the cluster ID learned from a peer. */
  existingClusterId: bigint | undefined;
  /** etcd's --auto-compaction-mode and --auto-compaction-retention (parsed). */
  autoCompaction: AutoCompactionConfig;
  /** etcd's --experimental-max-learners. */
  maxLearners: number;
  /** etcd's --backend-batch-interval: longest time applied changes wait in memory before the store's backend write. */
  backendBatchIntervalMs: number;
  /** etcd's --backend-batch-limit: applied entries that start the backend write at once. */
  backendBatchLimit: number;
}

export function defaultConfig(): ServerConfig {
  return {
    name: 'default',
    dataDir: 'default.keel',
    listenClientUrls: ['http://localhost:2379'],
    advertiseClientUrls: ['http://localhost:2379'],
    initialAdvertisePeerUrls: ['http://localhost:2380'],
    initialClusterToken: 'etcd-cluster',
    maxRequestBytes: limits.requestBytesDefault,
    maxTxnOps: limits.txnOpsDefault,
    quotaBackendBytes: limits.quotaBackendBytesDefault,
    listenPeerUrls: ['http://localhost:2380'],
    initialCluster: 'default=http://localhost:2380',
    initialClusterState: 'new',
    heartbeatMs: 100,
    electionTimeoutMs: 1000,
    preVote: true,
    snapshotCount: 100_000,
    snapshotCatchupEntries: 5000,
    existingClusterId: undefined,
    maxLearners: 1,
    autoCompaction: { mode: 'periodic', retention: 0 },
    backendBatchIntervalMs: limits.backendBatchIntervalMsDefault,
    backendBatchLimit: limits.backendBatchLimitDefault,
  };
}
