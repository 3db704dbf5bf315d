// Linearizable reads: ReadIndex confirmed by a heartbeat quorum (thesis
// §6.4) and the leader's read lease (thesis §6.4.1, only with CheckQuorum).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isRaftError, message, RawNode, MemoryStorage } from '../../src/raft';
import type { Raft } from '../../src/raft';
import { limits } from '../../src/util';
import { SeededRandom } from '../../src/util';
import { msgs, Network, newRaft, propose, tickN } from './helpers';

function cluster(n: number, opts: Parameters<typeof Network.ofSize>[1] = {}): Network {
  const net = Network.ofSize(n, opts);
  for (const r of net.peers.values()) if (r !== null) r.leaderContactElapsed = r.electionTimeout;
  net.campaign(1);
  assert.equal(net.raft(1).state, 'leader');
  return net;
}

function readAt(r: Raft): Uint8Array {
  const ctx = r.readIndex();
  assert.ok(!isRaftError(ctx), 'read refused');
  return ctx;
}

test('ReadIndex: reads asked between two Readies share one heartbeat round', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  const ctxs = [1, 2, 3, 4, 5].map(() => readAt(leader));
  const out = msgs(leader);
  assert.equal(out.filter((m) => m.type === 'MsgHeartbeat').length, 2, 'one round: a heartbeat per follower');
  net.send(...out);
  const rs = leader.takeReadStates();
  assert.deepEqual(rs.map((s) => s.requestCtx), ctxs);
  for (const s of rs) assert.equal(s.index, leader.raftLog.committed);
});

test('ReadIndex: a follower asks the leader and gets the leader\'s commit index', () => {
  const net = cluster(3);
  net.propose(1, 'x');
  const follower = net.raft(2);
  const ctx = readAt(follower);
  net.flush();
  const rs = follower.takeReadStates();
  assert.equal(rs.length, 1);
  assert.deepEqual(rs[0]?.requestCtx, ctx);
  assert.equal(rs[0]?.index, net.raft(1).raftLog.committed);
});

test('ReadIndex: the read index is the commit index when the request arrived, not when it was confirmed', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  const at = leader.raftLog.committed;
  readAt(leader);
  net.ignore('MsgHeartbeat');
  net.flush();
  net.recover();
  net.propose(1, 'later');
  assert.ok(leader.raftLog.committed > at);
  leader.tick();
  net.flush();
  const rs = leader.takeReadStates();
  assert.equal(rs.length, 1);
  assert.equal(rs[0]?.index, at);
});

test('ReadIndex: request IDs are 24 bytes, carry the member ID and are never reused, even across restarts', () => {
  const storage = new MemoryStorage();
  const seen = new Set<string>();
  for (let life = 0; life < 3; life++) {
    const r = newRaft(1, [], 10, 1, { storage, random: new SeededRandom(1000 + life), ...(life === 0 ? { peers: [1n] } : {}) });
    tickN(r, 20);
    assert.equal(r.state, 'leader');
    for (let i = 0; i < 100; i++) {
      const ctx = readAt(r);
      assert.equal(ctx.byteLength, 24);
      assert.equal(new DataView(ctx.buffer).getBigUint64(0), 1n);
      const key = Buffer.from(ctx).toString('hex');
      assert.ok(!seen.has(key), 'reused');
      seen.add(key);
    }
    for (const e of r.raftLog.unstableEntries()) storage.append([e]);
    storage.setHardState(r.hardState());
  }
});

test('ReadIndex: an answer meant for an earlier life of the member, or answered twice, is dropped', () => {
  const net = cluster(3);
  const follower = net.raft(2);
  const ctx = readAt(follower);
  const answer = message({ type: 'MsgReadIndexResp', from: 1n, to: 2n, term: follower.term, index: 1, context: ctx });
  follower.step(answer);
  follower.step(answer);
  assert.equal(follower.takeReadStates().length, 1, 'a duplicate answer is ignored');
  // A restarted member (same ID, fresh Random) does not recognize it either.
  const reborn = newRaft(2, [1, 2, 3], 10, 1, { random: new SeededRandom(99) });
  reborn.becomeFollower(follower.term, 1n);
  reborn.step(answer);
  assert.deepEqual(reborn.takeReadStates(), []);
});

