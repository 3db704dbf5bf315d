// benny micro-benchmarks of keel's hot paths: protobuf coding as the gRPC
// server does it, the MVCC revision codec, the key index, LevelDB batch
// writes, the raft core's per-proposal work, the peer codec and the raft
// entry payload codec.
//
//   npx tsc -p tsconfig.json && node dist/bench/micro.js [--filter NAME] [--json] [--max-time S] [--list]
//
// --filter NAME  runs the cases whose "suite/case name" contains NAME
//                (case-insensitive; e.g. "level", "proto/RangeResponse",
//                "revisionAt"); may be given several times (any may match).
// --json         prints the results as one JSON document on stdout; progress
//                and the markdown table go to stderr.
// --max-time S   benny's (benchmark.js's) maxTime per case, in seconds
//                (default 1.5: the full run takes about two minutes).
// --list         prints the case names and exits.
//
// The machine is shared: run it under `flock /tmp/keel-bench.lock` so that
// two benchmarks never measure each other. µs/op is 1e6 / ops/s (wall
// clock). CPU per op is the process's CPU time (every thread: GC, LevelDB's
// and libuv's workers) divided by the operations run, and CPU / wall how much
// of the case's wall time that covers: well under 100% on a synchronous case
// means other processes held the core, so trust CPU per op over ops/s on a
// busy machine (for LevelDB cases the share also includes waiting for the disk).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { sinkDigest, type MicroCase, type MicroSuite } from './micro/harness';
import { levelSuite } from './micro/level';
import { codecSuite, indexSuite } from './micro/mvcc';
import { protoCoderSource, protoSuite } from './micro/proto';
import { raftSuite } from './micro/raft';
import { requestsSuite } from './micro/requests';

const usage = 'usage: node dist/bench/micro.js [--filter NAME]... [--json] [--max-time S] [--list]';

function parseArgs(argv: readonly string[]): { filters: string[]; json: boolean; maxTimeSeconds: number; list: boolean } {
  const args = { filters: [] as string[], json: false, maxTimeSeconds: 1.5, list: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = (argv[i] as string).split(/=(.*)/s) as [string, string | undefined];
    const value = (): string => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === '--filter') args.filters.push(value().toLowerCase());
    else if (flag === '--max-time') args.maxTimeSeconds = Number(value());
    else if (flag === '--json') args.json = true;
    else if (flag === '--list') args.list = true;
    else if (flag === '--help' || flag === '-h') { process.stdout.write(`${usage}\n`); process.exit(0); } else fail(`unknown argument ${flag}`);
  }
  if (!(args.maxTimeSeconds > 0)) fail('--max-time must be a positive number of seconds');
  return args;
}
type Args = ReturnType<typeof parseArgs>;

function fail(message: string): never {
  throw new Error(message);
}

interface Row {
  suite: string;
  case: string;
  opsPerSecond: number;
  marginPercent: number;
  microsPerOp: number;
  samples: number;
  perItem?: { unit: string; itemsPerSecond: number; nanosPerItem: number };
  /** Process CPU time (all threads: GC, LevelDB's) per operation while the case ran, and its share of wall time. */
  cpuMicrosPerOp: number;
  cpuShare: number;
}

/**
 * Counts a case's operations and the process CPU time they take. benny calls
 * a case's setup several times while preparing it, so the state is built once;
 * and it calls the operation once before the suite runs: that call is not counted.
 */
function meteredCase(c: MicroCase): { setup: () => ReturnType<MicroCase['setup']>; read: () => { cpuMicrosPerOp: number; cpuShare: number } } {
  let calls = 0;
  let startWallNs = 0n;
  let startCpu: NodeJS.CpuUsage | undefined;
  let made: ReturnType<MicroCase['setup']> | undefined;
  const tick = (op: () => unknown): unknown => {
    if (++calls === 2) { startCpu = process.cpuUsage(); startWallNs = process.hrtime.bigint(); }
    return op();
  };
  return {
    setup: () => {
      if (made !== undefined) return made;
      const op = c.setup();
      made = op instanceof Promise ? op.then((o) => () => tick(o) as Promise<unknown>) : () => tick(op);
      return made;
    },
    read: () => {
      if (startCpu === undefined || calls < 3) return { cpuMicrosPerOp: NaN, cpuShare: NaN };
      const cpu = process.cpuUsage(startCpu);
      return { cpuMicrosPerOp: (cpu.user + cpu.system) / (calls - 2), cpuShare: (cpu.user + cpu.system) / (Number(process.hrtime.bigint() - startWallNs) / 1000) };
    },
  };
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtShare = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '?');
const fmtMicros = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : us >= 10 ? `${us.toFixed(1)} µs` : `${us.toFixed(3)} µs`);
const loadAverage = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** The command line as typed, including a flock wrapper (Linux: the parent's /proc cmdline). */
function commandLine(): string {
  try {
    const parent = fs.readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '');
    if (path.basename(parent[0] ?? '') === 'flock') return parent.join(' ');
  } catch {
    // Not Linux, or the parent is gone: the node command alone.
  }
  return ['node', path.relative(process.cwd(), process.argv[1] ?? 'dist/bench/micro.js'), ...process.argv.slice(2)].join(' ');
}

