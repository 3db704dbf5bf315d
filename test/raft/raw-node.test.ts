// The application-facing API: RawNode's Ready/advance cycle, bootstrap and
// restart, refusals, configuration validation, MemoryStorage and the
// membership helpers.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  applyConfChange, decodeConfChange, encodeConfChange, isRaftError, makeConfState, message, MemoryStorage, RawNode,
  StorageError, type ConfChange, type RaftConfig, type Ready,
} from '../../src/raft';
import { AssertionError } from '../../src/util';
import { SeededRandom } from '../../src/util';

function config(id: number, storage: MemoryStorage, extra: Partial<RaftConfig> = {}): RaftConfig {
  return { id: BigInt(id), electionTicks: 10, heartbeatTicks: 1, storage, random: new SeededRandom(id), ...extra };
}

/** Persists and applies a Ready the way the server's loop does; returns it. */
function handle(rn: RawNode, storage: MemoryStorage): Ready {
  const rd = rn.ready();
  if (rd.snapshot !== null) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState !== null) storage.setHardState(rd.hardState);
  rn.advance();
  return rd;
}

test('bootstrap: a new member writes the initial configuration into the log as committed entries of term 1', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [3n, 1n, 2n], learners: [4n] }));
  const rd = handle(rn, storage);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term, e.type]), [[1, 1, 'confChange'], [2, 1, 'confChange'], [3, 1, 'confChange'], [4, 1, 'confChange']]);
  assert.deepEqual(rd.entries.map((e) => decodeConfChange(e.data)).map((c) => [c.type, c.nodeId]), [
    ['addNode', 1n], ['addNode', 2n], ['addNode', 3n], ['addLearnerNode', 4n],
  ]);
  assert.deepEqual(rd.hardState, { term: 1, vote: 0n, commit: 4 });
  assert.equal(rd.committedEntries.length, 4);
  assert.equal(rd.mustSync, true);
  assert.equal(rn.hasReady(), false);
  assert.deepEqual(rn.status().confState, makeConfState([1n, 2n, 3n], [4n]));
});

test('restart: a member resumes its term, vote, commit and configuration from storage', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n] }));
  handle(rn, storage);
  for (let i = 0; i < 20; i++) rn.tick();
  handle(rn, storage);
  assert.equal(rn.status().softState.state, 'leader');
  assert.equal(rn.propose(new Uint8Array([7])), null);
  handle(rn, storage);
  const before = rn.status();
  const again = new RawNode(config(1, storage, { applied: before.applied }));
  const st = again.status();
  assert.deepEqual(st.hardState, before.hardState);
  assert.deepEqual(st.confState, makeConfState([1n]));
  assert.equal(st.softState.state, 'follower');
  assert.equal(st.applied, before.applied);
  assert.equal(again.hasReady(), false, 'nothing to re-apply');
});

test('Ready: a single member elects itself, persists and applies its first entry', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n] }));
  handle(rn, storage);
  rn.campaign();
  const rd = handle(rn, storage);
  assert.deepEqual(rd.softState, { lead: 1n, state: 'leader' });
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[2, 2]]);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [2]);
  assert.equal(rd.hardState?.vote, 1n);
  assert.equal(rd.mustSync, true);
});

test('Ready: hard state only when it changed; a commit alone needs no sync', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n, 2n] }));
  handle(rn, storage);
  rn.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 3, index: 2, logTerm: 1, entries: [{ index: 3, term: 3, type: 'normal', data: new Uint8Array() }] }));
  const first = handle(rn, storage);
  assert.equal(first.mustSync, true);
  rn.step(message({ type: 'MsgHeartbeat', from: 2n, to: 1n, term: 3, commit: 3 }));
  const second = handle(rn, storage);
  assert.deepEqual(second.hardState, { term: 3, vote: 0n, commit: 3 });
  assert.equal(second.mustSync, false, 'commit is recoverable: no fsync needed');
  rn.step(message({ type: 'MsgHeartbeat', from: 2n, to: 1n, term: 3, commit: 3 }));
  const third = handle(rn, storage);
  assert.equal(third.hardState, null);
});

test('Ready: committed entries are handed out within maxCommittedSizePerReady', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n], maxCommittedSizePerReady: 64 }));
  handle(rn, storage);
  rn.campaign();
  handle(rn, storage);
  assert.equal(rn.proposeBatch(Array.from({ length: 10 }, () => new Uint8Array(8))), null);
  const sizes: number[] = [];
  while (rn.hasReady()) sizes.push(handle(rn, storage).committedEntries.length);
  assert.deepEqual(sizes, [2, 2, 2, 2, 2], '24 bytes each, at most 64 per Ready');
});

