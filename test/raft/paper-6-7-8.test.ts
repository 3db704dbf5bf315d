// Paper rules for cluster membership changes (§6, with the single-server
// changes of Ongaro's thesis §4.1–4.2), log compaction (§7) and client
// interaction (§8).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  encodeConfChange, isRaftError, makeConfState, message, MemoryStorage, None,
  type ConfChange, type Message, type Snapshot,
} from '../../src/raft';
import type { Raft } from '../../src/raft';
import { allEntries, entry, hup, logTerms, msgs, Network, newRaft, persist, propose, raftWithLog, storageWith } from './helpers';

const cc = (type: ConfChange['type'], id: number): ConfChange => ({ type, nodeId: BigInt(id), context: new Uint8Array(0) });

function proposeConf(r: Raft, change: ConfChange): ReturnType<Raft['step']> {
  return r.step(message({ type: 'MsgProp', from: r.id, entries: [{ index: 0, term: 0, type: 'confChange', data: encodeConfChange(change) }] }));
}

/** A cluster 1..n where 1 leads and has committed its term's first entry. */
function cluster(n: number, opts: Parameters<typeof Network.ofSize>[1] = {}): Network {
  const net = Network.ofSize(n, opts);
  // As if the members had been up for a while: past the start-up lease (see election.test.ts).
  for (const r of net.peers.values()) if (r !== null) r.leaderContactElapsed = r.electionTimeout;
  net.campaign(1);
  assert.equal(net.raft(1).state, 'leader');
  assert.ok(net.raft(1).committedInTerm());
  return net;
}

// ---------------------------------------------------------------- §6

test('§6 (thesis §4.1): a configuration takes effect as soon as its entry is in the log, before it commits', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.isolate(2);
  net.isolate(3);
  assert.equal(proposeConf(leader, cc('addNode', 4)), null);
  assert.deepEqual(leader.prs.voters, [1n, 2n, 3n, 4n], 'the leader uses the new configuration at once');
  assert.equal(leader.raftLog.committed < leader.raftLog.lastIndex(), true, 'though the change is not committed');
  assert.ok(msgs(leader).some((m) => m.to === 4n && m.type === 'MsgApp'), 'and replicates to the new member');
});

test('§6 (thesis §4.1): a follower adopts a configuration when it appends the entry, and drops it if the entry is truncated', () => {
  const r = newRaft(2, [1, 2, 3]);
  r.step(message({ type: 'MsgApp', from: 1n, to: 2n, term: 1, index: 0, logTerm: 0, entries: [entry(1, 1)] }));
  const change = { index: 2, term: 1, type: 'confChange' as const, data: encodeConfChange(cc('removeNode', 3)) };
  r.step(message({ type: 'MsgApp', from: 1n, to: 2n, term: 1, index: 1, logTerm: 1, entries: [change], commit: 1 }));
  assert.deepEqual(r.prs.voters, [1n, 2n]);
  // A new leader of term 2 overwrites the uncommitted change.
  r.step(message({ type: 'MsgApp', from: 3n, to: 2n, term: 2, index: 1, logTerm: 1, entries: [entry(2, 2)], commit: 1 }));
  assert.deepEqual(r.prs.voters, [1n, 2n, 3n], 'the previous configuration is back');
});

test('§6 (thesis §4.1): a leader allows one uncommitted change at a time', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.isolate(2);
  net.isolate(3);
  assert.equal(proposeConf(leader, cc('addLearnerNode', 4)), null);
  const second = proposeConf(leader, cc('addLearnerNode', 5));
  assert.ok(isRaftError(second, 'ProposalDropped'));
  assert.match(second.reason, /uncommitted/);
  net.recover();
  net.flush();
  for (let i = 0; i < 3; i++) {
    leader.tick();
    net.flush();
  }
  assert.ok(leader.pendingConfIndex() <= leader.raftLog.committed, 'the first change committed');
  assert.equal(proposeConf(leader, cc('addLearnerNode', 5)), null, 'now the next one is accepted');
});

test('§6 (thesis §4.1, bug fix): no change before the leader has committed an entry of its term', () => {
  const r = newRaft(1, [1, 2, 3]);
  r.becomeCandidate();
  r.becomeLeader();
  assert.equal(r.committedInTerm(), false);
  const refused = proposeConf(r, cc('addNode', 4));
  assert.ok(isRaftError(refused, 'ProposalDropped'));
  assert.match(refused.reason, /committed an entry of its term/);
  for (const m of msgs(r)) r.step(message({ type: 'MsgAppResp', from: m.to, to: 1n, term: r.term, index: m.index + m.entries.length }));
  assert.equal(r.committedInTerm(), true);
  assert.equal(proposeConf(r, cc('addNode', 4)), null);
});

