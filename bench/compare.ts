// What bench:compare (3-member clusters) and bench:single (one member each)
// share: the workloads, one run of keel-bench (dist/bench/load.js, its own
// process) or of the Go loadgen against a cluster with the members' CPU read
// from /proc around it, the rounds that alternate the targets inside a time
// budget, and the tables of the results.
import * as path from 'node:path';
import type { Report } from './load';
import { cpuMark, cpuSeconds, down, lastJsonLine, otherCores, runChild, state, type Cluster } from './procs';
import { cellText, fmtInt, fmtMs, fmtRatio, Grid, median, table } from './stats';

export const loadScript = path.join(__dirname, 'load.js');
export const valSize = 256;
export const putKeySpace = 10_000;
export const rangeKeySpace = 1_000;
const runMinS = 2;

export type LoadgenOp = 'put' | 'range' | 'range-serializable' | 'txn-put';

/** loadgenOp undefined: loadgen has no such op (watch), the Node client only. */
export interface Workload { id: string; title: string; loadArgs: string[]; loadgenOp: LoadgenOp | undefined; clients: number; conns: number; total: number }

/** A keel-bench workload over 8-byte keys and 256-byte values; puts over 10,000 keys, ranges over the 1,000 written beforehand. */
export function workload(id: string, title: string, op: string[], loadgenOp: LoadgenOp | undefined, clients: number, conns: number, total: number): Workload {
  const keySpace = op[0] === 'range' ? rangeKeySpace : putKeySpace;
  return {
    id, title, loadgenOp, clients, conns, total,
    loadArgs: [...op, '--conns', String(conns), '--clients', String(clients), '--total', String(total),
      '--key-size', '8', '--val-size', String(valSize), '--key-space-size', String(keySpace)],
  };
}

/** The four workloads both comparisons run, their counts scaled (--quick). */
export function kvWorkloads(scale: number): Workload[] {
  const t = (n: number): number => Math.round(n * scale);
  return [
    workload('put-1', 'put, 1 client', ['put'], 'put', 1, 1, t(2_000)),
    workload('put-100', 'put, 100 clients / 10 conns', ['put'], 'put', 100, 10, t(20_000)),
    workload('range-l-100', 'range linearizable, 100 clients / 10 conns', ['range', '--consistency', 'l'], 'range', 100, 10, t(20_000)),
    workload('range-s-100', 'range serializable, 100 clients / 10 conns', ['range', '--consistency', 's'], 'range-serializable', 100, 10, t(20_000)),
  ];
}

export function nodeLoadArgs(w: Workload, endpoints: string, capS: number | string): string[] {
  return [loadScript, ...w.loadArgs, '--endpoints', endpoints, '--duration-max', String(capS), '--json'];
}

/** Writes the range key space (untimed, per target) with keel-bench's own put. */
export function prefillArgs(endpoints: string, conns: number, durationMaxS: number): string[] {
  return [loadScript, 'put', '--sequential-keys', '--key-space-size', String(rangeKeySpace), '--total', String(rangeKeySpace),
    '--clients', '10', '--conns', String(conns), '--val-size', String(valSize), '--endpoints', endpoints, '--duration-max', String(durationMaxS), '--json'];
}

/**
 * loadgen writes min(key-space, 1000) keys one by one before a range op
 * (untimed, but inside the server-CPU window), so its keys are written once at
 * setup and range runs pass -key-space 1 (one seed write); they still read 0..999.
 */
export function loadgenArgs(w: Workload, endpoints: string, label: string, total: number): string[] {
  const keySpace = w.loadgenOp?.startsWith('range') === true ? 1 : putKeySpace;
  return ['-endpoints', endpoints, '-op', w.loadgenOp ?? '', '-conns', String(w.conns), '-clients', String(w.clients),
    '-total', String(total), '-val-size', String(valSize), '-key-space', String(keySpace), '-label', label];
}

/** One run; otherCores: cores kept busy by processes other than this run's; CPU per request: the cluster's, and per member (leader first). */
export interface RunResult {
  seconds: number; otherCores: number; rps: number; p50: number; p99: number; ok: number; errors: number; unfinished: number;
  serverCpuUsPerReq: number; memberCpuUsPerReq: number[]; clientCpuPercent: number; hardStopped: boolean; errorKinds: Record<string, number>;
}

export interface Cell { runs: RunResult[]; failures: string[] }
export type Results = Grid<Cell>;
export const newResults = (): Results => new Grid<Cell>(() => ({ runs: [], failures: [] }));

