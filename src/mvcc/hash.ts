// Hashes of the stored history, for comparing members. hashKv is etcd 3.5's
// HashKV, computed over keel's backend as if it were etcd's bbolt "key"
// bucket: crc32 (Castagnoli) of the bucket name "key", then, in revision
// order, every revision key and mvccpb.KeyValue value (etcd's encodings)
// with main revision <= the hash revision; at or below the compact revision
// only those still in the key index's keep set at the hash revision count
// (all of them when that set is empty, as etcd does). Equal histories give
// etcd's hash, so `etcdctl endpoint hashkv` agrees between keel and etcd.
import * as zlib from 'node:zlib';
import type { Backend } from '../storage';
import { assert, limits } from '../util';
import { decodeRecord, revisionKey } from './codec';
import { storeEntryToEtcd as etcdEntry } from './etcd-format';

const castagnoliPolynomial = 0x82f63b78;
/** Slicing-by-8 tables: table k maps a byte k positions back. */
const crcTables: Uint32Array[] = makeTables();

function makeTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0] as Uint32Array;
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ castagnoliPolynomial : c >>> 1;
    t0[i] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1] as Uint32Array;
    const cur = tables[k] as Uint32Array;
    for (let i = 0; i < 256; i++) cur[i] = ((prev[i] as number) >>> 8) ^ (t0[(prev[i] as number) & 0xff] as number);
  }
  return tables;
}

/** crc32 with the Castagnoli polynomial (Go's crc32.MakeTable(crc32.Castagnoli)); chains like zlib.crc32(data, previous). */
export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~previous >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (data[i] as number) ^ ((data[i + 1] as number) << 8) ^ ((data[i + 2] as number) << 16) ^ ((data[i + 3] as number) << 24)) >>> 0;
    c = (t7[lo & 0xff] as number) ^ (t6[(lo >>> 8) & 0xff] as number) ^ (t5[(lo >>> 16) & 0xff] as number) ^ (t4[lo >>> 24] as number)
      ^ (t3[data[i + 4] as number] as number) ^ (t2[data[i + 5] as number] as number) ^ (t1[data[i + 6] as number] as number) ^ (t0[data[i + 7] as number] as number);
  }
  for (; i < n; i++) c = (t0[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

const keyBucketName = Buffer.from('key');

function revisions(backend: Backend, fromMain: number, toMain: number): AsyncIterable<[Buffer, Buffer]> {
  return backend.iterate({ gte: revisionKey(Math.max(fromMain, 0), 0, false), lt: revisionKey(toMain + 1, 0, false) });
}

/**
 * etcd's HashKV at `revision` with the store compacted at `compactRevision`
 * (0 or -1: never). At or below the compact revision the backend must hold
 * only what compaction keeps (the newest live revision of each key), which is
 * so once the store's compaction has settled.
 */
export async function hashKv(backend: Backend, compactRevision: number, revision: number): Promise<number> {
  assert(compactRevision <= revision, 'hashed revision is not compacted');
  let crc = crc32c(keyBucketName);
  if (compactRevision > 0) {
    // Keys changed after the compact revision: their compacted revision is no longer in etcd's keep set.
    const touched = new Map<string, boolean>();
    for await (const [k, v] of revisions(backend, compactRevision + 1, revision)) {
      const e = etcdEntry(k, v);
      touched.set(e.mvccKey.toString('latin1'), !e.revision.tombstone);
      assert(touched.size <= limits.hashKvKeysMax, 'keys hashed within limit');
    }
    const keepEmpty = ![...touched.values()].some((live) => live) && !(await anyUntouched(backend, compactRevision, touched));
    for await (const [k, v] of revisions(backend, 0, compactRevision)) {
      const e = etcdEntry(k, v);
      if (!keepEmpty && touched.has(e.mvccKey.toString('latin1'))) continue;
      crc = crc32c(e.value, crc32c(e.key, crc));
    }
  }
  for await (const [k, v] of revisions(backend, compactRevision + 1, revision)) {
    const e = etcdEntry(k, v);
    crc = crc32c(e.value, crc32c(e.key, crc));
  }
  return crc;
}

/** Whether some revision kept at or below the compact revision belongs to a key not changed since. */
async function anyUntouched(backend: Backend, compactRevision: number, touched: Map<string, boolean>): Promise<boolean> {
  for await (const [, v] of revisions(backend, 0, compactRevision)) {
    if (!touched.has(decodeRecord(v).key.toString('latin1'))) return true;
  }
  return false;
}

/** crc32 over the whole backend (Maintenance.Hash; keel's own value, etcd hashes its db file). */
export async function hashAll(backend: Backend): Promise<number> {
  let crc = 0;
  for await (const [k, v] of backend.iterate({})) {
    crc = zlib.crc32(k, crc);
    crc = zlib.crc32(v, crc);
  }
  return crc >>> 0;
}

/**
 * The hash etcd 3.5 takes while it compacts at `compactRevision` and keeps
 * (its last ten) to answer HashKV at exactly that revision, with
 * compact_revision = `previousCompactRevision`, even after later
 * compactions: HashKV over (previous, compact] of the backend as it is
 * before this compaction deletes anything (the previous one settled).
 */
export function compactionHash(backend: Backend, previousCompactRevision: number, compactRevision: number): Promise<number> {
  return hashKv(backend, previousCompactRevision, compactRevision);
}
