// One test per rule of the Raft paper (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", extended version), citing the section.
// Membership (§6), log compaction (§7) and client interaction (§8) are in
// paper-6-7-8.test.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { message, None, type Message } from '../../src/raft';
import type { Raft } from '../../src/raft';
import {
  allEntries, entry, entsWithTerms, hup, logTerms, msgs, newRaft, Network, persist, propose, raftWithLog,
  storageWith, text,
} from './helpers';

function leaderWithCommittedNoop(peers: number[]): { r: Raft; storage: ReturnType<typeof storageWith> } {
  const storage = storageWith(peers, []);
  const r = newRaft(1, peers, 10, 1, { storage });
  r.becomeCandidate();
  r.becomeLeader();
  for (const m of msgs(r)) if (m.type === 'MsgApp') r.step(acceptAndReply(m));
  persist(r, storage);
  msgs(r);
  return { r, storage };
}

function acceptAndReply(m: Message): Message {
  assert.equal(m.type, 'MsgApp');
  return message({ type: 'MsgAppResp', from: m.to, to: m.from, term: m.term, index: m.index + m.entries.length });
}

// ---------------------------------------------------------------- §5.1

test('§5.1: a server that sees a larger term adopts it; a candidate or leader reverts to follower', () => {
  for (const start of ['follower', 'candidate', 'leader'] as const) {
    const r = newRaft(1, [1, 2, 3]);
    if (start !== 'follower') r.becomeCandidate();
    if (start === 'leader') r.becomeLeader();
    r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 2 }));
    assert.equal(r.term, 2, start);
    assert.equal(r.state, 'follower', start);
    assert.equal(r.lead, 2n, start);
  }
});

test('§5.1: a request with a stale term is rejected', () => {
  const r = newRaft(1, [1, 2, 3]);
  r.becomeFollower(2, None);
  r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 1, entries: [entry(1, 1)] }));
  assert.equal(r.raftLog.lastIndex(), 0, 'stale entries are not appended');
  assert.equal(r.term, 2);
  assert.deepEqual(msgs(r), []);
});

// ---------------------------------------------------------------- §5.2

test('§5.2: servers start as followers', () => {
  const r = newRaft(1, [1, 2, 3]);
  assert.equal(r.state, 'follower');
  assert.equal(r.term, 0);
});

test('§5.2: a leader sends periodic heartbeats (AppendEntries without entries) to all followers', () => {
  const r = newRaft(1, [1, 2, 3], 10, 1);
  r.becomeCandidate();
  r.becomeLeader();
  msgs(r);
  r.tick();
  const beats = msgs(r).filter((m) => m.type === 'MsgHeartbeat');
  assert.deepEqual(beats.map((m) => m.to).sort(), [2n, 3n]);
  for (const m of beats) {
    assert.equal(m.term, 1);
    assert.equal(m.commit, 0, 'a heartbeat never carries a commit beyond the follower\'s match');
    assert.equal(m.entries.length, 0);
  }
});

test('§5.2: a follower or candidate that hears nothing for an election timeout starts an election', () => {
  for (const start of ['follower', 'candidate'] as const) {
    const r = newRaft(1, [1, 2, 3], 10, 1);
    if (start === 'follower') r.becomeFollower(1, 2n);
    else r.becomeCandidate();
    const term = r.term;
    for (let i = 0; i < 20 && r.term === term; i++) r.tick();
    assert.equal(r.term, term + 1, `${start}: increments its term`);
    assert.equal(r.state, 'candidate', start);
    assert.equal(r.vote, 1n, `${start}: votes for itself`);
    const votes = msgs(r).filter((m) => m.type === 'MsgVote');
    assert.deepEqual(votes.map((m) => m.to).sort(), [2n, 3n], `${start}: asks every other server in parallel`);
    for (const m of votes) assert.equal(m.term, term + 1);
  }
});

test('§5.2: a candidate wins with votes from a majority, loses to a majority of rejections, else waits', () => {
  const cases: { size: number; votes: Record<number, boolean>; state: Raft['state'] }[] = [
    { size: 1, votes: {}, state: 'leader' },
    { size: 3, votes: { 2: true, 3: true }, state: 'leader' },
    { size: 3, votes: { 2: true }, state: 'leader' },
    { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, state: 'leader' },
    { size: 5, votes: { 2: true, 3: true, 4: true }, state: 'leader' },
    { size: 5, votes: { 2: true, 3: true }, state: 'leader' },
    { size: 3, votes: { 2: false, 3: false }, state: 'follower' },
    { size: 5, votes: { 2: false, 3: false, 4: false, 5: false }, state: 'follower' },
    { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, state: 'follower' },
    { size: 3, votes: {}, state: 'candidate' },
    { size: 5, votes: { 2: true }, state: 'candidate' },
    { size: 5, votes: { 2: false, 3: false }, state: 'candidate' },
  ];
  for (const c of cases) {
    const peers = Array.from({ length: c.size }, (_, i) => i + 1);
    const r = newRaft(1, peers);
    hup(r);
    for (const [id, granted] of Object.entries(c.votes)) {
      r.step(message({ type: 'MsgVoteResp', from: BigInt(id), to: 1n, term: r.term, reject: !granted }));
    }
    assert.equal(r.state, c.state, JSON.stringify(c));
    assert.equal(r.term, 1);
  }
});

