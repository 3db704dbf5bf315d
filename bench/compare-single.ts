// bench:single — the same workloads against a single-member keel and a
// single-member etcd (3.4 from Debian and, when present, 3.5), in one run,
// alternating targets, then a markdown table appended to bench/RESULTS.md.
//
//   npm run bench:single                 # ~3–5 minutes, 3 rounds
//   npm run bench:single -- --quick      # ~1 minute, 1 round
//   flags: --rounds N --budget SECONDS --no-loadgen --loadgen PATH
//          --skip keel,etcd-3.4,etcd-3.5 --no-append --results FILE
//
// Every process this starts is tracked by PID and stopped on exit, on error
// and on Ctrl-C; nothing else is touched. Each load run is bounded by count
// (--total) and time (--duration-max, and a kill timer on top).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Report } from './load';
import {
  repoRoot, exits, logTail, cleanup, installSignalHandlers, spawnTracked, stopPid, startKeel, startEtcd, cpuSeconds, machineTicks, otherCores, waitIdle,
  type Target, type CpuMark,
} from './servers';

// ---- configuration ---------------------------------------------------------

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

const loadScript = path.join(__dirname, 'load.js');
const valSize = 256;
const putKeySpace = 10_000;
const rangeKeySpace = 1_000;
/** Seconds a run costs beyond its measured part (process start, connect, report). */
const runOverheadS = 1;
const runMinS = 2;

function parseConfig(argv: string[]): Config {
  const c: Config = {
    quick: false, rounds: 3, budgetSeconds: 250, loadgen: '/tmp/loadgen', skip: new Set(), append: true,
    resultsFile: path.join(repoRoot, 'bench', 'RESULTS.md'), waitIdleSeconds: 0,
  };
  let roundsSet = false;
  let budgetSet = false;
  let loadgenSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--quick': c.quick = true; break;
      case '--rounds': c.rounds = positiveInt(a, next()); roundsSet = true; break;
      case '--budget': c.budgetSeconds = positiveInt(a, next()); budgetSet = true; break;
      case '--no-loadgen': c.loadgen = undefined; break;
      case '--loadgen': c.loadgen = next(); loadgenSet = true; break;
      case '--skip': for (const s of next().split(',')) c.skip.add(s.trim()); break;
      case '--no-append': c.append = false; break;
      case '--wait-idle': c.waitIdleSeconds = positiveInt(a, next()); break;
      case '--results': c.resultsFile = path.resolve(next()); break;
      case '--help':
        process.stdout.write('usage: compare-single [--quick] [--rounds N] [--budget S] [--no-loadgen] [--loadgen PATH] '
          + '[--skip keel,etcd-3.4,etcd-3.5] [--no-append] [--results FILE] [--wait-idle S]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown flag ${a}`);
    }
  }
  if (c.quick && !roundsSet) c.rounds = 1;
  if (c.quick && !budgetSet) c.budgetSeconds = 45;
  // --quick has no room for the cross-check unless asked for by --loadgen PATH.
  if (c.quick && !loadgenSet) c.loadgen = undefined;
  if (c.loadgen !== undefined && !fs.existsSync(c.loadgen)) c.loadgen = undefined;
  return c;
}

function positiveInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
  return n;
}

// ---- workloads -------------------------------------------------------------

interface Workload {
  id: string;
  title: string;
  loadArgs: string[];
  loadgenOp: 'put' | 'range' | 'range-serializable';
  clients: number;
  conns: number;
  total: number;
}

