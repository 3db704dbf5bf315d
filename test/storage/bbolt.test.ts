// bbolt files: what the writer writes the reader reads back (fast-check, with
// nested and inline buckets, values spanning overflow pages, several page
// sizes), the writer's files pass bbolt's consistency check, bad files raise
// BboltError; and real files: the db of an etcd 3.5 member and the snapshot
// etcdctl saved from it read as etcd sees them (etcdutl's status, every live
// key, every lease), and a file the writer made is reported by etcdutl 3.5
// and etcdctl 3.4 as the reader reports it.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { BboltError, BboltReader, writeBbolt, type BboltItem, type BucketRef } from '../../src/storage';
import { bucketRefOf } from '../../src/storage';
import { decodeEtcdKeyValue, encodeEtcdKeyValue, etcdRevisionBytes, parseEtcdRevisionBytes, protoFields } from '../../src/mvcc';
import { etcdSnapshotStatus } from '../../src/server';
import { EtcdClient, must } from '../helpers/client';
import { cleanupAll, makeTempDir, startEtcd } from '../helpers/procs';
import { etcd35, etcdctl34, run, runWorkload, skipUnless34ctl, skipUnless35 } from '../server/etcd-snapshot-workload';

after(cleanupAll);

/** A bucket as plain data: keys (hex) to a value (hex) or a nested bucket. */
interface Tree {
  [keyHex: string]: string | Tree;
}

function toItems(tree: Tree): BboltItem[] {
  return Object.keys(tree)
    .map((k) => Buffer.from(k, 'hex'))
    .sort(Buffer.compare)
    .map((key): BboltItem => {
      const v = tree[key.toString('hex')] as string | Tree;
      return typeof v === 'string' ? { key, value: Buffer.from(v, 'hex') } : { key, bucket: toItems(v) };
    });
}

function readTree(db: BboltReader, ref: BucketRef): Tree {
  const out: Tree = {};
  for (const e of db.entries(ref)) out[e.key.toString('hex')] = e.bucket ? readTree(db, bucketRefOf(e.value)) : e.value.toString('hex');
  return out;
}

const keyArb = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a).toString('hex'));
const valueArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 12_000 }) },
).map((a) => Buffer.from(a).toString('hex'));
const leafBucketArb: fc.Arbitrary<Tree> = fc.dictionary(keyArb, valueArb, { maxKeys: 120, noNullPrototype: true });
const nestedBucketArb: fc.Arbitrary<Tree> = fc.dictionary(keyArb, fc.oneof({ weight: 6, arbitrary: valueArb }, { weight: 1, arbitrary: leafBucketArb }), { maxKeys: 80, noNullPrototype: true });
const dbArb = fc.dictionary(keyArb, fc.oneof(leafBucketArb, nestedBucketArb), { minKeys: 0, maxKeys: 6, noNullPrototype: true });

test('write → read round trip: nested and inline buckets, overflow values, page sizes 1024/4096 (fast-check)', async () => {
  const dir = makeTempDir('bbolt-prop-');
  let run = 0;
  await fc.assert(
    fc.asyncProperty(dbArb, fc.constantFrom(1024, 4096), async (tree, pageSize) => {
      const file = path.join(dir, `db-${run++}`);
      const written = await writeBbolt(file, toItems(tree), { pageSize, txid: 5n });
      assert.equal(fs.statSync(file).size, written.sizeBytes);
      const db = BboltReader.open(file);
      try {
        assert.equal(db.pageSize, pageSize);
        assert.equal(db.meta.txid, 5n);
        assert.deepEqual(readTree(db, db.rootBucket()), tree);
        assert.deepEqual(db.check(), []);
        assert.deepEqual(db.freePages(), []);
      } finally {
        db.close();
        fs.rmSync(file);
      }
    }),
    { numRuns: 60 },
  );
});

