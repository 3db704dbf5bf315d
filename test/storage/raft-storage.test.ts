// DurableRaftStorage against raft's MemoryStorage as the model: random save
// sequences (conflicting suffixes, received snapshots, local snapshots with
// compaction) with close/reopen at random points; every read raft makes must
// agree. Plus the open-time checks on damaged directories.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { isStorageError, makeConfState, type Entry } from '../../src/raft';
import { DurableRaftStorage, openLevelBackend } from '../../src/storage';
import { limits } from '../../src/util';
import {
  applyToModel, applyToStorage, assertRaftAcceptable, assertSameLog, bootstrapConfState, newModel, plan,
  type OpKind, type OpSeed,
} from './raft-model';

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'keel-raftlog-'));
}

const seedArb: fc.Arbitrary<OpSeed> = fc.record({
  kind: fc.constantFrom<OpKind>('save', 'save', 'save', 'save', 'recv', 'create', 'create', 'stale', 'reopen'),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
  d: fc.nat(1000),
  e: fc.nat(1000),
});

test('DurableRaftStorage answers like MemoryStorage across saves, snapshots, compaction and reopen', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(seedArb, { minLength: 1, maxLength: 30 }), async (seeds) => {
      const dir = tempDir();
      let s = await DurableRaftStorage.open(dir, bootstrapConfState);
      try {
        const model = newModel();
        let wrote = false;
        assert.equal(s.isNew(), true);
        assertSameLog(s, model.m);
        for (const seed of seeds) {
          const p = plan(model, seed);
          if (p.t === 'reopen') {
            await s.close();
            // A written log ignores the bootstrap configuration; an unwritten one takes it again.
            s = await DurableRaftStorage.open(dir, wrote ? makeConfState([7n]) : bootstrapConfState);
            assert.equal(s.isNew(), !wrote, 'isNew after reopen');
          } else {
            await applyToStorage(s, p);
            applyToModel(model, p);
            if (p.t === 'save' || p.t === 'create') wrote = true;
          }
          assertSameLog(s, model.m);
        }
        await s.close();
        s = await DurableRaftStorage.open(dir, bootstrapConfState);
        assertSameLog(s, model.m);
        assertRaftAcceptable(s);
      } finally {
        await s.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 40 },
  );
});

const ent = (index: number, term: number, data = ''): Entry => ({ index, term, type: 'normal', data: Buffer.from(data) });

