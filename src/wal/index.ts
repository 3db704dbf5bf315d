// The raft WAL: WalStorage (a drop-in for storage/'s DurableRaftStorage),
// offline inspection and repair for keelutl, and the one-time migration of a
// LevelDB raft log.
export { WalStorage, WalCorruptError, type WalOptions, type WalOpenReport } from './wal-storage';
export { WalLockedError } from './lock';
export { crc32cImplementation } from './crc32c';
export { inspectWal, repairWal, WalRepairRefused, type WalSummary, type WalSegmentSummary, type RepairOptions, type RepairResult } from './inspect';
export { migrateFromLevelRaftLog, isLevelRaftLog, type MigrationResult } from './migrate';
