// First start after the upgrade: the member's LevelDB raft log
// (storage/'s DurableRaftStorage) becomes a WAL, keeping hard state, snapshot
// (metadata and data), log start and entries. Crash-safe by construction:
//   1. the WAL is written and synced in <walDir>.migrating (a leftover one
//      from a crash is deleted first, so an interrupted migration restarts);
//   2. when levelDir and walDir are the same path, the LevelDB dir is first
//      renamed to <dir>.level-old;
//   3. <walDir>.migrating is renamed to walDir and the parent dir synced;
//   4. only then is the LevelDB log deleted.
// A start that finds a WAL in walDir finishes step 4 (and 3, for a crash
// between the two renames of the same-path case) and does nothing else.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DurableRaftStorage } from '../storage';
import { fsyncDir } from './files';
import { listSegments } from './read';
import { WalStorage, type WalOptions } from './wal-storage';

export interface MigrationResult {
  /** True when this call copied a LevelDB raft log into the WAL. */
  readonly migrated: boolean;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
}

const nothing: MigrationResult = { migrated: false, firstIndex: 0, lastIndex: 0, snapshotIndex: 0 };

function exists(p: string): boolean {
  return fs.existsSync(p);
}

/** A LevelDB directory (what DurableRaftStorage writes) rather than a WAL. */
export function isLevelRaftLog(dir: string): boolean {
  return exists(path.join(dir, 'CURRENT'));
}

function isWal(dir: string): boolean {
  return exists(dir) && listSegments(dir).length > 0;
}

function rmDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fsyncDir(path.dirname(dir));
}

/** Migrates levelDir's raft log into a WAL at walDir (they may be the same path); see the file comment. */
export async function migrateFromLevelRaftLog(levelDir: string, walDir: string, options: WalOptions = {}): Promise<MigrationResult> {
  const same = path.resolve(levelDir) === path.resolve(walDir);
  const tmp = `${walDir}.migrating`;
  const old = same ? `${walDir}.level-old` : levelDir;
  if (same && !exists(walDir) && exists(old) && isWal(tmp)) {
    // A crash between the two renames: the WAL in tmp is complete (it was synced before the first rename).
    fs.renameSync(tmp, walDir);
    fsyncDir(path.dirname(walDir));
  }
  if (isWal(walDir)) {
    if (exists(old) && (same || isLevelRaftLog(old))) rmDir(old);
    if (exists(tmp)) rmDir(tmp);
    return nothing;
  }
  if (!exists(levelDir) || !isLevelRaftLog(levelDir)) return nothing;
  if (exists(tmp)) rmDir(tmp);
  const result = await copyToWal(levelDir, tmp, options);
  if (same) fs.renameSync(levelDir, old);
  fs.renameSync(tmp, walDir);
  fsyncDir(path.dirname(walDir));
  rmDir(old);
  return result;
}

async function copyToWal(levelDir: string, tmp: string, options: WalOptions): Promise<MigrationResult> {
  const src = await DurableRaftStorage.open(levelDir);
  try {
    const snap = src.snapshot();
    const result: MigrationResult = { migrated: true, firstIndex: src.firstIndex(), lastIndex: src.lastIndex(), snapshotIndex: snap.metadata.index };
    const wal = await WalStorage.open(tmp, snap.metadata.confState, options);
    try {
      if (!src.isNew()) await wal.importLog(src);
    } finally {
      await wal.close();
    }
    fsyncDir(tmp);
    return result;
  } finally {
    await src.close();
  }
}
