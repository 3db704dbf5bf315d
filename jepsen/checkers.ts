// Which checkers read which workload's operations. Each checker sees only its
// workload's operations, re-indexed densely (history.ts's contract), and its
// anomalies are mapped back to the run's history indexes.
//
// register → linearizability per key (cas-register) over the linearizable reads,
//            writes and cas; sequential consistency over the serializable reads.
// append   → Elle-style list-append, strict serializability (realtime edges).
import type { HistoryOp } from './history';
import { workloadOf } from './recorder';
import { checkDivergence } from './checker/divergence';
import { checkKube } from './checker/kube';
import { checkLease } from './checker/lease';
import { checkLinearizable, checkSequential } from './checker/linearizable';
import { checkListAppend } from './checker/list-append';
import { checkLock } from './checker/lock';
import type { CheckResult } from './checker/result';
import { checkWatch } from './checker/watch';

type Checker = (ops: HistoryOp[]) => CheckResult;

const byWorkload: Record<string, Checker[]> = {
  register: [(ops) => checkLinearizable(ops, { model: 'cas-register' }), (ops) => checkSequential(ops)],
  append: [(ops) => checkListAppend(ops, { realtime: true })],
  watch: [(ops) => checkWatch(ops)],
  lease: [(ops) => checkLease(ops)],
  lock: [(ops) => checkLock(ops)],
  kube: [(ops) => checkKube(ops)],
  'txn-rev': [],
};

/** The operations of one workload, indexed 0..n-1, and the way back to the run's indexes. */
export function subHistory(history: readonly HistoryOp[], workload: string): { ops: HistoryOp[]; back: number[] } {
  const ops: HistoryOp[] = [];
  const back: number[] = [];
  for (const op of history) {
    if (workloadOf(op) !== workload) continue;
    back.push(op.index);
    ops.push({ ...op, index: ops.length });
  }
  return { ops, back };
}

export function runCheckers(history: readonly HistoryOp[], workloads: readonly string[]): CheckResult[] {
  const results: CheckResult[] = [];
  for (const w of workloads) {
    const { ops, back } = subHistory(history, w);
    for (const check of byWorkload[w] ?? []) {
      const r = check(ops);
      r.anomalies = r.anomalies.map((a) => ({ ...a, ops: a.ops.map((i) => back[i] ?? i) }));
      r.stats['ops'] = ops.length;
      results.push(r);
    }
  }
  results.push(checkDivergence(history.filter((op) => op.f === 'member-state')));
  return results;
}
