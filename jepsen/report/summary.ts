// The text summary of a run: what was done, what went wrong around it, and
// what the checkers found — the first thing an engineer reads.
import { pairOps, type HistoryOp } from '../history';
import { combineVerdicts, type CheckResult, type Verdict } from '../checker/result';

export interface FaultWindow {
  startNs: number;
  endNs: number;
  kind: string;
  detail?: string;
}

export interface OpCounts {
  records: number;
  operations: number;
  ok: number;
  fail: number;
  info: number;
  /** Invoked, never completed. */
  pending: number;
  byF: Record<string, { ok: number; fail: number; info: number; pending: number }>;
  processes: number;
  durationNs: number;
  /** ok completions per second of history time. */
  okPerSecond: number;
}

export function countOps(history: readonly HistoryOp[]): OpCounts {
  const counts: OpCounts = { records: history.length, operations: 0, ok: 0, fail: 0, info: 0, pending: 0, byF: {}, processes: 0, durationNs: 0, okPerSecond: 0 };
  const processes = new Set<number>();
  let pairs: ReturnType<typeof pairOps> = [];
  try {
    pairs = pairOps(history);
  } catch {
    pairs = [];
  }
  for (const { invoke, complete } of pairs) {
    counts.operations++;
    processes.add(invoke.process);
    const byF = (counts.byF[invoke.f] ??= { ok: 0, fail: 0, info: 0, pending: 0 });
    const type = complete === undefined ? 'pending' : complete.type === 'invoke' ? 'pending' : complete.type;
    counts[type]++;
    byF[type]++;
  }
  counts.processes = processes.size;
  if (history.length > 0) counts.durationNs = Math.max(0, history[history.length - 1]!.timeNs - history[0]!.timeNs);
  counts.okPerSecond = counts.durationNs > 0 ? counts.ok / (counts.durationNs / 1e9) : 0;
  return counts;
}

export function verdictWord(v: Verdict): string {
  return v === true ? 'VALID' : v === false ? 'INVALID' : 'UNKNOWN';
}

function resultLine(r: CheckResult): string {
  const v = r.valid === true ? 'valid' : r.valid === false ? `invalid (${r.stats['anomalies'] ?? r.anomalies.length} anomalies)` : `unknown: ${r.unknownReason ?? 'no reason given'}`;
  const ms = r.stats['ms'] !== undefined ? `, ${r.stats['ms']} ms` : '';
  return `  ${r.checker}: ${v}${ms}`;
}

function faultsLine(faults: readonly FaultWindow[]): string {
  if (faults.length === 0) return 'faults: none injected';
  const byKind = new Map<string, { n: number; ns: number }>();
  for (const f of faults) {
    const k = byKind.get(f.kind) ?? { n: 0, ns: 0 };
    k.n++;
    k.ns += Math.max(0, f.endNs - f.startNs);
    byKind.set(f.kind, k);
  }
  const total = [...byKind.values()].reduce((s, k) => s + k.ns, 0);
  const parts = [...byKind].map(([kind, k]) => `${kind} ×${k.n} (${seconds(k.ns)})`);
  return `faults: ${faults.length} windows, ${seconds(total)} in all — ${parts.join(', ')}`;
}

export function seconds(ns: number): string {
  return `${(ns / 1e9).toFixed(ns < 1e10 ? 2 : 1)} s`;
}

export function summaryText(history: readonly HistoryOp[], results: readonly CheckResult[], faults: readonly FaultWindow[], meta: Record<string, unknown>): string {
  const c = countOps(history);
  const lines: string[] = [];
  lines.push(`keel jepsen: ${verdictWord(combineVerdicts(results))}`);
  const name = meta['name'] ?? meta['workload'];
  if (name !== undefined) lines.push(`run: ${String(name)}`);
  lines.push('checkers:');
  for (const r of results) lines.push(resultLine(r));
  lines.push(`operations: ${c.operations} by ${c.processes} processes — ok ${c.ok}, fail ${c.fail}, info ${c.info}, never completed ${c.pending}`);
  for (const [f, n] of Object.entries(c.byF)) lines.push(`  ${f}: ok ${n.ok}, fail ${n.fail}, info ${n.info}, never completed ${n.pending}`);
  lines.push(`duration: ${seconds(c.durationNs)}; throughput ${c.okPerSecond.toFixed(1)} ok ops/s`);
  lines.push(faultsLine(faults));
  lines.push(...anomalyLines(results));
  const metaText = Object.keys(meta).length > 0 ? JSON.stringify(meta) : undefined;
  if (metaText !== undefined) lines.push(`meta: ${metaText}`);
  return lines.join('\n') + '\n';
}

function anomalyLines(results: readonly CheckResult[]): string[] {
  const byKind = new Map<string, number>();
  for (const r of results) for (const a of r.anomalies) byKind.set(`${a.kind} (${r.checker})`, (byKind.get(`${a.kind} (${r.checker})`) ?? 0) + 1);
  if (byKind.size === 0) return ['anomalies: none'];
  const lines = [`anomalies by kind: ${[...byKind].map(([k, n]) => `${k} ×${n}`).join(', ')}`];
  let n = 0;
  for (const r of results) {
    for (const a of r.anomalies) {
      n++;
      const key = a.key !== undefined ? ` key ${JSON.stringify(a.key)}` : '';
      lines.push(`  ${n}. [${r.checker}] ${a.kind}${key}, ops ${a.ops.join(', ')}: ${a.explanation}`);
    }
  }
  return lines;
}