test('§5.2: each server votes for at most one candidate per term, first come first served', () => {
  const cases = [
    { vote: None, from: 2n, reject: false },
    { vote: None, from: 3n, reject: false },
    { vote: 2n, from: 2n, reject: false },
    { vote: 3n, from: 3n, reject: false },
    { vote: 2n, from: 3n, reject: true },
    { vote: 3n, from: 2n, reject: true },
  ];
  for (const c of cases) {
    const r = newRaft(1, [1, 2, 3]);
    r.term = 1;
    r.vote = c.vote;
    r.step(message({ type: 'MsgVote', from: c.from, to: 1n, term: 1 }));
    const out = msgs(r);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.type, 'MsgVoteResp');
    assert.equal(out[0]?.reject, c.reject, JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
});

test('§5.2: a candidate that hears from a leader of at least its term becomes its follower', () => {
  for (const term of [1, 2]) {
    const r = newRaft(1, [1, 2, 3]);
    hup(r);
    assert.equal(r.state, 'candidate');
    r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term }));
    assert.equal(r.state, 'follower');
    assert.equal(r.term, term);
    assert.equal(r.lead, 2n);
  }
});

test('§5.2: election timeouts are randomized in [timeout, 2·timeout)', () => {
  for (const start of ['follower', 'candidate'] as const) {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const r = newRaft(1, [1, 2, 3], 10, 1, { seed });
      if (start === 'follower') r.becomeFollower(r.term + 1, 2n);
      else r.becomeCandidate();
      const term = r.term;
      let ticks = 0;
      while (r.term === term) {
        r.tick();
        ticks++;
      }
      assert.ok(ticks >= 10 && ticks < 20, `${start} timed out after ${ticks} ticks`);
      seen.add(ticks);
    }
    assert.equal(seen.size, 10, `${start}: every timeout in [10, 20) occurs`);
  }
});

test('§5.2: with randomized timeouts, usually a single server times out first', () => {
  let conflicts = 0;
  const rounds = 1000;
  for (let round = 0; round < rounds; round++) {
    const rs = [1, 2, 3, 4, 5].map((id) => newRaft(id, [1, 2, 3, 4, 5], 10, 1, { seed: round * 7 + id }));
    for (const r of rs) r.becomeFollower(1, None);
    let timedOut = 0;
    while (timedOut === 0) {
      for (const r of rs) {
        r.tick();
        if (r.state !== 'follower') timedOut++;
      }
    }
    if (timedOut > 1) conflicts++;
  }
  assert.ok(conflicts / rounds <= 0.4, `conflict rate ${conflicts / rounds}`);
});

// ---------------------------------------------------------------- §5.3

test('§5.3: the leader appends a proposal to its log and sends AppendEntries in parallel', () => {
  const { r } = leaderWithCommittedNoop([1, 2, 3]);
  const li = r.raftLog.lastIndex();
  assert.equal(propose(r, 'some data'), null);
  assert.equal(r.raftLog.lastIndex(), li + 1);
  assert.equal(r.raftLog.committed, li, 'not committed yet');
  const apps = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.deepEqual(apps.map((m) => m.to).sort(), [2n, 3n]);
  for (const m of apps) {
    assert.equal(m.index, li);
    assert.equal(m.logTerm, 1);
    assert.equal(m.commit, li);
    assert.deepEqual(m.entries.map((e) => [e.index, e.term, text(e)]), [[li + 1, 1, 'some data']]);
  }
});

test('§5.3: once a majority stores the entry the leader commits it, applies it and announces the commit', () => {
  const { r, storage } = leaderWithCommittedNoop([1, 2, 3]);
  const li = r.raftLog.lastIndex();
  propose(r, 'some data');
  for (const m of msgs(r)) r.step(acceptAndReply(m));
  assert.equal(r.raftLog.committed, li + 1);
  assert.deepEqual(persist(r, storage).map(text), ['some data']);
  const apps = msgs(r).filter((m) => m.type === 'MsgApp');
  assert.deepEqual(apps.map((m) => m.to).sort(), [2n, 3n]);
  for (const m of apps) assert.equal(m.commit, li + 1, 'later AppendEntries carry the commit index');
});

