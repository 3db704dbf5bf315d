// etcd's snapshot format, both ways. An etcd snapshot file is etcd's bbolt
// db followed by the sha256 of the db's bytes; its buckets:
//   key      revision bytes → mvccpb.KeyValue (mvcc/etcd-format.ts)
//   meta     consistent_index, term (8 bytes BE), scheduledCompactRev and
//            finishedCompactRev (revision bytes), confState (JSON)
//   lease    lease ID (8 bytes BE) → leasepb.Lease {ID 1, TTL 2, RemainingTTL 3}
//   alarm    etcdserverpb.AlarmMember {MemberID 1, Alarm 2} → empty
//   members  member ID (hex) → JSON {"id","peerURLs","isLearner","name","clientURLs"}
//   members_removed, cluster (clusterVersion), auth (authRevision,
//   authEnabled), authUsers (name → authpb.User), authRoles (name → authpb.Role)
// keel → etcd: writeEtcdSnapshot; etcd → keel data dir: restoreEtcdSnapshot;
// etcdutl's `snapshot status`: etcdSnapshotStatus.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BboltReader, openLevelBackend, writeBbolt, type Backend, type BatchOp, type BboltItem,
} from '../storage';
import {
  MvccStore, ProtoWriter, crc32c, etcdEntryToStore, isStoreRevisionKey, parseEtcdRevisionBytes, protoFields,
  storeEntryToEtcd, storeMetaName, storeRevisionOps, storeRevisions, etcdRevisionBytes,
} from '../mvcc';
import { assert, limits } from '../util';
import { decodeMember, memberMetaPrefix, type MemberInfo } from './membership';
import { leaseMetaName, leaseMetaPrefix, encodeLeaseRecord, decodeLeaseRecord } from '../lease';
import { alarmMetaPrefix, alarmRecord, decodeAlarmRecord } from './alarms';

const sha256Bytes = 32;
/** The store's revision keys start with 'k' (mvcc/codec.ts); anything below is the server's own. */
const revisionPrefixByte = 0x6b;
/** etcdutl: a file whose size is 32 past a multiple of 512 carries a sha256. */
const hashedSizeModulo = 512;

// keel's meta names and records for what etcd keeps in its own buckets (member.ts writes them).
const consistentIndexMeta = 'consistent_index';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---- keel → etcd ----

/**
 * Users and roles for the auth buckets, already encoded as etcd stores them
 * (authUsers: name → authpb.User, authRoles: name → authpb.Role). keel has no
 * auth store yet: writeEtcdSnapshot takes this from its options, and the auth
 * store fills it once there is one.
 */
export interface EtcdAuthBuckets {
  enabled: boolean;
  /** etcd's authRevision (1 in a fresh store). */
  revision: bigint;
  users: Array<[string, Buffer]>;
  roles: Array<[string, Buffer]>;
}

export const noEtcdAuth: EtcdAuthBuckets = { enabled: false, revision: 1n, users: [], roles: [] };

export interface EtcdSnapshotOptions {
  /** Raft term for meta "term" (etcdutl's restore overwrites it); left out when unknown. */
  term?: bigint;
  auth?: EtcdAuthBuckets;
  /** cluster/clusterVersion: major.minor.0 of the version served. */
  clusterVersion?: string;
}

export interface EtcdSnapshotWritten {
  /** The revision etcdutl reports: the main revision of the last key-bucket entry. */
  revision: number;
  /** Key-bucket entries written. */
  revisions: number;
  /** The db's size (without the trailing sha256). */
  dbSizeBytes: number;
  sha256: Buffer;
}

/**
 * Writes an etcd snapshot of a store's backend to `out`: the db, then its
 * sha256. The backend is read in one pass (one consistent view of it):
 * revisions first, straight into the key bucket, then the store's meta
 * (leases, members, alarms, revisions), which is held in memory. Nothing
 * else may write to the backend meanwhile if the two must agree.
 */
export async function writeEtcdSnapshot(backend: Backend, out: string, options: EtcdSnapshotOptions = {}): Promise<EtcdSnapshotWritten> {
  const state = { revision: 0, revisions: 0 };
  const written = await writeBbolt(out, etcdBuckets(backend, options, state));
  const sha256 = await fileSha256(out, written.sizeBytes);
  fs.appendFileSync(out, sha256);
  return { revision: state.revision, revisions: state.revisions, dbSizeBytes: written.sizeBytes, sha256 };
}

