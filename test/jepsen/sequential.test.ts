// checkSequential: serializable reads may be stale, never go backwards for a
// process (monotonic reads, read-your-writes), by revision order or, without
// revisions, by real-time order of writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkSequential } from '../../jepsen/checker/linearizable';
import type { HistoryOp } from '../../jepsen/history';
import { HistoryBuilder } from './builder';
import { opSpecArb, simulateRegister } from './gen';

const ser = { serializable: true };

function writeRev(h: HistoryBuilder, p: number, v: number, rev: number): void {
  h.invoke(p, 'write', v, { key: 'k' });
  h.ok(p, undefined, { revision: rev });
}

test('stale but monotonic serializable reads are sequentially consistent', () => {
  const h = new HistoryBuilder();
  writeRev(h, 0, 1, 2);
  writeRev(h, 0, 2, 3);
  h.read(1, 1, 'k', ser); // stale: 2 was already written
  h.read(1, 1, 'k', ser);
  h.read(1, 2, 'k', ser);
  h.read(2, null, 'k', ser); // another process may lag further
  const r = checkSequential(h.ops);
  assert.equal(r.valid, true, JSON.stringify(r));
  assert.equal(r.stats['reads'], 4);
  assert.equal(r.stats['keysOrderedByRevision'], 1);
});

test('a serializable read that goes backwards for its process is a nonmonotonic-read', () => {
  const h = new HistoryBuilder();
  writeRev(h, 0, 1, 2);
  writeRev(h, 0, 2, 3);
  const [, first] = h.read(1, 2, 'k', ser);
  const [ri, rc] = h.read(1, 1, 'k', ser);
  const r = checkSequential(h.ops);
  assert.equal(r.valid, false);
  assert.equal(r.anomalies.length, 1);
  assert.equal(r.anomalies[0]!.kind, 'nonmonotonic-read');
  assert.deepEqual(r.anomalies[0]!.ops, [first, ri, rc]);
  assert.equal(r.anomalies[0]!.key, 'k');
});

test('a serializable read older than the process\'s own write is not-read-your-writes', () => {
  const h = new HistoryBuilder();
  writeRev(h, 0, 1, 2);
  writeRev(h, 1, 2, 3);
  const [ri] = h.read(1, 1, 'k', ser);
  const r = checkSequential(h.ops);
  assert.equal(r.anomalies[0]?.kind, 'not-read-your-writes');
  assert.ok(r.anomalies[0]!.ops.includes(ri));
});

test('linearizable reads and cas also set what a process has seen', () => {
  const h = new HistoryBuilder();
  writeRev(h, 0, 1, 2);
  writeRev(h, 0, 2, 3);
  h.read(1, 2, 'k');
  h.read(1, 1, 'k', ser);
  assert.equal(checkSequential(h.ops).anomalies[0]?.kind, 'nonmonotonic-read');
  const c = new HistoryBuilder();
  writeRev(c, 0, 1, 2);
  c.invoke(1, 'cas', [1, 5], { key: 'k' });
  c.ok(1, undefined, { revision: 3 });
  c.read(1, 1, 'k', ser);
  assert.equal(checkSequential(c.ops).anomalies[0]?.kind, 'not-read-your-writes');
});

test('without revisions, only writes ordered in real time count against a read', () => {
  const h = new HistoryBuilder();
  h.write(0, 1, 'k');
  h.write(0, 2, 'k');
  h.read(1, 2, 'k', ser);
  h.read(1, 1, 'k', ser);
  const r = checkSequential(h.ops);
  assert.equal(r.anomalies[0]?.kind, 'nonmonotonic-read');
  assert.equal(r.stats['keysOrderedByRevision'], 0);
  // Concurrent writes: either order is possible, so 2 then 1 is not held against the reader.
  const c = new HistoryBuilder();
  c.invoke(0, 'write', 1, { key: 'k' });
  c.invoke(2, 'write', 2, { key: 'k' });
  c.ok(0);
  c.ok(2);
  c.read(1, 2, 'k', ser);
  c.read(1, 1, 'k', ser);
  assert.equal(checkSequential(c.ops).valid, true);
});

test('a read of the initial state after a write was seen, and a read of a value nobody wrote', () => {
  const h = new HistoryBuilder();
  writeRev(h, 0, 1, 2);
  h.read(1, 1, 'k', ser);
  h.read(1, null, 'k', ser);
  h.read(2, 42, 'k', ser);
  const kinds = checkSequential(h.ops).anomalies.map((a) => a.kind).sort();
  assert.deepEqual(kinds, ['nonmonotonic-read', 'unwritten-value']);
});

test('property: linearizable histories read serializably are accepted; one read sent backwards is caught', () => {
  const arb = fc.record({ specs: fc.array(opSpecArb({ threads: 4, keys: 2, values: 4, infoWeight: 8 }), { minLength: 40, maxLength: 300 }), pick: fc.nat(10_000) });
  let corrupted = 0;
  fc.assert(
    fc.property(arb, ({ specs, pick }) => {
      const h = simulateRegister(specs, { threads: 4, unique: true, model: 'cas-register' });
      for (const op of h) if (op.f === 'read') op.extra = { serializable: true };
      assert.equal(checkSequential(h).valid, true);
      const back = sendBackwards(h, pick);
      if (back === undefined) return;
      corrupted++;
      const r = checkSequential(h);
      assert.equal(r.valid, false);
      assert.ok(r.anomalies.some((a) => a.ops.includes(back)), JSON.stringify(r.anomalies));
    }),
    { numRuns: 80 },
  );
  // Most runs must have had a read to corrupt, or the second half tested nothing.
  assert.ok(corrupted > 40, `only ${corrupted} of 80 runs corrupted a read`);
});

/**
 * Finds a process that read the value of write w and later read the key again, and makes that later read
 * return the value of a write w0 that completed before w began: certainly older. Returns its index.
 */
function sendBackwards(h: HistoryOp[], pick: number): number | undefined {
  const invokes = new Map<number, HistoryOp>();
  const done: Array<{ invoke: HistoryOp; complete: HistoryOp }> = [];
  for (const op of h) {
    if (op.type === 'invoke') invokes.set(op.process, op);
    else done.push({ invoke: invokes.get(op.process)!, complete: op });
  }
  const writes = done.filter((p) => p.invoke.f === 'write' && p.complete.type === 'ok');
  const reads = done.filter((p) => p.invoke.f === 'read' && p.complete.type === 'ok');
  for (let n = 0; n < reads.length; n++) {
    const r1 = reads[(pick + n) % reads.length]!;
    const w = writes.find((x) => x.invoke.key === r1.invoke.key && x.invoke.value === r1.complete.value);
    const w0 = w && writes.find((x) => x.invoke.key === w.invoke.key && x.complete.index < w.invoke.index);
    const r2 = reads.find((x) => x.invoke.process === r1.invoke.process && x.invoke.key === r1.invoke.key && x.invoke.index > r1.complete.index);
    if (w0 === undefined || r2 === undefined) continue;
    r2.complete.value = w0.invoke.value;
    return r2.complete.index;
  }
  return undefined;
}
