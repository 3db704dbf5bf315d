// Log replication machinery: fast backtracking, flow control, progress
// states, batching, proposal forwarding, and limits.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isRaftError, message, type Message } from '../../src/raft';
import type { Raft } from '../../src/raft';
import { entry, logTerms, msgs, Network, newRaft, propose, raftWithLog, storageWith } from './helpers';

function ackOf(m: Message): Message {
  return message({ type: 'MsgAppResp', from: m.to, to: m.from, term: m.term, index: m.index + m.entries.length });
}

/** A leader of peers whose first entry committed; followers answered every message. */
function leader(peers: number[], opts: Parameters<typeof newRaft>[4] = {}): Raft {
  const r = newRaft(1, peers, 10, 1, { storage: storageWith(peers, []), ...opts });
  r.becomeCandidate();
  r.becomeLeader();
  for (const m of msgs(r)) if (m.type === 'MsgApp') r.step(ackOf(m));
  msgs(r);
  return r;
}

test('fast backtracking: a long divergent follower log is repaired in a few round trips', () => {
  const common = Array<number>(10).fill(1);
  const lead = raftWithLog(1, [1, 2], [...common, ...Array<number>(90).fill(3)], 3);
  const follower = raftWithLog(2, [1, 2], [...common, ...Array<number>(90).fill(2)], 3);
  const net = new Network(lead, follower);
  net.campaign(1);
  assert.equal(lead.state, 'leader');
  const rejections = net.delivered.filter((m) => m.type === 'MsgAppResp' && m.reject).length;
  assert.ok(rejections <= 2, `took ${rejections} rejections (one per index would be 90)`);
  assert.deepEqual(logTerms(follower), logTerms(lead));
});

test('fast backtracking: a follower far behind the leader is found in one round trip', () => {
  const lead = raftWithLog(1, [1, 2], Array<number>(50).fill(1), 1);
  const follower = raftWithLog(2, [1, 2], [1, 1, 1], 1);
  const net = new Network(lead, follower);
  net.campaign(1);
  const rejections = net.delivered.filter((m) => m.type === 'MsgAppResp' && m.reject);
  assert.equal(rejections.length, 1);
  assert.equal(rejections[0]?.rejectHint, 3, 'the hint is the follower\'s last index');
  assert.deepEqual(logTerms(follower), logTerms(lead));
});

test('flow control: at most maxInflightMsgs MsgApps are outstanding to a follower', () => {
  const r = leader([1, 2], { maxInflightMsgs: 3, maxSizePerMsg: 16 });
  assert.equal(r.prs.progress.get(2n)?.state, 'replicate');
  for (let i = 0; i < 10; i++) propose(r, '');
  const sent = msgs(r).filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
  assert.equal(sent.length, 3, 'the window is full after three messages of one entry');
  r.step(ackOf(sent[0] as Message));
  const more = msgs(r).filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
  assert.equal(more.length, 1, 'one acknowledgement frees one slot');
});

test('flow control: bytes in flight are bounded by maxInflightBytes', () => {
  const r = leader([1, 2], { maxInflightMsgs: 100, maxSizePerMsg: 100, maxInflightBytes: 200 });
  for (let i = 0; i < 20; i++) propose(r, 'x'.repeat(34)); // 50 bytes each with overhead
  const sent = msgs(r).filter((m) => m.type === 'MsgApp' && m.entries.length > 0);
  const bytes = sent.reduce((n, m) => n + m.entries.reduce((k, e) => k + e.data.byteLength + 16, 0), 0);
  assert.equal(sent.length, 2, 'two messages of 100 bytes fill the 200-byte window');
  assert.equal(bytes, 200);
});

test('progress: probe sends one message at a time; an acknowledgement switches to replicate', () => {
  const r = newRaft(1, [1, 2], 10, 1, { storage: storageWith([1, 2], []) });
  r.becomeCandidate();
  r.becomeLeader();
  const pr = r.prs.progress.get(2n);
  assert.equal(pr?.state, 'probe');
  const first = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.equal(first.length, 1);
  propose(r, 'a');
  propose(r, 'b');
  assert.deepEqual(msgs(r), [], 'paused while the probe is out');
  r.step(ackOf(first[0] as Message));
  assert.equal(pr.state, 'replicate');
  const next = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.equal(next.reduce((n, m) => n + m.entries.length, 0), 2, 'then the rest flows');
});

test('progress: a heartbeat answer un-pauses a probe', () => {
  const r = newRaft(1, [1, 2], 10, 1, { storage: storageWith([1, 2], []) });
  r.becomeCandidate();
  r.becomeLeader();
  msgs(r);
  propose(r, 'a');
  assert.deepEqual(msgs(r), []);
  r.step(message({ type: 'MsgHeartbeatResp', from: 2n, to: 1n, term: r.term }));
  assert.equal(msgs(r).filter((m) => m.type === 'MsgApp').length, 1);
});