test('§6 (thesis §4.2.2): a leader that removes itself leads until the change commits, then steps down', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.ignore('MsgAppResp');
  assert.equal(proposeConf(leader, cc('removeNode', 1)), null);
  assert.deepEqual(leader.prs.voters, [2n, 3n], 'it no longer counts itself');
  assert.equal(leader.state, 'leader', 'but keeps leading');
  assert.ok(isRaftError(propose(leader, 'x'), 'ProposalDropped'), 'without taking new proposals');
  net.recover();
  net.flush();
  for (let i = 0; i < 3 && leader.state === 'leader'; i++) {
    leader.tick();
    net.flush();
  }
  assert.equal(leader.state, 'follower', 'it stepped down once the removal committed');
  const next = [net.raft(2), net.raft(3)].find((r) => r.state === 'leader');
  assert.ok(next !== undefined, 'and handed over at once (TimeoutNow) to a caught-up voter');
  assert.deepEqual(next.prs.voters, [2n, 3n]);
});

test('§6: new servers can join as non-voting members (learners) and are promoted later', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.peers.set(4n, newRaft(4, [], 10, 1, { storage: new MemoryStorage(makeConfState([1n, 2n, 3n])) }));
  assert.equal(proposeConf(leader, cc('addLearnerNode', 4)), null);
  net.flush();
  const learner = net.raft(4);
  assert.deepEqual(leader.prs.learners, [4n]);
  assert.deepEqual(logTerms(learner), logTerms(leader), 'the learner catches up');
  // A learner's acknowledgement never makes a majority.
  net.isolate(2);
  net.isolate(3);
  net.propose(1, 'x');
  assert.equal(leader.raftLog.committed < leader.raftLog.lastIndex(), true);
  for (let i = 0; i < 100; i++) learner.tick();
  assert.equal(learner.state, 'follower', 'a learner never campaigns');
  net.recover();
  net.flush();
  leader.tick();
  net.flush();
  assert.equal(proposeConf(leader, cc('addNode', 4)), null, 'promote the learner');
  net.flush();
  assert.deepEqual(leader.prs.voters, [1n, 2n, 3n, 4n]);
  assert.deepEqual(learner.prs.voters, [1n, 2n, 3n, 4n]);
});

test('§6: servers ignore RequestVote while they believe a leader exists (CheckQuorum), so removed servers cannot disrupt', () => {
  const net = cluster(3, { checkQuorum: true });
  const follower = net.raft(2);
  follower.tick();
  net.flush();
  const term = follower.term;
  follower.step(message({ type: 'MsgVote', from: 9n, to: 2n, term: term + 5, index: 100, logTerm: 100 }));
  assert.equal(follower.term, term, 'the vote request did not even raise its term');
  assert.deepEqual(msgs(follower), []);
});

test('§6: changes that would be unsafe or meaningless are refused', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  for (const [change, reason] of [
    [cc('removeNode', 9), /not a member/],
    [cc('addNode', 2), /already a voter/],
  ] as const) {
    const err = proposeConf(leader, change);
    assert.ok(isRaftError(err, 'ProposalDropped'));
    assert.match(err.reason, reason);
  }
  const solo = cluster(1).raft(1);
  const err = proposeConf(solo, cc('removeNode', 1));
  assert.ok(isRaftError(err, 'ProposalDropped'));
  assert.match(err.reason, /last voter/);
});

// ---------------------------------------------------------------- §7

function snapshotAt(index: number, term: number, voters: number[]): Snapshot {
  return { metadata: { index, term, confState: makeConfState(voters.map(BigInt)) }, data: new TextEncoder().encode(`state@${index}`) };
}

test('§7: the leader sends InstallSnapshot to a follower that needs entries it has compacted', () => {
  const storage = storageWith([1, 2, 3], []);
  const r = newRaft(1, [1, 2, 3], 10, 1, { storage });
  r.becomeCandidate();
  r.becomeLeader();
  for (let i = 0; i < 5; i++) propose(r, `e${i}`);
  // Follower 3 takes everything; follower 2 hears nothing.
  for (let round = 0; round < 5; round++) {
    for (const m of msgs(r)) {
      if (m.type === 'MsgApp' && m.to === 3n) {
        r.step(message({ type: 'MsgAppResp', from: 3n, to: 1n, term: r.term, index: m.index + m.entries.length }));
      }
    }
  }
  persist(r, storage);
  const commit = r.raftLog.committed;
  assert.equal(commit, 6);
  storage.createSnapshot(commit, makeConfState([1n, 2n, 3n]), new Uint8Array([1]));
  storage.compact(commit);
  r.step(message({ type: 'MsgHeartbeatResp', from: 2n, to: 1n, term: r.term }));
  const snap = msgs(r).find((m) => m.type === 'MsgSnap');
  assert.ok(snap !== undefined, 'a snapshot is sent instead of compacted entries');
  assert.equal(snap.to, 2n);
  assert.equal(snap.snapshot?.metadata.index, commit);
  assert.equal(r.prs.progress.get(2n)?.state, 'snapshot', 'and nothing else until the follower reports');
});

