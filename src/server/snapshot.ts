// Whole-store snapshots: what Maintenance.Snapshot streams, and what
// `keelctl snapshot restore|status` read (etcdctl's restore is a server-side
// tool too: it writes a data dir that a new cluster then starts from).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { dumpBackend, inspectSnapshot, restoreBackend, openLevelBackend, memoryBackend, type Backend } from '../storage';
import { MvccStore } from '../mvcc';
import { memberMetaPrefix } from './membership';
import { etcdSnapshotStatus, restoreEtcdSnapshot, writeEtcdSnapshot, type EtcdSnapshotOptions } from './etcd-snapshot';

/** Meta of the member that took the snapshot: a restored data dir starts a new cluster without it. */
const memberOwnMeta = ['identity', 'consistent_index'];

/** bbolt's meta page magic (little-endian at byte 16 of page 0): etcd's snapshot files start with it. */
const bboltMagic = 0xed0cdaed;

/** Whether `file` is etcd's snapshot format (a bbolt db), not keel's older snapshot file. */
export function isEtcdSnapshotFile(file: string): boolean {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, head, 0, 20, 0) < 20) return false;
  } finally {
    fs.closeSync(fd);
  }
  return head.readUInt32LE(16) === bboltMagic;
}

/**
 * The Maintenance.Snapshot stream's content: etcd's snapshot file (a bbolt db
 * with etcd's buckets and a trailing sha256) written to a temp file first, so
 * the stream can announce how many bytes remain (as etcd's does) with bounded
 * memory; the file is removed when the returned reader ends or fails.
 */
export async function spoolEtcdSnapshot(backend: Backend, options: EtcdSnapshotOptions): Promise<{ size: number; chunks: AsyncGenerator<Buffer> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-snapshot-'));
  const file = path.join(dir, 'snapshot.db');
  try {
    await writeEtcdSnapshot(backend, file, options);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { size: fs.statSync(file).size, chunks: readThenRemove(file, dir) };
}

async function* readThenRemove(file: string, dir: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 64 * 1024 })) yield chunk as Buffer;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * keel's own dump format (the leader sends it to a lagging follower inside raft's MsgSnap):
 * dumps the backend into a temp file first, so the stream can announce how
 * many bytes remain (as etcd's does) with bounded memory; the file is removed
 * when the returned reader ends or fails.
 */
export async function spoolSnapshot(backend: Backend): Promise<{ size: number; chunks: AsyncGenerator<Buffer> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-snapshot-'));
  const file = path.join(dir, 'snapshot.keel');
  const out = fs.createWriteStream(file);
  try {
    for await (const chunk of dumpBackend(backend)) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  } catch (e) {
    out.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { size: fs.statSync(file).size, chunks: readThenRemove(file, dir) };
}

export interface SnapshotStatus { hash: number; revision: number; totalKeys: number; totalSize: number }

/** etcdctl snapshot status: etcd's hash, revision, keys and size for etcd's format; keel's older files too. */
export async function snapshotStatus(file: string): Promise<SnapshotStatus> {
  if (isEtcdSnapshotFile(file)) {
    const s = etcdSnapshotStatus(file);
    return { hash: s.hash, revision: s.revision, totalKeys: s.totalKey, totalSize: s.totalSize };
  }
  const summary = await inspectSnapshot(fs.createReadStream(file));
  let hash = 0;
  for await (const chunk of fs.createReadStream(file)) hash = zlib.crc32(chunk as Buffer, hash);
  const backend = memoryBackend();
  await restoreBackend(backend, fs.createReadStream(file));
  const store = await MvccStore.open(backend, { leaseExists: () => true });
  const revision = store.currentRevision();
  await store.close();
  return { hash: hash >>> 0, revision, totalKeys: summary.keys, totalSize: fs.statSync(file).size };
}

/**
 * Writes `<dataDir>/member/db` from a snapshot file, keeping keys, values,
 * revisions, leases and alarms, and dropping the old member's identity,
 * applied index and membership: the member started on it bootstraps a new
 * cluster from its flags.
 */
export async function restoreSnapshot(file: string, dataDir: string, options: { skipHashCheck?: boolean } = {}): Promise<{ keys: number; revision: number }> {
  if (fs.existsSync(dataDir)) throw new Error(`data-dir "${dataDir}" exists`);
  if (isEtcdSnapshotFile(file)) {
    const r = await restoreEtcdSnapshot(file, dataDir, options);
    return { keys: r.revisions, revision: r.revision };
  }
  const dbDir = path.join(dataDir, 'member', 'db');
  fs.mkdirSync(path.dirname(dbDir), { recursive: true, mode: 0o700 });
  try {
    const backend = await openLevelBackend(dbDir);
    let keys: number;
    try {
      keys = (await restoreBackend(backend, fs.createReadStream(file))).keys;
    } catch (e) {
      await backend.close();
      throw e;
    }
    const store = await MvccStore.open(backend, { leaseExists: () => true });
    const drop: Array<[string, Buffer | undefined]> = memberOwnMeta.map((n) => [n, undefined]);
    for (const [name] of await store.metaEntries(memberMetaPrefix)) drop.push([name, undefined]);
    await store.commit(drop);
    const revision = store.currentRevision();
    await store.close();
    return { keys, revision };
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}