test('Ready: a second ready() before advance() is a programming error', () => {
  const rn = new RawNode(config(1, new MemoryStorage(), { peers: [1n] }));
  rn.ready();
  assert.throws(() => rn.ready(), AssertionError);
});

test('step: refuses local message types, answers from strangers and malformed messages', () => {
  const rn = new RawNode(config(1, new MemoryStorage(), { peers: [1n, 2n] }));
  assert.ok(isRaftError(rn.step(message({ type: 'MsgHup', from: 2n, to: 1n })), 'StepLocalMsg'));
  assert.ok(isRaftError(rn.step(message({ type: 'MsgAppResp', from: 9n, to: 1n, term: 1 })), 'StepPeerNotFound'));
  assert.ok(isRaftError(rn.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 1.5 })), 'StepInvalidMsg'));
  assert.ok(isRaftError(rn.step(message({ type: 'MsgSnap', from: 2n, to: 1n, term: 1 })), 'StepInvalidMsg'));
  const gap = message({ type: 'MsgApp', from: 2n, to: 1n, term: 1, index: 0, entries: [{ index: 2, term: 1, type: 'normal', data: new Uint8Array() }] });
  assert.ok(isRaftError(rn.step(gap), 'StepInvalidMsg'));
});

test('config validation rejects unsafe settings', () => {
  const bad: [Partial<RaftConfig>, RegExp][] = [
    [{ electionTicks: 1, heartbeatTicks: 1 }, /electionTicks must be greater than heartbeatTicks/],
    [{ electionTicks: 5, heartbeatTicks: 10 }, /electionTicks must be greater than heartbeatTicks/],
    [{ heartbeatTicks: 0 }, /heartbeatTicks must be a positive integer/],
    [{ readOnlyOption: 'lease', checkQuorum: false }, /lease-based reads need checkQuorum/],
    [{ maxInflightMsgs: 0 }, /maxInflightMsgs must be a positive integer/],
    [{ maxInflightBytes: 0 }, /maxInflightBytes must be a positive integer/],
    [{ maxSizePerMsg: 1024, maxInflightBytes: 512 }, /maxInflightBytes must be at least maxSizePerMsg/],
    [{ id: 0n }, /id must be a non-zero uint64/],
    [{ peers: [1n, 1n] }, /duplicate peer/],
    [{ peers: [1n], learners: [1n] }, /both peer and learner/],
    [{ applied: 5 }, /applied 5 is beyond commit/],
  ];
  for (const [extra, re] of bad) {
    assert.throws(() => new RawNode(config(1, new MemoryStorage(), extra)), (e: unknown) => isRaftError(e, 'ConfigInvalid') && re.test(e.reason), re.source);
  }
  const configured = new MemoryStorage(makeConfState([1n, 2n]));
  assert.throws(() => new RawNode(config(1, configured, { peers: [1n, 2n] })), /already holds a configuration/);
  assert.doesNotThrow(() => new RawNode(config(1, new MemoryStorage(), { readOnlyOption: 'lease', checkQuorum: true })));
});

test('MemoryStorage: entries, terms, compaction, snapshots', () => {
  const s = new MemoryStorage(makeConfState([1n]));
  const e = (index: number, term: number): { index: number; term: number; type: 'normal'; data: Uint8Array } => ({ index, term, type: 'normal', data: new Uint8Array(4) });
  s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 4);
  assert.equal(s.term(0), 0);
  assert.equal(s.term(3), 2);
  assert.deepEqual(s.entries(1, 5, 40).map((x) => x.index), [1, 2], '20 bytes each');
  assert.deepEqual(s.entries(2, 3, 0).map((x) => x.index), [2], 'always at least one');
  assert.throws(() => s.entries(1, 6, 100), (x: unknown) => x instanceof StorageError && x.kind === 'Unavailable');
  s.append([e(3, 3)]);
  assert.equal(s.lastIndex(), 3, 'a conflicting suffix is replaced');
  assert.throws(() => s.compact(2), /create a snapshot first/);
  s.createSnapshot(2, makeConfState([1n]), new Uint8Array([9]));
  s.compact(2);
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.term(2), 1);
  assert.throws(() => s.term(1), (x: unknown) => x instanceof StorageError && x.kind === 'Compacted');
  assert.throws(() => s.entries(2, 3, 100), (x: unknown) => x instanceof StorageError && x.kind === 'Compacted');
  assert.throws(() => s.applySnapshot(s.snapshot()), (x: unknown) => x instanceof StorageError && x.kind === 'SnapshotOutOfDate');
  s.applySnapshot({ metadata: { index: 10, term: 4, confState: makeConfState([1n, 2n]) }, data: new Uint8Array() });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.deepEqual(s.initialState().confState, makeConfState([1n, 2n]));
});

