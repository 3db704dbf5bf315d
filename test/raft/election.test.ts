// Elections beyond the basic paper rules: PreVote and CheckQuorum (thesis
// §9.6), the vote lease that makes them work, and the injected Random.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { makeConfState, message, MemoryStorage, None } from '../../src/raft';
import { transferContext } from '../../src/raft';
import { SeededRandom } from '../../src/util';
import { msgs, Network, newRaft, raftWithLog, tickN } from './helpers';

function settled(net: Network): void {
  for (const r of net.peers.values()) if (r !== null) r.leaderContactElapsed = r.electionTimeout;
}

test('PreVote: an isolated member does not raise its term, and rejoins without deposing the leader', () => {
  const net = Network.ofSize(3, { preVote: true });
  net.campaign(1);
  const leader = net.raft(1);
  const loner = net.raft(3);
  assert.equal(leader.state, 'leader');
  net.isolate(3);
  for (let i = 0; i < 100; i++) {
    loner.tick();
    net.flush();
  }
  assert.equal(loner.term, 1, 'pre-votes never win, so the term stays');
  assert.equal(loner.state, 'preCandidate');
  net.recover();
  leader.tick();
  net.flush();
  assert.equal(leader.state, 'leader');
  assert.equal(leader.term, 1);
  assert.equal(loner.state, 'follower');
  assert.equal(loner.lead, 1n);
});

test('without PreVote the same member comes back with a higher term and disrupts the leader', () => {
  const net = Network.ofSize(3, { preVote: false });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 100; i++) {
    net.raft(3).tick();
    net.flush();
  }
  assert.ok(net.raft(3).term > 1);
  net.recover();
  net.raft(3).tick();
  for (let i = 0; i < 30; i++) {
    net.raft(3).tick();
    net.flush();
  }
  assert.ok(net.raft(1).term > 1, 'the leader was forced into a new term');
});

test('PreVote: a won pre-vote leads to a real election in the next term', () => {
  const net = Network.ofSize(3, { preVote: true });
  net.campaign(1);
  assert.equal(net.raft(1).state, 'leader');
  assert.equal(net.raft(1).term, 1);
  for (const id of [2, 3]) assert.equal(net.raft(id).term, 1);
});

test('PreVote: a member whose log is behind loses the pre-vote and stays in its term', () => {
  const behind = raftWithLog(1, [1, 2, 3], [1], 2, 0, { preVote: true });
  const a = raftWithLog(2, [1, 2, 3], [1, 2], 2, 0, { preVote: true });
  const b = raftWithLog(3, [1, 2, 3], [1, 2], 2, 0, { preVote: true });
  const net = new Network(behind, a, b);
  net.campaign(1);
  assert.equal(behind.state, 'follower');
  assert.equal(behind.term, 2, 'the term did not move');
  assert.equal(a.term, 2);
});

test('CheckQuorum: a leader that hears from no quorum for an election timeout steps down', () => {
  const net = Network.ofSize(3, { checkQuorum: true });
  settled(net);
  net.campaign(1);
  const leader = net.raft(1);
  assert.equal(leader.state, 'leader');
  net.isolate(1);
  tickN(leader, leader.electionTimeout);
  assert.equal(leader.state, 'leader', 'the first check still sees the followers active');
  tickN(leader, leader.electionTimeout);
  assert.equal(leader.state, 'follower');
  assert.equal(leader.lead, None);
});

test('CheckQuorum: a leader that keeps hearing from a quorum stays', () => {
  const net = Network.ofSize(3, { checkQuorum: true });
  settled(net);
  net.campaign(1);
  const leader = net.raft(1);
  net.isolate(3);
  for (let i = 0; i < 5 * leader.electionTimeout; i++) {
    leader.tick();
    net.flush();
  }
  assert.equal(leader.state, 'leader');
});

