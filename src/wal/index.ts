// The raft WAL: WalStorage (a drop-in for storage/'s DurableRaftStorage),
// offline inspection and repair for keelutl, and the one-time migration of a
// LevelDB raft log.
//
//   const log = await WalStorage.open(dir, bootstrapConfState?, { segmentBytes?, entryCacheBytesMax? });
//     — throws WalCorruptError (message: file, byte offset, reason) on mid-file damage,
//       WalLockedError when another process (or this one) has dir open; cuts a torn
//       tail by itself and says so in log.openReport.tornTail.
//   inspectWal(dir): WalSummary — segments (file, bytes, used bytes, frames, seqs), record
//       counts by kind, firstIndex/lastIndex, lowest/highest entry term, hard state,
//       snapshot metadata, tornTail and corruption ({ file, offset, reason } or null).
//       Read-only; safe on a WAL in use.
//   repairWal(dir, { truncateAtCorruption? }): RepairResult — cuts a torn tail; mid-file
//       corruption throws WalRepairRefused unless truncateAtCorruption (then everything
//       from the bad frame on is dropped). Takes the lock: the member must be stopped.
//   await migrateFromLevelRaftLog(levelDir, walDir) — before WalStorage.open at start:
//       copies a DurableRaftStorage dir into a WAL (same path allowed), crash-safe, and a
//       no-op when walDir already holds a WAL.
export { WalStorage, WalCorruptError, type WalOptions, type WalOpenReport } from './wal-storage';
export { WalLockedError } from './lock';
export { crc32cImplementation } from './crc32c';
export { inspectWal, repairWal, WalRepairRefused, type WalSummary, type WalSegmentSummary, type RepairOptions, type RepairResult } from './inspect';
export { migrateFromLevelRaftLog, isLevelRaftLog, type MigrationResult } from './migrate';
// For unit tests of the parts (test/ imports a src folder only through its index.ts).
export { crc32c, crc32cTable } from './crc32c';
