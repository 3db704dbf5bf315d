// Locks and elections: no two holders at once, and the fencing tokens (the
// owner key's create revision) of the writes that got through grow with the
// revision they were made at. A hold lasts from the acquire's completion to
// the release's invocation (the holder believes it holds the lock in
// between); a hold never released lasts until the process's last operation.
import type { HistoryOp } from '../history';
import { pairOps } from '../history';
import { workloadOf } from '../recorder';
import type { Anomaly, CheckResult } from './result';

const acquireNames = new Set(['acquire', 'campaign']);
const releaseNames = new Set(['release', 'resign']);
const writeNames = new Set(['fenced-write', 'proclaim']);

interface Hold {
  lock: string;
  process: number;
  fromNs: number;
  toNs: number;
  token: number;
  acquireOp: number;
}

export function checkLock(history: readonly HistoryOp[]): CheckResult {
  const started = Date.now();
  const ops = history.filter((op) => workloadOf(op) === 'lock');
  const holds = collectHolds(ops);
  const anomalies: Anomaly[] = [];
  doubleHolders(holds, anomalies);
  fencing(ops, anomalies);
  return { checker: 'lock', valid: anomalies.length === 0, anomalies, stats: { holds: holds.length, ms: Date.now() - started } };
}

function lockOf(op: HistoryOp): string {
  const v = op.extra?.['lock'];
  return typeof v === 'string' ? v : '';
}

function collectHolds(ops: readonly HistoryOp[]): Hold[] {
  const lastNs = new Map<number, number>();
  for (const op of ops) lastNs.set(op.process, Math.max(lastNs.get(op.process) ?? 0, op.timeNs));
  const open = new Map<number, Hold>();
  const holds: Hold[] = [];
  for (const { invoke, complete } of pairOps(ops)) {
    if (acquireNames.has(invoke.f) && complete?.type === 'ok') {
      const h: Hold = { lock: lockOf(invoke), process: invoke.process, fromNs: complete.timeNs, toNs: lastNs.get(invoke.process) ?? complete.timeNs, token: Number(complete.value), acquireOp: complete.index };
      open.set(invoke.process, h);
      holds.push(h);
    } else if (releaseNames.has(invoke.f)) {
      const h = open.get(invoke.process);
      if (h !== undefined) h.toNs = invoke.timeNs;
      open.delete(invoke.process);
    }
  }
  return holds;
}

function doubleHolders(holds: Hold[], out: Anomaly[]): void {
  const byLock = new Map<string, Hold[]>();
  for (const h of holds) byLock.set(h.lock, [...(byLock.get(h.lock) ?? []), h]);
  for (const [lock, list] of byLock) {
    list.sort((a, b) => a.fromNs - b.fromNs);
    let longest: Hold | undefined;
    for (const h of list) {
      if (longest !== undefined && h.fromNs < longest.toNs && h.process !== longest.process) {
        out.push({ kind: 'double-holder', ops: [longest.acquireOp, h.acquireOp], key: lock, explanation: `${lock}: process ${h.process} (token ${h.token}) acquired while process ${longest.process} (token ${longest.token}) still held it, for ${((longest.toNs - h.fromNs) / 1e6).toFixed(1)} ms` });
      }
      if (longest === undefined || h.toNs > longest.toNs) longest = h;
    }
  }
}

function fencing(ops: readonly HistoryOp[], out: Anomaly[]): void {
  const byLock = new Map<string, Array<{ rev: number; token: number; op: number }>>();
  for (const op of ops) {
    if (op.type !== 'ok' || !writeNames.has(op.f) || op.revision === undefined) continue;
    const lock = lockOf(op) || String(op.key);
    byLock.set(lock, [...(byLock.get(lock) ?? []), { rev: op.revision, token: Number(op.value), op: op.index }]);
  }
  for (const [lock, writes] of byLock) {
    writes.sort((a, b) => a.rev - b.rev);
    for (let i = 1; i < writes.length; i++) {
      const a = writes[i - 1]!;
      const b = writes[i]!;
      if (b.token < a.token) out.push({ kind: 'fencing-violation', ops: [a.op, b.op], key: lock, explanation: `${lock}: a write fenced by token ${b.token} went through at revision ${b.rev}, after a write by the newer holder ${a.token} at ${a.rev}` });
    }
  }
}
