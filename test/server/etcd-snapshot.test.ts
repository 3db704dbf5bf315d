// etcd's snapshot format both ways, against the real tools: a snapshot etcd
// 3.5 saved is restored into a keel data dir that keel then serves with the
// same keys, leases and HashKV; a snapshot keel writes is what etcdutl (3.5)
// and etcdctl (3.4) report on, and what etcdutl restores into a data dir
// that etcd 3.5 serves with the same keys, leases and HashKV. The offline
// part (hash check, keel → etcd → keel identity) needs no etcd.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EtcdClient } from '../helpers/client';
import { cleanupAll, freePort, makeTempDir, skipUnlessTools, startEtcd, startKeel } from '../helpers/procs';
import { MvccStore } from '../../src/mvcc';
import { memoryBackend, openLevelBackend, type Backend } from '../../src/storage';
import { etcdSnapshotStatus, restoreEtcdSnapshot, writeEtcdSnapshot } from '../../src/server';
import { delReq, putReq, txnReq } from '../mvcc/helpers';
import {
  etcd35, etcdctl34, hashesAt, readState, run, runWorkload, skipUnless34ctl, skipUnless35, snapshotKeelDataDir, type WorkloadOptions,
} from './etcd-snapshot-workload';

after(cleanupAll);

const workload: WorkloadOptions = { seed: 7, writes: 3000, keys: 1500, compactions: 2, leases: 5, valueBytesMax: 9000 };

