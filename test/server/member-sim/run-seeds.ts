// Shared by the CI test files: runs a range of seeds, returns failures and summed stats.
import { MemberSimulation, type MemberSimStats } from './simulation';

export async function runSeeds(first: number, count: number): Promise<{ failures: string[]; total: Record<string, number>; seconds: number }> {
  const started = performance.now();
  const failures: string[] = [];
  const total: Record<string, number> = {};
  for (let seed = first; seed < first + count; seed++) {
    const r = await new MemberSimulation({ seed }).run();
    if (r.violation !== null) failures.push(`SEED=${seed}: ${r.violation.split('\n').slice(0, 3).join(' | ')} (replay: npm run sim:member -- --seed ${seed})`);
    for (const [k, v] of Object.entries(r.stats) as [keyof MemberSimStats, number][]) total[k] = (total[k] ?? 0) + v;
  }
  return { failures, total, seconds: (performance.now() - started) / 1000 };
}
