// The run's summary: operations and throughput per workload, faults by kind,
// crashes, and each checker's verdict with its first anomalies. (The HTML
// report of jepsen/report/ is added at merge; this is the plain text one.)
import type { HistoryOp } from '../history';
import { workloadOf } from '../recorder';
import type { CheckResult } from '../checker/result';
import type { FaultRecord } from '../nemesis/executor';

export interface SummaryInput {
  history: readonly HistoryOp[];
  results: readonly CheckResult[];
  faults: readonly FaultRecord[];
  meta: Record<string, unknown>;
  workloadSeconds: number;
}

export function summarize(s: SummaryInput): string {
  const lines: string[] = [];
  lines.push(`run: ${String(s.meta['target'])} ${String(s.meta['version'] ?? '')} members=${String(s.meta['members'])} seed=${String(s.meta['seed'])} net=${String(s.meta['net'])}`);
  lines.push(`workloads: ${String(s.meta['workloads'])}  nemesis: ${String(s.meta['nemeses']) || 'none'}  time-limit: ${String(s.meta['timeLimitSeconds'])} s`);
  const per = new Map<string, { ok: number; fail: number; info: number }>();
  for (const op of s.history) {
    if (op.type === 'invoke') continue;
    const w = workloadOf(op) ?? '?';
    const c = per.get(w) ?? { ok: 0, fail: 0, info: 0 };
    c[op.type]++;
    per.set(w, c);
  }
  lines.push('operations (completions: ok / fail / info, ok per second of workload time):');
  for (const [w, c] of per) lines.push(`  ${w.padEnd(10)} ${c.ok} / ${c.fail} / ${c.info}   ${(c.ok / Math.max(1, s.workloadSeconds)).toFixed(1)} ok/s`);
  const kinds = new Map<string, number>();
  for (const f of s.faults) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  lines.push(`faults: ${[...kinds].map(([k, n]) => `${k}×${n}`).join(', ') || 'none'}`);
  for (const f of s.faults.filter((x) => x.kind === 'crash')) lines.push(`  CRASH ${JSON.stringify(f.detail).slice(0, 300)}`);
  for (const f of s.faults.filter((x) => x.detail['error'] !== undefined)) lines.push(`  fault not applied: ${f.kind}: ${String(f.detail['error'])}`);
  lines.push('checkers:');
  for (const r of s.results) {
    const verdict = r.valid === true ? 'valid' : r.valid === false ? `INVALID (${r.anomalies.length} anomalies)` : `unknown: ${r.unknownReason ?? ''}`;
    lines.push(`  ${r.checker.padEnd(12)} ${verdict}  ${JSON.stringify(r.stats)}`);
    for (const a of r.anomalies.slice(0, 5)) lines.push(`    - ${a.kind}: ${a.explanation} (ops ${a.ops.slice(0, 6).join(',')})`);
  }
  return lines.join('\n') + '\n';
}
