// Leases on a real keel process: real-time expiry, revoke, restart.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startKeel, cleanupAll, skipUnlessTools } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

interface TimeToLive { ID: string; TTL: string; grantedTTL: string; keys: Buffer[] }

test('a 2 s lease expires after 2 s (etcd checks every 500 ms) and its keys go in one revision', { skip }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  const lease = must(await c.leaseGrant({ TTL: 2, ID: 0 }));
  assert.equal(lease.TTL, '2');
  for (const k of ['a', 'b', 'c']) must(await c.put({ key: b(k), value: b('v'), lease: lease.ID }));
  const granted = Date.now();
  let goneAfterMs = -1;
  while (Date.now() - granted < 10_000) {
    const r = must(await c.range({ key: b('a'), range_end: b('d') }));
    if (r.kvs.length < 3) {
      goneAfterMs = Date.now() - granted;
      assert.equal(r.kvs.length, 0, 'all attached keys are deleted together');
      // Three puts at revisions 2..4, then one revision for the whole revoke.
      assert.equal(r.header!.revision, '5');
      break;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(goneAfterMs >= 1900, `keys outlived the TTL (${goneAfterMs} ms)`);
  assert.ok(goneAfterMs > 0 && goneAfterMs <= 4000, `lease expired within the tolerance (${goneAfterMs} ms)`);
  const ttl = must(await c.call<TimeToLive>('Lease', 'LeaseTimeToLive', { ID: lease.ID, keys: true }));
  assert.equal(ttl.TTL, '-1');
  c.close();
});

test('leases survive a restart with their TTL and keys; revoke then deletes the keys', { skip }, async () => {
  const keel = await startKeel();
  let c = new EtcdClient(keel.endpoint);
  const lease = must(await c.leaseGrant({ TTL: 60, ID: '12345' }));
  assert.equal(lease.ID, '12345');
  must(await c.put({ key: b('held'), value: b('1'), lease: '12345' }));
  must(await c.put({ key: b('free'), value: b('2') }));
  assert.deepEqual(await c.leaseGrant({ TTL: 60, ID: '12345' }), { ok: false, code: 9, details: 'etcdserver: lease already exists' });
  c.close();
  await keel.restart();
  c = new EtcdClient(keel.endpoint);
  const ttl = must(await c.call<TimeToLive>('Lease', 'LeaseTimeToLive', { ID: '12345', keys: true }));
  assert.equal(ttl.grantedTTL, '60');
  assert.ok(Number(ttl.TTL) > 0 && Number(ttl.TTL) <= 60);
  assert.deepEqual(ttl.keys.map((k) => k.toString()), ['held']);
  must(await c.leaseRevoke('12345'));
  const left = must(await c.range({ key: b('\0'), range_end: b('\0') }));
  assert.deepEqual(left.kvs.map((kv) => kv.key.toString()), ['free']);
  assert.deepEqual(await c.leaseRevoke('12345'), { ok: false, code: 5, details: 'etcdserver: requested lease not found' });
  c.close();
});
