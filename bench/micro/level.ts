// LevelDB batch writes through the MVCC backend (src/storage/level-backend.ts):
// puts of revision keys in ascending order, as the apply loop writes them.
// Each case has its own database in a temporary directory, removed at the end.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Level } from 'level';
import { openLevelBackend, type Backend, type BatchOp } from '../../src/storage';
import { revisionKey } from '../../src/mvcc';
import { noiseBytes, sink, type MicroCase, type MicroSuite } from './harness';

const valueBytes = 256;

export function levelSuite(): MicroSuite {
  let root: string | undefined;
  const open: Pick<Backend, 'close'>[] = [];
  const rootDir = (): string => {
    if (root === undefined) {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-micro-'));
      // A crash or ^C must not leave the data behind either.
      const dir = root;
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    }
    return root;
  };
  const value = noiseBytes(valueBytes);
  let rev = 1;

  const batchCase = (puts: number, sync: boolean): MicroCase => ({
    name: `batch of ${puts} put${puts === 1 ? '' : 's'}, sync ${sync}`,
    items: { count: puts, unit: 'put' },
    setup: async () => {
      const db = await openLevelBackend(path.join(rootDir(), `batch-${puts}-${sync ? 'sync' : 'nosync'}`));
      open.push(db);
      return async () => {
        const ops: BatchOp[] = [];
        for (let i = 0; i < puts; i++) ops.push({ type: 'put', key: revisionKey(rev, i, false), value });
        rev++;
        sink(await db.write(ops, { sync }));
      };
    },
  });

  /** The same writes through level's chained batch (one native call per put) instead of LevelBackend's array batch. */
  const chainedCase = (puts: number, sync: boolean): MicroCase => ({
    name: `ref: batch of ${puts} puts, sync ${sync}, as a chained batch (level directly)`,
    items: { count: puts, unit: 'put' },
    setup: async () => {
      const db = new Level<Buffer, Buffer>(path.join(rootDir(), `chained-${puts}-${sync ? 'sync' : 'nosync'}`), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await db.open();
      open.push({ close: () => db.close() });
      return async () => {
        const batch = db.batch();
        for (let i = 0; i < puts; i++) batch.put(revisionKey(rev, i, false), value);
        rev++;
        sink(await batch.write({ sync }));
      };
    },
  });

  return {
    id: 'level',
    title: `LevelDB batch writes (openLevelBackend in ${os.tmpdir()}; 17-byte revision keys, ${valueBytes}-byte values)`,
    cases: [
      batchCase(1, false),
      batchCase(16, false),
      batchCase(128, false),
      chainedCase(128, false),
      batchCase(1, true),
      batchCase(16, true),
      batchCase(128, true),
    ],
    teardown: async () => {
      for (const db of open.splice(0)) await db.close();
      if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