test('vote lease: with CheckQuorum a member that heard from a leader recently ignores vote requests', () => {
  const net = Network.ofSize(3, { checkQuorum: true, preVote: true });
  settled(net);
  net.campaign(1);
  const f = net.raft(2);
  for (const type of ['MsgVote', 'MsgPreVote'] as const) {
    f.step(message({ type, from: 3n, to: 2n, term: 5, index: 10, logTerm: 5 }));
    assert.equal(f.term, 1, type);
    assert.deepEqual(msgs(f), [], `${type} ignored in lease`);
  }
  tickN(f, f.electionTimeout);
  f.step(message({ type: 'MsgPreVote', from: 3n, to: 2n, term: 5, index: 10, logTerm: 5 }));
  assert.equal(msgs(f)[0]?.reject, false, 'after the lease, a pre-vote is granted');
});

test('vote lease: a member just started is in lease for an election timeout (it may have promised before a crash)', () => {
  const r = newRaft(1, [1, 2, 3], 10, 1, { checkQuorum: true });
  r.step(message({ type: 'MsgVote', from: 2n, to: 1n, term: 3, index: 0, logTerm: 0 }));
  assert.deepEqual(msgs(r), []);
  assert.equal(r.term, 0);
  tickN(r, 9);
  r.step(message({ type: 'MsgVote', from: 2n, to: 1n, term: 3, index: 0, logTerm: 0 }));
  assert.deepEqual(msgs(r), [], 'still in lease');
  r.tick();
  r.step(message({ type: 'MsgVote', from: 2n, to: 1n, term: 3, index: 0, logTerm: 0 }));
  const resp = msgs(r)[0];
  assert.equal(resp?.type, 'MsgVoteResp');
  assert.equal(resp.reject, false);
});

test('vote lease: a campaign ordered by a leader transfer is not subject to the lease', () => {
  const net = Network.ofSize(3, { checkQuorum: true });
  settled(net);
  net.campaign(1);
  const f = net.raft(2);
  f.step(message({ type: 'MsgVote', from: 3n, to: 2n, term: 2, index: 1, logTerm: 1, context: transferContext }));
  const resp = msgs(f)[0];
  assert.equal(resp?.type, 'MsgVoteResp');
  assert.equal(resp.reject, false);
  assert.equal(f.term, 2);
});

test('a stale leader learns the newer term from the answer to its AppendEntries', () => {
  const r = newRaft(2, [1, 2, 3], 10, 1, { checkQuorum: true });
  r.becomeFollower(5, 3n);
  r.step(message({ type: 'MsgApp', from: 1n, to: 2n, term: 4 }));
  const resp = msgs(r)[0];
  assert.equal(resp?.type, 'MsgAppResp');
  assert.equal(resp.to, 1n);
  assert.equal(resp.term, 5);
  const stale = newRaft(1, [1, 2, 3], 10, 1, { checkQuorum: true });
  stale.becomeFollower(3, None);
  stale.becomeCandidate();
  stale.becomeLeader();
  stale.step(resp);
  assert.equal(stale.state, 'follower');
  assert.equal(stale.term, 5);
});

test('learners and members outside the configuration never campaign', () => {
  const learner = newRaft(4, [], 10, 1, { storage: new MemoryStorage(makeConfState([1n, 2n, 3n], [4n])) });
  const outsider = newRaft(9, [], 10, 1, { storage: new MemoryStorage(makeConfState([1n, 2n, 3n])) });
  const joiner = newRaft(5, [], 10, 1, { storage: new MemoryStorage() });
  for (const r of [learner, outsider, joiner]) {
    tickN(r, 100);
    assert.equal(r.state, 'follower');
    assert.deepEqual(msgs(r), []);
  }
});

test('election jitter comes only from the injected Random: same seed, same timeouts', () => {
  const timeouts = (seed: number): number[] => {
    const r = newRaft(1, [1, 2, 3], 10, 1, { random: new SeededRandom(seed) });
    const out: number[] = [];
    for (let i = 0; i < 20; i++) {
      r.becomeFollower(r.term + 1, None);
      out.push(r.randomizedElectionTimeout);
    }
    return out;
  };
  assert.deepEqual(timeouts(42), timeouts(42));
  assert.notDeepEqual(timeouts(42), timeouts(43));
  for (const t of timeouts(7)) assert.ok(t >= 10 && t < 20);
});

test('a single-member cluster elects itself at once', () => {
  const r = newRaft(1, [1]);
  tickN(r, 20);
  assert.equal(r.state, 'leader');
  assert.equal(r.raftLog.committed, 1);
});
