// CI's whole-member simulation, seeds 1001–2000 (the other half runs in
// member-sim-1.test.ts, in parallel): real appliers on the memory backend
// behind simulated raft networks with crashes, partitions, drops, log compaction
// and snapshot transfer; after heal every member's HashKV, revision, leases and
// alarms must agree. Longer runs: `npm run sim:member -- --seeds 100000`.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { runSeeds } from './member-sim/run-seeds';

test('whole-member simulation: seeds 1001–2000 agree after heal', async (t) => {
  const { failures, total, seconds } = await runSeeds(1001, 1000);
  t.diagnostic(`1000 seeds in ${seconds.toFixed(1)} s; totals ${JSON.stringify(total)}`);
  assert.deepEqual(failures, []);
  // The run must have exercised what it claims to.
  for (const k of ['crashes', 'restarts', 'partitions', 'snapshotsInstalled', 'compactions'] as const) {
    assert.ok((total[k] ?? 0) > 200, `too few ${k}: ${total[k] ?? 0}`);
  }
});
