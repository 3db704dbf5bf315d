// CI's simulator run: 2,000 seeded scenarios (3- and 5-member clusters under
// drops, duplicates, delays, partitions, crashes, transfers, membership
// changes, compaction, reads), each checked after every step and required to
// converge after healing. Longer runs: `npm run sim -- --seeds 100000`.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Simulation, type SimStats } from './sim/simulation';

const seeds = 2000;

test(`simulator: ${seeds} seeds find no violation`, (t) => {
  const started = Date.now();
  const failures: string[] = [];
  const total: Partial<Record<keyof SimStats, number>> = {};
  const sizes = new Set<string>();
  for (let seed = 1; seed <= seeds; seed++) {
    const r = new Simulation({ seed }).run();
    if (r.violation !== null) failures.push(`SEED=${seed}: ${r.violation.split('\n')[0] ?? ''} (replay: npm run sim -- --seed ${seed})`);
    for (const [k, v] of Object.entries(r.stats) as [keyof SimStats, number][]) total[k] = (total[k] ?? 0) + v;
    sizes.add(r.settings.split(' ')[0] ?? '');
  }
  t.diagnostic(`${seeds} seeds in ${((Date.now() - started) / 1000).toFixed(1)} s; totals ${JSON.stringify(total)}`);
  assert.deepEqual(failures, []);
  // The run must actually have exercised what it claims to.
  assert.deepEqual([...sizes].sort(), ['n=3', 'n=5']);
  for (const k of ['crashes', 'restarts', 'partitions', 'transfers', 'confChanges', 'snapshotsInstalled', 'compactions', 'readsServed', 'leaders'] as const) {
    assert.ok((total[k] ?? 0) > seeds / 20, `too few ${k}: ${total[k] ?? 0}`);
  }
});
