// The storage work behind keelctl's and keelutl's offline commands: snapshot
// files through src/server's snapshotStatus/restoreSnapshot pair (the one
// place that knows the file format), a stopped member's backend through
// src/storage and src/mvcc. A member's data dir is <data-dir>/member/db
// (LevelDB) and <data-dir>/member/wal (the raft log), as src/server lays it out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OfflineError, type BootstrapIds, type BootstrapMember, type DbHashKV, type DbStatus, type DefragResult, type OfflineTools, type RestoreResult } from '../src/cli';
import { clusterIdOf, memberIdOf, restoreSnapshot, snapshotStatus } from '../src/server';
import { openLevelBackend, SnapshotFileError, type Backend } from '../src/storage';
import { MvccStore, hashKv } from '../src/mvcc';

function backendDir(dataDir: string): string {
  return path.join(dataDir, 'member', 'db');
}

function isLocked(e: unknown): boolean {
  let cur: unknown = e;
  for (let depth = 0; depth < 8 && cur instanceof Error; depth++) {
    if ((cur as NodeJS.ErrnoException).code === 'LEVEL_LOCKED') return true;
    cur = cur.cause;
  }
  return false;
}

/** Opens a stopped member's backend; never creates one (LevelDB would, in an empty or absent dir). */
async function openExisting(dataDir: string): Promise<{ dir: string; backend: Backend }> {
  const dir = backendDir(dataDir);
  if (!fs.existsSync(dir)) throw new OfflineError('missing', `open ${dir}: no such file or directory`);
  if (!fs.existsSync(path.join(dir, 'CURRENT'))) throw new OfflineError('missing', `${dir} is not a keel backend (no LevelDB CURRENT file)`);
  try {
    return { dir, backend: await openLevelBackend(dir) };
  } catch (e) {
    if (isLocked(e)) {
      throw new OfflineError('in-use', `${dir} is in use: a running member holds its lock; stop the member first (or, online, use keelctl defrag / endpoint hashkv without --data-dir)`);
    }
    throw e;
  }
}

async function status(file: string): Promise<DbStatus> {
  try {
    const s = await snapshotStatus(file);
    return { hash: s.hash, revision: s.revision, totalKey: s.totalKeys, totalSize: s.totalSize };
  } catch (e) {
    if (e instanceof SnapshotFileError) throw new OfflineError('invalid-snapshot', e.message);
    throw e;
  }
}

/** restoreSnapshot writes a fresh dir; an empty one (etcdutl 3.5 accepts it) is filled through a staging dir inside it. */
async function restoreInto(file: string, dataDir: string): Promise<{ keys: number; revision: number }> {
  if (!fs.existsSync(dataDir)) return restoreSnapshot(file, dataDir);
  const staging = path.join(dataDir, `.keel-restore-${process.pid}`);
  const result = await restoreSnapshot(file, staging);
  fs.renameSync(path.join(staging, 'member'), path.join(dataDir, 'member'));
  fs.rmSync(staging, { recursive: true, force: true });
  return result;
}

async function restore(file: string, dataDir: string): Promise<RestoreResult> {
  const result = await restoreInto(file, dataDir);
  // The restored store's compaction, which etcdctl 3.4 logs: read back from what was written.
  const { backend } = await openExisting(dataDir);
  const store = await MvccStore.open(backend, { leaseExists: () => true });
  const compactRevision = store.compactRevision();
  await store.close();
  return { ...result, compactRevision };
}

function bootstrapIds(members: readonly BootstrapMember[], token: string): Promise<BootstrapIds> {
  const memberIds = members.map((m) => memberIdOf([...m.peerUrls], token));
  return Promise.resolve({ clusterId: clusterIdOf(memberIds), memberIds });
}

async function defragment(dataDir: string): Promise<DefragResult> {
  const { dir, backend } = await openExisting(dataDir);
  try {
    const sizeBeforeBytes = await backend.sizeBytes();
    await backend.defragment();
    return { path: dir, sizeBeforeBytes, sizeAfterBytes: await backend.sizeBytes() };
  } finally {
    await backend.close();
  }
}

async function hashKvOf(dataDir: string, revision: number): Promise<DbHashKV> {
  const { backend } = await openExisting(dataDir);
  const store = await MvccStore.open(backend, { leaseExists: () => true });
  try {
    const current = store.currentRevision();
    const compactRevision = store.compactRevision();
    const rev = revision <= 0 ? current : revision;
    if (rev > current) throw new OfflineError('future-revision', 'mvcc: required revision is a future revision');
    if (rev < compactRevision) throw new OfflineError('compacted', 'mvcc: required revision has been compacted');
    // A compaction the member did not finish resumes on open: hash once it is done, as the member would.
    await store.compactionSettled();
    return { hash: await hashKv(backend, compactRevision, rev), hashRevision: rev, compactRevision };
  } finally {
    await store.close();
  }
}

export const offlineTools: OfflineTools = {
  snapshotStatus: status,
  snapshotRestore: restore,
  bootstrapIds,
  defragment,
  hashKv: hashKvOf,
};
