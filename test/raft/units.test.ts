// Small pieces on their own: Inflights, Progress, the bounded Deque, log
// helpers and the seeded PRNG.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Inflights, Progress } from '../../src/raft';
import { Deque, LeaderReads } from '../../src/raft';
import { limits, AssertionError } from '../../src/util';
import { SeededRandom } from '../../src/util';
import { raftWithLog } from './helpers';

test('Inflights: full by count or by bytes; freeLE and freeFirstOne release in order', () => {
  const ins = new Inflights(3, 100);
  ins.add(1, 10);
  ins.add(2, 10);
  assert.equal(ins.full(), false);
  ins.add(5, 10);
  assert.equal(ins.full(), true, 'three messages');
  assert.throws(() => ins.add(6, 1), AssertionError);
  ins.freeLE(2);
  assert.equal(ins.size(), 1);
  ins.add(7, 89);
  assert.equal(ins.full(), false, 'two messages, 99 bytes');
  ins.freeLE(5);
  ins.add(8, 11);
  assert.equal(ins.full(), true, 'two messages, 100 bytes: the byte limit');
  ins.freeFirstOne();
  assert.equal(ins.size(), 1);
  assert.equal(ins.sizeBytes(), 11);
  ins.freeLE(100);
  assert.equal(ins.size(), 0);
  // Wrap around the ring many times.
  for (let i = 1; i <= 50; i++) {
    ins.add(i * 10, 1);
    if (ins.size() === 3) ins.freeLE(i * 10 - 10);
  }
  assert.ok(ins.size() <= 3);
});

test('Progress: maybeUpdate, maybeDecrTo in probe and replicate, snapshot state', () => {
  const pr = new Progress(11, false, 4, 1000);
  assert.equal(pr.maybeDecrTo(5, 3), false, 'stale: not the answer to the last probe');
  assert.equal(pr.maybeDecrTo(10, 3), true);
  assert.equal(pr.next, 4, 'jumps to the hint + 1');
  assert.equal(pr.maybeUpdate(6), true);
  assert.equal(pr.match, 6);
  assert.equal(pr.next, 7);
  pr.becomeReplicate();
  pr.sentEntries(3, 9, 30);
  assert.equal(pr.next, 10);
  assert.equal(pr.maybeDecrTo(5, 0), false, 'rejection of an index already matched is stale');
  assert.equal(pr.maybeDecrTo(9, 0), true);
  assert.equal(pr.next, 7, 'back to match + 1');
  pr.becomeSnapshot(20);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.next, 21, 'after a snapshot, probe from the snapshot on');
  assert.throws(() => {
    pr.next = pr.match;
    pr.maybeUpdate(0);
  }, AssertionError, 'match < next is asserted');
});

test('Deque: FIFO, bounded, grows lazily', () => {
  const d = new Deque<number>(5);
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 5; i++) d.push(round * 10 + i);
    assert.equal(d.full(), true);
    assert.throws(() => d.push(0), AssertionError);
    assert.equal(d.at(4), round * 10 + 4);
    for (let i = 0; i < 5; i++) assert.equal(d.shift(), round * 10 + i);
    assert.equal(d.shift(), undefined);
  }
});

test('LeaderReads: remembers the send tick of recent rounds only', () => {
  const reads = new LeaderReads();
  for (let t = 1; t <= limits.raftHeartbeatRoundsMax + 10; t++) reads.newRound(t * 2);
  assert.equal(reads.tickOf(reads.round), reads.round * 2);
  assert.equal(reads.tickOf(1), null, 'evicted');
  assert.equal(reads.tickOf(reads.round + 1), null, 'not sent yet');
  assert.equal(reads.enqueue(new Uint8Array(1), 1n, 5), true);
  assert.equal(reads.roundPending, true);
  assert.deepEqual(reads.release(reads.round), [], 'needs the next round');
  assert.equal(reads.release(reads.round + 1).length, 1);
});

test('findConflictByTerm: the largest index at or below whose term is at most the given term', () => {
  const r = raftWithLog(1, [1, 2], [1, 1, 2, 2, 5, 5, 5], 5);
  const log = r.raftLog;
  assert.deepEqual(log.findConflictByTerm(7, 5), { index: 7, term: 5 });
  assert.deepEqual(log.findConflictByTerm(7, 4), { index: 4, term: 2 });
  assert.deepEqual(log.findConflictByTerm(7, 1), { index: 2, term: 1 });
  assert.deepEqual(log.findConflictByTerm(7, 0), { index: 0, term: 0 });
  assert.deepEqual(log.findConflictByTerm(100, 3), { index: 4, term: 2 }, 'beyond the log: from the last index');
});

test('SeededRandom: deterministic, in range, roughly uniform, forks independently', () => {
  const a = new SeededRandom(5);
  const b = new SeededRandom(5);
  for (let i = 0; i < 100; i++) assert.equal(a.u32(), b.u32());
  assert.notEqual(new SeededRandom(2 ** 40).u32(), new SeededRandom(0).u32(), 'high seed bits matter');
  const r = new SeededRandom(9);
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const x = r.intBelow(10);
    assert.ok(x >= 0 && x < 10);
    counts[x] = (counts[x] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(c > 9000 && c < 11000, `bucket ${c}`);
  const f1 = new SeededRandom(3).fork();
  const f2 = new SeededRandom(3).fork();
  assert.equal(f1.u32(), f2.u32());
  assert.throws(() => r.intBelow(0), AssertionError);
});