test('§5.3: an entry is committed once the leader has replicated it on a majority', () => {
  const cases: { size: number; acks: number[]; committed: boolean }[] = [
    { size: 1, acks: [], committed: true },
    { size: 3, acks: [], committed: false },
    { size: 3, acks: [2], committed: true },
    { size: 3, acks: [2, 3], committed: true },
    { size: 5, acks: [], committed: false },
    { size: 5, acks: [2], committed: false },
    { size: 5, acks: [2, 3], committed: true },
    { size: 5, acks: [2, 3, 4], committed: true },
    { size: 5, acks: [2, 3, 4, 5], committed: true },
  ];
  for (const c of cases) {
    const { r } = leaderWithCommittedNoop(Array.from({ length: c.size }, (_, i) => i + 1));
    const li = r.raftLog.lastIndex();
    propose(r, 'some data');
    for (const m of msgs(r)) if (c.acks.includes(Number(m.to))) r.step(acceptAndReply(m));
    assert.equal(r.raftLog.committed > li, c.committed, JSON.stringify(c));
  }
});

test('§5.3: committing an entry commits every preceding entry, including those of earlier leaders', () => {
  const cases = [[], [2], [1], [1, 2]];
  for (const terms of cases) {
    const storage = storageWith([1, 2, 3], entsWithTerms(...terms), { term: 2, vote: None, commit: 0 });
    const r = newRaft(1, [1, 2, 3], 10, 1, { storage });
    r.becomeCandidate();
    r.becomeLeader();
    propose(r, 'some data');
    for (let round = 0; round < 5; round++) {
      for (const m of msgs(r)) if (m.type === 'MsgApp') r.step(acceptAndReply(m));
    }
    const committed = persist(r, storage);
    assert.deepEqual(committed.map((e) => e.term), [...terms, 3, 3], JSON.stringify(terms));
    assert.equal(text(committed[committed.length - 1] ?? entry(0, 0)), 'some data');
  }
});

test('§5.3: a follower that learns an entry is committed applies it', () => {
  const ents = [entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')];
  for (const commit of [1, 2, 3]) {
    const storage = storageWith([1, 2, 3], []);
    const r = newRaft(1, [1, 2, 3], 10, 1, { storage });
    r.becomeFollower(1, 2n);
    r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 1, logTerm: 0, index: 0, entries: ents, commit }));
    assert.equal(r.raftLog.committed, commit);
    assert.deepEqual(persist(r, storage).map(text), ['a', 'b', 'c'].slice(0, commit));
  }
});

test('§5.3: a follower refuses entries unless its log holds the preceding index and term', () => {
  const cases = [
    { logTerm: 0, index: 0, wIndex: 1, reject: false, hint: 0, hintTerm: 0 }, // below the commit index
    { logTerm: 1, index: 1, wIndex: 1, reject: false, hint: 0, hintTerm: 0 }, // matches a committed entry
    { logTerm: 2, index: 2, wIndex: 2, reject: false, hint: 0, hintTerm: 0 }, // matches an uncommitted entry
    { logTerm: 1, index: 2, wIndex: 2, reject: true, hint: 1, hintTerm: 1 }, // term differs at index 2
    { logTerm: 3, index: 3, wIndex: 3, reject: true, hint: 2, hintTerm: 2 }, // index beyond the log
  ];
  for (const c of cases) {
    const storage = storageWith([1, 2, 3], entsWithTerms(1, 2), { term: 0, vote: None, commit: 1 });
    const r = newRaft(1, [1, 2, 3], 10, 1, { storage });
    r.becomeFollower(2, 2n);
    r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 2, logTerm: c.logTerm, index: c.index }));
    const out = msgs(r);
    assert.equal(out.length, 1);
    const m = out[0] as Message;
    assert.equal(m.type, 'MsgAppResp');
    assert.equal(m.reject, c.reject, JSON.stringify(c));
    assert.equal(m.index, c.wIndex, JSON.stringify(c));
    if (c.reject) {
      assert.equal(m.rejectHint, c.hint, `hint ${JSON.stringify(c)}`);
      assert.equal(m.logTerm, c.hintTerm, `hint term ${JSON.stringify(c)}`);
    }
  }
});

