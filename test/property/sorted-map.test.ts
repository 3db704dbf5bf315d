// SortedStringMap against a Map plus a sort, with tiny chunks so splits and
// chunk removal happen constantly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedStringMap } from '../../src/storage';

type Op =
  | { t: 'set'; k: string; v: number }
  | { t: 'del'; k: string }
  | { t: 'range'; gte: string; lt: string | undefined; reverse: boolean }
  | { t: 'scan'; gte: string; lt: string | undefined; stopAfter: number };

const keyArb = fc.string({ unit: fc.constantFrom('\x00', 'a', 'b', '\xff'), maxLength: 4 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('set' as const), k: keyArb, v: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('range' as const), gte: keyArb, lt: fc.option(keyArb, { nil: undefined }), reverse: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('scan' as const), gte: keyArb, lt: fc.option(keyArb, { nil: undefined }), stopAfter: fc.integer({ min: 0, max: 8 }) }) },
);

/** Keys set in ascending order (appends): the chunks split off their last entry and stay full. */
const appendsArb = fc.uniqueArray(keyArb, { maxLength: 60 }).map((ks) => ks.sort());

test('SortedStringMap matches a sorted Map', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 6 }), fc.array(opArb, { maxLength: 400, size: 'max' }), (chunk, ops) => {
      const m = new SortedStringMap<number>(chunk);
      const ref = new Map<string, number>();
      const sorted = (): Array<[string, number]> => [...ref.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      for (const op of ops) {
        if (op.t === 'set') {
          m.set(op.k, op.v);
          ref.set(op.k, op.v);
        } else if (op.t === 'del') {
          assert.equal(m.delete(op.k), ref.delete(op.k));
        } else if (op.t === 'scan') {
          // stopAfter 0: no early stop; otherwise f returns false on the stopAfter-th entry.
          const want = sorted().filter(([k]) => k >= op.gte && (op.lt === undefined || k < op.lt));
          const got: Array<[string, number]> = [];
          m.scan(op.gte, op.lt, (k, v) => {
            got.push([k, v]);
            return op.stopAfter === 0 || got.length < op.stopAfter;
          });
          assert.deepEqual(got, op.stopAfter === 0 ? want : want.slice(0, op.stopAfter));
        } else {
          const want = sorted().filter(([k]) => k >= op.gte && (op.lt === undefined || k < op.lt));
          const got = [...(op.reverse ? m.rangeReverse(op.gte, op.lt) : m.range(op.gte, op.lt))];
          assert.deepEqual(got, op.reverse ? want.reverse() : want);
        }
        assert.equal(m.size, ref.size);
      }
      for (const [k, v] of ref) assert.equal(m.get(k), v);
      assert.equal(m.get('nope'), undefined);
      assert.deepEqual([...m.range('', undefined)], sorted());
    }),
    { numRuns: 300 },
  );
});

test('SortedStringMap: keys set in order, then any ops, still match', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 6 }), appendsArb, fc.array(opArb, { maxLength: 60 }), (chunk, appends, ops) => {
      const m = new SortedStringMap<number>(chunk);
      const ref = new Map<string, number>();
      appends.forEach((k, i) => {
        m.set(k, i);
        ref.set(k, i);
      });
      for (const op of ops) {
        if (op.t === 'set') {
          m.set(op.k, op.v);
          ref.set(op.k, op.v);
        } else if (op.t === 'del') {
          assert.equal(m.delete(op.k), ref.delete(op.k));
        }
      }
      const sorted = [...ref.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      assert.deepEqual([...m.range('', undefined)], sorted);
      assert.deepEqual([...m.rangeReverse('', undefined)], [...sorted].reverse());
      for (const [k, v] of ref) assert.equal(m.get(k), v);
      assert.equal(m.size, ref.size);
    }),
    { numRuns: 300 },
  );
});
