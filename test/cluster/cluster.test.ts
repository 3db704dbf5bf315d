// Three keel processes on loopback, started through bin/keel.js with etcd's
// cluster flags: formation as etcdctl sees it, kill -9 of the leader under
// write load, and a SIGSTOPped leader that must not serve stale reads.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startKeel, cleanupAll, skipUnlessTools, freePort, etcdctlBin, type ServerProcess } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel', 'etcdctl']);
const electionTimeoutMs = 1000;

async function startCluster(n: number, extra: string[] = []): Promise<ServerProcess[]> {
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < n; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i + 1}`);
  const initialCluster = names.map((nm, i) => `${nm}=http://127.0.0.1:${ports[i]!.peer}`).join(',');
  // Members become ready only once a quorum is up: start them together.
  return Promise.all(names.map((name, i) => startKeel({
    name, clientPort: ports[i]!.client, peerPort: ports[i]!.peer, passPeerFlags: true,
    extraArgs: ['--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'keel-test', ...extra],
  })));
}

interface Status { header: { member_id: string; revision: string }; leader: string; raftTerm: string; raftIndex: string; raftAppliedIndex: string }

async function status(m: ServerProcess): Promise<Status | undefined> {
  const c = new EtcdClient(m.endpoint, { deadlineMs: 3000 });
  const r = await c.call<Status>('Maintenance', 'Status', {});
  c.close();
  return r.ok ? r.value : undefined;
}

/** A member's ID, asking until it answers (a loaded machine can be slow to). */
async function idOf(m: ServerProcess): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const s = await status(m);
    if (s !== undefined) return s.header.member_id;
  }
  throw new Error(`${m.name} never answered Status`);
}

async function leaderOf(members: ServerProcess[], timeoutMs: number, notId?: string): Promise<{ leader: ServerProcess; afterMs: number }> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    for (const m of members) {
      const s = await status(m);
      if (s !== undefined && s.leader !== '0' && s.leader === s.header.member_id && s.leader !== notId) return { leader: m, afterMs: Date.now() - started };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no leader within ${timeoutMs} ms`);
}

function etcdctl(endpoints: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(etcdctlBin() as string, ['--endpoints', endpoints, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until every member has applied the same index and reports the same revision. */
async function converged(members: ServerProcess[], timeoutMs: number): Promise<Status[]> {
  const started = Date.now();
  for (;;) {
    const all = await Promise.all(members.map(status));
    const ok = all.every((s) => s !== undefined) && new Set(all.map((s) => s!.header.revision)).size === 1 && new Set(all.map((s) => s!.raftAppliedIndex)).size === 1;
    if (ok) return all as Status[];
    if (Date.now() - started > timeoutMs) throw new Error(`members did not converge: ${JSON.stringify(all)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a 3-member cluster comes up from --initial-cluster; etcdctl member list and endpoint status show it', { skip, timeout: 120_000 }, async () => {
  const members = await startCluster(3);
  const endpoints = members.map((m) => m.endpoint).join(',');
  const list = etcdctl(endpoints, 'member', 'list', '-w', 'table');
  assert.equal(list.status, 0, list.stderr);
  // etcdctl prints IDs in hex without leading zeros, right-aligned.
  const rows = list.stdout.split('\n').filter((l) => /^\| +[0-9a-f]{1,16} \|/.test(l));
  assert.equal(rows.length, 3, list.stdout);
  for (const [i, m] of members.entries()) {
    assert.ok(rows.some((r) => r.includes(`| started |   m${i + 1} |`) && r.includes(m.peerUrl) && r.includes(m.clientUrl) && r.includes('|      false |')), `row for m${i + 1} in\n${list.stdout}`);
  }
  const st = etcdctl(endpoints, 'endpoint', 'status', '-w', 'table');
  assert.equal(st.status, 0, st.stderr);
  assert.match(st.stdout, /\| +ENDPOINT +\| +ID +\| VERSION \| DB SIZE \| IS LEADER \| IS LEARNER \| RAFT TERM \| RAFT INDEX \| RAFT APPLIED INDEX \| ERRORS \|/);
  const statusRows = st.stdout.split('\n').filter((l) => l.startsWith('| 127.0.0.1:'));
  assert.equal(statusRows.length, 3);
  assert.equal(statusRows.filter((r) => r.includes('|      true |      false |')).length, 1, `exactly one leader\n${st.stdout}`);
  const terms = new Set(statusRows.map((r) => r.split('|')[7]!.trim()));
  assert.equal(terms.size, 1, 'one term across the cluster');
  // Every row's ID is one of member list's IDs.
  const ids = rows.map((r) => r.split('|')[1]!.trim());
  for (const r of statusRows) assert.ok(ids.includes(r.split('|')[2]!.trim()));
});