async function* etcdBuckets(backend: Backend, options: EtcdSnapshotOptions, state: { revision: number; revisions: number }): AsyncGenerator<BboltItem> {
  const it = backend.iterate({})[Symbol.asyncIterator]();
  try {
    let next = await it.next();
    // Keys before the revisions are the server's own (identity): not part of etcd's data.
    while (next.done !== true && !isStoreRevisionKey(next.value[0]) && (next.value[0][0] ?? 0) < revisionPrefixByte) next = await it.next();
    const cursor = { next };
    async function* keyBucket(): AsyncGenerator<BboltItem> {
      while (cursor.next.done !== true && isStoreRevisionKey(cursor.next.value[0])) {
        const e = storeEntryToEtcd(cursor.next.value[0], cursor.next.value[1]);
        state.revision = e.revision.main;
        state.revisions++;
        yield { key: e.key, value: e.value };
        cursor.next = await it.next();
      }
    }
    yield { key: b('key'), bucket: keyBucket() };
    const meta = new Map<string, Buffer>();
    for (let n = cursor.next; n.done !== true; n = await it.next()) {
      const name = storeMetaName(n.value[0]);
      if (name !== undefined) meta.set(name, n.value[1]);
      assert(meta.size <= limits.etcdSnapshotMetaEntriesMax, 'store meta entries within limit');
    }
    yield* smallBuckets(meta, options);
  } finally {
    await it.return?.();
  }
}

function* smallBuckets(meta: ReadonlyMap<string, Buffer>, options: EtcdSnapshotOptions): Generator<BboltItem> {
  const members = [...meta].filter(([n]) => n.startsWith(memberMetaPrefix)).map(([, v]) => decodeMember(v));
  const auth = options.auth ?? noEtcdAuth;
  yield bucket('alarm', alarmEntries(meta));
  yield bucket('auth', authEntries(auth));
  yield bucket('authRoles', auth.roles.map(([name, v]) => [b(name), v]));
  yield bucket('authUsers', auth.users.map(([name, v]) => [b(name), v]));
  yield bucket('cluster', [[b('clusterVersion'), b(options.clusterVersion ?? '3.5.0')]]);
  yield bucket('lease', leaseEntries(meta));
  yield bucket('members', members.map((m) => [b(m.id.toString(16)), b(memberJson(m))]));
  yield bucket('members_removed', []);
  yield bucket('meta', metaEntries(meta, members, options));
}

/** A bucket from unsorted entries (small buckets: sorted here, as bbolt orders keys). */
function bucket(name: string, entries: Array<[Buffer, Buffer]>): BboltItem {
  const sorted = [...entries].sort((x, y) => Buffer.compare(x[0], y[0]));
  return { key: b(name), bucket: sorted.map(([key, value]): BboltItem => ({ key, value })) };
}

function alarmEntries(meta: ReadonlyMap<string, Buffer>): Array<[Buffer, Buffer]> {
  const out: Array<[Buffer, Buffer]> = [];
  for (const [name, v] of meta) {
    if (!name.startsWith(alarmMetaPrefix)) continue;
    const a = decodeAlarmRecord(v);
    out.push([new ProtoWriter().int64(1, BigInt(a.memberId)).int64(2, a.alarm).finish(), Buffer.alloc(0)]);
  }
  return out;
}

function authEntries(auth: EtcdAuthBuckets): Array<[Buffer, Buffer]> {
  const out: Array<[Buffer, Buffer]> = [[b('authRevision'), u64(auth.revision)]];
  if (auth.enabled) out.push([b('authEnabled'), Buffer.from([1])]);
  return out;
}

function leaseEntries(meta: ReadonlyMap<string, Buffer>): Array<[Buffer, Buffer]> {
  const out: Array<[Buffer, Buffer]> = [];
  for (const [name, v] of meta) {
    if (!name.startsWith(leaseMetaPrefix)) continue;
    const r = decodeLeaseRecord(v);
    const key = Buffer.alloc(8);
    key.writeBigInt64BE(r.id);
    out.push([key, new ProtoWriter().int64(1, r.id).int64(2, r.ttlSeconds).int64(3, r.remainingTtlSeconds).finish()]);
  }
  return out;
}

/** etcd's membership.Member as Go's encoding/json writes it (omitempty fields left out). */
function memberJson(m: MemberInfo): string {
  const learner = m.isLearner ? ',"isLearner":true' : '';
  const clientUrls = m.clientUrls.length > 0 ? `,"clientURLs":${JSON.stringify(m.clientUrls)}` : '';
  const name = m.name !== '' ? `,"name":${JSON.stringify(m.name)}` : '';
  return `{"id":${m.id.toString()},"peerURLs":${JSON.stringify(m.peerUrls)}${learner}${name}${clientUrls}}`;
}

