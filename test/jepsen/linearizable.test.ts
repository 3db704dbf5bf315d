// The register linearizability checker on hand-built histories with known
// answers, against a brute-force oracle on small generated ones, and on
// large generated ones (accepted as simulated; caught when one read is made
// stale).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkLinearizable } from '../../jepsen/checker/linearizable';
import { simulate } from '../../jepsen/checker/speed';
import type { HistoryOp } from '../../jepsen/history';
import { HistoryBuilder } from './builder';
import { bruteForceLinearizable, opSpecArb, simulateRegister } from './gen';

const cas = { model: 'cas-register' as const };

test('the classic stale read: a read after a completed overwrite returns the old value', () => {
  const h = new HistoryBuilder();
  h.write(0, 1);
  h.write(1, 2);
  const [ri, rc] = h.read(2, 1);
  const r = checkLinearizable(h.ops, cas);
  assert.equal(r.valid, false);
  assert.equal(r.anomalies.length, 1);
  const a = r.anomalies[0]!;
  assert.equal(a.kind, 'nonlinearizable');
  assert.deepEqual(a.details?.['offending'], [ri, rc]);
  assert.deepEqual(a.details?.['possibleValues'], [2]);
  assert.ok(a.ops.includes(ri) && a.ops.includes(rc));
  assert.match(a.explanation, /read 1 by process 2/);
});

test('a read concurrent with the overwrite may return either value', () => {
  for (const seen of [1, 2]) {
    const h = new HistoryBuilder();
    h.write(0, 1);
    h.invoke(1, 'write', 2);
    h.invoke(2, 'read', null);
    h.ok(2, seen);
    h.ok(1);
    assert.equal(checkLinearizable(h.ops, cas).valid, true, `read ${seen}`);
  }
});

test('lost update: two concurrent cas from the same value both succeed', () => {
  const h = new HistoryBuilder();
  h.write(0, 0);
  h.invoke(1, 'cas', [0, 1]);
  h.invoke(2, 'cas', [0, 2]);
  h.ok(1);
  const last = h.ok(2);
  const r = checkLinearizable(h.ops, cas);
  assert.equal(r.valid, false);
  const offending = r.anomalies[0]!.details?.['offending'] as number[];
  // Whichever cas is placed second cannot be: the search reports the one that completes last.
  assert.deepEqual(offending, [3, last]);
});

test('a cas that succeeds on a value the register never held', () => {
  const h = new HistoryBuilder();
  h.write(0, 1);
  h.invoke(1, 'cas', [2, 3]);
  const done = h.ok(1);
  const r = checkLinearizable(h.ops, cas);
  assert.equal(r.valid, false);
  assert.deepEqual(r.anomalies[0]!.details?.['offending'], [2, done]);
  assert.match(r.anomalies[0]!.explanation, /succeeded expecting 2/);
});

test('failed ops did not happen: a read of a failed write is a violation, a failed read is dropped', () => {
  const h = new HistoryBuilder();
  h.write(0, 1);
  h.invoke(1, 'write', 5);
  h.fail(1);
  h.invoke(2, 'read', null);
  h.fail(2);
  h.read(3, 1);
  assert.equal(checkLinearizable(h.ops, cas).valid, true);
  h.read(3, 5);
  assert.equal(checkLinearizable(h.ops, cas).valid, false);
});

test('indeterminate ops may take effect any time after invocation, or never', () => {
  const h = new HistoryBuilder();
  h.write(0, 1);
  h.invoke(1, 'write', 2);
  h.info(1);
  h.read(2, 1); // not yet
  h.read(2, 2); // now, long after the info
  h.invoke(3, 'cas', [2, 3]);
  h.info(3);
  h.invoke(4, 'write', 9); // never completes, never observed
  h.read(2, 3);
  h.invoke(5, 'read', null);
  h.info(5); // an indeterminate read constrains nothing
  assert.equal(checkLinearizable(h.ops, cas).valid, true);
  // ...but not before it was invoked, and not twice.
  const early = new HistoryBuilder();
  early.write(0, 1);
  early.read(2, 2);
  early.invoke(1, 'write', 2);
  early.info(1);
  assert.equal(checkLinearizable(early.ops, cas).valid, false);
  const twice = new HistoryBuilder();
  twice.write(0, 1);
  twice.invoke(1, 'write', 2);
  twice.info(1);
  twice.read(2, 2);
  twice.write(0, 1);
  twice.read(2, 2);
  assert.equal(checkLinearizable(twice.ops, cas).valid, false);
});

