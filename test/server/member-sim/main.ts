// npm run sim:member -- --seeds N [--from S] | --seed S [--mutation skipConsistentIndexCheck]
// Runs the whole-member simulation over a range of seeds; prints failures with
// their seed (SEED=…) so one replays exactly.
import type { ApplierTestMutation } from '../../../src/server';
import { MemberSimulation } from './simulation';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const one = flag('seed');
  const from = Number(flag('from') ?? '1');
  const count = one !== undefined ? 1 : Number(flag('seeds') ?? '1000');
  const first = one !== undefined ? Number(one) : from;
  const mutation = flag('mutation') as ApplierTestMutation | undefined;
  const started = performance.now();
  let failures = 0;
  for (let seed = first; seed < first + count; seed++) {
    const r = await new MemberSimulation({ seed, ...(mutation === undefined ? {} : { mutation }) }).run();
    if (r.violation !== null) {
      failures++;
      console.log(`SEED=${seed} ${r.violation}`);
    } else if (count === 1) {
      console.log(`SEED=${seed} ok ${r.digest} ${JSON.stringify(r.stats)}`);
    }
    if ((seed - first + 1) % 1000 === 0) console.error(`${seed - first + 1} seeds, ${failures} failures, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  console.log(`${count} seeds (${first}..${first + count - 1}), ${failures} failures, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  process.exitCode = failures > 0 ? 1 : 0;
}

void main();