test('kill -9 of the leader under write load: a new leader within 3 election timeouts, no acknowledged write lost, the old leader catches up', { skip, timeout: 180_000 }, async () => {
  const members = await startCluster(3);
  const { leader } = await leaderOf(members, 10_000);
  const acked = new Map<string, string>();
  let stop = false;
  const writer = async (w: number): Promise<void> => {
    let i = 0;
    let target = w % members.length;
    while (!stop && i < 3000) {
      const m = members[target]!;
      const c = new EtcdClient(m.endpoint, { deadlineMs: 3000 });
      while (!stop && i < 3000) {
        const key = `w${w}-${i}`;
        const r = await c.put({ key: b(key), value: b(`v${i}`) });
        if (!r.ok) break; // outcome unknown: neither counted nor retried under the same key
        acked.set(key, `v${i}`);
        i++;
      }
      c.close();
      i++;
      target = (target + 1) % members.length;
    }
  };
  const writers = Array.from({ length: 6 }, (_, w) => writer(w));
  for (let waited = 0; acked.size < 200 && waited < 30_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  const oldId = await idOf(leader);
  await leader.kill9();
  const survivors = members.filter((m) => m !== leader);
  const { afterMs } = await leaderOf(survivors, 20_000, oldId);
  assert.ok(afterMs <= 3 * electionTimeoutMs + 500, `new leader after ${afterMs} ms (3 election timeouts = ${3 * electionTimeoutMs} ms, plus polling)`);
  for (let waited = 0; waited < 1500; waited += 50) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(writers);
  assert.ok(acked.size >= 200, `enough writes acknowledged to mean something (${acked.size})`);
  await converged(survivors, 20_000);
  for (const m of survivors) {
    const c = new EtcdClient(m.endpoint);
    const all = must(await c.range({ key: b('w'), range_end: b('x'), serializable: true }));
    const have = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
    for (const [k, v] of acked) assert.equal(have.get(k), v, `acknowledged ${k} on ${m.name}`);
    c.close();
  }
  await leader.restart();
  const statuses = await converged(members, 30_000);
  assert.equal(new Set(statuses.map((s) => s.header.revision)).size, 1);
  const hashes = new Set<number>();
  for (const m of members) {
    const c = new EtcdClient(m.endpoint);
    hashes.add((must(await c.call<{ hash: number }>('Maintenance', 'HashKV', { revision: statuses[0]!.header.revision }))).hash);
    c.close();
  }
  assert.equal(hashes.size, 1, 'HashKV equal on all members');
});

test('a SIGSTOPped leader serves no stale read after SIGCONT, and no lease expires early', { skip: skip || process.platform !== 'linux', timeout: 120_000 }, async () => {
  const members = await startCluster(3);
  const { leader } = await leaderOf(members, 10_000);
  const lc = new EtcdClient(leader.endpoint, { deadlineMs: 15_000 });
  const lease = must(await lc.leaseGrant({ TTL: 10, ID: 0 }));
  must(await lc.put({ key: b('k'), value: b('old'), lease: lease.ID }));
  const oldId = await idOf(leader);
  process.kill(leader.pid as number, 'SIGSTOP');
  try {
    const others = members.filter((m) => m !== leader);
    const { leader: next } = await leaderOf(others, 20_000, oldId);
    const nc = new EtcdClient(next.endpoint);
    must(await nc.put({ key: b('k'), value: b('new'), lease: lease.ID }));
    nc.close();
    await new Promise((r) => setTimeout(r, 2 * electionTimeoutMs));
  } finally {
    process.kill(leader.pid as number, 'SIGCONT');
  }
  // The first read on the old leader after it wakes: it must not answer from its stale state.
  const r = must(await lc.range({ key: b('k') }));
  assert.equal(r.kvs[0]?.value.toString(), 'new');
  const ttl = must(await lc.call<{ TTL: string }>('Lease', 'LeaseTimeToLive', { ID: lease.ID }));
  assert.ok(Number(ttl.TTL) > 0, `the lease survived the pause (TTL ${ttl.TTL})`);
  lc.close();
});

test('etcdctl move-leader hands leadership to another member; a follower refuses', { skip, timeout: 120_000 }, async () => {
  const members = await startCluster(3);
  const { leader } = await leaderOf(members, 10_000);
  const leaderId = await idOf(leader);
  const target = members.find((m) => m !== leader)!;
  const targetHex = BigInt(await idOf(target)).toString(16);
  const r = etcdctl(leader.endpoint, 'move-leader', targetHex);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `Leadership transferred from ${BigInt(leaderId).toString(16)} to ${targetHex}\n`);
  const now = await leaderOf(members, 10_000);
  assert.equal(now.leader, target);
  const refused = etcdctl(leader.endpoint, 'move-leader', BigInt(leaderId).toString(16));
  assert.notEqual(refused.status, 0);
  // etcdctl itself refuses to ask a member that is not the leader.
  assert.match(refused.stderr, /no leader endpoint given at/);
});

