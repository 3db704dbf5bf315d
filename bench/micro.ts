// benny micro-benchmarks of keel's hot paths: protobuf coding as the gRPC
// server does it, the MVCC revision codec, the key index, LevelDB batch
// writes, the raft core's per-proposal work, the peer codec and the raft
// entry payload codec.
//
//   npx tsc -p tsconfig.json && node dist/bench/micro.js [--filter NAME] [--json] [--max-time S]
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
// two benchmarks never measure each other. Every case prints ops/s with
// benchmark.js's relative margin of error; µs/op is 1e6 / ops/s (wall
// clock). Next to it, CPU per op is the process's CPU time (every thread:
// GC, LevelDB's and libuv's workers) divided by the operations run, and CPU /
// wall how much of the case's wall time that CPU time covers: well under
// 100% on a synchronous case means other processes held the core, so trust
// CPU per op over ops/s on a busy machine (for LevelDB cases the share also
// includes waiting for the disk).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { sinkDigest, type MicroCase, type MicroSuite } from './micro/harness';
import { protoCoderSource, protoSuite } from './micro/proto';
import { codecSuite, indexSuite } from './micro/mvcc';
import { levelSuite } from './micro/level';
import { raftSuite } from './micro/raft';
import { requestsSuite } from './micro/requests';

interface Args {
  filters: string[];
  json: boolean;
  maxTimeSeconds: number;
  list: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { filters: [], json: false, maxTimeSeconds: 1.5, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--filter') args.filters.push(value().toLowerCase());
    else if (a.startsWith('--filter=')) args.filters.push(a.slice('--filter='.length).toLowerCase());
    else if (a === '--json') args.json = true;
    else if (a === '--list') args.list = true;
    else if (a === '--max-time') args.maxTimeSeconds = Number(value());
    else if (a.startsWith('--max-time=')) args.maxTimeSeconds = Number(a.slice('--max-time='.length));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/bench/micro.js [--filter NAME]... [--json] [--max-time S] [--list]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(args.maxTimeSeconds > 0)) throw new Error('--max-time must be a positive number of seconds');
  return args;
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
 * Counts a case's operations and the process CPU time they take, so a row
 * can give CPU per operation next to benny's wall-clock rate: on a shared
 * machine the wall clock also counts the time other processes held the core.
 * benny calls the operation once while preparing the case (before the suite
 * runs): that call is not counted.
 */
class CpuMeter {
  private calls = 0;
  private startWallNs = 0n;
  private startCpu: NodeJS.CpuUsage | undefined;

  wrap(setup: MicroCase['setup']): () => ReturnType<MicroCase['setup']> {
    return once(() => {
      const made = setup();
      if (made instanceof Promise) return made.then((op) => () => this.tick(op) as Promise<unknown>);
      return () => this.tick(made);
    });
  }

  private tick(op: () => unknown): unknown {
    if (++this.calls === 2) {
      this.startCpu = process.cpuUsage();
      this.startWallNs = process.hrtime.bigint();
    }
    return op();
  }