test('§7: a follower discards its whole log when a snapshot holds entries it lacks', () => {
  const r = raftWithLog(2, [1, 2, 3], [1, 1, 2], 2);
  r.step(message({ type: 'MsgSnap', from: 1n, to: 2n, term: 3, snapshot: snapshotAt(10, 3, [1, 2, 3]) }));
  assert.equal(r.raftLog.lastIndex(), 10);
  assert.equal(r.raftLog.committed, 10);
  assert.equal(r.raftLog.firstIndex(), 11);
  assert.deepEqual(r.raftLog.unstable.entries, []);
  const resp = msgs(r)[0];
  assert.equal(resp?.type, 'MsgAppResp');
  assert.equal(resp.index, 10);
});

test('§7: a snapshot of a prefix of the follower\'s log keeps the entries that follow it', () => {
  const r = raftWithLog(2, [1, 2, 3], [1, 1, 2, 2, 2], 2);
  r.step(message({ type: 'MsgSnap', from: 1n, to: 2n, term: 2, snapshot: snapshotAt(3, 2, [1, 2, 3]) }));
  assert.deepEqual(logTerms(r), [1, 1, 2, 2, 2], 'log retained');
  assert.equal(r.raftLog.committed, 3, 'the prefix is known committed');
  assert.equal(r.raftLog.hasPendingSnapshot(), false, 'nothing to install');
});

test('§7: a stale snapshot (at or below the commit index) is ignored', () => {
  const storage = storageWith([1, 2, 3], [entry(1, 1), entry(2, 1), entry(3, 2)], { term: 2, vote: None, commit: 3 });
  const r = newRaft(2, [1, 2, 3], 10, 1, { storage });
  r.step(message({ type: 'MsgSnap', from: 1n, to: 2n, term: 2, snapshot: snapshotAt(2, 1, [1, 2]) }));
  assert.equal(r.raftLog.hasPendingSnapshot(), false);
  assert.deepEqual(r.prs.voters, [1n, 2n, 3n], 'the configuration did not move back');
  const resp = msgs(r)[0];
  assert.equal(resp?.type, 'MsgAppResp');
  assert.equal(resp.index, 3, 'answers with its commit index so the leader moves on');
});

test('§7: the snapshot carries the configuration, which the follower adopts', () => {
  const r = raftWithLog(4, [1, 2, 3], [], 1);
  r.step(message({ type: 'MsgSnap', from: 1n, to: 4n, term: 2, snapshot: snapshotAt(20, 2, [1, 2, 3, 4]) }));
  assert.deepEqual(r.prs.voters, [1n, 2n, 3n, 4n]);
  assert.equal(r.promotable(), false, 'not before the snapshot is persisted');
  const storage = r.raftLog.storage as MemoryStorage;
  persist(r, storage);
  assert.equal(r.promotable(), true);
  assert.equal(r.raftLog.applied, 20);
});

// ---------------------------------------------------------------- §8

test('§8: a new leader commits a blank no-op entry at the start of its term', () => {
  const net = Network.ofSize(3);
  net.campaign(1);
  const leader = net.raft(1);
  const ents = allEntries(leader);
  assert.equal(ents.length, 1);
  assert.equal(ents[0]?.term, 1);
  assert.equal(ents[0]?.data.byteLength, 0);
  assert.equal(leader.raftLog.committed, 1);
});

test('§8: a read-only request is answered only after a heartbeat round with a majority', () => {
  const net = cluster(3);
  const leader = net.raft(1);
  net.isolate(2);
  net.isolate(3);
  const ctx = leader.readIndex();
  assert.ok(!isRaftError(ctx));
  net.flush();
  assert.deepEqual(leader.takeReadStates(), [], 'no answer without a quorum');
  net.recover();
  leader.tick();
  net.flush();
  const rs = leader.takeReadStates();
  assert.equal(rs.length, 1);
  assert.equal(rs[0]?.index, leader.raftLog.committed);
  assert.deepEqual(rs[0]?.requestCtx, ctx);
});

test('§8: reads wait until the leader has committed an entry of its term', () => {
  const net = Network.ofSize(3);
  net.ignore('MsgAppResp');
  net.campaign(1);
  const leader = net.raft(1);
  assert.equal(leader.state, 'leader');
  assert.equal(leader.committedInTerm(), false);
  leader.readIndex();
  leader.tick();
  net.flush();
  assert.deepEqual(leader.takeReadStates(), [], 'commit index of this term unknown: no answer');
  net.recover();
  leader.tick();
  net.flush();
  leader.tick();
  net.flush();
  const rs = leader.takeReadStates();
  assert.equal(rs.length, 1);
  assert.equal(rs[0]?.index, 1);
});

void hup;
