// Kubernetes request shapes: guarded writes and list consistency, plus the
// watch guarantees for its prev_kv watches (checkWatch on the kube workload).
// Guarded writes: a write guarded by MOD == rv that succeeded at revision N
// means the key was last written at rv, so no acknowledged write of that key
// may lie in (rv, N) (a lost update); a create (rv 0) follows a delete or
// nothing; the nested header's revision is the outer one. Lists: one revision
// for every page, keys ascending, count equal to the items, and each item as
// the acknowledged writes say the key was at the list's revision.
import type { HistoryOp } from '../history';
import { pairOps } from '../history';
import { workloadOf } from '../recorder';
import type { Anomaly, CheckResult } from './result';
import { checkWatch } from './watch';

interface KeyWrite {
  rev: number;
  type: string;
  value: string | null;
  guard: number;
  op: number;
}

export function checkKube(history: readonly HistoryOp[]): CheckResult {
  const started = Date.now();
  const ops = history.filter((op) => workloadOf(op) === 'kube');
  const anomalies: Anomaly[] = [];
  const { byKey, uncertain } = writesByKey(ops);
  guardedWrites(ops, byKey, uncertain, anomalies);
  const lists = checkLists(ops, byKey, uncertain, anomalies);
  const watch = checkWatch(history, { workload: 'kube', checker: 'kube-watch' });
  anomalies.push(...watch.anomalies);
  return {
    checker: 'kube',
    valid: anomalies.length === 0,
    anomalies,
    stats: { keys: byKey.size, lists, watchSessions: watch.stats['sessions'] ?? 0, ms: Date.now() - started },
  };
}

function writesByKey(ops: readonly HistoryOp[]): { byKey: Map<string, KeyWrite[]>; uncertain: Map<string, number> } {
  const byKey = new Map<string, KeyWrite[]>();
  const uncertain = new Map<string, number>(); // key → earliest invocation of a write whose outcome is unknown
  for (const { invoke, complete } of pairOps(ops)) {
    if (!['create', 'update', 'delete'].includes(invoke.f) || invoke.key === undefined) continue;
    if (complete === undefined || complete.type === 'info') {
      uncertain.set(invoke.key, Math.min(uncertain.get(invoke.key) ?? Number.POSITIVE_INFINITY, invoke.timeNs));
      continue;
    }
    if (complete.type !== 'ok' || complete.revision === undefined) continue;
    const w = (complete.extra?.['writes'] as Array<[string, string, string | null]> | undefined)?.[0];
    if (w === undefined) continue;
    const list = byKey.get(invoke.key) ?? [];
    list.push({ rev: complete.revision, type: w[0], value: w[2], guard: Number(complete.extra?.['guard'] ?? 0), op: complete.index });
    byKey.set(invoke.key, list);
  }
  for (const list of byKey.values()) list.sort((a, b) => a.rev - b.rev);
  return { byKey, uncertain };
}

function guardedWrites(ops: readonly HistoryOp[], byKey: Map<string, KeyWrite[]>, uncertain: Map<string, number>, out: Anomaly[]): void {
  for (const op of ops) {
    const nested = op.extra?.['nestedRevision'];
    if (op.type === 'ok' && typeof nested === 'number' && nested !== op.revision) {
      out.push({ kind: 'kube-nested-header', ops: [op.index], key: op.key ?? '', explanation: `the nested header of responses[0] says revision ${nested}, the txn's header ${String(op.revision)}: kube-apiserver would record the wrong resourceVersion` });
    }
  }
  for (const [key, list] of byKey) {
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!;
      const prev = list[i - 1];
      if (prev !== undefined && prev.rev === w.rev) {
        out.push({ kind: 'kube-duplicate-revision', ops: [prev.op, w.op], key, explanation: `two acknowledged writes of ${key} at revision ${w.rev}` });
      }
      if (w.guard > 0 && prev !== undefined && prev.rev > w.guard && prev.rev < w.rev) {
        out.push({ kind: 'kube-lost-update', ops: [prev.op, w.op], key, explanation: `a write guarded by mod_revision ${w.guard} succeeded at ${w.rev}, yet ${key} had been written at ${prev.rev} in between` });
      }
      // An indeterminate delete may have come in between, so only keys without one are judged.
      if (w.guard === 0 && w.type === 'PUT' && prev !== undefined && prev.type === 'PUT' && !uncertain.has(key)) {
        out.push({ kind: 'kube-duplicate-create', ops: [prev.op, w.op], key, explanation: `create of ${key} (MOD == 0) succeeded at ${w.rev} although it existed since ${prev.rev}` });
      }
    }
  }
}

function latestAt(list: KeyWrite[] | undefined, rev: number): KeyWrite | undefined {
  let best: KeyWrite | undefined;
  for (const w of list ?? []) if (w.rev <= rev) best = w;
  return best;
}

function checkLists(ops: readonly HistoryOp[], byKey: Map<string, KeyWrite[]>, uncertain: Map<string, number>, out: Anomaly[]): number {
  let n = 0;
  for (const op of ops) {
    if (op.f !== 'list' || op.type !== 'ok' || op.revision === undefined) continue;
    n++;
    const at = op.revision;
    const { items, counts } = op.value as { items: Array<[string, number, string]>; counts: number[] };
    if ((counts[0] ?? 0) !== items.length) out.push({ kind: 'kube-list-count', ops: [op.index], explanation: `a list at revision ${at} returned ${items.length} items but count ${String(counts[0])}` });
    const listed = new Map<string, [string, number, string]>();
    items.forEach((it, i) => {
      if (i > 0 && it[0] <= items[i - 1]![0]) out.push({ kind: 'kube-list-order', ops: [op.index], key: it[0], explanation: `list pages out of key order at ${it[0]}` });
      if (it[1] > at) out.push({ kind: 'kube-list-future', ops: [op.index], key: it[0], explanation: `a list at revision ${at} returned ${it[0]} modified at ${it[1]}` });
      listed.set(it[0], it);
    });
    for (const [key, list] of byKey) {
      const w = latestAt(list, at);
      const item = listed.get(key);
      const doubt = (uncertain.get(key) ?? Number.POSITIVE_INFINITY) < op.timeNs;
      if (item !== undefined && w !== undefined && item[1] < w.rev) {
        out.push({ kind: 'kube-list-stale', ops: [op.index, w.op], key, explanation: `a list at revision ${at} returned ${key} as of ${item[1]}, but it was written at ${w.rev}` });
      } else if (item !== undefined && w !== undefined && item[1] === w.rev && (w.type !== 'PUT' || w.value !== item[2])) {
        out.push({ kind: 'kube-list-wrong', ops: [op.index, w.op], key, explanation: `a list returned ${key} at ${item[1]} with a value the write at that revision did not put` });
      } else if (item === undefined && w !== undefined && w.type === 'PUT' && !doubt) {
        out.push({ kind: 'kube-list-missing', ops: [op.index, w.op], key, explanation: `a list at revision ${at} left out ${key}, created or updated at ${w.rev} and not deleted by then` });
      } else if (item !== undefined && w !== undefined && w.type === 'DELETE' && item[1] <= w.rev) {
        out.push({ kind: 'kube-list-stale', ops: [op.index, w.op], key, explanation: `a list at revision ${at} returned ${key}, deleted at ${w.rev}` });
      }
    }
  }
  return n;
}
