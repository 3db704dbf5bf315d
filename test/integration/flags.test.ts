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
  const keel = await startKeel();
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
