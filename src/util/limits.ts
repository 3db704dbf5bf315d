// Every bound keel enforces, in one place. Names end in their unit.

/** etcd's --max-request-bytes default: 1.5 MiB. */
export const requestBytesDefault = 1.5 * 1024 * 1024;
/** gRPC accepts this much above max-request-bytes so etcd's own error can answer (etcd: grpcOverheadBytes). */
export const grpcOverheadBytes = 512 * 1024;
/** etcd's --max-txn-ops default. */
export const txnOpsDefault = 128;
/** etcd's --quota-backend-bytes default: 2 GiB. */
export const quotaBackendBytesDefault = 2 * 1024 * 1024 * 1024;
/** etcd's hard ceiling for --quota-backend-bytes: 8 GiB. */
export const quotaBackendBytesMax = 8 * 1024 * 1024 * 1024;
/** etcd's MaxLeaseTTL. */
export const leaseTtlSecondsMax = 9_000_000_000;
/** Nesting depth of txn-in-txn accepted before the request is refused as malformed. */
export const txnDepthMax = 64;
/** Write requests applied together in one LevelDB batch (one fsync). */
export const applyBatchRequestsMax = 1024;
/** Write requests waiting for the apply loop; beyond this, new writes are refused as "too many requests". */
export const applyQueueRequestsMax = 10_000;
/** Keys fetched from LevelDB per getMany call when reading history. */
export const historyReadChunkKeysMax = 1024;
/** Bytes of a LevelDB write batch before it is split. */
export const backendBatchBytesMax = 64 * 1024 * 1024;
/** Revisions deleted from the backend per compaction batch (etcd's --experimental-compaction-batch-limit default). */
export const compactionBatchKeysMax = 1000;
/** onEvents listeners on one MVCC store (the watchable store, the lessor, tests). */
export const mvccEventListenersMax = 16;