function metaEntries(meta: ReadonlyMap<string, Buffer>, members: MemberInfo[], options: EtcdSnapshotOptions): Array<[Buffer, Buffer]> {
  const out: Array<[Buffer, Buffer]> = [];
  const { compact } = storeRevisions(meta);
  if (compact >= 0) {
    out.push([b('scheduledCompactRev'), etcdRevisionBytes(compact, 0, false)]);
    out.push([b('finishedCompactRev'), etcdRevisionBytes(compact, 0, false)]);
  }
  const applied = meta.get(consistentIndexMeta);
  if (applied !== undefined) out.push([b('consistent_index'), applied]);
  if (options.term !== undefined) out.push([b('term'), u64(options.term)]);
  if (members.length > 0) out.push([b('confState'), b(confStateJson(members))]);
  return out;
}

/** raftpb.ConfState as etcd stores it in meta (Go's encoding/json of the protobuf struct). */
function confStateJson(members: MemberInfo[]): string {
  const voters = members.filter((m) => !m.isLearner).map((m) => m.id.toString());
  const learners = members.filter((m) => m.isLearner).map((m) => m.id.toString());
  const learnerPart = learners.length > 0 ? `,"learners":[${learners.join(',')}]` : '';
  return `{"voters":[${voters.join(',')}]${learnerPart},"auto_leave":false}`;
}

function u64(v: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt.asUintN(64, v));
  return out;
}

async function fileSha256(file: string, bytes: number): Promise<Buffer> {
  const h = crypto.createHash('sha256');
  if (bytes > 0) for await (const chunk of fs.createReadStream(file, { start: 0, end: bytes - 1 })) h.update(chunk as Buffer);
  return h.digest();
}

// ---- etcdutl snapshot status ----

export interface EtcdSnapshotStatus {
  /** crc32 (Castagnoli) over every bucket's name, keys and values, in order. */
  hash: number;
  /** Main revision of the key bucket's last entry. */
  revision: number;
  /** Entries in every bucket. */
  totalKey: number;
  /** bbolt's size: pages × page size (the trailing sha256 not counted). */
  totalSize: number;
  /** meta/storageVersion when the file has one (etcd 3.6 writes it), else "". */
  version: string;
}

/** What `etcdutl snapshot status` reports for a snapshot (or db) file; a damaged file fails bbolt's check as etcdutl does. */
export function etcdSnapshotStatus(file: string): EtcdSnapshotStatus {
  const db = BboltReader.open(file);
  try {
    const problems = db.check();
    if (problems.length > 0) throw new Error(`snapshot file integrity check failed. ${problems.length} errors found.\n${problems.join('\n')}`);
    const status: EtcdSnapshotStatus = { hash: 0, revision: 0, totalKey: 0, totalSize: db.sizeBytes, version: '' };
    for (const top of db.entries(db.rootBucket())) {
      status.hash = crc32c(top.key, status.hash);
      const isKey = top.key.equals(b('key'));
      for (const e of db.bucketEntries([top.key])) {
        status.hash = crc32c(e.value, crc32c(e.key, status.hash));
        if (isKey) status.revision = parseEtcdRevisionBytes(e.key).main;
        status.totalKey++;
      }
    }
    const version = db.get(db.bucket([b('meta')]) ?? db.rootBucket(), b('storageVersion'));
    if (version !== undefined && !version.bucket) status.version = version.value.toString('utf8');
    return status;
  } finally {
    db.close();
  }
}

// ---- etcd → keel ----

export interface RestoreEtcdOptions {
  /** etcdutl's --skip-hash-check: accept a file without (or with a wrong) trailing sha256, e.g. a copied member/snap/db. */
  skipHashCheck?: boolean;
}

/** etcdutl's hash check: a trailing sha256 must match the db before it. */
export async function verifySnapshotHash(file: string, skipHashCheck: boolean): Promise<void> {
  const size = fs.statSync(file).size;
  const hasHash = size % hashedSizeModulo === sha256Bytes;
  if (!hasHash) {
    if (!skipHashCheck) throw new Error('snapshot missing hash but --skip-hash-check=false');
    return;
  }
  if (skipHashCheck) return;
  const stored = Buffer.alloc(sha256Bytes);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, stored, 0, sha256Bytes, size - sha256Bytes);
  } finally {
    fs.closeSync(fd);
  }
  const computed = await fileSha256(file, size - sha256Bytes);
  if (!stored.equals(computed)) throw new Error(`expected sha256 ${goBytes(stored)}, got ${goBytes(computed)}`);
}

/** A byte slice as Go's %v prints it: [1 2 3]. */
function goBytes(v: Buffer): string {
  return `[${[...v].join(' ')}]`;
}