/** One run with the members' CPU read before and after; `parse` turns the tool's JSON line into a result. */
async function measured(c: Cluster, bin: string, args: string[], timeoutMs: number, parse: (j: Record<string, unknown>) => Omit<RunResult, 'serverCpuUsPerReq' | 'memberCpuUsPerReq'>): Promise<RunResult> {
  const cpu0 = c.members.map((m) => cpuSeconds(m.pid));
  const out = await runChild(bin, args, timeoutMs);
  const cpu1 = c.members.map((m) => cpuSeconds(m.pid));
  const r = parse(lastJsonLine(out));
  const members = cpu1.map((a, i) => (r.ok > 0 ? ((a - (cpu0[i] ?? NaN)) * 1e6) / r.ok : NaN));
  return { ...r, serverCpuUsPerReq: members.reduce((s, x) => s + x, 0), memberCpuUsPerReq: members };
}

export function runNode(c: Cluster, w: Workload, capS: number): Promise<RunResult> {
  return measured(c, process.execPath, nodeLoadArgs(w, c.endpoints, capS), (capS + 30) * 1000, (j) => {
    const r = j as unknown as Report;
    return {
      seconds: r.seconds, otherCores: NaN, rps: r.rps, p50: r.p50_ms, p99: r.p99_ms, ok: r.ok, errors: r.errors,
      unfinished: r.unfinished, clientCpuPercent: r.cpu.core_percent, hardStopped: r.hardStopped, errorKinds: r.errorKinds,
    };
  });
}

export function runLoadgen(bin: string, c: Cluster, w: Workload, total: number, timeoutS: number): Promise<RunResult> {
  return measured(c, bin, loadgenArgs(w, c.endpoints, c.name, total), timeoutS * 1000, (j) => {
    const r = j as { seconds: number; rps: number; p50_ms: number; p99_ms: number; ok: number; errors: number };
    return {
      seconds: r.seconds, otherCores: NaN, rps: r.rps, p50: r.p50_ms, p99: r.p99_ms, ok: r.ok, errors: r.errors, unfinished: 0,
      clientCpuPercent: NaN, hardStopped: false, errorKinds: r.errors > 0 ? { 'loadgen errors (kinds not reported)': r.errors } : {},
    };
  });
}

/**
 * overheadS: what a run is first assumed to cost beyond its measured part (process start, connect, report). loadgen has no
 * time bound of its own: loadgenTotal sizes its count from the Node client's rates on that target, loadgenTimeoutS its kill timer.
 */
export interface RoundsPlan {
  clusters: Cluster[]; ws: Workload[]; rounds: number; budgetSeconds: number; durationMaxS: number; overheadS: number; loadgen: string | undefined;
  loadgenTotal: (w: Workload, nodeRps: number[], capS: number) => number;
  loadgenTimeoutS: (w: Workload, capS: number) => number;
}

export interface RoundsOutcome { results: Results; cross: Results; caps: number[]; skippedRuns: number }

/**
 * The Node client's rounds, then one loadgen run per workload and target, all
 * inside the budget: each run may use its fair share of what is left, so a slow
 * server (or a busy machine) shortens runs instead of starving the last
 * workloads. Targets take turns; the order rotates per workload and round.
 */