function workloads(quick: boolean): Workload[] {
  const scale = quick ? 0.4 : 1;
  const w = (id: string, title: string, op: string[], loadgenOp: Workload['loadgenOp'], clients: number, conns: number,
    total: number): Workload => {
    const t = Math.round(total * scale);
    const keySpace = op[0] === 'put' ? putKeySpace : rangeKeySpace;
    return {
      id, title, loadgenOp, clients, conns, total: t,
      loadArgs: [...op, '--conns', String(conns), '--clients', String(clients), '--total', String(t),
        '--key-size', '8', '--val-size', String(valSize), '--key-space-size', String(keySpace)],
    };
  };
  return [
    w('put-1', 'put, 1 client', ['put'], 'put', 1, 1, 2_000),
    w('put-100', 'put, 100 clients / 10 conns', ['put'], 'put', 100, 10, 20_000),
    w('range-l-100', 'range linearizable, 100 clients / 10 conns', ['range', '--consistency', 'l'], 'range', 100, 10, 20_000),
    w('range-s-100', 'range serializable, 100 clients / 10 conns', ['range', '--consistency', 's'], 'range-serializable', 100, 10, 20_000),
  ];
}

// ---- process bookkeeping: bench/servers.ts tracks and stops every process ----

// ---- servers ---------------------------------------------------------------

interface Unavailable { name: string; reason: string }

// ---- measuring -------------------------------------------------------------