test('a bucket of 30,000 keys becomes a multi-level tree; every key is found by a lookup', async () => {
  const dir = makeTempDir('bbolt-big-');
  const file = path.join(dir, 'db');
  const keys = Array.from({ length: 30_000 }, (_, i) => Buffer.from(`key/${String(i).padStart(6, '0')}`));
  function* items(): Generator<BboltItem> {
    for (const [i, key] of keys.entries()) yield { key, value: Buffer.alloc(i % 1000 === 0 ? 9000 : 40, i % 251) };
  }
  await writeBbolt(file, [{ key: Buffer.from('key'), bucket: items() }]);
  const db = BboltReader.open(file);
  try {
    const ref = db.bucket([Buffer.from('key')]);
    assert.ok(ref !== undefined);
    assert.ok(ref.inline === undefined);
    assert.equal(db.readPage(ref.root).header.flags & 0x01, 0x01, 'the root of a 30,000-key bucket is a branch page');
    for (let i = 0; i < keys.length; i += 7) {
      const e = db.get(ref, keys[i] as Buffer);
      assert.ok(e !== undefined, `key ${i} found`);
      assert.equal(e.value.length, i % 1000 === 0 ? 9000 : 40);
      assert.equal(e.value[0], i % 251);
    }
    assert.equal(db.get(ref, Buffer.from('key/999999')), undefined);
    assert.equal(db.get(ref, Buffer.from('a')), undefined);
    assert.equal([...db.entries(ref)].length, keys.length);
    assert.deepEqual(db.check(), []);
  } finally {
    db.close();
  }
});

test('files that are not bbolt, or are cut short, raise BboltError', async () => {
  const dir = makeTempDir('bbolt-bad-');
  const good = path.join(dir, 'good');
  await writeBbolt(good, [{ key: Buffer.from('b'), bucket: Array.from({ length: 500 }, (_, i): BboltItem => ({ key: Buffer.from(`k${String(i).padStart(4, '0')}`), value: Buffer.alloc(100) })) }]);
  const bytes = fs.readFileSync(good);
  const badMagic = Buffer.from(bytes);
  badMagic.writeUInt32LE(0x12345678, 16);
  badMagic.writeUInt32LE(0x12345678, 4096 + 16);
  const badChecksum = Buffer.from(bytes);
  badChecksum[16 + 20] = (badChecksum[16 + 20] as number) ^ 1;
  badChecksum[4096 + 16 + 20] = (badChecksum[4096 + 16 + 20] as number) ^ 1;
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /file size too small/],
    ['not bbolt', Buffer.alloc(8192, 7), /invalid database/],
    ['bad magic', badMagic, /invalid database/],
    ['bad checksum', badChecksum, /checksum error/],
    ['cut short', bytes.subarray(0, bytes.length - 4096), /file has \d+ bytes/],
  ];
  for (const [name, content, message] of cases) {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content);
    assert.throws(() => BboltReader.open(f), (e: unknown) => e instanceof BboltError && message.test(e.message), name);
  }
  // One meta page damaged: bbolt falls back to the other.
  const oneBad = Buffer.from(bytes);
  oneBad.writeUInt32LE(0, 16);
  const f = path.join(dir, 'one-meta');
  fs.writeFileSync(f, oneBad);
  const db = BboltReader.open(f);
  assert.equal([...db.bucketEntries([Buffer.from('b')])].length, 500);
  db.close();
});

/** The newest live KeyValue per key in an etcd key bucket, as a Range at the current revision shows them. */
function liveKeys(db: BboltReader): Map<string, ReturnType<typeof decodeEtcdKeyValue>> {
  const live = new Map<string, ReturnType<typeof decodeEtcdKeyValue>>();
  for (const e of db.bucketEntries([Buffer.from('key')])) {
    const rev = parseEtcdRevisionBytes(e.key);
    const kv = decodeEtcdKeyValue(e.value);
    if (rev.tombstone) live.delete(kv.key.toString('latin1'));
    else live.set(kv.key.toString('latin1'), kv);
  }
  return live;
}

