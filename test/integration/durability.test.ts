// Real keel processes: every acknowledged write survives a restart and a
// kill -9, and the revision never goes backwards.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { startKeel, cleanupAll, skipUnlessTools } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

test('a restart keeps every key, the revision and the compaction point', { skip }, async () => {
  const keel = await startKeel();
  let c = new EtcdClient(keel.endpoint);
  for (let i = 0; i < 50; i++) must(await c.put({ key: b(`k${i % 10}`), value: b(`v${i}`) }));
  must(await c.compact({ revision: 20 }));
  const before = must(await c.range({ key: b('k'), range_end: b('l') }));
  c.close();
  await keel.restart();
  c = new EtcdClient(keel.endpoint);
  const afterRestart = must(await c.range({ key: b('k'), range_end: b('l') }));
  assert.deepEqual(afterRestart.kvs, before.kvs);
  assert.equal(afterRestart.header!.revision, before.header!.revision);
  const compacted = await c.range({ key: b('k0'), revision: 19 });
  assert.deepEqual(compacted, { ok: false, code: 11, details: 'etcdserver: mvcc: required revision has been compacted' });
  const put = must(await c.put({ key: b('next'), value: b('x') }));
  assert.equal(Number(put.header!.revision), Number(before.header!.revision) + 1);
  c.close();
});

interface Acked { value: string; revision: number }

async function writeUntilKilled(endpoint: string, round: number, acked: Map<string, Acked>, stopAt: () => boolean): Promise<void> {
  const c = new EtcdClient(endpoint, { deadlineMs: 2000 });
  let i = 0;
  while (!stopAt() && i < 5000) {
    const key = `r${round}-${process.hrtime.bigint()}-${i++}`;
    const r = await c.put({ key: b(key), value: b(`value-of-${key}`) });
    if (r.ok) acked.set(key, { value: `value-of-${key}`, revision: Number(r.value.header!.revision) });
    else break; // the member died: this write's outcome is unknown, and so are any later ones
  }
  c.close();
}

test('kill -9 under concurrent writes loses no acknowledged write (3 rounds)', { skip }, async () => {
  const keel = await startKeel();
  const acked = new Map<string, Acked>();
  let revisionSeen = 0;
  for (let round = 0; round < 3; round++) {
    let killed = false;
    const writers = Array.from({ length: 8 }, () => writeUntilKilled(keel.endpoint, round, acked, () => killed));
    // Kill only once this round has had writes acknowledged, then at a varying moment.
    const ackedBefore = acked.size;
    for (let waited = 0; acked.size < ackedBefore + 50 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50 + round * 70));
    await keel.kill9();
    killed = true;
    await Promise.all(writers);
    await keel.restart();
    const c = new EtcdClient(keel.endpoint);
    const all = must(await c.range({ key: b('r'), range_end: b('s') }));
    const found = new Map(all.kvs.map((kv) => [kv.key.toString(), kv]));
    for (const [key, want] of acked) {
      const kv = found.get(key);
      assert.ok(kv !== undefined, `acknowledged key ${key} lost after kill -9 in round ${round}`);
      assert.equal(kv.value.toString(), want.value);
      assert.equal(Number(kv.mod_revision), want.revision);
    }
    const revision = Number(all.header!.revision);
    const maxAcked = Math.max(0, ...[...acked.values()].map((a) => a.revision));
    assert.ok(revision >= maxAcked, `revision ${revision} went below acknowledged ${maxAcked}`);
    assert.ok(revision >= revisionSeen, `revision went backwards: ${revisionSeen} -> ${revision}`);
    revisionSeen = revision;
    c.close();
  }
  assert.ok(acked.size >= 150, `the writers got enough writes acknowledged to mean something (${acked.size})`);
});
