// WalStorage against raft's MemoryStorage as the model (the approach of
// test/storage/raft-storage.test.ts, with its plans): random saves with
// conflicting suffixes, received snapshots, local snapshots with compaction,
// reopen at random points; tiny segments and a tiny entry cache so rollover,
// segment release and reads from disk happen in almost every run.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { makeConfState } from '../../src/raft';
import type { DurableRaftStorage } from '../../src/storage';
import { WalStorage, type WalOptions } from '../../src/wal';
import {
  applyToModel, applyToStorage, assertRaftAcceptable, assertSameLog, bootstrapConfState, newModel, plan,
  type OpKind, type OpSeed,
} from '../storage/raft-model';

// Compile-time: WalStorage has every public member of DurableRaftStorage with a compatible type, and
// opens the same way, so wiring it into the server (src/server/raft-log.ts) is a one-line change.
type DurablePublicApi = { [K in keyof DurableRaftStorage]: DurableRaftStorage[K] };
export const dropInInstance: (w: WalStorage) => DurablePublicApi = (w) => w;
export const dropInOpen: (dir: string) => Promise<DurablePublicApi> = (dir) => WalStorage.open(dir);

const seedArb: fc.Arbitrary<OpSeed> = fc.record({
  kind: fc.constantFrom<OpKind>('save', 'save', 'save', 'save', 'recv', 'create', 'create', 'stale', 'reopen'),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
  d: fc.nat(1000),
  e: fc.nat(1000),
});

const optionsArb: fc.Arbitrary<WalOptions> = fc.record({
  segmentBytes: fc.constantFrom(512, 2048, 64 * 1024),
  entryCacheBytesMax: fc.constantFrom(0, 200, 1 << 20),
});

test('WalStorage answers like MemoryStorage across saves, snapshots, compaction, rollover and reopen', async () => {
  let rolledOver = 0;
  let released = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(seedArb, { minLength: 1, maxLength: 40 }), optionsArb, async (seeds, options) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'keel-walmodel-'));
      let s = await WalStorage.open(dir, bootstrapConfState, options);
      let maxSegment = 0;
      try {
        const model = newModel();
        let wrote = false;
        assert.equal(s.isNew(), true);
        assertSameLog(s, model.m);
        for (const seed of seeds) {
          const p = plan(model, seed);
          if (p.t === 'reopen') {
            await s.close();
            s = await WalStorage.open(dir, wrote ? makeConfState([7n]) : bootstrapConfState, options);
            assert.equal(s.isNew(), !wrote, 'isNew after reopen');
          } else {
            await applyToStorage(s, p);
            applyToModel(model, p);
            if (p.t === 'save' || p.t === 'create') wrote = true;
          }
          assertSameLog(s, model.m);
          const segs = readdirSync(dir).filter((n) => n.endsWith('.wal')).map((n) => parseInt(n, 16));
          maxSegment = Math.max(maxSegment, ...segs);
          if (segs.length > 0 && Math.min(...segs) > 0) released++;
        }
        if (maxSegment > 0) rolledOver++;
        await s.close();
        s = await WalStorage.open(dir, bootstrapConfState, options);
        assertSameLog(s, model.m);
        assertRaftAcceptable(s);
      } finally {
        await s.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: Number(process.env['WAL_MODEL_RUNS'] ?? 60) },
  );
  // The property must have exercised what it is about, not only single-segment logs.
  assert.ok(rolledOver > 0, 'some runs rolled over to a new segment');
  assert.ok(released > 0, 'some runs released old segments');
});
