// A snapshot from the leader replaces this member's store on disk: written
// into a fresh directory, then swapped in by renames, keeping this member's
// identity. A crash anywhere in between is finished (or undone) on the next
// open by finishRestore.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert } from '../util';
import { openLevelBackend, restoreBackend, type Backend } from '../storage';
import { MvccStore } from '../mvcc';
import type { SnapshotInstaller } from './applier';
import { identityMeta } from './identity';

/** A restore interrupted by a crash: finish the swap, or drop the half-written copy (the leader sends it again). */
export function finishRestore(memberDir: string): void {
  const db = path.join(memberDir, 'db');
  const restoring = path.join(memberDir, 'db.restoring');
  const old = path.join(memberDir, 'db.old');
  if (!fs.existsSync(db) && fs.existsSync(old)) fs.renameSync(fs.existsSync(restoring) ? restoring : old, db);
  fs.rmSync(restoring, { recursive: true, force: true });
  fs.rmSync(old, { recursive: true, force: true });
}

/** Installs the leader's store (snapshot-file bytes) as `<memberDir>/db`. */
export function levelInstaller(memberDir: string, data: Uint8Array): SnapshotInstaller {
  const restoring = path.join(memberDir, 'db.restoring');
  return {
    async stage(current: MvccStore): Promise<void> {
      fs.rmSync(restoring, { recursive: true, force: true });
      const identity = await current.getMeta(identityMeta);
      assert(identity !== undefined, 'a running member has its identity');
      const fresh = await openLevelBackend(restoring);
      await restoreBackend(fresh, (async function* () { yield data; })());
      const staged = await MvccStore.open(fresh, { leaseExists: () => true });
      await staged.commit([[identityMeta, identity]]);
      await staged.close();
    },
    async swapIn(): Promise<Backend> {
      fs.renameSync(path.join(memberDir, 'db'), path.join(memberDir, 'db.old'));
      fs.renameSync(restoring, path.join(memberDir, 'db'));
      fs.rmSync(path.join(memberDir, 'db.old'), { recursive: true, force: true });
      return openLevelBackend(path.join(memberDir, 'db'));
    },
  };
}