test('many indeterminate writes, valid: the search is not lost among them', () => {
  const h = new HistoryBuilder();
  h.write(0, 0);
  for (let p = 1; p <= 200; p++) {
    h.invoke(p, 'write', p % 7);
    h.info(p);
  }
  for (let v = 0; v < 7; v++) h.read(0, v);
  h.read(0, 3);
  const r = checkLinearizable(h.ops, cas);
  assert.equal(r.valid, true);
  assert.equal(r.stats['ops'], 209);
});

test('keys are independent: a violation names its key, other keys stay valid', () => {
  const h = new HistoryBuilder();
  h.write(0, 1, 'a');
  h.write(0, 1, 'b');
  h.write(1, 2, 'b');
  h.read(2, 1, 'a');
  const [ri, rc] = h.read(2, 1, 'b');
  const r = checkLinearizable(h.ops, cas);
  assert.equal(r.valid, false);
  assert.equal(r.anomalies.length, 1);
  assert.equal(r.anomalies[0]!.key, 'b');
  assert.deepEqual(r.anomalies[0]!.details?.['offending'], [ri, rc]);
  assert.equal(r.stats['keys'], 2);
});

test('serializable reads are left to checkSequential', () => {
  const h = new HistoryBuilder();
  h.write(0, 1);
  h.write(0, 2);
  h.read(1, 1, undefined, { serializable: true });
  assert.equal(checkLinearizable(h.ops, cas).valid, true);
});

test('the register model refuses cas; the cas-register model reads the initial state as null', () => {
  const h = new HistoryBuilder();
  h.read(0, null);
  h.invoke(1, 'cas', [null, 1]);
  h.ok(1);
  h.read(0, 1);
  assert.equal(checkLinearizable(h.ops, cas).valid, true);
  const r = checkLinearizable(h.ops, { model: 'register' });
  assert.equal(r.valid, 'unknown');
  assert.match(r.unknownReason ?? '', /cas at history index 2 .*register model/);
});

test('limits give up with unknown and the reason, never a verdict', () => {
  const h = hardHistory();
  const cache = checkLinearizable(h, { model: 'cas-register', cacheEntriesMax: 2 });
  assert.equal(cache.valid, 'unknown');
  assert.match(cache.unknownReason ?? '', /remembered 2 configurations/);
  const time = checkLinearizable(h, { model: 'cas-register', timeLimitMs: 0 });
  assert.equal(time.valid, 'unknown');
  assert.match(time.unknownReason ?? '', /time limit/);
  assert.equal(checkLinearizable(h, cas).valid, true);
});

test('a malformed history answers unknown with the reason', () => {
  const h = new HistoryBuilder();
  h.invoke(0, 'read', null);
  h.ok(0, undefined);
  delete h.ops[1]!.value;
  const r = checkLinearizable(h.ops, cas);
  assert.equal(r.valid, 'unknown');
  assert.match(r.unknownReason ?? '', /ok read at history index 1 has no value/);
});

/** Many concurrent writes and cas on one key, all ending well: needs more than a couple of configurations. */
function hardHistory(): HistoryOp[] {
  const h = new HistoryBuilder();
  for (let p = 0; p < 6; p++) h.invoke(p, 'write', p);
  for (let p = 0; p < 6; p++) h.ok(p);
  h.read(0, 5);
  return h.ops;
}