test('ReadIndex: refused without a leader; answers to expired requests are dropped', () => {
  const r = newRaft(1, [1, 2, 3]);
  const err = r.readIndex();
  assert.ok(isRaftError(err, 'ReadIndexDropped'));
  r.becomeFollower(1, 2n);
  const ctx = readAt(r);
  tickN(r, r.electionTimeout * limits.raftReadIndexTimeoutElections + 1);
  r.becomeFollower(r.term, 2n);
  r.step(message({ type: 'MsgReadIndexResp', from: 2n, to: 1n, term: r.term, index: 5, context: ctx }));
  assert.deepEqual(r.takeReadStates(), [], 'the asker gave up long ago');
});

test('ReadIndex: a single-member cluster answers at once', () => {
  const r = newRaft(1, [1]);
  tickN(r, 20);
  const ctx = readAt(r);
  assert.deepEqual(r.takeReadStates(), [{ index: 1, requestCtx: ctx }]);
});

test('ReadIndex: a leader that loses leadership drops its pending reads', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  readAt(leader);
  msgs(leader);
  leader.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: leader.term + 1 }));
  assert.equal(leader.state, 'follower');
  leader.step(message({ type: 'MsgHeartbeatResp', from: 2n, to: 1n, term: leader.term, index: 1 }));
  assert.deepEqual(leader.takeReadStates(), []);
});

test('lease: with a quorum heard from within the lease, the leader answers without a round', () => {
  const net = cluster(3, { checkQuorum: true, readOnlyOption: 'lease' });
  const leader = net.raft(1);
  leader.tick();
  net.flush();
  const ctx = readAt(leader);
  assert.deepEqual(leader.takeReadStates(), [{ index: leader.raftLog.committed, requestCtx: ctx }]);
  assert.equal(msgs(leader).filter((m) => m.type === 'MsgHeartbeat').length, 0, 'no heartbeat round needed');
});

test('lease: after an election timeout without acknowledgements the leader falls back to a heartbeat round', () => {
  const net = cluster(3, { checkQuorum: true, readOnlyOption: 'lease' });
  const leader = net.raft(1);
  leader.tick();
  net.flush();
  net.isolate(1);
  for (let i = 0; i < leader.electionTimeout - 1; i++) {
    leader.tick();
    net.flush();
  }
  readAt(leader);
  assert.equal(leader.takeReadStates().length, 1, 'the lease still holds one tick before its end');
  leader.tick();
  net.flush();
  assert.equal(leader.state, 'leader', 'CheckQuorum has not deposed it yet');
  readAt(leader);
  assert.deepEqual(leader.takeReadStates(), [], 'the lease has run out');
});

test('lease: a leader that ordered a transfer no longer trusts its lease', () => {
  const net = cluster(3, { checkQuorum: true, readOnlyOption: 'lease' });
  const leader = net.raft(1);
  leader.tick();
  net.flush();
  net.isolate(2);
  leader.step(message({ type: 'MsgTransferLeader', from: 2n, to: 1n }));
  assert.ok(msgs(leader).some((m) => m.type === 'MsgTimeoutNow'));
  readAt(leader);
  assert.deepEqual(leader.takeReadStates(), [], 'the transferee may already lead: confirm with a round');
});

test('lease: refused by configuration without CheckQuorum', () => {
  assert.throws(
    () => new RawNode({ id: 1n, peers: [1n], electionTicks: 10, heartbeatTicks: 1, storage: new MemoryStorage(), random: new SeededRandom(1), readOnlyOption: 'lease', checkQuorum: false }),
    /lease-based reads need checkQuorum/,
  );
});

void propose;
