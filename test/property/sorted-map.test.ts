// SortedStringMap against a Map plus a sort, with tiny chunks so splits and
// chunk removal happen constantly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedStringMap } from '../../src/storage';

type Op = { t: 'set'; k: string; v: number } | { t: 'del'; k: string } | { t: 'range'; gte: string; lt: string | undefined; reverse: boolean };

const keyArb = fc.string({ unit: fc.constantFrom('\x00', 'a', 'b', '\xff'), maxLength: 4 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('set' as const), k: keyArb, v: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('range' as const), gte: keyArb, lt: fc.option(keyArb, { nil: undefined }), reverse: fc.boolean() }) },
);

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