  read(): { cpuMicrosPerOp: number; cpuShare: number } {
    if (this.startCpu === undefined || this.calls < 3) return { cpuMicrosPerOp: NaN, cpuShare: NaN };
    const cpu = process.cpuUsage(this.startCpu);
    const cpuMicros = cpu.user + cpu.system;
    const wallMicros = Number(process.hrtime.bigint() - this.startWallNs) / 1000;
    return { cpuMicrosPerOp: cpuMicros / (this.calls - 2), cpuShare: cpuMicros / wallMicros };
  }
}

function selected(suite: MicroSuite, c: MicroCase, filters: readonly string[]): boolean {
  if (filters.length === 0) return true;
  const full = `${suite.id}/${c.name}`.toLowerCase();
  return filters.some((f) => full.includes(f));
}

/** benny calls a case's setup several times while preparing it; the state must be built once. */
function once<T>(f: () => T): () => T {
  let done = false;
  let v: T | undefined;
  return () => {
    if (!done) {
      v = f();
      done = true;
    }
    return v as T;
  };
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtMicros(us: number): string {
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us >= 10) return `${us.toFixed(1)} µs`;
  return `${us.toFixed(3)} µs`;
}

function toRow(suite: MicroSuite, c: MicroCase, r: CaseResult, meter: CpuMeter): Row {
  // r.ops is rounded by benny; details.mean is seconds per operation.
  const ops = r.details.mean > 0 ? 1 / r.details.mean : r.ops;
  const row: Row = {
    suite: suite.id, case: c.name, opsPerSecond: ops, marginPercent: r.margin, microsPerOp: 1e6 / ops, samples: r.samples,
    ...meter.read(),
  };
  if (c.items !== undefined) {
    row.perItem = { unit: c.items.unit, itemsPerSecond: ops * c.items.count, nanosPerItem: 1e9 / (ops * c.items.count) };
  }
  return row;
}

function describeRow(r: Row): string {
  const per = r.perItem === undefined ? '' : `, ${fmtInt(r.perItem.itemsPerSecond)} ${r.perItem.unit}/s`;
  return `  ${r.case}: ${fmtInt(r.opsPerSecond)} ops/s ±${r.marginPercent.toFixed(2)}% (${fmtMicros(r.microsPerOp)}/op${per}; CPU ${fmtMicros(r.cpuMicrosPerOp)}/op, ${fmtShare(r.cpuShare)} of wall)`;
}

function fmtShare(x: number): string {
  return Number.isFinite(x) ? `${Math.round(x * 100)}%` : '?';
}

function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const gib = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${cpus.length} cores (${model}), ${gib} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** The command line as typed, including a flock wrapper (Linux: the parent's /proc cmdline). */
function commandLine(): string {
  const own = ['node', path.relative(process.cwd(), process.argv[1] ?? 'dist/bench/micro.js'), ...process.argv.slice(2)].join(' ');
  try {
    const parent = fs.readFileSync(`/proc/${process.ppid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '');
    if (path.basename(parent[0] ?? '') === 'flock') return parent.join(' ');
  } catch {
    // Not Linux, or the parent is gone: the node command alone.
  }
  return own;
}

function loadAverage(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

function markdown(rows: readonly Row[], args: Args, started: Date, seconds: number, loadAtStart: string): string {
  const lines = [
    `Date: ${started.toISOString()} · machine: ${machine()} · run took ${seconds.toFixed(0)} s · load average (1/5/15 min) ${loadAtStart} at start, ${loadAverage()} at end`,
    `Command: \`${commandLine()}\` in ${process.cwd()} (benny, maxTime ${args.maxTimeSeconds} s per case, minSamples 5)`,
    '',
    '| suite | case | ops/s | ± % | per op | per item | CPU per op | CPU / wall |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const per = r.perItem === undefined ? '' : `${r.perItem.nanosPerItem.toFixed(r.perItem.nanosPerItem < 100 ? 1 : 0)} ns/${r.perItem.unit}`;
    lines.push(`| ${r.suite} | ${r.case.replace(/\|/g, '\\|')} | ${fmtInt(r.opsPerSecond)} | ${r.marginPercent.toFixed(1)} | ${fmtMicros(r.microsPerOp)} | ${per} | ${Number.isFinite(r.cpuMicrosPerOp) ? fmtMicros(r.cpuMicrosPerOp) : '?'} | ${fmtShare(r.cpuShare)} |`);
  }
  return lines.join('\n');
}

async function runSuite(suite: MicroSuite, cases: readonly MicroCase[], args: Args, out: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const byName = new Map(cases.map((c) => [c.name, { c, meter: new CpuMeter() }]));
  const log = console.log;
  // benny announces suites with console.log; keep stdout for the JSON document.
  if (args.json) console.log = (...xs: unknown[]) => process.stderr.write(`${xs.map(String).join(' ')}\n`);
  try {
    await b.suite(
      `${suite.id}: ${suite.title}`,
      b.configure({ cases: { maxTime: args.maxTimeSeconds, minSamples: 5 } }),
      ...cases.map((c) => b.add(c.name, (byName.get(c.name) as { meter: CpuMeter }).meter.wrap(c.setup))),
      b.cycle((r: CaseResult) => {
        const entry = byName.get(r.name);
        if (entry === undefined) return '';
        const row = toRow(suite, entry.c, r, entry.meter);
        rows.push(row);
        out(describeRow(row));
        return ''; // nothing for benny's log-update to redraw
      }),
      b.complete(() => undefined),
    );
  } finally {
    console.log = log;
    await suite.teardown?.();
  }
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const out = (s: string): void => {
    (args.json ? process.stderr : process.stdout).write(`${s}\n`);
  };
  const suites = [protoSuite(), codecSuite(), indexSuite(), levelSuite(), raftSuite(), requestsSuite()];
  if (args.list) {
    for (const s of suites) for (const c of s.cases) if (selected(s, c, args.filters)) process.stdout.write(`${s.id}/${c.name}\n`);
    return;
  }
  const started = new Date();
  const loadAtStart = loadAverage();
  const t0 = process.hrtime.bigint();
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const s of suites) {
    const cases = s.cases.filter((c) => selected(s, c, args.filters));
    if (cases.length === 0) {
      await s.teardown?.();
      continue;
    }
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
      date: started.toISOString(), machine: machine(), loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAverage(), argv: process.argv.slice(2), maxTimeSeconds: args.maxTimeSeconds,
      seconds, results: rows, failures,
    }, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${table}\n`);
  }
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