test('conf changes: encoding round-trips; applyConfChange adds, promotes, demotes, removes', () => {
  const c = (type: ConfChange['type'], id: bigint): ConfChange => ({ type, nodeId: id, context: new Uint8Array([1, 2]) });
  const big = (1n << 64n) - 1n;
  assert.deepEqual(decodeConfChange(encodeConfChange(c('addLearnerNode', big))), c('addLearnerNode', big));
  let cs = makeConfState([1n]);
  cs = applyConfChange(cs, c('addLearnerNode', 2n));
  assert.deepEqual(cs, makeConfState([1n], [2n]));
  cs = applyConfChange(cs, c('addNode', 2n));
  assert.deepEqual(cs, makeConfState([1n, 2n]), 'promotion');
  cs = applyConfChange(cs, c('addLearnerNode', 1n));
  assert.deepEqual(cs, makeConfState([2n], [1n]), 'demotion');
  cs = applyConfChange(cs, c('removeNode', 2n));
  assert.deepEqual(cs, makeConfState([2n], [1n]), 'removing the last voter is refused: unchanged');
  cs = applyConfChange(cs, c('removeNode', 1n));
  assert.deepEqual(cs, makeConfState([2n]));
});

test('Ready: steps may arrive between ready() and advance(); nothing they produce leaves before it is persisted', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n, 2n, 3n] }));
  handle(rn, storage);
  const e = (index: number, term: number): { index: number; term: number; type: 'normal'; data: Uint8Array } => ({ index, term, type: 'normal', data: new Uint8Array() });
  rn.step(message({ type: 'MsgApp', from: 2n, to: 1n, term: 2, index: 3, logTerm: 1, entries: [e(4, 2), e(5, 2)] }));
  const first = rn.ready();
  assert.deepEqual(first.entries.map((x) => [x.index, x.term]), [[4, 2], [5, 2]]);
  // While the first write is in flight, a new leader replaces entry 5.
  rn.step(message({ type: 'MsgApp', from: 3n, to: 1n, term: 3, index: 4, logTerm: 2, entries: [e(5, 3)] }));
  storage.append(first.entries);
  if (first.hardState !== null) storage.setHardState(first.hardState);
  rn.advance();
  assert.ok(rn.hasReady());
  const second = rn.ready();
  assert.deepEqual(second.entries.map((x) => [x.index, x.term]), [[5, 3]], 'the replaced entry is handed out again');
  assert.deepEqual(second.hardState, { term: 3, vote: 0n, commit: 3 });
  assert.deepEqual(second.messages.map((m) => [m.type, m.to, m.index]), [['MsgAppResp', 3n, 5]], 'its acknowledgement leaves with it');
  storage.append(second.entries);
  rn.advance();
  assert.equal(storage.term(5), 3);
});

test('restart: applied defaults to the stored snapshot even if the log still holds entries before it', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n] }));
  handle(rn, storage);
  rn.campaign();
  handle(rn, storage);
  assert.equal(rn.proposeConfChange({ type: 'addLearnerNode', nodeId: 2n, context: new Uint8Array() }), null);
  handle(rn, storage);
  rn.propose(new Uint8Array([1]));
  handle(rn, storage);
  const st = rn.status();
  assert.deepEqual(st.appliedConfState, makeConfState([1n], [2n]), 'the configuration at the applied index');
  // Snapshot at the applied index, but keep the whole log (catch-up entries).
  storage.createSnapshot(st.applied, st.appliedConfState, new Uint8Array());
  assert.equal(storage.firstIndex(), 1);
  const again = new RawNode(config(1, storage));
  const st2 = again.status();
  assert.equal(st2.applied, st.applied, 'nothing before the snapshot is handed out again');
  assert.deepEqual(st2.confState, makeConfState([1n], [2n]), 'conf changes before the snapshot are not replayed twice');
  assert.equal(again.hasReady(), false);
});

test('status: appliedConfState lags a change until the application has applied it', () => {
  const storage = new MemoryStorage();
  const rn = new RawNode(config(1, storage, { peers: [1n] }));
  handle(rn, storage);
  rn.campaign();
  handle(rn, storage);
  rn.proposeConfChange({ type: 'addNode', nodeId: 2n, context: new Uint8Array() });
  assert.deepEqual(rn.status().confState, makeConfState([1n, 2n]), 'in force once in the log');
  assert.deepEqual(rn.status().appliedConfState, makeConfState([1n]), 'not applied yet');
});