test('etcd 3.5 files read as etcd sees them: the saved snapshot and the member db (etcdutl status, live keys, leases)', { skip: skipUnless35, timeout: 300_000 }, async () => {
  const dir = makeTempDir('bbolt-etcd-');
  const file = path.join(dir, 'snapshot.db');
  const etcd = await startEtcd({ bin: etcd35.etcd });
  const c = new EtcdClient(etcd.endpoint);
  await runWorkload(c, { seed: 3, writes: 4000, keys: 2500, compactions: 1, leases: 4, valueBytesMax: 20_000 });
  const all = must(await c.range({ key: Buffer.from([0]), range_end: Buffer.from([0]) }));
  const leases = must(await c.call<{ leases: Array<{ ID: string }> }>('Lease', 'LeaseLeases', {})).leases.map((l) => String(l.ID)).sort();
  const save = await run(etcd35.etcdctl, ['--endpoints', etcd.endpoint, 'snapshot', 'save', file]);
  assert.equal(save.code, 0, save.stderr);
  c.close();
  await etcd.stop();
  const memberDb = path.join(etcd.dataDir, 'member', 'snap', 'db');

  for (const f of [file, memberDb]) {
    const status = await run(etcd35.etcdutl, ['snapshot', 'status', f, '-w', 'json']);
    assert.equal(status.code, 0, status.stderr);
    const ours = etcdSnapshotStatus(f);
    assert.deepEqual({ hash: ours.hash, revision: ours.revision, totalKey: ours.totalKey, totalSize: ours.totalSize }, JSON.parse(status.stdout), f);
    const db = BboltReader.open(f);
    try {
      assert.deepEqual(db.check(), [], f);
      const live = liveKeys(db);
      assert.equal(live.size, all.kvs.length);
      for (const kv of all.kvs) {
        const got = live.get(Buffer.from(kv.key).toString('latin1'));
        assert.ok(got !== undefined);
        assert.deepEqual(
          [got.value.toString('hex'), String(got.createRevision), String(got.modRevision), String(got.version), String(got.lease)],
          [Buffer.from(kv.value).toString('hex'), String(kv.create_revision), String(kv.mod_revision), String(kv.version), String(kv.lease)],
        );
      }
      const leaseIds = [...db.bucketEntries([Buffer.from('lease')])].map((e) => {
        const id = [...protoFields(e.value)].find((x) => x.field === 1)?.int;
        assert.equal(e.key.readBigInt64BE(0), id);
        return String(id);
      });
      assert.deepEqual(leaseIds.sort(), leases);
    } finally {
      db.close();
    }
  }
});

test('a db the writer made is reported by etcdutl 3.5 and etcdctl 3.4 as the reader reports it', { skip: skipUnless35 || skipUnless34ctl, timeout: 120_000 }, async () => {
  const dir = makeTempDir('bbolt-tools-');
  const file = path.join(dir, 'db');
  const revisions = 5000;
  function* keyBucket(): Generator<BboltItem> {
    for (let rev = 2; rev < revisions + 2; rev++) {
      const key = Buffer.from(`k${rev % 700}`);
      yield { key: etcdRevisionBytes(rev, 0, false), value: encodeEtcdKeyValue({ key, value: Buffer.alloc(rev % 500 === 0 ? 10_000 : 30, 'x'), createRevision: rev, modRevision: rev, version: 1, lease: 0n }) };
    }
  }
  const meta: BboltItem[] = [{ key: Buffer.from('consistent_index'), value: Buffer.alloc(8) }];
  await writeBbolt(file, [{ key: Buffer.from('meta'), bucket: meta }, { key: Buffer.from('key'), bucket: keyBucket() }, { key: Buffer.from('lease'), bucket: [] }]);
  const ours = etcdSnapshotStatus(file);
  assert.equal(ours.revision, revisions + 1);
  assert.equal(ours.totalKey, revisions + 1);
  const expected = { hash: ours.hash, revision: ours.revision, totalKey: ours.totalKey, totalSize: ours.totalSize };
  for (const tool of [etcd35.etcdutl, etcdctl34]) {
    const r = await run(tool, ['snapshot', 'status', file, '-w', 'json']);
    assert.equal(r.code, 0, `${tool}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout), expected, tool);
  }
});

test('damaged files never crash the reader: random byte changes give a result or a BboltError (fast-check)', async () => {
  const dir = makeTempDir('bbolt-fuzz-');
  const good = path.join(dir, 'good');
  const nested: BboltItem = { key: Buffer.from('n'), bucket: [{ key: Buffer.from('inner'), value: Buffer.from('x') }] };
  const big = Array.from({ length: 400 }, (_, i): BboltItem => ({ key: Buffer.from(`k${String(i).padStart(4, '0')}`), value: Buffer.alloc(i % 100 === 0 ? 5000 : 30, i) }));
  await writeBbolt(good, [{ key: Buffer.from('a'), bucket: [nested, { key: Buffer.from('v'), value: Buffer.from('y') }] }, { key: Buffer.from('b'), bucket: big }], { pageSize: 1024 });
  const bytes = fs.readFileSync(good);
  const f = path.join(dir, 'damaged');
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (changes) => {
      const damaged = Buffer.from(bytes);
      for (const [at, byte] of changes) damaged[at] = byte;
      fs.writeFileSync(f, damaged);
      try {
        const db = BboltReader.open(f);
        try {
          readTree(db, db.rootBucket());
          db.check();
          db.freePages();
        } finally {
          db.close();
        }
      } catch (e) {
        assert.ok(e instanceof BboltError, `not a BboltError: ${String(e)}`);
      }
    }),
    { numRuns: 300 },
  );
});