test('property: small simulated histories agree with the brute-force oracle, and are accepted', () => {
  const arb = fc.record({ specs: fc.array(opSpecArb({ threads: 3, keys: 1, values: 3, infoWeight: 25 }), { minLength: 1, maxLength: 6 }), corrupt: fc.nat(2), at: fc.nat(20) });
  fc.assert(
    fc.property(arb, ({ specs, corrupt, at }) => {
      const h = simulateRegister(specs, { threads: 3, unique: false, model: 'cas-register' });
      assert.equal(checkLinearizable(h, cas).valid, true);
      // Change one ok read to another small value: the oracle decides, the checker must agree.
      const reads = h.filter((o) => o.type === 'ok' && o.f === 'read');
      const target = reads[at % Math.max(1, reads.length)];
      if (target !== undefined) target.value = ((Number(target.value ?? -1) + 1 + corrupt) % 4) as number;
      assert.equal(checkLinearizable(h, cas).valid, bruteForceLinearizable(h, 'cas-register'), JSON.stringify(h));
    }),
    { numRuns: 400 },
  );
});

test('property: large simulated histories are accepted; one read made stale is caught, and named', () => {
  const arb = fc.record({
    specs: fc.array(opSpecArb({ threads: 5, keys: 3, values: 4, infoWeight: 10 }), { minLength: 50, maxLength: 400 }),
    pick: fc.nat(10_000),
  });
  let corrupted = 0;
  fc.assert(
    fc.property(arb, ({ specs, pick }) => {
      const h = simulateRegister(specs, { threads: 5, unique: true, model: 'cas-register' });
      const ok = checkLinearizable(h, cas);
      assert.equal(ok.valid, true, JSON.stringify(ok));
      const stale = makeStale(h, pick);
      if (stale === undefined) return;
      corrupted++;
      const r = checkLinearizable(h, cas);
      assert.equal(r.valid, false);
      assert.ok(r.anomalies.some((a) => (a.details?.['offending'] as number[]).includes(stale)), `read at ${stale} named: ${JSON.stringify(r.anomalies)}`);
    }),
    { numRuns: 60 },
  );
  // Most runs must have had a read to corrupt, or the second half tested nothing.
  assert.ok(corrupted > 30, `only ${corrupted} of 60 runs corrupted a read`);
});

/**
 * Makes one ok read return a value that was certainly overwritten before the read began (w1 completed
 * before w2 began, w2 completed before the read began, values unique): no linearization can explain it.
 * Returns the read's completion index.
 */
function makeStale(h: HistoryOp[], pick: number): number | undefined {
  const pairs = pairUp(h);
  const reads = pairs.filter((p) => p.invoke.f === 'read' && p.complete?.type === 'ok');
  for (let n = 0; n < reads.length; n++) {
    const r = reads[(pick + n) % reads.length]!;
    const writes = pairs.filter((p) => p.invoke.key === r.invoke.key && p.invoke.f === 'write' && p.complete?.type === 'ok' && p.complete.index < r.invoke.index);
    for (const w2 of writes) {
      const w1 = writes.find((w) => w.complete!.index < w2.invoke.index);
      if (w1 === undefined) continue;
      r.complete!.value = w1.invoke.value;
      return r.complete!.index;
    }
  }
  return undefined;
}

function pairUp(h: readonly HistoryOp[]): Array<{ invoke: HistoryOp; complete: HistoryOp | undefined }> {
  const open = new Map<number, { invoke: HistoryOp; complete: HistoryOp | undefined }>();
  const out: Array<{ invoke: HistoryOp; complete: HistoryOp | undefined }> = [];
  for (const op of h) {
    if (op.type === 'invoke') {
      const p = { invoke: op, complete: undefined };
      open.set(op.process, p);
      out.push(p);
    } else {
      open.get(op.process)!.complete = op;
    }
  }
  return out;
}

test('the speed benchmark\'s simulated histories (one hot key, 10 processes, 10% indeterminate) are accepted; a stale read in one is caught', () => {
  const h = simulate({ ops: 5000, keys: 1, processes: 10, infoFraction: 0.1 }, 11);
  const r = checkLinearizable(h, cas);
  assert.equal(r.valid, true, r.unknownReason);
  assert.ok(h.some((o) => o.type === 'info'));
  const stale = makeStale(h, 2500);
  assert.ok(stale !== undefined);
  const bad = checkLinearizable(h, cas);
  assert.equal(bad.valid, false);
  assert.ok((bad.anomalies[0]!.details?.['offending'] as number[]).includes(stale));
});
