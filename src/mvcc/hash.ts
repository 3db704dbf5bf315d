// Hashes of the stored history, for comparing members (Maintenance.Hash and
// HashKV). Equal stores give equal hashes; the values are keel's own, not
// comparable with etcd's (etcd hashes its bbolt buckets).
import * as zlib from 'node:zlib';
import type { Backend } from '../storage';
import { revisionKey } from './codec';

/** crc32 over every revision key and record in [compactRevision, revision] (etcd's HashKV range). */
export async function hashKv(backend: Backend, compactRevision: number, revision: number): Promise<number> {
  let crc = 0;
  const from = Math.max(compactRevision, 0);
  for await (const [k, v] of backend.iterate({ gte: revisionKey(from, 0, false), lt: revisionKey(revision + 1, 0, false) })) {
    crc = zlib.crc32(k, crc);
    crc = zlib.crc32(v, crc);
  }
  return crc >>> 0;
}

/** crc32 over the whole backend (etcd's Hash: the entire database). */
export async function hashAll(backend: Backend): Promise<number> {
  let crc = 0;
  for await (const [k, v] of backend.iterate({})) {
    crc = zlib.crc32(k, crc);
    crc = zlib.crc32(v, crc);
  }
  return crc >>> 0;
}
