// Generated histories for the checkers' property tests, and a brute-force
// linearizability oracle for small ones.
//
// A history is simulated, not invented: each thread runs its ops one after
// another; every op has an invocation, an effect point and a completion on a
// shared clock; the register (or the lists) change at effect points, in
// effect-time order, so the history is linearizable (strict serializable) by
// construction. An indeterminate op either takes effect or does not and is
// recorded as info (or, when it is its thread's last op, never completes);
// after an info the thread continues as a new process, as the runner does.
import fc from 'fast-check';
import type { HistoryOp } from '../../jepsen/history';

export interface OpSpec {
  thread: number;
  kind: 'read' | 'write' | 'cas';
  /** Small-domain value (write value, cas expected); unique values come from a counter instead. */
  v1: number;
  v2: number;
  key: number;
  gap: number;
  toEffect: number;
  toEnd: number;
  /** 0: determinate; 1: info and took effect; 2: info and did not. */
  indeterminate: 0 | 1 | 2;
}

export function opSpecArb(o: { threads: number; keys: number; values: number; infoWeight: number }): fc.Arbitrary<OpSpec> {
  return fc.record({
    thread: fc.nat(o.threads - 1),
    kind: fc.constantFrom<'read' | 'write' | 'cas'>('read', 'write', 'cas'),
    v1: fc.nat(o.values - 1),
    v2: fc.nat(o.values - 1),
    key: fc.nat(o.keys - 1),
    gap: fc.nat(5),
    toEffect: fc.nat(6),
    toEnd: fc.nat(6),
    // noBias: fast-check favours small numbers, which would make far more ops indeterminate than infoWeight says.
    indeterminate: fc.noBias(fc.nat(99)).map((n): 0 | 1 | 2 => (n < o.infoWeight ? (n % 2 === 0 ? 1 : 2) : 0)),
  });
}

interface Timed {
  spec: OpSpec;
  seq: number;
  process: number;
  start: number;
  effect: number;
  end: number;
  value: unknown;
  result: unknown;
  outcome: 'ok' | 'fail' | 'info' | 'pending';
}

/** Simulates register ops; `unique` makes every written value distinct (a counter). */
export function simulateRegister(specs: readonly OpSpec[], o: { threads: number; unique: boolean; model: 'register' | 'cas-register' }): HistoryOp[] {
  const timed = schedule(specs, o.threads);
  const state = new Map<number, number | null>();
  let counter = 100;
  for (const t of [...timed].sort((a, b) => a.effect - b.effect || a.seq - b.seq)) {
    const kind = o.model === 'register' && t.spec.kind === 'cas' ? 'write' : t.spec.kind;
    const cur = state.get(t.spec.key) ?? null;
    const applies = t.spec.indeterminate !== 2;
    if (kind === 'read') {
      t.value = null;
      t.result = cur;
      // An indeterminate read: its value is unknown whatever happened.
      if (t.spec.indeterminate !== 0 && t.outcome !== 'pending') t.outcome = 'info';
      continue;
    }
    const newValue = o.unique ? counter++ : t.spec.v2;
    if (kind === 'write') {
      t.value = newValue;
      if (applies) state.set(t.spec.key, newValue);
    } else {
      // Half the cas ops expect what the register holds at their effect point, so some succeed.
      const expected = t.spec.v1 % 2 === 0 ? cur : t.spec.v1;
      t.value = [expected, newValue];
      if (cur !== expected && t.spec.indeterminate === 0) t.outcome = 'fail';
      else if (cur === expected && applies) state.set(t.spec.key, newValue);
    }
    if (t.spec.indeterminate !== 0 && t.outcome !== 'pending') t.outcome = 'info';
    t.spec = { ...t.spec, kind };
  }
  return emit(timed, (t) => ({ f: t.spec.kind, key: `k${t.spec.key}` }));
}

/** Lays the specs out on the clock: per thread sequential, new process after an info. */
function schedule(specs: readonly OpSpec[], threads: number): Timed[] {
  const clock = new Array<number>(threads).fill(0);
  const process = Array.from({ length: threads }, (_, i) => i);
  const lastOfThread = new Map<number, number>();
  specs.forEach((s, i) => lastOfThread.set(s.thread, i));
  return specs.map((spec, seq) => {
    const start = clock[spec.thread]! + spec.gap + 1;
    const effect = start + spec.toEffect;
    const end = effect + spec.toEnd + 1;
    clock[spec.thread] = end;
    const t: Timed = { spec, seq, process: process[spec.thread]!, start, effect, end, value: null, result: undefined, outcome: 'ok' };
    if (spec.indeterminate !== 0) {
      process[spec.thread]! += threads;
      if (lastOfThread.get(spec.thread) === seq) t.outcome = 'pending';
    }
    return t;
  });
}