const clockTicksPerSecond = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 });
  const n = Number(r.stdout);
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** CPU seconds of this process plus its reaped children (the load tools). */
function selfAndChildrenSeconds(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/** A reading to compute, later, how many cores processes other than ours kept busy. */
function cpuMark(serverPids: number[]): CpuMark {
  return {
    wallMs: Date.now(), machine: machineTicks(),
    ours: selfAndChildrenSeconds() + serverPids.reduce((s, pid) => s + cpuSeconds(pid), 0),
  };
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface RunResult {
  seconds: number;
  /** Average cores kept busy by processes other than this run's during it. */
  otherCores: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  errors: number;
  serverCpuUsPerReq: number;
  clientCpuPercent: number;
  hardStopped: boolean;
  errorKinds: Record<string, number>;
}

/** Runs a child with a kill timer; resolves with its stdout (or rejects with its stderr). */
function runChild(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(bin, args);
    const pid = child.pid as number;
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => { if (out.length < 1 << 20) out += d.toString('utf8'); });
    child.stderr?.on('data', (d: Buffer) => { if (err.length < 1 << 16) err += d.toString('utf8'); });
    const timer = setTimeout(() => { void stopPid(pid); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(bin)} exited ${code ?? sig}: ${(err || out).trim().slice(-400)}`));
    });
  });
}

function lastJsonLine(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

async function runLoad(t: Target, w: Workload, durationMaxS: number): Promise<RunResult> {
  const cpu0 = cpuSeconds(t.pid);
  const args = [loadScript, ...w.loadArgs, '--endpoints', t.endpoint, '--duration-max', String(durationMaxS), '--json'];
  const r = lastJsonLine(await runChild(process.execPath, args, (durationMaxS + 30) * 1000)) as unknown as Report;
  const cpu1 = cpuSeconds(t.pid);
  return {
    seconds: r.seconds, otherCores: NaN, rps: r.rps, p50: r.p50_ms, p99: r.p99_ms, ok: r.ok, errors: r.errors,
    serverCpuUsPerReq: r.ok > 0 ? ((cpu1 - cpu0) * 1e6) / r.ok : NaN,
    clientCpuPercent: r.cpu.core_percent, hardStopped: r.hardStopped, errorKinds: r.errorKinds,
  };
}

async function runLoadgen(bin: string, t: Target, w: Workload, timeoutS: number): Promise<RunResult> {
  const cpu0 = cpuSeconds(t.pid);
  const args = loadgenArgs(w, t.endpoint, t.name);
  const r = lastJsonLine(await runChild(bin, args, timeoutS * 1000)) as {
    seconds: number; rps: number; p50_ms: number; p99_ms: number; ok: number; errors: number;
  };
  const cpu1 = cpuSeconds(t.pid);
  return {
    seconds: r.seconds, otherCores: NaN, rps: r.rps, p50: r.p50_ms, p99: r.p99_ms, ok: r.ok, errors: r.errors,
    serverCpuUsPerReq: r.ok > 0 ? ((cpu1 - cpu0) * 1e6) / r.ok : NaN, clientCpuPercent: NaN, hardStopped: false, errorKinds: {},
  };
}

/**
 * loadgen writes min(key-space, 1000) keys before a range op, untimed but
 * inside the server-CPU window; its keys are written once at prefill, so range
 * runs pass -key-space 1 (one seed write) and still read keys 0..999.
 */
function loadgenArgs(w: Workload, endpoint: string, label: string): string[] {
  const keySpace = w.loadgenOp === 'put' ? putKeySpace : 1;
  return ['-endpoints', endpoint, '-op', w.loadgenOp, '-conns', String(w.conns), '-clients', String(w.clients),
    '-total', String(w.total), '-val-size', String(valSize), '-key-space', String(keySpace), '-label', label];
}

function loadgenSeedArgs(endpoint: string): string[] {
  return ['-endpoints', endpoint, '-op', 'range', '-total', '1', '-val-size', String(valSize), '-key-space', String(rangeKeySpace)];
}

// ---- statistics and tables -------------------------------------------------

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Cell { runs: RunResult[]; failures: string[] }

type Results = Map<string, Map<string, Cell>>; // workload id -> target name -> cell

function cell(results: Results, w: string, t: string): Cell {
  let byTarget = results.get(w);
  if (byTarget === undefined) { byTarget = new Map(); results.set(w, byTarget); }
  let c = byTarget.get(t);
  if (c === undefined) { c = { runs: [], failures: [] }; byTarget.set(t, c); }
  return c;
}

function fmtRps(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–';
}

function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

function summary(c: Cell | undefined): { rps: number; p50: number; p99: number; text: string } {
  if (c === undefined || c.runs.length === 0) {
    const why = c !== undefined && c.failures.length > 0 ? 'failed' : 'n/a';
    return { rps: NaN, p50: NaN, p99: NaN, text: why };
  }
  const rps = median(c.runs.map((r) => r.rps));
  const p50 = median(c.runs.map((r) => r.p50));
  const p99 = median(c.runs.map((r) => r.p99));
  const flags = (c.runs.some((r) => r.errors > 0) ? ' ⚠errors' : '') + (c.runs.some((r) => r.hardStopped) ? ' ⏱' : '');
  return { rps, p50, p99, text: `${fmtRps(rps)} / ${fmtMs(p50)} / ${fmtMs(p99)}${flags}` };
}

function mainTable(results: Results, ws: Workload[], targets: string[]): string {
  const etcds = targets.filter((t) => t.startsWith('etcd'));
  const head = ['workload', ...targets.map((t) => `${t} rps / p50 ms / p99 ms`), 'keel / best etcd (rps)',
    'server CPU µs/req (keel / best etcd)'];
  const rows = [head, head.map(() => '---')];
  for (const w of ws) {
    const cells = targets.map((t) => summary(results.get(w.id)?.get(t)));
    const keel = targets.indexOf('keel') >= 0 ? cells[targets.indexOf('keel')] : undefined;
    const bestEtcd = Math.max(...etcds.map((e) => summary(results.get(w.id)?.get(e)).rps).filter(Number.isFinite));
    const ratio = keel !== undefined && Number.isFinite(keel.rps) && Number.isFinite(bestEtcd) ? `${(keel.rps / bestEtcd).toFixed(2)}×` : '–';
    const cpu = (t: string): number => median(results.get(w.id)?.get(t)?.runs.map((r) => r.serverCpuUsPerReq) ?? []);
    const keelCpu = cpu('keel');
    const etcdCpu = Math.min(...etcds.map(cpu).filter(Number.isFinite));
    const cpuText = Number.isFinite(keelCpu) && Number.isFinite(etcdCpu)
      ? `${fmtRps(keelCpu)} / ${fmtRps(etcdCpu)} = ${(keelCpu / etcdCpu).toFixed(2)}×`
      : Number.isFinite(etcdCpu) ? `– / ${fmtRps(etcdCpu)}` : '–';
    rows.push([w.title, ...cells.map((c) => c.text), ratio, cpuText]);
  }
  return rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function detailTable(results: Results, ws: Workload[], targets: string[]): string {
  const head = ['workload', 'target', 'rps per round', 'ok requests per round', 'server CPU µs/req', 'client CPU % of a core', 'other work (cores)', 'errors'];
  const rows = [head, head.map(() => '---')];
  for (const w of ws) {
    for (const t of targets) {
      const c = results.get(w.id)?.get(t);
      if (c === undefined) continue;
      const errs = c.runs.reduce((s, r) => s + r.errors, 0);
      const kinds = new Map<string, number>();
      for (const r of c.runs) for (const [k, n] of Object.entries(r.errorKinds)) kinds.set(k, (kinds.get(k) ?? 0) + n);
      const errText = errs === 0 && c.failures.length === 0 ? '0'
        : [`${errs}`, ...[...kinds].slice(0, 3).map(([k, n]) => `${n}× ${k}`), ...c.failures.map((f) => `run failed: ${f}`)]
          .join('; ').replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 300);
      rows.push([
        w.id, t, c.runs.map((r) => fmtRps(r.rps)).join(', ') || '–', c.runs.map((r) => String(r.ok)).join(', ') || '–',
        fmtRps(median(c.runs.map((r) => r.serverCpuUsPerReq))),
        fmtRps(median(c.runs.map((r) => r.clientCpuPercent))),
        c.runs.map((r) => (Number.isFinite(r.otherCores) ? r.otherCores.toFixed(2) : '–')).join(', ') || '–', errText,
      ]);
    }
  }
  return rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
}

// ---- the run ---------------------------------------------------------------

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  installSignalHandlers('compare-single');
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds, log);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const ws = workloads(cfg.quick);

  const targets: Target[] = [];
  const unavailable: Unavailable[] = [];
  const candidates: [string, () => Promise<Target>][] = [
    ['keel', startKeel],
    ['etcd-3.4', () => startEtcd('etcd-3.4', '/usr/bin/etcd')],
    ['etcd-3.5', () => startEtcd('etcd-3.5', '/opt/etcd35/usr/bin/etcd')],
  ];
  for (const [name, start] of candidates) {
    if (cfg.skip.has(name)) { unavailable.push({ name, reason: 'skipped (--skip)' }); continue; }
    try {
      const t = await start();
      targets.push(t);
      log(`started ${name} (${t.version}) pid ${t.pid} at ${t.endpoint}`);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      unavailable.push({ name, reason });
      log(`${name} not available: ${reason}`);
    }
  }
  if (targets.length === 0) throw new Error('no server started');

  // Range workloads read keys that exist: write the range key space once per target (untimed).
  for (const t of targets) {
    await runChild(process.execPath, [loadScript, 'put', '--sequential-keys', '--key-space-size', String(rangeKeySpace),
      '--total', String(rangeKeySpace), '--clients', '10', '--val-size', String(valSize), '--endpoints', t.endpoint,
      '--duration-max', '30', '--json'], 60_000).catch((e: unknown) => log(`prefill ${t.name}: ${String(e)}`));
    if (cfg.loadgen !== undefined) {
      await runChild(cfg.loadgen, loadgenSeedArgs(t.endpoint), 60_000).catch((e: unknown) => log(`loadgen seed ${t.name}: ${String(e)}`));
    }
  }

  const pids = targets.map((t) => t.pid);
  const measureStart = cpuMark(pids);
  // The budget covers the measuring; starting servers and prefilling come on top (~10 s).
  const deadline = Date.now() + cfg.budgetSeconds * 1000;
  const results: Results = new Map();
  const durationMaxS = cfg.quick ? 6 : 15;
  const loadgenShare = cfg.loadgen !== undefined ? 0.3 : 0;
  const loadDeadline = Date.now() + (deadline - Date.now()) * (1 - loadgenShare);
  let skippedRuns = 0;
  const caps: number[] = [];
  // Each run may use its fair share of what is left, so a slow server (or a
  // busy machine) shortens runs instead of starving the last workloads.
  let runsLeft = cfg.rounds * ws.length * targets.length;
  let overheadS = runOverheadS;
  const capFor = (until: number): number | undefined => {
    const leftS = (until - Date.now()) / 1000 - runsLeft * overheadS;
    runsLeft--;
    if (leftS < runMinS) return undefined;
    return Math.max(runMinS, Math.min(durationMaxS, Math.floor(leftS / (runsLeft + 1))));
  };
  /** Learns what a run costs beyond its measured seconds (moving average). */
  const noteOverhead = (wallS: number, measuredS: number): void => {
    overheadS = 0.7 * overheadS + 0.3 * Math.max(0.2, wallS - measuredS);
  };
  for (let round = 0; round < cfg.rounds; round++) {
    for (const [wi, w] of ws.entries()) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + round + wi) % targets.length] as Target;
        // Round 1 always runs, so every target gets every workload at least once.
        const capS = capFor(loadDeadline) ?? (round === 0 ? runMinS : undefined);
        if (capS === undefined) { skippedRuns++; continue; }
        const c = cell(results, w.id, t.name);
        if (exits.has(t.pid)) { c.failures.push(`server ${exits.get(t.pid) ?? 'exited'}`); continue; }
        try {
          const t0 = Date.now();
          const m0 = cpuMark(pids);
          const r = await runLoad(t, w, capS);
          r.otherCores = otherCores(m0, cpuMark(pids));
          noteOverhead((Date.now() - t0) / 1000, r.seconds);
          caps.push(capS);
          c.runs.push(r);
          log(`round ${round + 1} ${w.id.padEnd(12)} ${t.name.padEnd(9)} ${fmtRps(r.rps).padStart(7)} rps  p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms  server ${fmtRps(r.serverCpuUsPerReq)} µs/req  client ${fmtRps(r.clientCpuPercent)}%${r.errors > 0 ? `  errors ${r.errors}` : ''}`);
        } catch (e) {
          c.failures.push(e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e));
          log(`round ${round + 1} ${w.id} ${t.name}: failed: ${String(e)}`);
        }
      }
    }
  }

  const cross: Results = new Map();
  if (cfg.loadgen !== undefined) {
    runsLeft = ws.length * targets.length;
    for (const [wi, w] of ws.entries()) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + wi) % targets.length] as Target;
        const capS = capFor(deadline);
        if (capS === undefined) { skippedRuns++; continue; }
        const c = cell(cross, w.id, t.name);
        if (exits.has(t.pid)) { c.failures.push(`server ${exits.get(t.pid) ?? 'exited'}`); continue; }
        // loadgen has no time bound of its own: size its count from the Node
        // client's rate so it should finish in about half its cap, and kill it at the cap.
        const nodeRps = median(results.get(w.id)?.get(t.name)?.runs.map((r) => r.rps) ?? []);
        const total = Number.isFinite(nodeRps) ? Math.min(w.total, Math.max(200, Math.round(nodeRps * capS * 0.5))) : w.total;
        try {
          // (range ops first write 1,000 keys one by one, untimed: allow for that too)
          const t0 = Date.now();
          const m0 = cpuMark(pids);
          const r = await runLoadgen(cfg.loadgen, t, { ...w, total }, capS + (w.loadgenOp === 'put' ? 5 : 15));
          r.otherCores = otherCores(m0, cpuMark(pids));
          noteOverhead((Date.now() - t0) / 1000, r.seconds);
          c.runs.push(r);
          log(`loadgen ${w.id.padEnd(12)} ${t.name.padEnd(9)} ${fmtRps(r.rps).padStart(7)} rps  p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms  server ${fmtRps(r.serverCpuUsPerReq)} µs/req`);
        } catch (e) {
          c.failures.push(e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e));
          log(`loadgen ${w.id} ${t.name}: failed: ${String(e)}`);
        }
      }
    }
  }

  const rss = targets.map((t) => `${t.name} ${rssMiB(t.pid).toFixed(0)} MiB`).join(', ');
  const otherDuring = otherCores(measureStart, cpuMark(pids));
  for (const t of targets) {
    const why = exits.get(t.pid);
    if (why !== undefined) t.exited = `${why}; last log lines:\n${logTail(t.pid, 15).join('\n')}`;
  }
  const loadAfter = os.loadavg();
  await cleanup();

  const section = renderSection({
    cfg, startedAt, finishedAt: new Date(), loadBefore, loadAfter, targets, unavailable, ws, results, cross, rss,
    skippedRuns, durationMaxS, caps, otherDuring,
  });
  process.stdout.write(`${section}\n`);
  if (cfg.append) {
    ensureResultsHeader(cfg.resultsFile);
    fs.appendFileSync(cfg.resultsFile, `\n${section}\n`);
    log(`appended to ${path.relative(process.cwd(), cfg.resultsFile) || cfg.resultsFile}`);
  }
}

interface SectionInput {
  cfg: Config;
  startedAt: Date;
  finishedAt: Date;
  loadBefore: number[];
  loadAfter: number[];
  targets: Target[];
  unavailable: Unavailable[];
  ws: Workload[];
  results: Results;
  cross: Results;
  rss: string;
  skippedRuns: number;
  durationMaxS: number;
  caps: number[];
  otherDuring: number;
}

function renderSection(s: SectionInput): string {
  const names = s.targets.map((t) => t.name);
  const stamp = s.startedAt.toISOString().replace('T', ' ').slice(0, 16);
  const cpus = os.cpus();
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  const out: string[] = [];
  out.push(`## ${stamp} UTC — bench:single${s.cfg.quick ? ' --quick' : ''}`);
  out.push('');
  out.push(`- Machine: ${os.availableParallelism()} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, `
    + `${os.type()} ${os.release()}, Node ${process.version}`);
  const cores = os.availableParallelism();
  out.push(`- Other work on the machine while measuring: ${s.otherDuring.toFixed(2)} of ${cores} cores on average `
    + `(load average 1/5/15 min before: ${la(s.loadBefore)}; after: ${la(s.loadAfter)})`
    + (s.otherDuring > 0.25
      ? ' — **the machine was shared: requests/s and latencies are disturbed, and biased against single-threaded'
        + ' processes (keel, the Node client): the kernel splits CPU between sessions (autogroup), then per'
        + ' runnable thread, and the Go processes (etcd, loadgen) run many; server CPU per request is the fair'
        + ' comparison here**'
      : ''));
  out.push(`- Servers: ${s.targets.map((t) => `${t.name} = ${t.version}`).join('; ')}`);
  for (const u of s.unavailable) out.push(`- Not measured: ${u.name} — ${u.reason.split('\n')[0]}`);
  out.push(`- Rounds: ${s.cfg.rounds} (targets rotated each workload and round; medians shown); each run capped by --duration-max, its share of a ${s.cfg.budgetSeconds} s budget `
    + `(caps used: ${s.caps.length > 0 ? `${Math.min(...s.caps)}–${Math.max(...s.caps)}` : '–'} s, at most ${s.durationMaxS}); `
    + `took ${Math.round((s.finishedAt.getTime() - s.startedAt.getTime()) / 1000)} s; server RSS at the end: ${s.rss}`
    + (s.skippedRuns > 0 ? `; ${s.skippedRuns} runs skipped (time budget)` : ''));
  out.push('');
  out.push('Node client (`dist/bench/load.js`, grpc-js), cells are rps / p50 ms / p99 ms:');
  out.push('');
  out.push(mainTable(s.results, s.ws, names));
  out.push('');
  out.push('<details><summary>per-round rps, server CPU per request, client CPU</summary>');
  out.push('');
  out.push(detailTable(s.results, s.ws, names));
  out.push('');
  out.push('</details>');
  if (s.cross.size > 0) {
    out.push('');
    out.push('Cross-check with the Go load generator (`/tmp/loadgen`, etcd clientv3; one run each):');
    out.push('');
    out.push(mainTable(s.cross, s.ws, names));
    out.push('');
    out.push('<details><summary>server CPU per request under loadgen</summary>');
    out.push('');
    out.push(detailTable(s.cross, s.ws, names));
    out.push('');
    out.push('</details>');
  }
  for (const t of s.targets) {
    if (t.exited === undefined) continue;
    out.push('');
    out.push(`**${t.name} ${t.exited.split('\n')[0] ?? ''}**`);
    out.push('');
    out.push('```');
    out.push(t.exited.split('\n').slice(1).join('\n').replace(/```/g, "'''"));
    out.push('```');
  }
  out.push('');
  out.push('<details><summary>exact commands</summary>');
  out.push('');
  out.push('```');
  out.push(`npm run bench:single${process.argv.slice(2).length > 0 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`);
  for (const t of s.targets) out.push(`# ${t.name}: ${t.command}`);
  out.push(`# prefill (untimed, per target): node dist/bench/load.js put --sequential-keys --key-space-size ${rangeKeySpace} `
    + `--total ${rangeKeySpace} --clients 10 --val-size ${valSize} --endpoints EP --duration-max 30 --json`);
  for (const w of s.ws) out.push(`node dist/bench/load.js ${w.loadArgs.join(' ')} --endpoints EP --duration-max CAP --json`);
  if (s.cross.size > 0) {
    out.push(`# loadgen seed (untimed, per target): ${s.cfg.loadgen ?? 'loadgen'} ${loadgenSeedArgs('EP').join(' ')}`);
    out.push('# loadgen: -total is the smaller of the one below and what the Node client\'s rate on that target fits in half the run\'s time cap');
    for (const w of s.ws) out.push(`${s.cfg.loadgen ?? 'loadgen'} ${loadgenArgs(w, 'EP', 'NAME').join(' ')}`);
  }
  out.push('```');
  out.push('');
  out.push('</details>');
  return out.join('\n');
}

export const resultsHeader = `# keel benchmark results

Each section below is one run of \`npm run bench:single\` (bench/compare-single.ts),
appended by the tool itself; sections are not edited by hand. Newest at the bottom.

How to read a section:

- Every server is a **single member** on loopback, started fresh by the run with
  a temporary data dir on the same disk: keel (\`node bin/keel.js\`), Debian's
  etcd 3.4 and, when installed, etcd 3.5 (\`bash /work/shared/tools/etcd35.sh\`).
  The client runs on the same machine and competes with the server for its cores.
- Workloads: put with 1 client; put, linearizable range and serializable range
  with 100 clients over 10 connections. 8-byte keys, 256-byte values; puts spread
  over 10,000 keys; ranges read single keys out of 1,000 written beforehand.
- A cell reads **requests/s / p50 ms / p99 ms**, the median over the rounds
  (targets take turns; the order rotates every workload and round).
  \`⚠errors\` means some requests failed (see the details); \`⏱\` means a run hit
  its time cap before finishing its count (its rate is still valid).
- **keel / best etcd (rps)** divides keel's requests/s by the faster etcd's:
  above 1.00× keel was faster.
- **server CPU µs/req** is the CPU time (user + system, all threads, from /proc)
  the server spent per completed request. It is the number least disturbed by
  other work on the machine, so it is the one to trust on a busy box; the
  column shows keel's, the lowest etcd's, and their ratio (below 1.00× keel
  is cheaper).
- *client CPU % of a core* (details) is the Node load tool's own CPU. Near
  100 % the client, not the server, may have been the limit; the Go load
  generator table (etcd's own clientv3, a leaner client) is the cross-check.
- *other work (cores)* (details) is how many cores processes other than the
  run's own servers and clients kept busy during each run. Well above 0 means
  the run shared the machine and its rate and latencies are depressed by an
  unknown amount, more for single-threaded processes (keel, the Node client)
  than for multi-threaded Go ones (etcd, loadgen): the kernel splits CPU
  between sessions (autogroup), then per runnable thread. Compare within
  one section, prefer quiet sections (\`--wait-idle S\` waits for one), and
  on a busy one trust server CPU per request over requests/s.
- Idle servers cost ~0.4 % of a core (measured), so CPU per request is not
  skewed by background work except in very slow runs.
`;

export function ensureResultsHeader(file: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() !== '') return;
  fs.writeFileSync(file, resultsHeader);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    async (e: unknown) => {
      process.stderr.write(`compare-single: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      await cleanup();
      process.exit(1);
    },
  );
}