export async function runRounds(p: RoundsPlan, say: (s: string) => void): Promise<RoundsOutcome> {
  const out: RoundsOutcome = { results: newResults(), cross: newResults(), caps: [], skippedRuns: 0 };
  const pids = p.clusters.flatMap((c) => c.members.map((m) => m.pid));
  const deadline = Date.now() + p.budgetSeconds * 1000;
  const nodeDeadline = Date.now() + (deadline - Date.now()) * (p.loadgen !== undefined ? 0.7 : 1);
  let runsLeft = p.rounds * p.ws.length * p.clusters.length;
  let overheadS = p.overheadS;
  const capFor = (until: number): number | undefined => {
    const leftS = (until - Date.now()) / 1000 - runsLeft * overheadS;
    runsLeft--;
    if (leftS < runMinS) return undefined;
    return Math.max(runMinS, Math.min(p.durationMaxS, Math.floor(leftS / (runsLeft + 1))));
  };
  const one = async (label: string, grid: Results, w: Workload, c: Cluster, capS: number, run: () => Promise<RunResult>): Promise<void> => {
    const cell = grid.at(w.id, c.name);
    const gone = down(c);
    if (gone !== undefined) { cell.failures.push(`member down: ${gone}`); return; }
    try {
      const t0 = Date.now();
      const m0 = cpuMark(pids);
      const r = await run();
      r.otherCores = otherCores(m0, cpuMark(pids));
      // Learns what a run costs beyond its measured seconds (moving average).
      overheadS = 0.7 * overheadS + 0.3 * Math.max(0.3, (Date.now() - t0) / 1000 - r.seconds);
      if (grid === out.results) out.caps.push(capS);
      cell.runs.push(r);
      say(`${label} ${w.id.padEnd(12)} ${c.name.padEnd(9)} ${fmtInt(r.rps).padStart(7)} rps  p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms  `
        + `server ${fmtInt(r.serverCpuUsPerReq)} µs/req  client ${fmtInt(r.clientCpuPercent)}%  other ${r.otherCores.toFixed(2)} cores`
        + `${r.errors > 0 ? `  errors ${r.errors} ${JSON.stringify(r.errorKinds)}` : ''}`);
    } catch (e) {
      cell.failures.push(e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e));
      say(`${label} ${w.id} ${c.name}: failed: ${String(e)}`);
    }
  };
  for (let round = 0; round < p.rounds; round++) {
    for (const [wi, w] of p.ws.entries()) {
      for (let k = 0; k < p.clusters.length && !state.stopping; k++) {
        const c = p.clusters[(k + round + wi) % p.clusters.length] as Cluster;
        // Round 1 always runs, so every target gets every workload at least once.
        const capS = capFor(nodeDeadline) ?? (round === 0 ? runMinS : undefined);
        if (capS === undefined) { out.skippedRuns++; continue; }
        await one(`round ${round + 1}`, out.results, w, c, capS, () => runNode(c, w, capS));
      }
    }
  }
  const bin = p.loadgen;
  if (bin === undefined) return out;
  const crossWs = p.ws.filter((w) => w.loadgenOp !== undefined);
  runsLeft = crossWs.length * p.clusters.length;
  for (const [wi, w] of crossWs.entries()) {
    for (let k = 0; k < p.clusters.length && !state.stopping; k++) {
      const c = p.clusters[(k + wi) % p.clusters.length] as Cluster;
      const capS = capFor(deadline);
      if (capS === undefined) { out.skippedRuns++; continue; }
      const total = p.loadgenTotal(w, out.results.get(w.id, c.name)?.runs.map((r) => r.rps) ?? [], capS);
      await one('loadgen', out.cross, w, c, capS, () => runLoadgen(bin, c, w, total, p.loadgenTimeoutS(w, capS)));
    }
  }
  return out;
}

// ---- tables ------------------------------------------------------------------------

interface Summary { rps: number; p50: number; p99: number; cpu: number; text: string }

function summary(c: Cell | undefined): Summary {
  if (c === undefined || c.runs.length === 0) {
    return { rps: NaN, p50: NaN, p99: NaN, cpu: NaN, text: c !== undefined && c.failures.length > 0 ? 'failed' : 'n/a' };
  }
  const m = (f: (r: RunResult) => number): number => median(c.runs.map(f));
  const flags = (c.runs.some((r) => r.errors > 0) || c.failures.length > 0 ? ' ⚠errors' : '') + (c.runs.some((r) => r.hardStopped) ? ' ⏱' : '');
  const s = { rps: m((r) => r.rps), p50: m((r) => r.p50), p99: m((r) => r.p99), cpu: m((r) => r.serverCpuUsPerReq) };
  return { ...s, text: `${fmtInt(s.rps)} / ${fmtMs(s.p50)} / ${fmtMs(s.p99)}${flags}` };
}

const cpuText = (keel: number, etcd: number): string => (Number.isFinite(keel) && Number.isFinite(etcd)
  ? `${fmtInt(keel)} / ${fmtInt(etcd)} = ${fmtRatio(keel / etcd)}` : Number.isFinite(etcd) ? `– / ${fmtInt(etcd)}` : '–');

