// A data dir's LevelDB raft log, written by today's DurableRaftStorage, becomes
// a WAL holding the same log (hard state, snapshot with its data, log start,
// entries); a crash at any step of the migration restarts or finishes it.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DurableRaftStorage } from '../../src/storage';
import { WalStorage, isLevelRaftLog, migrateFromLevelRaftLog } from '../../src/wal';
import { Rng } from '../helpers/random';
import { applyToModel, applyToStorage, assertSameLog, bootstrapConfState, digest, newModel, plan, type Model, type OpKind } from '../storage/raft-model';

const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

/** Writes random plans (snapshots with data and compaction included) through DurableRaftStorage. */
async function writeLevelLog(dir: string, rng: Rng, n: number): Promise<Model> {
  const model = newModel();
  const s = await DurableRaftStorage.open(dir, bootstrapConfState);
  try {
    for (let k = 0; k < n; ) {
      const kind = rng.weighted<OpKind>([[8, 'save'], [1, 'recv'], [2, 'create']]);
      const p = plan(model, { kind, a: rng.u32(), b: rng.u32(), c: rng.u32(), d: rng.u32(), e: rng.u32() }, 40);
      if (p.t === 'none') continue;
      await applyToStorage(s, p);
      applyToModel(model, p);
      k++;
    }
    // Logs that were compacted keep entries behind the snapshot (etcd's catch-up entries): make sure one exists.
    assert.ok(s.lastIndex() > 0);
  } finally {
    await s.close();
  }
  return model;
}

async function walDigest(dir: string, model: Model): Promise<string> {
  const w = await WalStorage.open(dir, bootstrapConfState);
  try {
    assertSameLog(w, model.m);
    return digest(w);
  } finally {
    await w.close();
  }
}

for (const same of [false, true]) {
  test(`migrating a DurableRaftStorage dir ${same ? 'in place (same path)' : 'to a new path'} keeps the whole log; a second start does nothing`, async () => {
    const root = fs.mkdtempSync(path.join(tmpdir(), 'keel-walmig-'));
    try {
      const rng = new Rng(seed + (same ? 1 : 0));
      const levelDir = path.join(root, 'wal');
      const walDir = same ? levelDir : path.join(root, 'raft-wal');
      const model = await writeLevelLog(levelDir, rng, 300);
      const want = digest(model.m);
      const r = await migrateFromLevelRaftLog(levelDir, walDir);
      assert.equal(r.migrated, true, `SEED=${seed}`);
      assert.equal(r.lastIndex, model.m.lastIndex());
      assert.equal(isLevelRaftLog(walDir), false, 'the WAL dir holds a WAL');
      if (!same) assert.equal(fs.existsSync(levelDir), false, 'the LevelDB log is gone');
      assert.deepEqual(fs.readdirSync(root).sort(), same ? ['wal'] : ['raft-wal'], 'no temporary dirs are left');
      assert.equal(await walDigest(walDir, model), want, `SEED=${seed}`);
      assert.equal((await migrateFromLevelRaftLog(levelDir, walDir)).migrated, false);
      assert.equal(await walDigest(walDir, model), want);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

test('a crashed migration restarts (half-written WAL) or finishes (WAL renamed, old log still there)', async () => {
  const root = fs.mkdtempSync(path.join(tmpdir(), 'keel-walmig-'));
  try {
    const rng = new Rng(seed + 7);
    const dir = path.join(root, 'wal');
    const model = await writeLevelLog(dir, rng, 120);
    const want = digest(model.m);
    // Crash 1: the WAL was being written in <dir>.migrating: a frame-less segment and garbage.
    fs.mkdirSync(`${dir}.migrating`);
    fs.writeFileSync(path.join(`${dir}.migrating`, '0000000000000000.wal'), Buffer.from('half a frame'));
    assert.equal((await migrateFromLevelRaftLog(dir, dir)).migrated, true);
    assert.equal(await walDigest(dir, model), want);
    // Crash 2 (same path): the LevelDB dir was moved aside and the complete WAL not yet renamed into place.
    const levelAgain = path.join(root, 'level2');
    await writeLevelLog(levelAgain, rng, 80);
    fs.renameSync(dir, `${dir}.migrating`);
    fs.renameSync(levelAgain, `${dir}.level-old`);
    assert.equal((await migrateFromLevelRaftLog(dir, dir)).migrated, false, 'finished, not redone');
    assert.equal(fs.existsSync(`${dir}.level-old`), false);
    assert.equal(await walDigest(dir, model), want, 'the WAL that was complete is the one kept');
    // Crash 3 (new path): the WAL was renamed into place, the old LevelDB log not yet deleted.
    const newWal = path.join(root, 'raft-wal');
    fs.renameSync(dir, newWal);
    const level3 = path.join(root, 'level3');
    await writeLevelLog(level3, rng, 10);
    assert.equal((await migrateFromLevelRaftLog(level3, newWal)).migrated, false);
    assert.equal(fs.existsSync(level3), false, 'the old log is removed once the WAL is in place');
    assert.equal(await walDigest(newWal, model), want);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