function markdown(rows: readonly Row[], args: Args, started: Date, seconds: number, loadAtStart: string): string {
  const lines = [
    `Date: ${started.toISOString()} · machine: ${machine()} · run took ${seconds.toFixed(0)} s · load average (1/5/15 min) ${loadAtStart} at start, ${loadAverage()} at end`,
    `Command: \`${commandLine()}\` in ${process.cwd()} (benny, maxTime ${args.maxTimeSeconds} s per case, minSamples 5)`, '',
    '| suite | case | ops/s | ± % | per op | per item | CPU per op | CPU / wall |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const per = r.perItem === undefined ? '' : `${r.perItem.nanosPerItem.toFixed(r.perItem.nanosPerItem < 100 ? 1 : 0)} ns/${r.perItem.unit}`;
    lines.push(`| ${r.suite} | ${r.case.replace(/\|/g, '\\|')} | ${fmtInt(r.opsPerSecond)} | ${r.marginPercent.toFixed(1)} | ${fmtMicros(r.microsPerOp)} | ${per} | `
      + `${Number.isFinite(r.cpuMicrosPerOp) ? fmtMicros(r.cpuMicrosPerOp) : '?'} | ${fmtShare(r.cpuShare)} |`);
  }
  return lines.join('\n');
}

async function runSuite(suite: MicroSuite, cases: readonly MicroCase[], args: Args, out: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const byName = new Map(cases.map((c) => [c.name, { c, m: meteredCase(c) }]));
  const log = console.log;
  // benny announces suites with console.log; keep stdout for the JSON document.
  if (args.json) console.log = (...xs: unknown[]) => process.stderr.write(`${xs.map(String).join(' ')}\n`);
  try {
    await b.suite(`${suite.id}: ${suite.title}`, b.configure({ cases: { maxTime: args.maxTimeSeconds, minSamples: 5 } }),
      ...cases.map((c) => b.add(c.name, (byName.get(c.name) as { m: ReturnType<typeof meteredCase> }).m.setup)),
      b.cycle((r: CaseResult) => {
        const entry = byName.get(r.name);
        if (entry === undefined) return '';
        // r.ops is rounded by benny; details.mean is seconds per operation.
        const ops = r.details.mean > 0 ? 1 / r.details.mean : r.ops;
        const it = entry.c.items;
        const row: Row = {
          suite: suite.id, case: r.name, opsPerSecond: ops, marginPercent: r.margin, microsPerOp: 1e6 / ops, samples: r.samples, ...entry.m.read(),
          ...(it !== undefined ? { perItem: { unit: it.unit, itemsPerSecond: ops * it.count, nanosPerItem: 1e9 / (ops * it.count) } } : {}),
        };
        rows.push(row);
        out(`  ${row.case}: ${fmtInt(ops)} ops/s ±${row.marginPercent.toFixed(2)}% (${fmtMicros(row.microsPerOp)}/op`
          + `${row.perItem !== undefined ? `, ${fmtInt(row.perItem.itemsPerSecond)} ${row.perItem.unit}/s` : ''}; CPU ${fmtMicros(row.cpuMicrosPerOp)}/op, ${fmtShare(row.cpuShare)} of wall)`);
        return ''; // nothing for benny's log-update to redraw
      }),
      b.complete(() => undefined));
  } finally {
    console.log = log;
    await suite.teardown?.();
  }
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const out = (s: string): void => { (args.json ? process.stderr : process.stdout).write(`${s}\n`); };
  const suites = [protoSuite(), codecSuite(), indexSuite(), levelSuite(), raftSuite(), requestsSuite()];
  const selected = (s: MicroSuite): MicroCase[] => s.cases.filter((c) => args.filters.length === 0 || args.filters.some((f) => `${s.id}/${c.name}`.toLowerCase().includes(f)));
  if (args.list) {
    for (const s of suites) for (const c of selected(s)) process.stdout.write(`${s.id}/${c.name}\n`);
    return;
  }
  const started = new Date();
  const loadAtStart = loadAverage();
  const t0 = process.hrtime.bigint();
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const s of suites) {
    const cases = selected(s);
    if (cases.length === 0) { await s.teardown?.(); continue; }
    if (s.id === 'proto') out(`proto: coders from the ${protoCoderSource()}`);
    try {
      rows.push(...(await runSuite(s, cases, args, out)));
    } catch (e) {
      failures.push(`${s.id}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      out(`suite ${s.id} failed: ${String(e)}`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (rows.length === 0 && failures.length === 0) {
    out(`no case matches ${args.filters.map((f) => JSON.stringify(f)).join(' or ')} (see --list)`);
    process.exitCode = 1;
    return;
  }
  const table = markdown(rows, args, started, seconds, loadAtStart);
  if (args.json) {
    process.stderr.write(`\n${table}\n`);
    process.stdout.write(`${JSON.stringify({
      date: started.toISOString(), machine: machine(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAverage(), argv: process.argv.slice(2),
      maxTimeSeconds: args.maxTimeSeconds, seconds, results: rows, failures,
    }, null, 2)}\n`);
  } else process.stdout.write(`\n${table}\n`);
  // Keeps the sink observable (and so every measured result alive).
  if (process.env['KEEL_MICRO_DEBUG'] === '1') process.stderr.write(`sink ${sinkDigest()}\n`);
  if (failures.length > 0) {
    process.stderr.write(`\nfailed:\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
