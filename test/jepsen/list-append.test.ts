// checkListAppend on hand-built histories of each anomaly Elle names, and on
// simulated strict-serializable histories (accepted; one read cut short is
// caught).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkListAppend } from '../../jepsen/checker/list-append';
import type { HistoryOp } from '../../jepsen/history';
import { HistoryBuilder } from './builder';
import { opSpecArb, simulateListAppend } from './gen';

const serializable = { realtime: false };
const strict = { realtime: true };

function kinds(h: readonly HistoryOp[], opts = serializable): string[] {
  return checkListAppend(h, opts).anomalies.map((a) => a.kind).sort();
}

test('a serializable history is valid', () => {
  const h = new HistoryBuilder();
  h.txn(0, [['append', 'x', 1], ['r', 'y', []]]);
  h.txn(1, [['r', 'x', [1]], ['append', 'y', 2]]);
  h.txn(0, [['r', 'x', [1]], ['r', 'y', [2]], ['append', 'x', 3], ['r', 'x', [1, 3]]]);
  const r = checkListAppend(h.ops, strict);
  assert.equal(r.valid, true, JSON.stringify(r.anomalies));
  assert.equal(r.stats['txns'], 3);
});

test('G0: write cycle — x says T1 before T2, y says T2 before T1', () => {
  const h = new HistoryBuilder();
  const [t1] = h.txn(0, [['append', 'x', 1], ['append', 'y', 1]]);
  const [t2] = h.txn(1, [['append', 'x', 2], ['append', 'y', 2]]);
  h.txn(2, [['r', 'x', [1, 2]], ['r', 'y', [2, 1]]]);
  const r = checkListAppend(h.ops, serializable);
  assert.deepEqual(r.anomalies.map((a) => a.kind), ['G0']);
  const cycle = r.anomalies[0]!.details?.['cycle'] as Array<{ from: number; to: number; type: string }>;
  assert.deepEqual(new Set(cycle.map((e) => e.from)), new Set([t1, t2]));
  assert.ok(cycle.every((e) => e.type === 'ww'));
});

test('G1c: circular information flow through reads', () => {
  const h = new HistoryBuilder();
  h.invoke(0, 'txn', [['append', 'x', 1], ['r', 'y', null]]);
  h.invoke(1, 'txn', [['append', 'y', 2], ['r', 'x', null]]);
  h.ok(0, [['append', 'x', 1], ['r', 'y', [2]]]);
  h.ok(1, [['append', 'y', 2], ['r', 'x', [1]]]);
  assert.deepEqual(kinds(h.ops), ['G1c']);
});

test('G-single: read skew (one anti-dependency)', () => {
  const h = new HistoryBuilder();
  h.invoke(1, 'txn', [['r', 'x', null], ['r', 'y', null]]);
  h.txn(0, [['append', 'x', 1], ['append', 'y', 1]]);
  h.ok(1, [['r', 'x', []], ['r', 'y', [1]]]);
  h.txn(2, [['r', 'x', [1]]]);
  const r = checkListAppend(h.ops, serializable);
  assert.deepEqual(r.anomalies.map((a) => a.kind), ['G-single']);
  assert.match(r.anomalies[0]!.explanation, /rw: .* read "x" = \[\], without 1/);
});

test('G2: write skew (two anti-dependencies)', () => {
  const h = new HistoryBuilder();
  h.invoke(0, 'txn', [['r', 'x', null], ['append', 'y', 1]]);
  h.invoke(1, 'txn', [['r', 'y', null], ['append', 'x', 2]]);
  h.ok(0, [['r', 'x', []], ['append', 'y', 1]]);
  h.ok(1, [['r', 'y', []], ['append', 'x', 2]]);
  h.txn(2, [['r', 'x', [2]], ['r', 'y', [1]]]);
  assert.deepEqual(kinds(h.ops), ['G2']);
  assert.deepEqual(kinds(h.ops, strict), ['G2']);
});

test('G1a: a read saw an append of a failed transaction', () => {
  const h = new HistoryBuilder();
  const t1 = h.invoke(0, 'txn', [['append', 'x', 1]]);
  const f1 = h.fail(0);
  const [t2, c2] = h.txn(1, [['r', 'x', [1]]]);
  const r = checkListAppend(h.ops, serializable);
  assert.deepEqual(r.anomalies.map((a) => a.kind), ['G1a']);
  assert.deepEqual(r.anomalies[0]!.ops, [t1, f1, t2, c2]);
});

test('G1b: a read saw an intermediate state of another transaction', () => {
  const h = new HistoryBuilder();
  h.txn(0, [['append', 'x', 1], ['append', 'x', 2]]);
  h.txn(1, [['r', 'x', [1]]]);
  assert.ok(kinds(h.ops).includes('G1b'));
});

