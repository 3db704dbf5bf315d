// The whole-member simulation has teeth and replays exactly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemberSimulation } from './member-sim/simulation';

test('whole-member simulation catches an applier that re-applies replayed entries', async (t) => {
  let found: { seed: number; violation: string } | undefined;
  for (let seed = 1; seed <= 200 && found === undefined; seed++) {
    const r = await new MemberSimulation({ seed, mutation: 'skipConsistentIndexCheck' }).run();
    if (r.violation !== null) found = { seed, violation: r.violation };
  }
  assert.ok(found !== undefined, 'no divergence in 200 seeds');
  t.diagnostic(`skipConsistentIndexCheck: SEED=${found.seed} ${found.violation.split('\n')[0] ?? ''}`);
  assert.match(found.violation, /diverged after heal/);
  assert.equal((await new MemberSimulation({ seed: found.seed }).run()).violation, null, 'the same seed passes without the mutation');
});

test('whole-member simulation: a seed replays exactly', async () => {
  for (const seed of [7, 8, 9]) {
    const a = await new MemberSimulation({ seed }).run();
    const b = await new MemberSimulation({ seed }).run();
    assert.equal(a.violation, null);
    assert.equal(a.digest, b.digest);
    assert.deepEqual(a.stats, b.stats);
  }
});
