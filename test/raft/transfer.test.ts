// Leader transfer (thesis §3.10): the leader brings the transferee up to date,
// then tells it to campaign at once (MsgTimeoutNow); proposals are refused
// meanwhile, and the transfer is abandoned after an election timeout.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isRaftError, makeConfState, message, MemoryStorage, None } from '../../src/raft';
import { msgs, Network, newRaft, propose, tickN } from './helpers';

function cluster(n: number, opts: Parameters<typeof Network.ofSize>[1] = {}): Network {
  const net = Network.ofSize(n, opts);
  for (const r of net.peers.values()) if (r !== null) r.leaderContactElapsed = r.electionTimeout;
  net.campaign(1);
  assert.equal(net.raft(1).state, 'leader');
  return net;
}

const transfer = (net: Network, at: number, to: number): void => {
  net.send(message({ type: 'MsgTransferLeader', from: BigInt(to), to: BigInt(at) }));
};

for (const opts of [{}, { preVote: true, checkQuorum: true }]) {
  test(`transfer to an up-to-date follower: it campaigns at once and wins ${JSON.stringify(opts)}`, () => {
    const net = cluster(3, opts);
    transfer(net, 1, 2);
    assert.equal(net.raft(2).state, 'leader');
    assert.equal(net.raft(2).term, 2);
    assert.equal(net.raft(1).state, 'follower');
    assert.equal(net.raft(1).lead, 2n);
    assert.ok(net.delivered.some((m) => m.type === 'MsgTimeoutNow' && m.to === 2n));
  });
}

test('transfer to a lagging follower: the leader catches it up first', () => {
  const net = cluster(3);
  net.isolate(3);
  for (let i = 0; i < 3; i++) net.propose(1, `e${i}`);
  const leader = net.raft(1);
  assert.ok(net.raft(3).raftLog.lastIndex() < leader.raftLog.lastIndex());
  net.recover();
  transfer(net, 1, 3);
  assert.equal(net.raft(3).state, 'leader');
  assert.equal(net.raft(3).raftLog.lastIndex(), leader.raftLog.lastIndex());
});

test('transfer: proposals are refused while it is under way; it is abandoned after an election timeout', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.isolate(3);
  net.propose(1, 'x');
  transfer(net, 1, 3);
  assert.equal(leader.leadTransferee, 3n);
  const err = propose(leader, 'during');
  assert.ok(isRaftError(err, 'ProposalDropped'));
  assert.match(err.reason, /transfer/);
  tickN(leader, leader.electionTimeout);
  assert.equal(leader.leadTransferee, None, 'abandoned');
  assert.equal(leader.state, 'leader');
  assert.equal(propose(leader, 'after'), null);
});

test('transfer to itself, to a learner or to a stranger is ignored', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  transfer(net, 1, 1);
  transfer(net, 1, 9);
  assert.equal(leader.leadTransferee, None);
  const withLearner = newRaft(1, [], 10, 1, { storage: new MemoryStorage(makeConfState([1n, 2n], [3n])) });
  withLearner.becomeCandidate();
  withLearner.becomeLeader();
  withLearner.step(message({ type: 'MsgTransferLeader', from: 3n, to: 1n }));
  assert.equal(withLearner.leadTransferee, None);
  assert.equal(leader.state, 'leader');
});

test('a transfer request at a follower is forwarded to the leader', () => {
  const net = cluster(3);
  transfer(net, 2, 3);
  assert.equal(net.raft(3).state, 'leader');
});

test('a second transfer to another member replaces the first; a repeat is ignored', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.isolate(2);
  net.isolate(3);
  net.propose(1, 'x');
  transfer(net, 1, 2);
  assert.equal(leader.leadTransferee, 2n);
  tickN(leader, 3);
  transfer(net, 1, 2);
  assert.equal(leader.electionElapsed, 3, 'a repeat does not restart the timeout');
  transfer(net, 1, 3);
  assert.equal(leader.leadTransferee, 3n);
  assert.equal(leader.electionElapsed, 0);
  net.recover();
  leader.tick();
  net.flush();
  assert.equal(net.raft(3).state, 'leader');
  void msgs;
});