/**
 * Writes `<dataDir>/member/db` (keel's store, LevelDB) from an etcd snapshot:
 * every revision in the key bucket, the compaction point, leases and alarms.
 * Like keel's own restore, it leaves out the old cluster's members and
 * applied index: the member started on it bootstraps a new cluster from its
 * flags. Auth buckets are not carried (keel has no auth store yet).
 */
export async function restoreEtcdSnapshot(file: string, dataDir: string, options: RestoreEtcdOptions = {}): Promise<{ revisions: number; revision: number }> {
  if (fs.existsSync(dataDir)) throw new Error(`data-dir "${dataDir}" exists`);
  await verifySnapshotHash(file, options.skipHashCheck ?? false);
  const db = BboltReader.open(file);
  try {
    fs.mkdirSync(path.join(dataDir, 'member'), { recursive: true, mode: 0o700 });
    return await restoreInto(db, path.join(dataDir, 'member', 'db'));
  } catch (e) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  } finally {
    db.close();
  }
}

async function restoreInto(db: BboltReader, dbDir: string): Promise<{ revisions: number; revision: number }> {
  const backend = await openLevelBackend(dbDir);
  let copied: { revisions: number; lastMain: number };
  try {
    copied = await copyRevisions(db, backend);
    const compact = compactRevisionOf(db);
    const current = Math.max(copied.lastMain, compact, 1);
    await backend.write(storeRevisionOps(current, compact), { sync: true });
  } catch (e) {
    await backend.close();
    throw e;
  }
  const store = await MvccStore.open(backend, { leaseExists: () => true });
  try {
    await store.commit([...leaseRecords(db), ...alarmRecords(db)]);
    await store.compactionSettled();
    return { revisions: copied.revisions, revision: store.currentRevision() };
  } finally {
    await store.close();
  }
}

async function copyRevisions(db: BboltReader, backend: Backend): Promise<{ revisions: number; lastMain: number }> {
  let batch: BatchOp[] = [];
  let batchBytes = 0;
  let revisions = 0;
  let lastMain = 0;
  for (const e of db.bucketEntries([b('key')])) {
    const { k, v, revision } = etcdEntryToStore(e.key, e.value);
    if (revision.main < lastMain) throw new Error(`key bucket revision ${revision.main} after ${lastMain}`);
    lastMain = revision.main;
    batch.push({ type: 'put', key: k, value: v });
    batchBytes += k.length + v.length;
    revisions++;
    if (batch.length >= limits.snapshotRestoreBatchKeysMax || batchBytes >= limits.snapshotRestoreBatchBytes) {
      await backend.write(batch, { sync: false });
      batch = [];
      batchBytes = 0;
    }
  }
  await backend.write(batch, { sync: true });
  return { revisions, lastMain };
}

/** The compaction etcd scheduled (finished or not: keel's store finishes it on open); -1 if none. */
function compactRevisionOf(db: BboltReader): number {
  const metaBucket = db.bucket([b('meta')]);
  if (metaBucket === undefined) return -1;
  let compact = -1;
  for (const name of ['scheduledCompactRev', 'finishedCompactRev']) {
    const e = db.get(metaBucket, b(name));
    if (e !== undefined && !e.bucket) compact = Math.max(compact, parseEtcdRevisionBytes(e.value).main);
  }
  return compact;
}

function leaseRecords(db: BboltReader): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const e of db.bucketEntries([b('lease')])) {
    let id = 0n;
    let ttl = 0n;
    let remaining = 0n;
    for (const f of protoFields(e.value)) {
      if (f.int === undefined) continue;
      if (f.field === 1) id = f.int;
      else if (f.field === 2) ttl = f.int;
      else if (f.field === 3) remaining = f.int;
    }
    if (ttl < 0n || ttl > BigInt(limits.leaseTtlSecondsMax)) throw new Error(`lease ${id}: TTL ${ttl} out of range`);
    if (remaining < 0n || remaining > ttl) throw new Error(`lease ${id}: remaining TTL ${remaining} out of range`);
    // etcd stores RemainingTTL only once checkpointed; 0 means the whole TTL (keel's 0 would mean expired).
    const left = remaining > 0n ? remaining : ttl;
    out.push([leaseMetaName(id), encodeLeaseRecord({ id, ttlSeconds: Number(ttl), remainingTtlSeconds: Number(left) })]);
  }
  return out;
}

function alarmRecords(db: BboltReader): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const e of db.bucketEntries([b('alarm')])) {
    let memberId = 0n;
    let alarm = 0;
    for (const f of protoFields(e.key)) {
      if (f.field === 1 && f.int !== undefined) memberId = BigInt.asUintN(64, f.int);
      else if (f.field === 2 && f.int !== undefined) alarm = Number(f.int);
    }
    if (alarm === 0) continue;
    out.push(alarmRecord({ memberId, alarm }));
  }
  return out;
}