test('a member that falls behind a compacted log catches up by snapshot; HashKV equal everywhere', { skip, timeout: 180_000 }, async () => {
  const members = await startCluster(3, ['--snapshot-count', '50', '--experimental-snapshot-catchup-entries', '10']);
  const { leader } = await leaderOf(members, 10_000);
  const lagging = members.find((m) => m !== leader)!;
  await lagging.stop();
  const c = new EtcdClient(leader.endpoint, { deadlineMs: 10_000 });
  const lease = must(await c.leaseGrant({ TTL: 300, ID: 0 }));
  for (let i = 0; i < 400; i++) must(await c.put({ key: b(`k${i % 150}`), value: b(`v${i}`), ...(i % 7 === 0 ? { lease: lease.ID } : {}) }));
  must(await c.deleteRange({ key: b('k1'), range_end: b('k2') }));
  await lagging.restart();
  assert.match(lagging.log, /restored store from the leader's snapshot/);
  const statuses = await converged(members, 30_000);
  const hashes = new Set<number>();
  for (const m of members) {
    const mc = new EtcdClient(m.endpoint);
    hashes.add(must(await mc.call<{ hash: number }>('Maintenance', 'HashKV', { revision: statuses[0]!.header.revision })).hash);
    mc.close();
  }
  assert.equal(hashes.size, 1, 'HashKV equal on all members');
  const lc = new EtcdClient(lagging.endpoint);
  const ttl = must(await lc.call<{ keys: Buffer[] }>('Lease', 'LeaseTimeToLive', { ID: lease.ID, keys: true }));
  assert.ok(ttl.keys.length > 0, 'the restored member knows the lease and its keys');
  must(await lc.put({ key: b('after'), value: b('restore') }));
  lc.close();
  c.close();
});

test('quota: NOSPACE is raised for the cluster, reads are still served, and disarm clears it', { skip, timeout: 180_000 }, async () => {
  const members = await startCluster(3, ['--quota-backend-bytes', String(512 * 1024)]);
  const { leader } = await leaderOf(members, 10_000);
  const c = new EtcdClient(leader.endpoint, { deadlineMs: 10_000 });
  let refused: { code: number; details: string } | undefined;
  for (let i = 0; i < 400 && refused === undefined; i++) {
    const r = await c.put({ key: b(`q${i % 40}`), value: Buffer.alloc(24 * 1024, i) });
    if (!r.ok) refused = { code: r.code, details: r.details };
    else if (i % 10 === 9) await new Promise((res) => setTimeout(res, 1100)); // the size is measured at most once a second
  }
  assert.deepEqual(refused, { code: 8, details: 'etcdserver: mvcc: database space exceeded' });
  assert.equal(must(await c.range({ key: b('q0') })).kvs.length, 1, 'reads are still served');
  for (const m of members) {
    const mc = new EtcdClient(m.endpoint);
    const alarms = must(await mc.call<{ alarms: Array<{ alarm: number }> }>('Maintenance', 'Alarm', { action: 0 }));
    assert.deepEqual(alarms.alarms.map((a) => a.alarm), [1], `NOSPACE listed on ${m.name}`);
    mc.close();
  }
  // Make room, then disarm as etcdctl alarm disarm does.
  must(await c.deleteRange({ key: b('q'), range_end: b('r') }));
  const rev = Number(must(await c.range({ key: b('x') })).header!.revision);
  must(await c.compact({ revision: rev, physical: true }));
  for (const m of members) {
    const mc = new EtcdClient(m.endpoint, { deadlineMs: 30_000 });
    must(await mc.call('Maintenance', 'Defragment', {}));
    mc.close();
  }
  const listed = must(await c.call<{ alarms: Array<{ memberID: string; alarm: number }> }>('Maintenance', 'Alarm', { action: 0 }));
  for (const a of listed.alarms) must(await c.call('Maintenance', 'Alarm', { action: 2, memberID: a.memberID, alarm: a.alarm }));
  assert.deepEqual(must(await c.call<{ alarms: unknown[] }>('Maintenance', 'Alarm', { action: 0 })).alarms, []);
  must(await c.put({ key: b('after'), value: b('disarm') }));
  c.close();
});
