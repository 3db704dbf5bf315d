// bench:single — the same workloads against a single-member keel and a
// single-member etcd (3.4 from Debian and, when present, 3.5), in one run,
// alternating targets, then a markdown table appended to bench/RESULTS.md.
//
//   npm run bench:single                 # ~3–5 minutes, 3 rounds
//   npm run bench:single -- --quick      # ~1 minute, 1 round
//   flags: --rounds N --budget SECONDS --no-loadgen --loadgen PATH
//          --skip keel,etcd-3.4,etcd-3.5 --no-append --results FILE --wait-idle S
//
// Every process this starts is tracked by PID and stopped on exit, on error
// and on Ctrl-C (bench/procs.ts). Each load run is bounded by count (--total)
// and time (--duration-max, and a kill timer on top).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detailTable, kvWorkloads, loadgenArgs, prefillArgs, rangeKeySpace, runRounds, singleTable, valSize, type RoundsOutcome, type Results, type Workload } from './compare';
import {
  cleanup, cpuMark, etcdSpec, exitedBlocks, installSignalHandlers, keelSpec, notMeasured, otherCores, repoRoot, runChild, runMain,
  startTargets, statusKiB, waitIdle, type Cluster,
} from './procs';
import { appendSection, details, fenced, machineLine, median, otherWorkLine, parseFlags, stamp } from './stats';

interface Config {
  quick: boolean;
  rounds: number;
  budgetSeconds: number;
  loadgen: string | undefined;
  skip: Set<string>;
  append: boolean;
  resultsFile: string;
  waitIdleSeconds: number;
}

const usage = 'usage: compare-single [--quick] [--rounds N] [--budget S] [--no-loadgen] [--loadgen PATH] '
  + '[--skip keel,etcd-3.4,etcd-3.5] [--no-append] [--results FILE] [--wait-idle S]';

function parseConfig(argv: string[]): Config {
  const f = parseFlags(argv, {
    '--quick': 'bool', '--rounds': 'int', '--budget': 'int', '--no-loadgen': 'bool', '--loadgen': 'str', '--skip': 'str', '--no-append': 'bool',
    '--results': 'str', '--wait-idle': 'int',
  }, usage);
  const quick = f.has('--quick');
  // --quick has no room for the cross-check unless asked for by --loadgen PATH.
  const loadgen = f.has('--no-loadgen') || (quick && !f.has('--loadgen')) ? undefined : f.get('--loadgen') ?? '/tmp/loadgen';
  return {
    quick, rounds: Number(f.get('--rounds') ?? (quick ? 1 : 3)), budgetSeconds: Number(f.get('--budget') ?? (quick ? 45 : 250)),
    loadgen: loadgen !== undefined && fs.existsSync(loadgen) ? loadgen : undefined, skip: new Set((f.get('--skip') ?? '').split(',').map((x) => x.trim())),
    append: !f.has('--no-append'), resultsFile: path.resolve(f.get('--results') ?? path.join(repoRoot, 'bench', 'RESULTS.md')),
    waitIdleSeconds: Number(f.get('--wait-idle') ?? 0),
  };
}

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function loadgenSeedArgs(endpoint: string): string[] {
  return ['-endpoints', endpoint, '-op', 'range', '-total', '1', '-val-size', String(valSize), '-key-space', String(rangeKeySpace)];
}