/** bench:compare's table: keel against the etcd with the most requests/s on each workload, rps, p50, p99 and CPU. */
export function clusterTable(results: Results, ws: Workload[], names: string[]): string {
  const etcds = names.filter((t) => t !== 'keel');
  const vs = etcds.length === 1 ? (etcds[0] as string) : 'best etcd';
  const rows = ws.map((w) => {
    const sums = names.map((t) => summary(results.get(w.id, t)));
    const keel = summary(results.get(w.id, 'keel'));
    let ref: Summary | undefined;
    for (const e of etcds) {
      const s = summary(results.get(w.id, e));
      if (Number.isFinite(s.rps) && (ref === undefined || s.rps > ref.rps)) ref = s;
    }
    const r = (f: (s: Summary) => number): string => fmtRatio(ref !== undefined ? f(keel) / f(ref) : NaN);
    const cpu = ref !== undefined && Number.isFinite(keel.cpu) && Number.isFinite(ref.cpu) ? cpuText(keel.cpu, ref.cpu) : '–';
    return [w.title, ...sums.map((s) => s.text), r((s) => s.rps), r((s) => s.p50), r((s) => s.p99), cpu];
  });
  return table(['workload', ...names.map((t) => `${t} rps / p50 ms / p99 ms`), `rps keel/${vs}`, `p50 keel/${vs}`,
    `p99 keel/${vs}`, `server CPU µs/req, 3 members (keel / ${vs})`], rows);
}

/** bench:single's table: keel's requests/s against the faster etcd's, its CPU per request against the cheaper etcd's. */
export function singleTable(results: Results, ws: Workload[], names: string[]): string {
  const etcds = names.filter((t) => t.startsWith('etcd'));
  const rows = ws.map((w) => {
    const sums = names.map((t) => summary(results.get(w.id, t)));
    const keel = summary(results.get(w.id, 'keel'));
    const others = etcds.map((e) => summary(results.get(w.id, e)));
    const bestRps = Math.max(...others.map((s) => s.rps).filter(Number.isFinite));
    const bestCpu = Math.min(...others.map((s) => s.cpu).filter(Number.isFinite));
    return [w.title, ...sums.map((s) => s.text), fmtRatio(keel.rps / bestRps), cpuText(keel.cpu, bestCpu)];
  });
  return table(['workload', ...names.map((t) => `${t} rps / p50 ms / p99 ms`), 'keel / best etcd (rps)', 'server CPU µs/req (keel / best etcd)'], rows);
}

/** Per round and per target: rps, counts, CPU (per member with three), client CPU, other work, errors. */
export function detailTable(results: Results, ws: Workload[], names: string[], members: number): string {
  const rows: string[][] = [];
  for (const w of ws) {
    for (const t of names) {
      const c = results.get(w.id, t);
      if (c === undefined) continue;
      const m = (f: (r: RunResult) => number): number => median(c.runs.map(f));
      const errs = c.runs.reduce((s, r) => s + r.errors, 0);
      const unfinished = c.runs.reduce((s, r) => s + r.unfinished, 0);
      const kinds = new Map<string, number>();
      for (const r of c.runs) for (const [k, n] of Object.entries(r.errorKinds)) kinds.set(k, (kinds.get(k) ?? 0) + n);
      const errText = errs === 0 && c.failures.length === 0 && unfinished === 0 ? '0'
        : cellText([`${errs}`, ...[...kinds].slice(0, 3).map(([k, n]) => `${n}× ${k}`),
          ...(unfinished > 0 ? [`${unfinished} unanswered at the time cap`] : []), ...c.failures.map((f) => `run failed: ${f}`)].join('; '), 400);
      const perMember = members > 1 ? [Array.from({ length: members }, (_, k) => fmtInt(m((r) => r.memberCpuUsPerReq[k] ?? NaN))).join(', ')] : [];
      rows.push([w.id, t, c.runs.map((r) => fmtInt(r.rps)).join(', ') || '–', c.runs.map((r) => String(r.ok)).join(', ') || '–',
        fmtInt(m((r) => r.serverCpuUsPerReq)), ...perMember,
        c.runs.some((r) => Number.isFinite(r.clientCpuPercent)) ? fmtInt(m((r) => r.clientCpuPercent)) : '–',
        c.runs.map((r) => (Number.isFinite(r.otherCores) ? r.otherCores.toFixed(2) : '–')).join(', ') || '–', errText]);
    }
  }
  const cpuHeads = members > 1 ? ['server CPU µs/req (all 3)', 'per member µs/req (leader, follower, follower)'] : ['server CPU µs/req'];
  return table(['workload', 'target', 'rps per round', 'ok requests per round', ...cpuHeads, 'client CPU % of a core', 'other work (cores)', 'errors'], rows);
}
