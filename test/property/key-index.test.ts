// The flat key index entry against etcd's keyIndex as generations of
// revisions (the shape keel used before, kept here as the reference): random
// puts, deletes and compactions, then every read at or above the compact
// revision, the dropped revisions and the emptiness must agree.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  appendPut,
  appendTombstone,
  compactEntry,
  type DroppedRevision,
  isLive,
  isLiveRevision,
  type KeyEntry,
  newKeyEntry,
  revisionAt,
  revisionsOf,
} from '../../src/mvcc';

/** etcd's keyIndex: generations of flat (main, sub) pairs; all but the last end in a tombstone, the last is empty iff deleted. */
class GenerationsModel {
  gens: number[][] = [[]];

  put(main: number, sub: number): void {
    (this.gens[this.gens.length - 1] as number[]).push(main, sub);
  }

  tombstone(main: number, sub: number): void {
    (this.gens[this.gens.length - 1] as number[]).push(main, sub);
    this.gens.push([]);
  }

  revisionAt(atRev: number): [number, number] | undefined {
    const last = this.gens.length - 1;
    for (let gi = last; gi >= 0; gi--) {
      const g = this.gens[gi] as number[];
      if (g.length === 0) continue;
      if (gi !== last && (g[g.length - 2] as number) <= atRev) return undefined;
      if ((g[0] as number) <= atRev) {
        for (let i = g.length - 2; i >= 0; i -= 2) if ((g[i] as number) <= atRev) return [g[i] as number, g[i + 1] as number];
      }
    }
    return undefined;
  }

  /** etcd's keyIndex.compact and doCompact. */
  compact(atRev: number, dropped: DroppedRevision[]): boolean {
    const last = this.gens.length - 1;
    let gi = 0;
    while (gi < last) {
      const g = this.gens[gi] as number[];
      if ((g[g.length - 2] as number) > atRev) break;
      drop(g, true, dropped, atRev);
      gi++;
    }
    let g = this.gens[gi] as number[];
    if (g.length > 0) {
      let keepFrom = -1;
      for (let i = g.length - 2; i >= 0; i -= 2) {
        if ((g[i] as number) <= atRev) {
          keepFrom = i;
          break;
        }
      }
      if (keepFrom > 0) {
        drop(g.slice(0, keepFrom), false, dropped, atRev);
        g = g.slice(keepFrom);
      }
      if (g.length === 2 && gi !== last) {
        drop(g, true, dropped, atRev);
        gi++;
        g = this.gens[gi] as number[];
      }
    }
    const kept = this.gens.slice(gi);
    kept[0] = g;
    this.gens = kept;
    return kept.length === 1 && g.length === 0;
  }
}

function drop(g: number[], endsInTombstone: boolean, dropped: DroppedRevision[], atRev: number): void {
  for (let i = 0; i < g.length; i += 2) {
    const main = g[i] as number;
    if (main > atRev) continue;
    dropped.push({ main, sub: g[i + 1] as number, tombstone: endsInTombstone && i === g.length - 2 });
  }
}

type Step = { t: 'put'; gap: number; sub: number } | { t: 'del'; gap: number; sub: number } | { t: 'compact'; back: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), gap: fc.integer({ min: 0, max: 3 }), sub: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), gap: fc.integer({ min: 0, max: 3 }), sub: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 6 }) }) },
);

test('KeyEntry answers, compacts and drops exactly like generations of revisions', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 60 }), (steps) => {
      let entry: KeyEntry | undefined;
      let model = new GenerationsModel();
      let main = 1;
      let sub = 0;
      let compactRev = 0;
      let live = false;
      for (const [i, s] of steps.entries()) {
        const where = `step ${i} ${JSON.stringify(s)}`;
        if (s.t === 'compact') {
          const at = Math.max(compactRev, main - s.back);
          compactRev = at;
          if (entry === undefined) continue;
          const got: DroppedRevision[] = [];
          const want: DroppedRevision[] = [];
          const empty = compactEntry(entry, at, got);
          assert.equal(empty, model.compact(at, want), `${where}: empty`);
          assert.deepEqual(got, want, `${where}: dropped`);
          if (empty) {
            entry = undefined;
            model = new GenerationsModel();
          }
        } else {
          if (s.t === 'del' && !live) continue;
          // Revisions increase: a new main, or a higher sub in the same main.
          if (s.gap > 0 || entry === undefined) {
            main += Math.max(1, s.gap);
            sub = s.sub;
          } else {
            sub += 1 + s.sub;
          }
          if (s.t === 'put') {
            if (entry === undefined) entry = newKeyEntry(main, sub, main, 1, 0n);
            else appendPut(entry, main, sub, live ? entry.createRevision : main, live ? entry.version + 1 : 1, 0n);
            model.put(main, sub);
            live = true;
          } else {
            appendTombstone(entry as KeyEntry, main, sub);
            model.tombstone(main, sub);
            live = false;
          }
        }
        if (entry === undefined) continue;
        assert.equal(isLive(entry), live, `${where}: live`);
        for (let at = compactRev; at <= main + 1; at++) {
          assert.deepEqual(revisionAt(entry, at), model.revisionAt(at), `${where}: revision at ${at}`);
        }
        const revs = revisionsOf(entry);
        const newest = revs[revs.length - 1] as DroppedRevision;
        assert.equal(isLiveRevision(entry, newest.main, newest.sub), live, `${where}: newest is the live revision iff live`);
        assert.deepEqual(revs.map((r) => [r.main, r.sub]), model.gens.flat().reduce<number[][]>((a, v, j, all) => (j % 2 === 0 ? [...a, [v, all[j + 1] as number]] : a), []), `${where}: revisions`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('KeyEntry refuses revisions that do not increase and a tombstone on a deleted key', () => {
  const e = newKeyEntry(5, 1, 5, 1, 0n);
  assert.throws(() => appendPut(e, 5, 1, 5, 2, 0n), /revisions increase/);
  assert.throws(() => appendPut(e, 4, 9, 5, 2, 0n), /revisions increase/);
  appendTombstone(e, 5, 2);
  assert.throws(() => appendTombstone(e, 6, 0), /tombstone ends a live generation/);
  appendPut(e, 6, 0, 6, 1, 7n);
  assert.deepEqual([e.main, e.sub, e.createRevision, e.version, e.lease], [6, 0, 6, 1, 7n]);
  assert.deepEqual(revisionsOf(e), [
    { main: 5, sub: 1, tombstone: false },
    { main: 5, sub: 2, tombstone: true },
    { main: 6, sub: 0, tombstone: false },
  ]);
});