test('progress: a MsgApp lost while replicating is retried after a heartbeat answer', () => {
  const r = leader([1, 2], { maxInflightMsgs: 1 });
  propose(r, 'lost');
  const lost = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.equal(lost.length, 1);
  propose(r, 'next');
  assert.deepEqual(msgs(r), [], 'the window is full');
  r.step(message({ type: 'MsgHeartbeatResp', from: 2n, to: 1n, term: r.term }));
  const retry = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.equal(retry.length, 1, 'a slot is freed and the next MsgApp goes out');
  // The follower rejects it (it never got the lost one); the leader probes back.
  const m = retry[0] as Message;
  r.step(message({ type: 'MsgAppResp', from: 2n, to: 1n, term: r.term, index: m.index, reject: true, rejectHint: m.index - 1, logTerm: 1 }));
  assert.equal(r.prs.progress.get(2n)?.state, 'probe');
  const resend = msgs(r).filter((x) => x.type === 'MsgApp');
  assert.deepEqual(resend[0]?.entries.map((e) => new TextDecoder().decode(e.data)), ['lost', 'next']);
});

test('progress: a follower reported unreachable goes back to probing', () => {
  const r = leader([1, 2]);
  assert.equal(r.prs.progress.get(2n)?.state, 'replicate');
  r.step(message({ type: 'MsgUnreachable', from: 2n, to: 1n }));
  assert.equal(r.prs.progress.get(2n)?.state, 'probe');
});

test('progress: after a snapshot the follower is probed from the snapshot index (finish) or from its match (failure)', () => {
  for (const status of ['finish', 'failure'] as const) {
    const r = leader([1, 2]);
    const pr = r.prs.progress.get(2n);
    assert.ok(pr !== undefined);
    pr.becomeSnapshot(11);
    r.step(message({ type: 'MsgSnapStatus', from: 2n, to: 1n, reject: status === 'failure' }));
    assert.equal(pr.state, 'probe');
    assert.equal(pr.next, status === 'finish' ? 12 : pr.match + 1);
    assert.equal(pr.probeSent, true, 'wait for an answer before the next MsgApp');
  }
});

test('batching: proposals between two Readies leave as one MsgApp per follower', () => {
  const r = leader([1, 2, 3]);
  for (let i = 0; i < 10; i++) propose(r, `e${i}`);
  const apps = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.equal(apps.length, 2);
  for (const m of apps) assert.equal(m.entries.length, 10);
});

test('batching: maxSizePerMsg splits a batch into several messages', () => {
  const r = leader([1, 2], { maxSizePerMsg: 64, maxInflightMsgs: 10 });
  for (let i = 0; i < 10; i++) propose(r, ''); // 16 bytes each
  const apps = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.deepEqual(apps.map((m) => m.entries.length), [4, 4, 2]);
});

test('batching: several entries can be proposed as one batch', () => {
  const net = Network.ofSize(3);
  net.campaign(1);
  const r = net.raft(1);
  const err = r.step(message({ type: 'MsgProp', from: 1n, to: 1n, entries: [entry(0, 0, 'a'), entry(0, 0, 'b'), entry(0, 0, 'c')] }));
  assert.equal(err, null);
  net.flush();
  assert.equal(r.raftLog.committed, 4);
});

test('forwarding: a follower forwards proposals to the leader', () => {
  const net = Network.ofSize(3);
  net.campaign(1);
  net.propose(2, 'via follower');
  const last = net.raft(1).raftLog.lastIndex();
  assert.equal(new TextDecoder().decode(net.raft(1).raftLog.slice(last, last + 1, 1000)[0]?.data), 'via follower');
  assert.equal(net.raft(2).raftLog.committed, last);
});

test('forwarding: with disableProposalForwarding a follower refuses proposals', () => {
  const net = Network.ofSize(3, { disableProposalForwarding: true });
  net.campaign(1);
  const err = propose(net.raft(2), 'x');
  assert.ok(isRaftError(err, 'ProposalDropped'));
  assert.match(err.reason, /forwarding is disabled/);
});

test('proposals without a leader are refused', () => {
  const r = newRaft(1, [1, 2, 3]);
  assert.ok(isRaftError(propose(r, 'x'), 'ProposalDropped'));
  r.becomeCandidate();
  assert.ok(isRaftError(propose(r, 'x'), 'ProposalDropped'));
});

test('limits: a leader refuses proposals beyond maxUncommittedEntriesSize until entries commit', () => {
  const r = leader([1, 2], { maxUncommittedEntriesSize: 120 }); // the empty entry of the term counts 16
  assert.equal(propose(r, 'x'.repeat(34)), null);
  assert.equal(propose(r, 'x'.repeat(34)), null);
  const refused = propose(r, 'x'.repeat(34));
  assert.ok(isRaftError(refused, 'ProposalDropped'));
  assert.match(refused.reason, /uncommitted/);
  for (const m of msgs(r)) if (m.type === 'MsgApp') r.step(ackOf(m));
  r.reduceUncommittedSize(r.raftLog.slice(2, r.raftLog.committed + 1, Number.MAX_SAFE_INTEGER));
  assert.equal(propose(r, 'x'.repeat(34)), null);
});

test('commit index on heartbeats never exceeds what the follower is known to hold', () => {
  const r = leader([1, 2, 3]);
  propose(r, 'a');
  for (const m of msgs(r)) if (m.type === 'MsgApp' && m.to === 2n) r.step(ackOf(m));
  msgs(r);
  r.tick();
  const beats = msgs(r).filter((m) => m.type === 'MsgHeartbeat');
  const to2 = beats.find((m) => m.to === 2n);
  const to3 = beats.find((m) => m.to === 3n);
  assert.equal(to2?.commit, 2);
  assert.equal(to3?.commit, 1, 'follower 3 only holds entry 1');
});
