// Bad input gets etcd's error, never crashes the member, and loses nothing.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startKeel, cleanupAll, skipUnlessTools, makeTempDir, keelEntry, runSync } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

function rawCall(endpoint: string, method: string, body: Buffer): Promise<{ code: number; details: string }> {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, (x: Buffer) => x, (x: Buffer) => x, body, (err) => {
      client.close();
      resolve({ code: err?.code ?? 0, details: err?.details ?? '' });
    });
  });
}

test('malformed, empty-key, oversized and too-many-ops requests get etcd errors; data intact', { skip }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  must(await c.put({ key: b('keep'), value: b('me') }));

  const garbage = await rawCall(keel.endpoint, '/etcdserverpb.KV/Put', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
  assert.notEqual(garbage.code, 0, 'a malformed request is refused');

  assert.deepEqual(await c.put({ key: b(''), value: b('x') }), { ok: false, code: 3, details: 'etcdserver: key is not provided' });
  assert.deepEqual(await c.range({ key: b('') }), { ok: false, code: 3, details: 'etcdserver: key is not provided' });
  assert.deepEqual(await c.put({ key: b('big'), value: Buffer.alloc(1.6 * 1024 * 1024) }), { ok: false, code: 3, details: 'etcdserver: request is too large' });
  const huge = await c.put({ key: b('huge'), value: Buffer.alloc(3 * 1024 * 1024) });
  assert.equal(huge.ok, false);
  assert.equal(huge.ok ? 0 : huge.code, grpc.status.RESOURCE_EXHAUSTED);
  const ops = Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b(`t${i}`), value: b('v') } }));
  assert.deepEqual(await c.txn({ success: ops }), { ok: false, code: 3, details: 'etcdserver: too many operations in txn request' });
  assert.deepEqual(await c.put({ key: b('k'), value: b('v'), lease: 42 }), { ok: false, code: 5, details: 'etcdserver: requested lease not found' });

  const all = must(await c.range({ key: b('\0'), range_end: b('\0') }));
  assert.deepEqual(all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`), ['keep=me']);
  assert.equal(Number(all.header!.revision), 2, 'no refused request moved the revision');
  assert.ok(keel.running, 'the member is still up');
  c.close();
});

function startFails(dataDir: string): { status: number | null; stderr: string } {
  const entry = keelEntry();
  assert.ok(entry !== undefined);
  const r = runSync(process.execPath, [entry, '--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0', '--advertise-client-urls', 'http://127.0.0.1:0']);
  return { status: r.status, stderr: r.stderr };
}

function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  // LOG and LOG.old are LevelDB's own diagnostics, rotated on every open attempt; the data is the rest.
  for (const f of fs.readdirSync(dir)) if (f !== 'LOG' && f !== 'LOG.old') out[f] = fs.readFileSync(path.join(dir, f)).toString('base64');
  return out;
}

test('a corrupt data dir is refused with a clear error and left as it was', { skip }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  must(await c.put({ key: b('a'), value: b('1') }));
  c.close();
  await keel.stop();
  const db = path.join(keel.dataDir, 'member', 'db');
  fs.writeFileSync(path.join(db, 'CURRENT'), 'not a manifest name');
  const before = snapshotDir(db);
  const r = startFails(keel.dataDir);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /failed to open data dir/);
  assert.match(r.stderr, new RegExp(db.replace(/[/.]/g, '\\$&')));
  assert.deepEqual(snapshotDir(db), before, 'nothing in the corrupt dir was changed');
});

test('an unusable data dir path and a data dir in use are refused clearly', { skip }, async () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'plain-file');
  fs.writeFileSync(file, 'x');
  const r = startFails(path.join(file, 'data'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /failed to open data dir.*ENOTDIR/);

  const keel = await startKeel();
  const second = startFails(keel.dataDir);
  assert.equal(second.status, 1);
  assert.match(second.stderr, /failed to open data dir/);
  assert.ok(keel.running);
});
