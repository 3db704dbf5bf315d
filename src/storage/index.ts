export type { Backend, BatchOp, IterateRange } from './backend';
export { memoryBackend } from './memory-backend';
export { openLevelBackend } from './level-backend';
export { SortedStringMap } from './sorted-map';
export { DurableRaftStorage } from './raft-storage';
export { dumpBackend, inspectSnapshot, restoreBackend, SnapshotFileError, type SnapshotSummary } from './snapshot-file';
export * from './bbolt';
