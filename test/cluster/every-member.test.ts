// Every request behaves the same on every member. Found by hand: on a 3-member
// keel, lease timetolive answered the leader's countdown on the leader but the
// full TTL on both followers (only the leader counts leases down); etcd's
// followers ask the leader. And a lone member answers member add at once, as
// etcd does, although the cluster then waits for the new member.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startKeel, cleanupAll, skipUnlessTools, freePort, type ServerProcess } from '../helpers/procs';
import { EtcdClient, must } from '../helpers/client';
import { Client } from '../../src/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

async function startCluster(n: number): Promise<ServerProcess[]> {
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < n; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i + 1}`);
  const initialCluster = names.map((nm, i) => `${nm}=http://127.0.0.1:${ports[i]!.peer}`).join(',');
  return Promise.all(names.map((name, i) => startKeel({
    name, clientPort: ports[i]!.client, peerPort: ports[i]!.peer, passPeerFlags: true,
    extraArgs: ['--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'every-member'],
  })));
}

interface Ttl { TTL: string; grantedTTL: string }

async function ttlOn(m: ServerProcess, id: string): Promise<number> {
  const c = new EtcdClient(m.endpoint, { deadlineMs: 10_000 });
  const r = must(await c.call<Ttl>('Lease', 'LeaseTimeToLive', { ID: id }));
  c.close();
  assert.equal(Number(r.grantedTTL), 30);
  return Number(r.TTL);
}

test('lease timetolive answers the leader\'s countdown on every member, before and after a keepalive', { skip, timeout: 120_000 }, async () => {
  const members = await startCluster(3);
  const c = new EtcdClient(members[1]!.endpoint, { deadlineMs: 10_000 });
  const lease = must(await c.call<{ ID: string }>('Lease', 'LeaseGrant', { TTL: 30 }));
  // Let the countdown pass a few whole seconds (time is what is being measured here, not speed).
  await new Promise((r) => setTimeout(r, 3500));
  const before = await Promise.all(members.map((m) => ttlOn(m, lease.ID)));
  assert.ok(before.every((t) => t <= 27), `every member counts down: ${before.join(', ')}`);
  assert.ok(Math.max(...before) - Math.min(...before) <= 1, `members agree: ${before.join(', ')}`);
  // A keepalive through a follower renews the lease for every member alike.
  const client = new Client({ endpoints: [members[1]!.endpoint] });
  const ka = await client.duplex('Lease', 'LeaseKeepAlive', { timeoutMs: 10_000 });
  const renewed = new Promise<{ TTL: unknown }>((resolve) => ka.once('data', resolve));
  ka.write({ ID: lease.ID });
  assert.equal(Number((await renewed).TTL), 30);
  ka.end();
  client.close();
  const after = await Promise.all(members.map((m) => ttlOn(m, lease.ID)));
  assert.ok(after.every((t) => t >= 28 && t <= 30), `renewed on every member: ${after.join(', ')}`);
  // An unknown lease is TTL -1 everywhere.
  for (const m of members) {
    const cc = new EtcdClient(m.endpoint, { deadlineMs: 10_000 });
    assert.equal(Number(must(await cc.call<Ttl>('Lease', 'LeaseTimeToLive', { ID: '12345' })).TTL), -1);
    cc.close();
  }
  c.close();
});

test('a lone member answers member add before the new member starts (as etcd), and listens on its peer URL', { skip, timeout: 120_000 }, async () => {
  const p1 = { client: await freePort(), peer: await freePort() };
  const m1 = await startKeel({ name: 'm1', clientPort: p1.client, peerPort: p1.peer, passPeerFlags: true });
  const net = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(p1.peer, '127.0.0.1', () => { s.destroy(); resolve(); });
    s.on('error', reject);
  });
  const c = new EtcdClient(m1.endpoint, { deadlineMs: 10_000 });
  const p2 = await freePort();
  const r = must(await c.call<{ member: { ID: string; peerURLs: string[] }; members: Array<{ ID: string }> }>('Cluster', 'MemberAdd', { peerURLs: [`http://127.0.0.1:${p2}`] }));
  assert.deepEqual(r.member.peerURLs, [`http://127.0.0.1:${p2}`]);
  assert.equal(r.members.length, 2);
  c.close();
});

test('a member with a data dir restarts whatever --initial-cluster-state says (as etcd)', { skip, timeout: 120_000 }, async () => {
  const ports = { client: await freePort(), peer: await freePort() };
  const first = await startKeel({ name: 'r1', clientPort: ports.client, peerPort: ports.peer });
  const c = new EtcdClient(first.endpoint, { deadlineMs: 10_000 });
  must(await c.put({ key: Buffer.from('k'), value: Buffer.from('v') }));
  c.close();
  await first.stop();
  // Before: keel asked the (absent) peers for the cluster ID and exited 1.
  const again = await startKeel({ name: 'r1', dataDir: first.dataDir, clientPort: ports.client, peerPort: ports.peer, extraArgs: ['--initial-cluster-state', 'existing'] });
  const d = new EtcdClient(again.endpoint, { deadlineMs: 10_000 });
  assert.equal(must(await d.range({ key: Buffer.from('k') })).kvs[0]?.value.toString(), 'v');
  d.close();
});
