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

/** Meta of the member that took the snapshot: a restored data dir starts a new cluster without it. */
const memberOwnMeta = ['identity', 'consistent_index'];

/**
 * Dumps the backend into a temp file first, so the stream can announce how
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
  const size = fs.statSync(file).size;
  async function* read(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of fs.createReadStream(file, { highWaterMark: 64 * 1024 })) yield chunk as Buffer;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return { size, chunks: read() };
}

export interface SnapshotStatus { hash: number; revision: number; totalKeys: number; totalSize: number }

/** etcdctl snapshot status: a crc32 of the file, the store's revision, keys and size. */
export async function snapshotStatus(file: string): Promise<SnapshotStatus> {
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
export async function restoreSnapshot(file: string, dataDir: string): Promise<{ keys: number; revision: number }> {
  if (fs.existsSync(dataDir)) throw new Error(`data-dir "${dataDir}" exists`);
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