test('§5.3: a conflicting entry and all that follow it are deleted; new entries are appended', () => {
  const cases = [
    { index: 2, logTerm: 2, ents: [entry(3, 3)], want: [1, 2, 3], unstable: [3] },
    { index: 1, logTerm: 1, ents: [entry(2, 3), entry(3, 4)], want: [1, 3, 4], unstable: [3, 4] },
    { index: 0, logTerm: 0, ents: [entry(1, 1)], want: [1, 2], unstable: [] },
    { index: 0, logTerm: 0, ents: [entry(1, 3)], want: [3], unstable: [3] },
  ];
  for (const c of cases) {
    const r = raftWithLog(1, [1, 2, 3], [1, 2], 0);
    r.becomeFollower(2, 2n);
    r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 2, logTerm: c.logTerm, index: c.index, entries: c.ents }));
    assert.deepEqual(logTerms(r), c.want, JSON.stringify(c.want));
    assert.deepEqual(r.raftLog.unstableEntries().map((e) => e.term), c.unstable);
  }
});

test('§5.3 (figure 7): the leader forces every follower\'s log to duplicate its own', () => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers = [
    [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a)
    [1, 1, 1, 4], // (b)
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c)
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d)
    [1, 1, 1, 4, 4, 4, 4], // (e)
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f)
  ];
  for (const f of followers) {
    const leadStorage = storageWith([1, 2, 3], entsWithTerms(...leaderLog), { term: 8, vote: None, commit: leaderLog.length });
    const lead = newRaft(1, [1, 2, 3], 10, 1, { storage: leadStorage });
    const follower = raftWithLog(2, [1, 2, 3], f, 7);
    const n = new Network(lead, follower, null);
    n.campaign(1);
    // The third server (a black hole) grants its vote: a leader may be elected without the follower.
    n.send(message({ type: 'MsgVoteResp', from: 3n, to: 1n, term: lead.term }));
    assert.equal(lead.state, 'leader');
    n.propose(1, '');
    assert.deepEqual(logTerms(follower), logTerms(lead), JSON.stringify(f));
    assert.deepEqual(logTerms(lead), [...leaderLog, 9, 9]);
  }
});

// ---------------------------------------------------------------- §5.4.1

test('§5.4.1: RequestVote carries the index and term of the candidate\'s last entry', () => {
  for (const ents of [[entry(1, 1)], [entry(1, 1), entry(2, 2)]]) {
    const r = newRaft(1, [1, 2, 3]);
    r.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 3, logTerm: 0, index: 0, entries: ents }));
    msgs(r);
    hup(r);
    const votes = msgs(r).filter((m) => m.type === 'MsgVote');
    assert.deepEqual(votes.map((m) => m.to).sort(), [2n, 3n]);
    const last = ents[ents.length - 1] ?? entry(0, 0);
    for (const m of votes) {
      assert.equal(m.term, 4);
      assert.equal(m.index, last.index);
      assert.equal(m.logTerm, last.term);
    }
  }
});

test('§5.4.1: a voter denies its vote to a candidate whose log is less up to date', () => {
  const cases = [
    // same last term: the longer (or equal) log wins
    { log: [1], logTerm: 1, index: 1, reject: false },
    { log: [1], logTerm: 1, index: 2, reject: false },
    { log: [1, 1], logTerm: 1, index: 1, reject: true },
    // a later last term wins whatever the length
    { log: [1], logTerm: 2, index: 1, reject: false },
    { log: [1], logTerm: 2, index: 2, reject: false },
    { log: [1, 1], logTerm: 2, index: 1, reject: false },
    // an earlier last term loses whatever the length
    { log: [2], logTerm: 1, index: 1, reject: true },
    { log: [2], logTerm: 1, index: 2, reject: true },
    { log: [1, 2], logTerm: 1, index: 1, reject: true },
  ];
  for (const c of cases) {
    const r = raftWithLog(1, [1, 2], c.log, 2);
    r.step(message({ type: 'MsgVote', from: 2n, to: 1n, term: 3, logTerm: c.logTerm, index: c.index }));
    const out = msgs(r);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.type, 'MsgVoteResp');
    assert.equal(out[0]?.reject, c.reject, JSON.stringify(c));
  }
});

// ---------------------------------------------------------------- §5.4.2

test('§5.4.2: a leader never commits an entry of an earlier term by counting replicas', () => {
  for (const [acked, wantCommit] of [[1, 0], [2, 0], [3, 3]] as const) {
    const r = raftWithLog(1, [1, 2], [1, 2], 2);
    r.becomeCandidate();
    r.becomeLeader();
    msgs(r);
    r.step(message({ type: 'MsgAppResp', from: 2n, to: 1n, term: r.term, index: acked }));
    assert.equal(r.raftLog.committed, wantCommit, `ack of ${acked}`);
  }
});