test('a new dir is new until something is saved, and keeps the bootstrap configuration', async () => {
  const dir = tempDir();
  try {
    let s = await DurableRaftStorage.open(dir, makeConfState([3n, 1n]));
    assert.equal(s.isNew(), true);
    assert.deepEqual(s.initialState().confState, { voters: [1n, 3n], learners: [] });
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    await s.close();
    s = await DurableRaftStorage.open(dir, makeConfState([3n, 1n]));
    assert.equal(s.isNew(), true, 'nothing was saved');
    await s.save({ term: 1, vote: 1n, commit: 0 }, [ent(1, 1, 'a')], null);
    await s.close();
    s = await DurableRaftStorage.open(dir, makeConfState([9n]));
    assert.equal(s.isNew(), false);
    assert.deepEqual(s.initialState(), { hardState: { term: 1, vote: 1n, commit: 0 }, confState: { voters: [1n, 3n], learners: [] } });
    assert.equal(s.lastIndex(), 1);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('concurrent calls are applied in call order; calls made before close() finish, later ones are refused', async () => {
  const dir = tempDir();
  try {
    const s = await DurableRaftStorage.open(dir, makeConfState([1n]));
    const a = s.save({ term: 1, vote: 1n, commit: 0 }, [ent(1, 1), ent(2, 1), ent(3, 1)], null);
    const b = s.save({ term: 2, vote: 1n, commit: 2 }, [ent(3, 2), ent(4, 2)], null);
    const c = s.createSnapshotAndCompact(2, makeConfState([1n]), Buffer.from('snap'), 0);
    const d = s.save({ term: 2, vote: 1n, commit: 4 }, [], null);
    const closing = s.close();
    await Promise.all([a, b, c, d, closing]);
    assert.equal(s.firstIndex(), 3);
    assert.deepEqual(s.entries(3, 5, Infinity).map((e) => e.term), [2, 2]);
    assert.equal(s.initialState().hardState.commit, 4, 'a save called before close() completes');
    await assert.rejects(s.save({ term: 3, vote: 1n, commit: 2 }, [], null), /closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hard state that only moves the commit index (mustSync false) waits in memory for the next write or close', async () => {
  const dir = tempDir();
  try {
    let s = await DurableRaftStorage.open(dir, makeConfState([1n]));
    await s.save({ term: 1, vote: 1n, commit: 0 }, [ent(1, 1), ent(2, 1), ent(3, 1)], null, true);
    await s.save({ term: 1, vote: 1n, commit: 2 }, [], null, false);
    assert.equal(s.initialState().hardState.commit, 2, 'raft sees the new commit index at once');
    // An unsynced save that carries entries is synced anyway (entries always are).
    await s.save({ term: 1, vote: 1n, commit: 2 }, [ent(4, 1)], null, false);
    await s.save({ term: 1, vote: 1n, commit: 4 }, [], null, false);
    await s.close();
    s = await DurableRaftStorage.open(dir);
    assert.equal(s.initialState().hardState.commit, 4, 'close() writes the commit index kept in memory');
    assert.equal(s.lastIndex(), 4);
    // The next synced batch carries a pending commit index even when its Ready has no hard state.
    await s.save(null, [ent(5, 1)], null, true);
    await s.save({ term: 1, vote: 1n, commit: 5 }, [], null, false);
    await s.save(null, [ent(6, 1)], null, true);
    await s.close();
    s = await DurableRaftStorage.open(dir);
    assert.equal(s.lastIndex(), 6);
    assert.equal(s.initialState().hardState.commit, 5, 'the pending commit index went out with the entries');
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('snapshot data larger than a chunk survives reopen, and a smaller one replaces it', async () => {
  const dir = tempDir();
  try {
    const big = Buffer.alloc(Math.floor(2.5 * limits.raftLogSnapshotChunkBytes));
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
    let s = await DurableRaftStorage.open(dir, makeConfState([1n]));
    const cs = makeConfState([1n]);
    await s.save(null, [], { metadata: { index: 10, term: 3, confState: cs }, data: big });
    await s.save({ term: 3, vote: 1n, commit: 12 }, [ent(11, 3), ent(12, 3)], null);
    await s.close();
    s = await DurableRaftStorage.open(dir);
    assert.equal(Buffer.compare(Buffer.from(s.snapshot().data), big), 0);
    assert.equal(s.firstIndex(), 11);
    await s.createSnapshotAndCompact(12, cs, Buffer.from('small'), 0);
    await s.close();
    s = await DurableRaftStorage.open(dir);
    assert.equal(Buffer.from(s.snapshot().data).toString(), 'small');
    assert.deepEqual(s.snapshot().metadata, { index: 12, term: 3, confState: cs });
    assert.equal(s.firstIndex(), 13);
    assert.equal(s.lastIndex(), 12);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the compacted log keeps only the retained tail in memory and on disk', async () => {
  const dir = tempDir();
  try {
    let s = await DurableRaftStorage.open(dir, makeConfState([1n]));
    const ents: Entry[] = [];
    for (let i = 1; i <= 1000; i++) ents.push(ent(i, 1, 'x'.repeat(10)));
    await s.save({ term: 1, vote: 1n, commit: 1000 }, ents, null);
    await s.createSnapshotAndCompact(900, makeConfState([1n]), Buffer.from('s'), 50);
    assert.equal(s.firstIndex(), 851);
    assert.equal(s.term(850), 1);
    assert.ok(isStorageError(catching(() => s.term(849)), 'Compacted'));
    await s.close();
    const b = await openLevelBackend(dir);
    let entryKeys = 0;
    for await (const [k] of b.iterate({ gte: Buffer.from('e'), lt: Buffer.from('f') })) {
      entryKeys++;
      assert.ok(k.readUInt32BE(5) > 850);
    }
    await b.close();
    assert.equal(entryKeys, 150);
    s = await DurableRaftStorage.open(dir);
    assert.equal(s.firstIndex(), 851);
    assert.equal(s.snapshot().metadata.index, 900);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function catching(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

async function savedLog(dir: string): Promise<void> {
  const s = await DurableRaftStorage.open(dir, makeConfState([1n]));
  await s.save({ term: 2, vote: 1n, commit: 3 }, [ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)], null);
  await s.close();
}

async function damage(dir: string, ops: { type: 'put' | 'del'; key: Buffer; value?: Buffer }[]): Promise<void> {
  const b = await openLevelBackend(dir);
  await b.write(ops.map((o) => (o.type === 'put' ? { type: 'put' as const, key: o.key, value: o.value as Buffer } : { type: 'del' as const, key: o.key })), { sync: true });
  await b.close();
}

function entryKey(i: number): Buffer {
  const k = Buffer.alloc(9);
  k[0] = 0x65;
  k.writeUInt32BE(i, 5);
  return k;
}

test('a damaged dir is refused with an error naming it', async (t) => {
  const cases: Array<[string, (dir: string) => Promise<void>, RegExp]> = [
    ['a gap in the entries', (dir) => damage(dir, [{ type: 'del', key: entryKey(2) }]), /is corrupt: expected entry 2, found entry 3/],
    ['a commit beyond the last entry', (dir) => damage(dir, [{ type: 'del', key: entryKey(4) }, { type: 'del', key: entryKey(3) }]), /is corrupt: hard state commit 3 is beyond the last entry 2/],
    ['an undecodable hard state', (dir) => damage(dir, [{ type: 'put', key: Buffer.from('h'), value: Buffer.from('junk') }]), /is corrupt: hard state: bad record/],
    ['an entry with an unknown type', (dir) => damage(dir, [{ type: 'put', key: entryKey(2), value: Buffer.from([7, 1]) }]), /is corrupt: entry 2: unknown type 7/],
    ['terms going backwards', (dir) => damage(dir, [{ type: 'put', key: entryKey(4), value: Buffer.from([0, 1]) }]), /is corrupt: entry 4 has term 1, below the term 2/],
    ['an unknown key', (dir) => damage(dir, [{ type: 'put', key: Buffer.from('zz'), value: Buffer.from('1') }]), /is corrupt: unknown key 7a7a/],
    ['a missing format marker', (dir) => damage(dir, [{ type: 'del', key: Buffer.from('f') }]), /is corrupt: format marker missing/],
    ['a broken LevelDB CURRENT file', async (dir) => writeFileSync(path.join(dir, 'CURRENT'), 'garbage\n'), /cannot open raft log .*keel-raftlog-/],
    [
      'a truncated table file',
      async (dir) => {
        for (const f of readdirSync(dir)) {
          if (f.endsWith('.log')) writeFileSync(path.join(dir, f), Buffer.alloc(0));
          if (f.startsWith('MANIFEST-')) writeFileSync(path.join(dir, f), Buffer.from('not a manifest'));
        }
      },
      /cannot open raft log .*keel-raftlog-.*corrupt/,
    ],
  ];
  for (const [name, hurt, want] of cases) {
    await t.test(name, async () => {
      const dir = tempDir();
      try {
        await savedLog(dir);
        await hurt(dir);
        await assert.rejects(DurableRaftStorage.open(dir), (e: Error) => {
          assert.match(e.message, want);
          assert.ok(e.message.includes(dir), `names the dir: ${e.message}`);
          return true;
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

test('a LevelDB that is not a raft log (the MVCC backend) is refused', async () => {
  const dir = tempDir();
  try {
    const b = await openLevelBackend(dir);
    await b.write([{ type: 'put', key: Buffer.from('key'), value: Buffer.from('value') }], { sync: true });
    await b.close();
    await assert.rejects(DurableRaftStorage.open(dir), new RegExp(`raft log ${dir} is corrupt: unknown key`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