test('internal inconsistency, duplicates, incompatible orders, unknown elements', () => {
  const internal = new HistoryBuilder();
  internal.txn(0, [['append', 'x', 5], ['r', 'x', []]]);
  assert.deepEqual(kinds(internal.ops), ['internal']);
  const again = new HistoryBuilder();
  again.txn(0, [['r', 'x', []], ['append', 'x', 5], ['r', 'x', [5, 6]]]);
  assert.ok(kinds(again.ops).includes('internal'));
  const dup = new HistoryBuilder();
  dup.txn(0, [['append', 'x', 1]]);
  dup.txn(1, [['r', 'x', [1, 1]]]);
  assert.ok(kinds(dup.ops).includes('duplicate-elements'));
  const order = new HistoryBuilder();
  order.txn(0, [['append', 'x', 1]]);
  order.txn(0, [['append', 'x', 2]]);
  order.txn(0, [['append', 'x', 3]]);
  order.txn(1, [['r', 'x', [1, 2]]]);
  order.txn(2, [['r', 'x', [1, 3]]]);
  assert.deepEqual(kinds(order.ops), ['incompatible-order']);
  const ghost = new HistoryBuilder();
  ghost.txn(1, [['r', 'x', [7]]]);
  assert.deepEqual(kinds(ghost.ops), ['unknown-element']);
});

test('realtime: a txn that misses an append completed before it began is only a strict-serializability violation', () => {
  const h = new HistoryBuilder();
  h.txn(0, [['append', 'x', 1]]);
  h.txn(1, [['r', 'x', []]]);
  h.txn(2, [['r', 'x', [1]]]);
  assert.deepEqual(kinds(h.ops, serializable), []);
  const r = checkListAppend(h.ops, strict);
  assert.deepEqual(r.anomalies.map((a) => a.kind), ['G-single-realtime']);
  const cycle = r.anomalies[0]!.details?.['cycle'] as Array<{ type: string }>;
  assert.deepEqual(cycle.map((e) => e.type).sort(), ['rt', 'rw']);
});

test('info txns may have committed: reading their appends is fine, and unread ones stay out of the graph', () => {
  const h = new HistoryBuilder();
  h.invoke(0, 'txn', [['append', 'x', 1]]);
  h.info(0);
  h.invoke(3, 'txn', [['append', 'x', 9]]);
  h.info(3);
  h.txn(1, [['r', 'x', [1]]]);
  h.invoke(2, 'txn', [['append', 'x', 2]]); // never completes
  h.txn(4, [['r', 'x', [1, 2]]]);
  const r = checkListAppend(h.ops, strict);
  assert.equal(r.valid, true, JSON.stringify(r.anomalies));
  assert.equal(r.stats['nodes'], 4);
});

test('property: simulated strict-serializable histories are accepted; a read cut short is caught with realtime', () => {
  const arb = fc.record({ specs: fc.array(opSpecArb({ threads: 4, keys: 3, values: 3, infoWeight: 10 }), { minLength: 20, maxLength: 250 }), pick: fc.nat(10_000) });
  let corrupted = 0;
  fc.assert(
    fc.property(arb, ({ specs, pick }) => {
      const h = simulateListAppend(specs, { threads: 4, keys: 3 });
      const ok = checkListAppend(h, strict);
      assert.equal(ok.valid, true, JSON.stringify(ok.anomalies.slice(0, 2)));
      const cut = cutShort(h, pick);
      if (cut === undefined) return;
      corrupted++;
      const r = checkListAppend(h, strict);
      assert.equal(r.valid, false);
      assert.ok(r.anomalies.some((a) => a.ops.includes(cut)), JSON.stringify(r.anomalies));
    }),
    { numRuns: 80 },
  );
  // Most runs must have had a read to corrupt, or the second half tested nothing.
  assert.ok(corrupted > 40, `only ${corrupted} of 80 runs corrupted a read`);
});

/**
 * Cuts one ok read of key k short at position i, where the element at i was appended by an ok txn that
 * completed before the reader was invoked and another read shows that element (so it is in the version
 * order): the reader now anti-depends on a txn that precedes it in real time. Returns its completion index.
 */
function cutShort(h: HistoryOp[], pick: number): number | undefined {
  const invokes = new Map<number, HistoryOp>();
  const txns: Array<{ invoke: HistoryOp; complete: HistoryOp }> = [];
  for (const op of h) {
    if (op.type === 'invoke') invokes.set(op.process, op);
    else if (op.type === 'ok') txns.push({ invoke: invokes.get(op.process)!, complete: op });
  }
  const appendedBy = new Map<string, { invoke: HistoryOp; complete: HistoryOp }>();
  for (const t of txns) for (const m of t.complete.value as Array<[string, string, unknown]>) if (m[0] === 'append') appendedBy.set(`${m[1]}/${String(m[2])}`, t);
  const seenBy = new Map<string, Set<HistoryOp>>();
  for (const t of txns) {
    for (const m of t.complete.value as Array<[string, string, unknown]>) {
      if (m[0] !== 'r') continue;
      for (const e of m[2] as number[]) seenBy.set(`${m[1]}/${e}`, (seenBy.get(`${m[1]}/${e}`) ?? new Set()).add(t.complete));
    }
  }
  for (let n = 0; n < txns.length; n++) {
    const t = txns[(pick + n) % txns.length]!;
    const mops = t.complete.value as Array<[string, string, unknown]>;
    for (let m = 0; m < mops.length; m++) {
      const [f, key, list] = mops[m]!;
      if (f !== 'r' || mops.slice(0, m).some((x) => x[1] === key)) continue;
      const l = list as number[];
      for (let i = 0; i < l.length; i++) {
        const w = appendedBy.get(`${key}/${l[i]}`);
        if (w === undefined || w === t || w.complete.index > t.invoke.index) continue;
        if (![...(seenBy.get(`${key}/${l[i]}`) ?? [])].some((c) => c !== t.complete)) continue;
        mops[m] = ['r', key, l.slice(0, i)];
        return t.complete.index;
      }
    }
  }
  return undefined;
}