/**
 * Figure 8: (a) S1 leads term 2 and gets entry 2 only to S2. (b) S5 leads term
 * 3 with entry 2 of its own. (c) S1 leads term 4 and replicates its term-2
 * entry to a majority, but not yet its term-4 entry. (d) S1 crashes; S5 is
 * elected and overwrites entry 2 everywhere. Had S1 counted replicas of the
 * term-2 entry in (c), a committed entry would have been lost.
 */
interface Figure8 {
  committedAtC: number;
  /** [term of entry 2, commit index] of S2..S5 after (d). */
  after: [number, number][];
}

function figure8(mutation?: 'commitPreviousTermEntries'): Figure8 {
  // One entry per MsgApp, so the old entry travels (and is acknowledged) alone.
  const opts = { maxSizePerMsg: 16, maxInflightMsgs: 1, ...(mutation !== undefined ? { testMutation: mutation } : {}) };
  const peers = [1, 2, 3, 4, 5];
  const mk = (id: number, terms: number[]): Raft => raftWithLog(id, peers, terms, 3, 0, opts);
  const s1 = mk(1, [1, 2]);
  const s2 = mk(2, [1, 2]);
  const s3 = mk(3, [1]);
  const s4 = mk(4, [1]);
  const s5 = mk(5, [1, 3]);
  const n = new Network(s1, s2, s3, s4, s5);
  // (c) S1 wins term 4 with S2, S3, S4 (S5's log is more up to date than S1's).
  // S3 and S4 reject the first MsgApp carrying entry 3 (they lack entry 2),
  // take entry 2 alone, and then lose the retransmission of entry 3.
  n.cut(1, 5);
  const seen = new Map<bigint, number>();
  n.dropIf((m) => {
    if (m.type !== 'MsgApp' || (m.to !== 3n && m.to !== 4n) || !m.entries.some((e) => e.index === 3)) return false;
    const k = (seen.get(m.to) ?? 0) + 1;
    seen.set(m.to, k);
    return k > 1;
  });
  n.campaign(1);
  assert.equal(s1.state, 'leader');
  assert.equal(s1.term, 4);
  assert.deepEqual(logTerms(s3), [1, 2], 'the term-2 entry reached S3');
  assert.deepEqual(logTerms(s4), [1, 2], 'and S4: a majority holds it');
  const committedAtC = s1.raftLog.committed;
  // (d) S1 crashes; S5 campaigns (twice: term 4 votes are taken) and wins with S3 and S4.
  n.recover();
  n.peers.set(1n, null);
  n.campaign(5);
  n.campaign(5);
  assert.equal(s5.state, 'leader');
  const after = [s2, s3, s4, s5].map((r): [number, number] => [r.raftLog.term(2), r.raftLog.committed]);
  return { committedAtC, after };
}

test('§5.4.2 (figure 8): an old-term entry on a majority is not committed, and may rightly be overwritten', () => {
  const { committedAtC, after } = figure8();
  assert.ok(committedAtC < 2, 'S1 must not commit entry 2 by counting replicas');
  assert.deepEqual(after, [[3, 3], [3, 3], [3, 3], [3, 3]], 'S5 overwrote the uncommitted term-2 entry everywhere');
});

test('§5.4.2 (figure 8), mutation check: counting old-term replicas commits an entry that is then lost', () => {
  const { committedAtC, after } = figure8('commitPreviousTermEntries');
  assert.equal(committedAtC, 2, 'the mutated leader commits entry 2 of term 2');
  // S2 learned that commit; S3-S5 now hold a different, also committed, entry 2.
  assert.deepEqual(after, [[2, 2], [3, 3], [3, 3], [3, 3]], 'two members committed different entries at index 2');
});

// ---------------------------------------------------------------- §5.5

test('§5.5: AppendEntries is idempotent: a repeated RPC changes nothing', () => {
  const r = newRaft(1, [1, 2, 3]);
  const m = message({ type: 'MsgApp', from: 2n, to: 1n, term: 1, index: 0, logTerm: 0, entries: [entry(1, 1, 'x'), entry(2, 1, 'y')], commit: 1 });
  r.step(m);
  const once = allEntries(r);
  const first = msgs(r);
  r.step(m);
  assert.deepEqual(allEntries(r), once);
  const again = msgs(r);
  assert.equal(again.length, first.length);
  for (const x of again) assert.equal(x.reject, false, 'the repeat is acknowledged, not refused');
  assert.equal(r.raftLog.committed, 1);
});
