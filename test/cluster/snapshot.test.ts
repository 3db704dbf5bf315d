// snapshot save (Maintenance.Snapshot) -> keelctl snapshot status|restore -> a
// new member serves the same keys and revision.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startKeel, cleanupAll, skipUnlessTools, makeTempDir, repoRoot } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

function keelctl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'keelctl.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('snapshot save -> status -> restore -> a new member serves identical data and revision', { skip, timeout: 120_000 }, async () => {
  const src = await startKeel();
  const c = new EtcdClient(src.endpoint);
  for (let i = 0; i < 300; i++) must(await c.put({ key: b(`k${i % 100}`), value: Buffer.from([i % 256, 0, 255]) }));
  must(await c.deleteRange({ key: b('k5') }));
  const before = must(await c.range({ key: b('\0'), range_end: b('\0') }));
  c.close();
  const dir = makeTempDir();
  const file = path.join(dir, 'snap.keel');
  const save = keelctl('--endpoints', src.endpoint, 'snapshot', 'save', file);
  assert.equal(save.status, 0, save.stderr);
  assert.match(save.stdout, new RegExp(`Snapshot saved at ${file.replace(/[/.]/g, '\\$&')}`));
  const status = keelctl('snapshot', 'status', file, '-w', 'json');
  assert.equal(status.status, 0, status.stderr);
  const st = JSON.parse(status.stdout) as { revision: number; totalKey: number };
  assert.equal(st.revision, Number(before.header!.revision));
  const dataDir = path.join(dir, 'restored');
  const restore = keelctl('snapshot', 'restore', file, '--data-dir', dataDir);
  assert.equal(restore.status, 0, restore.stderr);
  assert.equal(keelctl('snapshot', 'restore', file, '--data-dir', dataDir).status, 1, 'an existing data dir is refused');
  const restored = await startKeel({ dataDir });
  const r = new EtcdClient(restored.endpoint);
  const after = must(await r.range({ key: b('\0'), range_end: b('\0') }));
  assert.deepEqual(after.kvs, before.kvs);
  assert.equal(after.header!.revision, before.header!.revision);
  const next = must(await r.put({ key: b('new'), value: b('x') }));
  assert.equal(Number(next.header!.revision), Number(before.header!.revision) + 1);
  r.close();
});
