// Membership changes on real processes under write load: add a voter, add a
// learner and promote it, remove a member; every acknowledged write survives.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startKeel, cleanupAll, skipUnlessTools, freePort, type ServerProcess } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

interface PbMember { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }

async function join(name: string, initialCluster: string, clientPort: number, peerPort: number): Promise<ServerProcess> {
  return startKeel({ name, clientPort, peerPort, passPeerFlags: true, readyTimeoutMs: 30_000, extraArgs: ['--initial-cluster', initialCluster, '--initial-cluster-state', 'existing'] });
}

test('add a voter, add a learner and promote it, remove a member, all under write load', { skip, timeout: 240_000 }, async () => {
  const p1 = { client: await freePort(), peer: await freePort() };
  const m1 = await startKeel({ name: 'm1', clientPort: p1.client, peerPort: p1.peer, passPeerFlags: true });
  const members: ServerProcess[] = [m1];
  const acked = new Map<string, string>();
  let stop = false;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; !stop && i < 20_000; i++) {
      const m = members[i % members.length]!;
      const c = new EtcdClient(m.endpoint, { deadlineMs: 10_000 });
      const r = await c.put({ key: b(`w${w}-${i}`), value: b(`v${i}`) });
      c.close();
      if (r.ok) acked.set(`w${w}-${i}`, `v${i}`);
      else await new Promise((res) => setTimeout(res, 50));
    }
  };
  const writers = [writer(0), writer(1), writer(2)];
  // Each phase must see writes acknowledged: wait for them (however slow the machine), within a generous bound.
  const moreAcked = async (n: number): Promise<void> => {
    const target = acked.size + n;
    for (const deadline = Date.now() + 120_000; acked.size < target && Date.now() < deadline;) await new Promise((res) => setTimeout(res, 100));
    assert.ok(acked.size >= target, `${n} more writes acknowledged (${acked.size} of ${target})`);
  };
  await moreAcked(20);
  const c1 = new EtcdClient(m1.endpoint, { deadlineMs: 30_000 });
  const list = async (): Promise<PbMember[]> => must(await c1.call<{ members: PbMember[] }>('Cluster', 'MemberList', {})).members;

  // A voter: answered at once (as etcd), then the cluster waits for it (two voters need both), then goes on.
  const p2 = { client: await freePort(), peer: await freePort() };
  const added = must(await c1.call<{ member: PbMember }>('Cluster', 'MemberAdd', { peerURLs: [`http://127.0.0.1:${p2.peer}`] }));
  let ic = `m1=http://127.0.0.1:${p1.peer},m2=http://127.0.0.1:${p2.peer}`;
  const m2 = await join('m2', ic, p2.client, p2.peer);
  assert.equal(added.member.isLearner, false);
  members.push(m2);
  await moreAcked(20);

  // A learner, then its promotion once it has caught up.
  const p3 = { client: await freePort(), peer: await freePort() };
  const learner = must(await c1.call<{ member: PbMember }>('Cluster', 'MemberAdd', { peerURLs: [`http://127.0.0.1:${p3.peer}`], isLearner: true }));
  assert.equal(learner.member.isLearner, true);
  assert.deepEqual(await c1.call('Cluster', 'MemberAdd', { peerURLs: [`http://127.0.0.1:${p3.peer}`] }), { ok: false, code: 9, details: 'etcdserver: Peer URLs already exists' });
  ic += `,m3=http://127.0.0.1:${p3.peer}`;
  const m3 = await join('m3', ic, p3.client, p3.peer);
  let promoted = false;
  for (let attempt = 0; attempt < 100 && !promoted; attempt++) {
    const r = await c1.call('Cluster', 'MemberPromote', { ID: learner.member.ID });
    if (r.ok) promoted = true;
    else {
      assert.equal(r.details, 'etcdserver: can only promote a learner member which is in sync with leader');
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  assert.ok(promoted, 'the learner caught up and was promoted');
  members.push(m3);
  await moreAcked(20);
  assert.deepEqual((await list()).map((m) => m.isLearner), [false, false, false]);
  assert.deepEqual(await c1.call('Cluster', 'MemberPromote', { ID: learner.member.ID }), { ok: false, code: 9, details: 'etcdserver: can only promote a learner member' });

  // Remove m2; the other two go on.
  members.splice(members.indexOf(m2), 1);
  must(await c1.call('Cluster', 'MemberRemove', { ID: added.member.ID }));
  assert.deepEqual(await c1.call('Cluster', 'MemberRemove', { ID: added.member.ID }), { ok: false, code: 5, details: 'etcdserver: member not found' });
  await moreAcked(20);
  stop = true;
  await Promise.all(writers);
  assert.equal((await list()).length, 2);
  for (const m of [m1, m3]) {
    const c = new EtcdClient(m.endpoint, { deadlineMs: 30_000 });
    const all = must(await c.range({ key: b('w'), range_end: b('x') }));
    const have = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    for (const [k, v] of acked) assert.equal(have.get(k), v, `acknowledged ${k} on ${m.name}`);
    c.close();
  }
  c1.close();
});