function emit(timed: Timed[], fk: (t: Timed) => { f: string; key?: string }): HistoryOp[] {
  const events: Array<{ time: number; t: Timed; invoke: boolean }> = [];
  for (const t of timed) {
    events.push({ time: t.start, t, invoke: true });
    if (t.outcome !== 'pending') events.push({ time: t.end, t, invoke: false });
  }
  // Ties: completions before invocations at the same instant would claim an order the clock does not
  // show; invocations first keeps such ops concurrent.
  events.sort((a, b) => a.time - b.time || Number(b.invoke) - Number(a.invoke) || a.t.seq - b.t.seq);
  const out: HistoryOp[] = [];
  for (const ev of events) {
    const { f, key } = fk(ev.t);
    const op: HistoryOp = { index: out.length, type: ev.invoke ? 'invoke' : (ev.t.outcome as 'ok' | 'fail' | 'info'), process: ev.t.process, f, timeNs: ev.time * 1000 };
    if (key !== undefined) op.key = key;
    if (ev.invoke) op.value = ev.t.value;
    else if (ev.t.outcome === 'ok') op.value = ev.t.result !== undefined ? ev.t.result : ev.t.value;
    else op.value = ev.t.value;
    if (!ev.invoke && ev.t.outcome === 'info') op.error = 'timeout';
    out.push(op);
  }
  return out;
}

/** Simulates list-append txns (1–4 micro-ops over `keys` keys), applied atomically at their effect points. */
export function simulateListAppend(specs: readonly OpSpec[], o: { threads: number; keys: number }): HistoryOp[] {
  const timed = schedule(specs, o.threads);
  const lists = new Map<string, number[]>();
  let counter = 1;
  for (const t of [...timed].sort((a, b) => a.effect - b.effect || a.seq - b.seq)) {
    const mops = txnMops(t.spec, o.keys, () => counter++);
    t.value = mops.map((m) => (m[0] === 'r' ? ['r', m[1], null] : m));
    const applies = t.spec.indeterminate !== 2 && !(t.spec.kind === 'cas' && t.spec.v1 === 0 && t.spec.indeterminate === 0);
    if (t.spec.kind === 'cas' && t.spec.v1 === 0 && t.spec.indeterminate === 0) t.outcome = 'fail';
    if (t.spec.indeterminate !== 0 && t.outcome !== 'pending') t.outcome = 'info';
    if (!applies) continue;
    const local = new Map<string, number[]>();
    const get = (k: string): number[] => local.get(k) ?? (lists.get(k) ?? []).slice();
    t.result = mops.map((m) => {
      const cur = get(m[1]);
      if (m[0] === 'append') {
        cur.push(m[2] as number);
        local.set(m[1], cur);
        return m;
      }
      return ['r', m[1], cur.slice()];
    });
    for (const [k, l] of local) lists.set(k, l);
  }
  return emit(timed, () => ({ f: 'txn' }));
}

function txnMops(s: OpSpec, keys: number, next: () => number): Array<[string, string, unknown]> {
  const count = 1 + ((s.v1 + s.v2 + s.gap) % 4);
  const out: Array<[string, string, unknown]> = [];
  for (let i = 0; i < count; i++) {
    const key = `x${(s.key + i * (s.v2 + 1)) % keys}`;
    const isRead = (s.kind === 'read') !== (i % 2 === 1);
    out.push(isRead ? ['r', key, null] : ['append', key, next()]);
  }
  return out;
}

/**
 * Brute force: is there a subset of the indeterminate ops and an order of it plus every determinate op
 * that respects real time (a before b when a completed before b was invoked) and replays on the register?
 * Only for a handful of ops (n! × 2^info).
 */
export function bruteForceLinearizable(history: readonly HistoryOp[], model: 'register' | 'cas-register'): boolean {
  const byKey = new Map<string, BfOp[]>();
  const open = new Map<number, BfOp>();
  for (const op of history) {
    if (op.type === 'invoke') {
      const b: BfOp = { f: op.f, value: op.value, call: op.index, ret: Infinity, type: 'info', result: undefined };
      open.set(op.process, b);
      const k = op.key ?? '';
      byKey.set(k, [...(byKey.get(k) ?? []), b]);
      continue;
    }
    const b = open.get(op.process)!;
    open.delete(op.process);
    b.type = op.type;
    if (op.type === 'ok') b.ret = op.index;
    b.result = op.value;
  }
  for (const ops of byKey.values()) {
    const kept = ops.filter((o) => o.type !== 'fail' && !(o.f === 'read' && o.type !== 'ok'));
    if (!someOrder(kept, model)) return false;
  }
  return true;
}

interface BfOp {
  f: string;
  value: unknown;
  call: number;
  ret: number;
  type: string;
  result: unknown;
}

function someOrder(ops: readonly BfOp[], model: string): boolean {
  const optional = ops.filter((o) => o.type !== 'ok');
  const required = ops.filter((o) => o.type === 'ok');
  for (let mask = 0; mask < 1 << optional.length; mask++) {
    const chosen = [...required, ...optional.filter((_, i) => (mask & (1 << i)) !== 0)];
    if (permutations(chosen).some((order) => replays(order, model))) return true;
  }
  return false;
}

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [xs.slice()];
  const out: T[][] = [];
  xs.forEach((x, i) => {
    for (const rest of permutations([...xs.slice(0, i), ...xs.slice(i + 1)])) out.push([x, ...rest]);
  });
  return out;
}

function replays(order: readonly BfOp[], model: string): boolean {
  for (let i = 0; i < order.length; i++) for (let j = i + 1; j < order.length; j++) if (order[j]!.ret < order[i]!.call) return false;
  let state: unknown = null;
  for (const o of order) {
    if (o.f === 'read') {
      if (JSON.stringify(o.result) !== JSON.stringify(state)) return false;
    } else if (o.f === 'write') {
      state = o.value;
    } else {
      if (model === 'register') return false;
      const [expected, next] = o.value as [unknown, unknown];
      if (JSON.stringify(expected) !== JSON.stringify(state)) return false;
      state = next;
    }
  }
  return true;
}
