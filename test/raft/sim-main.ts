// `npm run sim -- --seeds N [--seed S] [--start S] [--trace] [--mutation M]`
// Runs N seeded scenarios (seeds start..start+N-1), or replays one seed with a
// trace. Ends with "N seeds, V violations"; a failing seed prints SEED=… and
// the shortest trace the shrinker finds.
import { eventKinds, Simulation, type SimResult } from './sim/simulation';
import { shrink } from './sim/shrink';
import type { RaftTestMutation } from '../../src/raft';

interface Args {
  seeds: number;
  start: number;
  seed: number | null;
  trace: boolean;
  mutation: RaftTestMutation | null;
  disabled: Set<string>;
  quiet: boolean;
  shrinkRuns: number;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { seeds: 100, start: 1, seed: null, trace: false, mutation: null, disabled: new Set(), quiet: false, shrinkRuns: 300 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${k} needs a non-negative integer`);
      i++;
      return n;
    };
    switch (k) {
      case '--seeds': a.seeds = num(); break;
      case '--start': a.start = num(); break;
      case '--seed': a.seed = num(); break;
      case '--shrink-runs': a.shrinkRuns = num(); break;
      case '--trace': a.trace = true; break;
      case '--quiet': a.quiet = true; break;
      case '--mutation': a.mutation = (v ?? '') as RaftTestMutation; i++; break;
      case '--disable':
        for (const id of (v ?? '').split(',')) if (id !== '') a.disabled.add(id);
        i++;
        break;
      default:
        throw new Error(`unknown argument ${k} (try --seeds N, --seed S, --start S, --trace, --mutation M, --disable ids)`);
    }
  }
  return a;
}

function runOne(seed: number, args: Args, trace: boolean): SimResult {
  return new Simulation({
    seed,
    trace,
    disabled: args.disabled,
    ...(args.mutation !== null ? { mutation: args.mutation } : {}),
  }).run();
}

function report(r: SimResult, args: Args): void {
  console.log(`SEED=${r.seed} violation at tick ${r.tick}: ${r.violation ?? ''}`);
  console.log(`  settings: ${r.settings}`);
  const small = shrink(r.seed, args.mutation, args.disabled, args.shrinkRuns);
  const replay = small.disabled.size > 0 ? ` --disable ${[...small.disabled].join(',')}` : '';
  console.log(`  shortest trace found (${small.result.events.length} of ${r.events.length} events, tick ${small.result.tick}); replay: npm run sim -- --seed ${r.seed}${args.mutation !== null ? ` --mutation ${args.mutation}` : ''}${replay} --trace`);
  console.log(`  violation: ${small.result.violation ?? ''}`);
  const lines = small.result.trace;
  const tail = lines.slice(-150);
  if (tail.length < lines.length) console.log(`  … ${lines.length - tail.length} earlier trace lines omitted`);
  for (const l of tail) console.log(`  ${l}`);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  if (args.seed !== null) {
    const r = runOne(args.seed, args, args.trace);
    if (args.trace) for (const l of r.trace) console.log(l);
    console.log(`seed ${r.seed}: ${r.violation === null ? 'ok' : `VIOLATION ${r.violation}`}`);
    console.log(`  settings: ${r.settings}`);
    console.log(`  stats: ${JSON.stringify(r.stats)}`);
    if (r.violation !== null && !args.trace) report(r, args);
    console.log(`1 seeds, ${r.violation === null ? 0 : 1} violations`);
    process.exitCode = r.violation === null ? 0 : 1;
    return;
  }
  let violations = 0;
  const failing: number[] = [];
  for (let s = args.start; s < args.start + args.seeds; s++) {
    const r = runOne(s, args, false);
    if (r.violation !== null) {
      violations++;
      failing.push(s);
      report(r, args);
    }
    const done = s - args.start + 1;
    if (!args.quiet && done % 1000 === 0) {
      console.log(`… ${done} seeds, ${violations} violations, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (failing.length > 0) console.log(`failing seeds: ${failing.slice(0, 50).join(' ')}`);
  console.log(`wall time ${secs} s; event kinds: ${eventKinds.join(', ')}`);
  console.log(`${args.seeds} seeds, ${violations} violations`);
  process.exitCode = violations === 0 ? 0 : 1;
}

main();