/** etcdutl / etcdctl `snapshot status -w json` of a file. */
async function toolStatus(tool: string, file: string): Promise<unknown> {
  const r = await run(tool, ['snapshot', 'status', file, '-w', 'json']);
  assert.equal(r.code, 0, `${tool} snapshot status failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function ourStatus(file: string, withVersion: boolean): Record<string, unknown> {
  const s = etcdSnapshotStatus(file);
  const out: Record<string, unknown> = { hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize };
  if (withVersion && s.version !== '') out['version'] = s.version;
  return out;
}

test('etcd 3.5 snapshot → keel data dir: keel serves the same keys, leases and HashKV', { skip: skipUnless35 || skipUnlessTools(['keel']), timeout: 300_000 }, async () => {
  const dir = makeTempDir('etcd-snap-');
  const file = path.join(dir, 'etcd.snapshot');
  const etcd = await startEtcd({ bin: etcd35.etcd });
  const ec = new EtcdClient(etcd.endpoint);
  const probes = await runWorkload(ec, workload);
  const expectedHashes = await hashesAt(ec, [0, ...probes]);
  const expectedState = await readState(ec);
  const save = await run(etcd35.etcdctl, ['--endpoints', etcd.endpoint, 'snapshot', 'save', file]);
  assert.equal(save.code, 0, save.stderr);
  ec.close();
  await etcd.stop();

  // The reader sees every bucket entry etcd wrote: its status (a crc32 over all of them) is etcdutl's.
  assert.deepEqual(ourStatus(file, true), await toolStatus(etcd35.etcdutl, file));

  const dataDir = path.join(dir, 'keel-data');
  const restored = await restoreEtcdSnapshot(file, dataDir);
  assert.equal(String(restored.revision), expectedState.revision);
  const keel = await startKeel({ dataDir });
  const kc = new EtcdClient(keel.endpoint);
  try {
    assert.deepEqual(await readState(kc), expectedState);
    assert.deepEqual(await hashesAt(kc, [0, ...probes]), expectedHashes);
  } finally {
    kc.close();
  }
});

test('keel → etcd snapshot: etcdutl and etcdctl 3.4 report it, etcdutl restores it, etcd 3.5 serves the same keys, leases and HashKV', { skip: skipUnless35 || skipUnless34ctl || skipUnlessTools(['keel']), timeout: 300_000 }, async () => {
  const dir = makeTempDir('keel-snap-');
  const file = path.join(dir, 'keel.snapshot');
  const keel = await startKeel();
  const kc = new EtcdClient(keel.endpoint);
  const probes = await runWorkload(kc, workload);
  const expectedHashes = await hashesAt(kc, [0, ...probes]);
  const expectedState = await readState(kc);
  kc.close();
  await keel.stop();
  const written = await snapshotKeelDataDir(keel.dataDir, file);
  assert.equal(String(written.revision), expectedState.revision);

  assert.deepEqual(await toolStatus(etcd35.etcdutl, file), ourStatus(file, true));
  assert.deepEqual(await toolStatus(etcdctl34, file), ourStatus(file, false));

  const name = 'restored';
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = path.join(dir, 'etcd-data');
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const restore = await run(etcd35.etcdutl, ['snapshot', 'restore', file, '--data-dir', dataDir, '--name', name, '--initial-cluster', `${name}=${peerUrl}`, '--initial-advertise-peer-urls', peerUrl]);
  assert.equal(restore.code, 0, restore.stderr);
  const etcd = await startEtcd({ bin: etcd35.etcd, dataDir, name, clientPort, peerPort });
  const ec = new EtcdClient(etcd.endpoint);
  try {
    assert.deepEqual(await readState(ec), expectedState);
    assert.deepEqual(await hashesAt(ec, [0, ...probes]), expectedHashes);
  } finally {
    ec.close();
  }
});

// ---- offline ----

async function sampleStore(backend: Backend): Promise<MvccStore> {
  const store = await MvccStore.open(backend, { leaseExists: () => true });
  for (let i = 0; i < 300; i++) await store.put(putReq(`k${i % 40}`, 'v'.repeat(i % 13 === 0 ? 6000 : i % 50)));
  await store.txn(txnReq([], [{ put: putReq('t1', 'a') }, { put: putReq('t2', 'b') }, { deleteRange: delReq('k1') }]));
  await store.deleteRange(delReq('k2', 'k3'));
  await store.compact(200);
  await store.put(putReq('last', 'x'));
  await store.commit();
  await store.compactionSettled();
  return store;
}

async function entries(backend: Backend): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [k, v] of backend.iterate({})) out.push([k.toString('hex'), v.toString('hex')]);
  return out;
}

test('keel store → etcd snapshot → keel data dir keeps every revision, the compaction point and the revision', async () => {
  const dir = makeTempDir('snap-offline-');
  const source = memoryBackend();
  const store = await sampleStore(source);
  const file = path.join(dir, 'a.snapshot');
  const written = await writeEtcdSnapshot(source, file);
  assert.equal(written.revision, store.currentRevision());
  const status = etcdSnapshotStatus(file);
  assert.equal(status.revision, store.currentRevision());
  assert.equal(fs.statSync(file).size, status.totalSize + 32);

  const dataDir = path.join(dir, 'restored');
  const r = await restoreEtcdSnapshot(file, dataDir);
  assert.equal(r.revision, store.currentRevision());
  const restored = await openLevelBackend(path.join(dataDir, 'member', 'db'));
  try {
    const want = (await entries(source)).filter(([k]) => k.startsWith('6b') || k.startsWith('6d6d7663632f'));
    assert.deepEqual(await entries(restored), want);
  } finally {
    await restored.close();
    await store.close();
  }
});

test('restore checks the trailing sha256 as etcdutl does, unless told to skip it', async () => {
  const dir = makeTempDir('snap-hash-');
  const source = memoryBackend();
  const store = await sampleStore(source);
  const good = path.join(dir, 'good.snapshot');
  await writeEtcdSnapshot(source, good);
  await store.close();
  const bytes = fs.readFileSync(good);

  const bad = path.join(dir, 'bad.snapshot');
  const flipped = Buffer.from(bytes);
  const last = flipped.length - 1;
  flipped[last] = (flipped[last] as number) ^ 0xff;
  fs.writeFileSync(bad, flipped);
  const stored = [...flipped.subarray(-32)].join(' ');
  const computed = [...bytes.subarray(-32)].join(' ');
  await assert.rejects(restoreEtcdSnapshot(bad, path.join(dir, 'r1')), { message: `expected sha256 [${stored}], got [${computed}]` });
  assert.equal(fs.existsSync(path.join(dir, 'r1')), false);

  const bare = path.join(dir, 'bare.db');
  fs.writeFileSync(bare, bytes.subarray(0, bytes.length - 32));
  await assert.rejects(restoreEtcdSnapshot(bare, path.join(dir, 'r2')), { message: 'snapshot missing hash but --skip-hash-check=false' });
  const r = await restoreEtcdSnapshot(bare, path.join(dir, 'r3'), { skipHashCheck: true });
  assert.ok(r.revisions > 0);
  await assert.rejects(restoreEtcdSnapshot(good, path.join(dir, 'r3')), { message: `data-dir "${path.join(dir, 'r3')}" exists` });
});

test('a damaged snapshot fails status and restore with an error, not a crash', async () => {
  const dir = makeTempDir('snap-bad-');
  const source = memoryBackend();
  const store = await sampleStore(source);
  const good = path.join(dir, 'good.snapshot');
  await writeEtcdSnapshot(source, good);
  await store.close();
  const bytes = fs.readFileSync(good);
  const pageSize = 4096;
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['truncated', bytes.subarray(0, pageSize * 3)],
    ['zeroed data pages', Buffer.concat([bytes.subarray(0, pageSize * 2), Buffer.alloc(bytes.length - pageSize * 2)])],
  ];
  for (const [name, content] of cases) {
    const f = path.join(dir, `${name}.db`);
    fs.writeFileSync(f, content);
    assert.throws(() => etcdSnapshotStatus(f), (e: unknown) => e instanceof Error && e.name !== 'AssertionError', name);
    await assert.rejects(restoreEtcdSnapshot(f, path.join(dir, `r-${name}`), { skipHashCheck: true }), (e: unknown) => e instanceof Error && e.name !== 'AssertionError', name);
  }
});
