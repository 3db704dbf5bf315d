// Shared by the etcd snapshot and HashKV tests: where etcd 3.5 is, a seeded
// workload (puts, deletes, multi-op txns, leases, compactions) run the same
// way against any etcd-compatible server, and readers of what a server holds
// (every key, every lease, HashKV at given revisions) for comparison.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { EtcdClient, must, type RpcResult } from '../helpers/client';
import { Rng } from '../helpers/random';
import { openLevelBackend } from '../../src/storage';
import { MvccStore } from '../../src/mvcc';
import { writeEtcdSnapshot, type EtcdSnapshotWritten } from '../../src/server';

const etcd35Dir = process.env['ETCD35_DIR'] ?? '/opt/etcd35/usr/bin';
export const etcd35 = { etcd: path.join(etcd35Dir, 'etcd'), etcdctl: path.join(etcd35Dir, 'etcdctl'), etcdutl: path.join(etcd35Dir, 'etcdutl') };
export const etcdctl34 = '/usr/bin/etcdctl';
export const have35 = [etcd35.etcd, etcd35.etcdctl, etcd35.etcdutl].every((f) => fs.existsSync(f));
/** node:test skip option for tests that need etcd 3.5 (not installed by .ci/run). */
export const skipUnless35: string | false = have35 ? false : `skipped: etcd 3.5 not found in ${etcd35Dir} (unpack it with shared/tools/etcd35.sh)`;
export const skipUnless34ctl: string | false = fs.existsSync(etcdctl34) ? false : `skipped: ${etcdctl34} not installed (Debian etcd-client)`;

export function run(file: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface WorkloadOptions {
  seed: number;
  /** Write operations. */
  writes: number;
  /** Distinct keys written. */
  keys: number;
  /** Compactions spread over the run (the last one is not at the end, so history follows it). */
  compactions: number;
  /** Leases granted (explicit IDs, so both servers agree). */
  leases: number;
  /** Bytes of the longest value (values are 1..valueBytesMax long; some exceed a bbolt page). */
  valueBytesMax: number;
  /** Writes in flight at once (revision order still decided by the server; keep 1 for two servers to agree). */
  concurrency?: number;
}

/** Runs the seeded workload; returns the revisions it saw (for HashKV probes). */
export async function runWorkload(client: EtcdClient, o: WorkloadOptions): Promise<number[]> {
  const rng = new Rng(o.seed);
  const leaseIds: string[] = [];
  for (let i = 0; i < o.leases; i++) {
    const id = String(1_000_000 + o.seed * 1000 + i);
    must(await client.leaseGrant({ TTL: 3600 + i, ID: id }));
    leaseIds.push(id);
  }
  const key = (): Buffer => Buffer.from(`key/${String(rng.int(0, o.keys - 1)).padStart(6, '0')}`);
  const value = (): Buffer => Buffer.alloc(rng.bool(0.02) ? rng.int(1, o.valueBytesMax) : rng.int(1, 64), rng.pick(['a', 'b', 'c']));
  const lease = (): string => (leaseIds.length > 0 && rng.bool(0.1) ? rng.pick(leaseIds) : '0');
  const compactEvery = o.compactions > 0 ? Math.floor(o.writes / (o.compactions + 1)) : 0;
  const revisions: number[] = [];
  let lastRev = 1;
  const one = async (i: number): Promise<void> => {
    const kind = rng.weighted<string>([[70, 'put'], [10, 'del'], [5, 'delPrefix'], [15, 'txn']]);
    let r: RpcResult<{ header: { revision: string } | null }>;
    if (kind === 'put') r = await client.put({ key: key(), value: value(), lease: lease() });
    else if (kind === 'del') r = await client.deleteRange({ key: key() });
    else if (kind === 'delPrefix') r = await client.deleteRange({ key: Buffer.from(`key/00${rng.int(0, 9)}`), range_end: Buffer.from(`key/00${rng.int(0, 9)}\xff`, 'latin1') });
    else {
      // Distinct keys: etcd refuses duplicates in one txn.
      const ks = [...new Set(Array.from({ length: rng.int(2, 4) }, () => key().toString()))].map((k) => Buffer.from(k));
      r = await client.txn({
        compare: [],
        success: ks.map((k, j) => (j === 0 && rng.bool(0.3) ? { request_delete_range: { key: k } } : { request_put: { key: k, value: value(), lease: lease() } })),
        failure: [],
      });
    }
    const rev = Number(must(r).header?.revision ?? 0);
    if (rev > lastRev) lastRev = rev;
    if (i % 97 === 0) revisions.push(rev);
    if (compactEvery > 0 && i > 0 && i % compactEvery === 0 && i < o.writes - 1) must(await client.compact({ revision: lastRev - rng.int(0, Math.min(20, lastRev - 1)), physical: true }));
  };
  const concurrency = o.concurrency ?? 1;
  for (let i = 0; i < o.writes; i += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, o.writes - i) }, (_, j) => one(i + j)));
  }
  revisions.push(lastRev);
  return revisions;
}

export interface ServerState {
  revision: string;
  kvs: Array<{ key: string; value: string; create_revision: string; mod_revision: string; version: string; lease: string }>;
  leases: Array<{ id: string; grantedTtl: string; mostLeft: boolean }>;
}

/** Every key (at the current revision) and every lease with its granted TTL. */
export async function readState(client: EtcdClient): Promise<ServerState> {
  const r = must(await client.range({ key: Buffer.from([0]), range_end: Buffer.from([0]) }));
  const kvs = r.kvs.map((kv) => ({
    key: Buffer.from(kv.key).toString('latin1'),
    value: Buffer.from(kv.value).toString('latin1'),
    create_revision: String(kv.create_revision), mod_revision: String(kv.mod_revision), version: String(kv.version), lease: String(kv.lease),
  }));
  const list = must(await client.call<{ leases: Array<{ ID: string }> }>('Lease', 'LeaseLeases', {}));
  const leases: ServerState['leases'] = [];
  for (const l of list.leases) {
    const ttl = must(await client.call<{ grantedTTL: string; TTL: string }>('Lease', 'LeaseTimeToLive', { ID: l.ID }));
    // The workload's TTLs are an hour or more: less than half left means a restore lost the countdown.
    leases.push({ id: String(l.ID), grantedTtl: String(ttl.grantedTTL), mostLeft: Number(ttl.TTL) > Number(ttl.grantedTTL) / 2 });
  }
  leases.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { revision: String(r.header?.revision), kvs, leases };
}

/** HashKV at each revision: hash and compact_revision, or the error (hash_revision left out: etcd 3.5 answers 0). */
export async function hashesAt(client: EtcdClient, revisions: readonly number[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const rev of revisions) {
    const r = await client.hashKv(rev);
    out.push(r.ok ? { rev, hash: r.value.hash, compact_revision: String(r.value.compact_revision) } : { rev, code: r.code, details: r.details });
  }
  return out;
}

/**
 * An etcd snapshot of a stopped keel member's data dir, as keelutl would
 * take it offline: the store opened once (finishing any compaction) and its
 * backend converted.
 */
export async function snapshotKeelDataDir(dataDir: string, out: string): Promise<EtcdSnapshotWritten> {
  const backend = await openLevelBackend(path.join(dataDir, 'member', 'db'));
  const store = await MvccStore.open(backend, { leaseExists: () => true });
  try {
    await store.compactionSettled();
    return await writeEtcdSnapshot(backend, out);
  } finally {
    await store.close();
  }
}
