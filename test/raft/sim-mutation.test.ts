// The simulator has teeth: with a rule deliberately broken (a test-only
// switch, RaftConfig.testMutation), it finds a violation within a bounded
// number of seeds, and that seed runs clean without the mutation.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { RaftTestMutation } from '../../src/raft';
import { Simulation } from './sim/simulation';

const cases: { mutation: RaftTestMutation; seedsMax: number; expect: RegExp }[] = [
  // Skip persisting the vote: a member votes twice in a term after a restart.
  { mutation: 'forgetVote', seedsMax: 500, expect: /two leaders in term|committed entry lost|leader completeness|state machine safety/ },
  // Count replicas of an earlier term's entry for commit (§5.4.2, figure 8).
  { mutation: 'commitPreviousTermEntries', seedsMax: 3000, expect: /leader completeness|committed entry lost|state machine safety/ },
  // Serve lease reads after ordering a leader transfer.
  { mutation: 'leaseIgnoresTransfer', seedsMax: 500, expect: /stale read/ },
];

for (const c of cases) {
  test(`mutation check: the simulator catches ${c.mutation}`, (t) => {
    let found: { seed: number; violation: string } | null = null;
    for (let seed = 1; seed <= c.seedsMax && found === null; seed++) {
      const r = new Simulation({ seed, mutation: c.mutation }).run();
      if (r.violation !== null) found = { seed, violation: r.violation };
    }
    assert.ok(found !== null, `no violation in ${c.seedsMax} seeds`);
    t.diagnostic(`${c.mutation}: SEED=${found.seed} ${found.violation}`);
    assert.match(found.violation, c.expect);
    assert.equal(new Simulation({ seed: found.seed }).run().violation, null, 'the same seed passes without the mutation');
  });
}
