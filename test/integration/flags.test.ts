// keel takes etcd's flags and ETCD_* variables, and refuses unknown flags as etcd does.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startKeel, cleanupAll, skipUnlessTools, keelEntry, runSync } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

test('an unknown flag fails like etcd: message, usage, exit 2', { skip }, () => {
  const entry = keelEntry();
  assert.ok(entry !== undefined);
  const r = runSync(process.execPath, [entry, '--no-such-flag']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^flag provided but not defined: -no-such-flag\n/);
  const bad = runSync(process.execPath, [entry, '--max-txn-ops=abc']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^invalid value "abc" for flag -max-txn-ops: parse error/);
});

test('--max-txn-ops and --max-request-bytes, as flags (-x and --x=v forms) and as ETCD_* variables', { skip }, async () => {
  const keel = await startKeel({ extraArgs: ['-max-txn-ops', '2', '--max-request-bytes=1000'] });
  const c = new EtcdClient(keel.endpoint);
  const three = [0, 1, 2].map((i) => ({ request_put: { key: b(`k${i}`), value: b('v') } }));
  assert.deepEqual(await c.txn({ success: three }), { ok: false, code: 3, details: 'etcdserver: too many operations in txn request' });
  must(await c.txn({ success: three.slice(0, 2) }));
  assert.deepEqual(await c.put({ key: b('k'), value: Buffer.alloc(1000) }), { ok: false, code: 3, details: 'etcdserver: request is too large' });
  c.close();

  const viaEnv = await startKeel({ env: { ETCD_MAX_TXN_OPS: '1' } });
  const e = new EtcdClient(viaEnv.endpoint);
  assert.deepEqual(await e.txn({ success: three.slice(0, 2) }), { ok: false, code: 3, details: 'etcdserver: too many operations in txn request' });
  e.close();
});

test('--quota-backend-bytes: writes beyond the quota fail with NOSPACE, reads still served', { skip }, async () => {
  const keel = await startKeel({ extraArgs: ['--quota-backend-bytes', String(256 * 1024)] });
  const c = new EtcdClient(keel.endpoint);
  let refused: { code: number; details: string } | undefined;
  for (let i = 0; i < 200 && refused === undefined; i++) {
    const r = await c.put({ key: b(`q${i}`), value: Buffer.alloc(16 * 1024, i) });
    if (!r.ok) refused = { code: r.code, details: r.details };
    else await new Promise((res) => setTimeout(res, i % 8 === 0 ? 1100 : 0)); // size is measured at most once a second
  }
  assert.deepEqual(refused, { code: 8, details: 'etcdserver: mvcc: database space exceeded' });
  const read = must(await c.range({ key: b('q0') }));
  assert.equal(read.kvs.length, 1);
  const status = must(await c.status());
  assert.ok(status.errors.some((x) => x.includes('NOSPACE')));
  c.close();
});

test('Maintenance.Status reports version >= 3.5.13, db size, revision and itself as leader', { skip }, async () => {
  // etcd's default peer URL (http://localhost:2380) decides the default member ID: this member keeps it.
  const keel = await startKeel({ passPeerFlags: false });
  const c = new EtcdClient(keel.endpoint);
  must(await c.put({ key: b('x'), value: b('y') }));
  const s = must(await c.status());
  const [maj, min, patch] = s.version.split('.').map(Number);
  assert.ok(maj === 3 && (min ?? 0) >= 5 && (min! > 5 || (patch ?? 0) >= 13), `version ${s.version}`);
  assert.equal(s.leader, s.header!.member_id);
  assert.equal(s.header!.member_id, '10276657743932975437', 'etcd\'s default member id for default flags');
  assert.equal(s.header!.cluster_id, '14841639068965178418');
  assert.equal(Number(s.header!.revision), 2);
  assert.ok(Number(s.dbSize) > 0);
  c.close();
});

test('--backend-batch-interval and --backend-batch-limit: answered writes live in the raft log until the backend write, and survive kill -9', { skip }, async () => {
  // An hour-long interval and a limit no write here reaches: the backend is written only on demand.
  const keel = await startKeel({ extraArgs: ['--backend-batch-interval', '1h', '--backend-batch-limit', '100000'] });
  assert.doesNotMatch(keel.log, /not yet in effect.*backend-batch/);
  const c = new EtcdClient(keel.endpoint);
  for (let i = 0; i < 40; i++) must(await c.put({ key: b(`bb${i}`), value: b(`v${i}`) }));
  const before = must(await c.range({ key: b('bb'), range_end: b('bc') }));
  assert.equal(before.kvs.length, 40);
  // HashKV reads the backend: it must see every applied write (the member writes them out first).
  const h1 = must(await c.hashKv(0));
  c.close();
  await keel.kill9();
  await keel.restart();
  const d = new EtcdClient(keel.endpoint);
  const after = must(await d.range({ key: b('bb'), range_end: b('bc') }));
  assert.deepEqual(after.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), Number(kv.mod_revision)]), before.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), Number(kv.mod_revision)]));
  assert.equal(Number(after.header!.revision), Number(before.header!.revision));
  for (let i = 40; i < 60; i++) must(await d.put({ key: b(`bb${i}`), value: b(`v${i}`) }));
  await keel.kill9();
  await keel.restart();
  const e = new EtcdClient(keel.endpoint);
  const last = must(await e.range({ key: b('bb'), range_end: b('bc'), count_only: true }));
  assert.equal(Number(last.count), 60, 'writes acknowledged after the restart, never written to the backend, are replayed too');
  assert.equal(must(await e.hashKv(Number(before.header!.revision))).hash, h1.hash, 'the same history hashes the same');
  e.close();
});