interface SectionInput extends RoundsOutcome { cfg: Config; startedAt: Date; targets: Cluster[]; ws: Workload[]; facts: string[]; exited: string[] }

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  installSignalHandlers('compare-single');
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds, log);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const ws = kvWorkloads(cfg.quick ? 0.4 : 1);
  const { targets, unavailable } = await startTargets([['keel', () => keelSpec(1)], ['etcd-3.4', () => etcdSpec(1, '3.4')], ['etcd-3.5', () => etcdSpec(1, '3.5')]], cfg.skip, log);
  if (targets.length === 0) throw new Error('no server started');

  // Range workloads read keys that exist: write the range key space once per target (untimed).
  for (const t of targets) {
    await runChild(process.execPath, prefillArgs(t.endpoints, 1, 30), 60_000).catch((e: unknown) => log(`prefill ${t.name}: ${String(e)}`));
    if (cfg.loadgen !== undefined) await runChild(cfg.loadgen, loadgenSeedArgs(t.endpoints), 60_000).catch((e: unknown) => log(`loadgen seed ${t.name}: ${String(e)}`));
  }
  const pids = targets.map((t) => t.members[0]?.pid ?? 0);
  const measureStart = cpuMark(pids);
  const durationMaxS = cfg.quick ? 6 : 15;
  const outcome = await runRounds({
    clusters: targets, ws, rounds: cfg.rounds, budgetSeconds: cfg.budgetSeconds, durationMaxS, overheadS: 1, loadgen: cfg.loadgen,
    // Sized from the Node client's rate so it should finish in about half its cap.
    loadgenTotal: (w, rps, capS) => {
      const m = median(rps);
      return Number.isFinite(m) ? Math.min(w.total, Math.max(200, Math.round(m * capS * 0.5))) : w.total;
    },
    // (range ops first write 1,000 keys one by one, untimed: allow for that too)
    loadgenTimeoutS: (w, capS) => capS + (w.loadgenOp === 'put' ? 5 : 15),
  }, log);
  const rss = targets.map((t) => `${t.name} ${(statusKiB(t.members[0]?.pid ?? 0, 'VmRSS') / 1024).toFixed(0)} MiB`).join(', ');
  const facts = [
    otherWorkLine(otherCores(measureStart, cpuMark(pids)), loadBefore, os.loadavg(), 'the machine was shared: requests/s and latencies are disturbed, and biased '
      + 'against single-threaded processes (keel, the Node client): the kernel splits CPU between sessions (autogroup), then per runnable thread, '
      + 'and the Go processes (etcd, loadgen) run many; server CPU per request is the fair comparison here'),
    `- Servers: ${targets.map((t) => `${t.name} = ${t.version}`).join('; ')}`, ...notMeasured(unavailable),
    `- Rounds: ${cfg.rounds} (targets rotated each workload and round; medians shown); each run capped by --duration-max, its share of a ${cfg.budgetSeconds} s budget `
    + `(caps used: ${outcome.caps.length > 0 ? `${Math.min(...outcome.caps)}–${Math.max(...outcome.caps)}` : '–'} s, at most ${durationMaxS}); `
    + `took ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s; server RSS at the end: ${rss}${outcome.skippedRuns > 0 ? `; ${outcome.skippedRuns} runs skipped (time budget)` : ''}`,
  ];
  const exited = exitedBlocks(targets);
  await cleanup();
  const section = renderSection({ ...outcome, cfg, startedAt, targets, ws, facts, exited });
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section, log);
}

function tables(results: Results, ws: Workload[], names: string[], summaryText: string): string[] {
  return [singleTable(results, ws, names), '', ...details(summaryText, [detailTable(results, ws, names, 1)])];
}

function renderSection(s: SectionInput): string {
  const names = s.targets.map((t) => t.name);
  const out: string[] = [`## ${stamp(s.startedAt)} UTC — bench:single${s.cfg.quick ? ' --quick' : ''}`, ''];
  out.push(`- Machine: ${machineLine()}`, ...s.facts, '');
  out.push('Node client (`dist/bench/load.js`, grpc-js), cells are rps / p50 ms / p99 ms:', '');
  out.push(...tables(s.results, s.ws, names, 'per-round rps, server CPU per request, client CPU'));
  if (s.cross.rows.size > 0) {
    out.push('', 'Cross-check with the Go load generator (`/tmp/loadgen`, etcd clientv3; one run each):', '');
    out.push(...tables(s.cross, s.ws, names, 'server CPU per request under loadgen'));
  }
  out.push(...s.exited);
  const lg = s.cfg.loadgen ?? 'loadgen';
  const cmds = [`npm run bench:single${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`];
  for (const t of s.targets) cmds.push(`# ${t.name}: ${t.members[0]?.command ?? ''}`);
  cmds.push(`# prefill (untimed, per target): node dist/bench/load.js ${prefillArgs('EP', 1, 30).slice(1).join(' ')}`);
  for (const w of s.ws) cmds.push(`node dist/bench/load.js ${w.loadArgs.join(' ')} --endpoints EP --duration-max CAP --json`);
  if (s.cross.rows.size > 0) {
    cmds.push(`# loadgen seed (untimed, per target): ${lg} ${loadgenSeedArgs('EP').join(' ')}`);
    cmds.push('# loadgen: -total is the smaller of the one below and what the Node client\'s rate on that target fits in half the run\'s time cap');
    for (const w of s.ws) cmds.push(`${lg} ${loadgenArgs(w, 'EP', 'NAME', w.total).join(' ')}`);
  }
  out.push('', ...details('exact commands', fenced(cmds.join('\n'))));
  return out.join('\n');
}

if (require.main === module) runMain('compare-single', main);
