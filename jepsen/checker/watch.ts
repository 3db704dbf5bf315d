// Watch guarantees (etcd's API guarantees for watch), checked against the
// writes the history acknowledges and against what every other session saw:
// ordered (revisions never go down), unique (no event twice), reliable (no
// event of the watched range missing between the start and the last event or
// progress), atomic (a revision's events arrive together, all of them),
// resumable (a session started at r gets nothing below r), bookmarkable (a
// progress notification at P is never followed by an event at or below P),
// prev_kv right, nothing after a compaction cancel, and every watcher
// catches up with the final write (not starved).
import type { HistoryOp } from '../history';
import { workloadOf } from '../recorder';
import type { Delivery, WatchEvent } from '../workloads/watch-session';
import type { Anomaly, CheckResult } from './result';

interface Write {
  type: 'PUT' | 'DELETE';
  key: string;
  value: string | null;
  op: number;
}

interface Session {
  invoke: HistoryOp;
  complete: HistoryOp;
  prefix: string;
  start: number;
  deliveries: Delivery[];
  final: boolean;
  finalRevision: number | undefined;
}

export interface WatchCheckOptions {
  /** Which workload's operations to read (default 'watch'). */
  workload?: string;
  checker?: string;
  anomaliesMax?: number;
}

const anomaliesMaxDefault = 100;

export function checkWatch(history: readonly HistoryOp[], opts: WatchCheckOptions = {}): CheckResult {
  const started = Date.now();
  const ops = history.filter((op) => workloadOf(op) === (opts.workload ?? 'watch'));
  const writes = knownWrites(ops);
  const sessions = collectSessions(ops);
  const anomalies: Anomaly[] = [];
  const max = opts.anomaliesMax ?? anomaliesMaxDefault;
  const add = (a: Anomaly): void => {
    if (anomalies.length < max) anomalies.push(a);
  };
  const observed = mergeObserved(sessions, add);
  let events = 0;
  const timeline = new KeyTimeline(writes, observed);
  for (const s of sessions) events += checkSession(s, writes, observed, timeline, add);
  return {
    checker: opts.checker ?? 'watch',
    valid: anomalies.length === 0,
    anomalies,
    stats: { sessions: sessions.length, events, writeRevisions: writes.size, ms: Date.now() - started },
  };
}

/** revision → key → write, from every ok write (extra.writes, at the op's revision). */
function knownWrites(ops: readonly HistoryOp[]): Map<number, Map<string, Write>> {
  const out = new Map<number, Map<string, Write>>();
  for (const op of ops) {
    const w = op.extra?.['writes'];
    if (op.type !== 'ok' || !Array.isArray(w) || w.length === 0 || op.revision === undefined) continue;
    const at = out.get(op.revision) ?? new Map<string, Write>();
    for (const item of w as Array<[string, string, string | null]>) {
      at.set(item[1], { type: item[0] === 'DELETE' ? 'DELETE' : 'PUT', key: item[1], value: item[2], op: op.index });
    }
    out.set(op.revision, at);
  }
  return out;
}

function collectSessions(ops: readonly HistoryOp[]): Session[] {
  const open = new Map<number, HistoryOp>();
  const out: Session[] = [];
  for (const op of ops) {
    if (op.f !== 'watch') continue;
    if (op.type === 'invoke') {
      open.set(op.process, op);
      continue;
    }
    const inv = open.get(op.process);
    open.delete(op.process);
    if (inv === undefined || !Array.isArray(op.value)) continue;
    const arg = (inv.value ?? {}) as { prefix?: string; start?: number };
    const fr = op.extra?.['finalRevision'];
    out.push({
      invoke: inv,
      complete: op,
      prefix: arg.prefix ?? '',
      start: arg.start ?? 0,
      deliveries: op.value as Delivery[],
      final: op.extra?.['final'] === true,
      finalRevision: typeof fr === 'number' ? fr : undefined,
    });
  }
  return out;
}

type Observed = Map<number, Map<string, { e: WatchEvent; op: number }>>;

/** Every event any session saw, by revision and key; two sessions disagreeing is itself an anomaly. */
function mergeObserved(sessions: readonly Session[], add: (a: Anomaly) => void): Observed {
  const out: Observed = new Map();
  for (const s of sessions) {
    for (const d of s.deliveries) {
      for (const e of d.events ?? []) {
        const at = out.get(e.mod) ?? new Map<string, { e: WatchEvent; op: number }>();
        const seen = at.get(e.key);
        if (seen === undefined) at.set(e.key, { e, op: s.complete.index });
        else if (seen.e.type !== e.type || seen.e.value !== e.value || seen.e.prevMod !== e.prevMod) {
          add({ kind: 'watch-disagreement', ops: [seen.op, s.complete.index], key: e.key, explanation: `two watchers saw different events for ${e.key} at revision ${e.mod}: ${describe(seen.e)} vs ${describe(e)}` });
        }
        out.set(e.mod, at);
      }
    }
  }
  return out;
}

function describe(e: WatchEvent): string {
  return `${e.type} ${e.key}=${String(e.value)} (prev mod ${String(e.prevMod)})`;
}

function effectiveStart(s: Session): number {
  if (s.start > 0) return s.start;
  const created = s.deliveries.find((d) => d.kind === 'created');
  return created === undefined ? Number.POSITIVE_INFINITY : created.h + 1;
}

function checkSession(s: Session, writes: Map<number, Map<string, Write>>, observed: Observed, timeline: KeyTimeline, add: (a: Anomaly) => void): number {
  const op = s.complete.index;
  const start = effectiveStart(s);
  const seen = new Map<string, number>(); // "rev/key" → delivery position
  let last = 0;
  let progress = 0;
  let canceledAt = -1;
  let through = 0;
  let count = 0;
  s.deliveries.forEach((d, pos) => {
    if (canceledAt >= 0 && d.kind !== 'canceled') {
      add({ kind: 'watch-after-cancel', ops: [op], explanation: `a watch delivered ${d.kind} after it was canceled (compaction at ${String(s.deliveries[canceledAt]?.compactRevision)})` });
    }
    if (d.kind === 'canceled') canceledAt = pos;
    if (d.kind === 'progress') {
      if (d.h < progress) add({ kind: 'watch-progress-backwards', ops: [op], explanation: `progress went from ${progress} back to ${d.h}` });
      progress = Math.max(progress, d.h);
      through = Math.max(through, d.h);
    }
    for (const e of d.events ?? []) {
      count++;
      const id = `${e.mod}/${e.key}`;
      if (seen.has(id)) add({ kind: 'watch-duplicate', ops: [op], key: e.key, explanation: `event ${describe(e)} at revision ${e.mod} delivered twice` });
      seen.set(id, pos);
      if (e.mod < last) add({ kind: 'watch-out-of-order', ops: [op], key: e.key, explanation: `event at revision ${e.mod} came after one at ${last}` });
      if (e.mod < start) add({ kind: 'watch-before-start', ops: [op], key: e.key, explanation: `a watch from revision ${start} delivered an event at ${e.mod} (went back in time)` });
      if (e.mod <= progress) add({ kind: 'watch-progress-ahead', ops: [op], key: e.key, explanation: `progress notification at ${progress} was followed by an event at ${e.mod}: the notification was ahead of the events` });
      if (!e.key.startsWith(s.prefix)) add({ kind: 'watch-outside-range', ops: [op], key: e.key, explanation: `event for ${e.key} on a watch of prefix ${s.prefix}` });
      last = Math.max(last, e.mod);
      through = Math.max(through, e.mod);
      checkEvent(e, op, writes, timeline, add);
    }
  });
  checkComplete(s, start, through, seen, writes, observed, timeline, add);
  if (s.final && s.finalRevision !== undefined && canceledAt < 0 && through < s.finalRevision) {
    add({ kind: 'watch-starved', ops: [op], explanation: `after the heal a watcher resumed at ${start} never reached the final write at revision ${s.finalRevision} (got through ${through})` });
  }
  return count;
}

/** Value and prev_kv of one event against acknowledged writes and other observations. */
function checkEvent(e: WatchEvent, op: number, writes: Map<number, Map<string, Write>>, timeline: KeyTimeline, add: (a: Anomaly) => void): void {
  const w = writes.get(e.mod);
  if (w !== undefined) {
    const mine = w.get(e.key);
    if (mine === undefined) add({ kind: 'watch-wrong-event', ops: [op, ...[...w.values()].map((x) => x.op)], key: e.key, explanation: `revision ${e.mod} was written by an acknowledged write of other keys, yet a watch saw ${describe(e)}` });
    else if (mine.type !== e.type || mine.value !== e.value) add({ kind: 'watch-wrong-event', ops: [op, mine.op], key: e.key, explanation: `acknowledged ${mine.type} ${e.key}=${String(mine.value)} at ${e.mod}, the watch saw ${describe(e)}` });
  }
  const prev = timeline.before(e.key, e.mod);
  if (e.prevMod !== null && e.prevMod >= e.mod) {
    add({ kind: 'watch-prev-kv', ops: [op], key: e.key, explanation: `prev_kv at ${e.prevMod} is not before the event at ${e.mod}` });
  } else if (prev !== undefined && e.prevMod !== null && e.prevMod < prev.rev) {
    add({ kind: 'watch-prev-kv', ops: [op, prev.op], key: e.key, explanation: `event at ${e.mod} carries prev_kv from ${e.prevMod}, but ${e.key} was written at ${prev.rev} in between` });
  } else if (prev !== undefined && e.prevMod === prev.rev && (prev.type === 'DELETE' || prev.value !== e.prevValue)) {
    add({ kind: 'watch-prev-kv', ops: [op, prev.op], key: e.key, explanation: `prev_kv of the event at ${e.mod} says ${String(e.prevValue)} at ${e.prevMod}, which was ${prev.type} ${String(prev.value)}` });
  } else if (prev !== undefined && prev.type === 'DELETE' && e.prevMod !== null && e.prevMod <= prev.rev) {
    add({ kind: 'watch-prev-kv', ops: [op, prev.op], key: e.key, explanation: `event at ${e.mod} carries a prev_kv although ${e.key} was deleted at ${prev.rev}` });
  }
}

interface KeyEntry {
  rev: number;
  type: string;
  value: string | null;
  op: number;
}

/** Per key, every known write and observed event in revision order (built once per check). */
class KeyTimeline {
  private readonly byKey = new Map<string, KeyEntry[]>();
  readonly revisions: number[];

  constructor(writes: Map<number, Map<string, Write>>, observed: Observed) {
    for (const [r, at] of writes) for (const [k, w] of at) this.push(k, { rev: r, type: w.type, value: w.value, op: w.op });
    for (const [r, at] of observed) for (const [k, o] of at) this.push(k, { rev: r, type: o.e.type, value: o.e.value, op: o.op });
    for (const list of this.byKey.values()) list.sort((a, b) => a.rev - b.rev);
    this.revisions = [...new Set([...writes.keys(), ...observed.keys()])].sort((a, b) => a - b);
  }

  private push(key: string, e: KeyEntry): void {
    const list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, [e]);
    else list.push(e);
  }

  /** The latest entry on key strictly before rev. */
  before(key: string, rev: number): KeyEntry | undefined {
    const list = this.byKey.get(key) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.rev < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? list[lo - 1] : undefined;
  }

  /** Known revisions in [lo, hi]. */
  between(lo: number, hi: number): number[] {
    const r = this.revisions;
    let a = 0;
    let b = r.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (r[mid]! < lo) a = mid + 1;
      else b = mid;
    }
    const out: number[] = [];
    for (let i = a; i < r.length && r[i]! <= hi; i++) out.push(r[i]!);
    return out;
  }
}

/** Reliable and atomic: every known event of the range in [start, through] arrived, a revision's events in one response. */
function checkComplete(s: Session, start: number, through: number, seen: Map<string, number>, writes: Map<number, Map<string, Write>>, observed: Observed, timeline: KeyTimeline, add: (a: Anomaly) => void): void {
  const op = s.complete.index;
  for (const r of timeline.between(start, through)) {
    const keys = new Map<string, number>();
    for (const [k, w] of writes.get(r) ?? new Map<string, Write>()) keys.set(k, w.op);
    for (const [k, o] of observed.get(r) ?? new Map<string, { e: WatchEvent; op: number }>()) if (!keys.has(k)) keys.set(k, o.op);
    const positions = new Set<number>();
    let missing = 0;
    for (const [k, src] of keys) {
      if (!k.startsWith(s.prefix)) continue;
      const pos = seen.get(`${r}/${k}`);
      if (pos === undefined) {
        missing++;
        add({ kind: 'watch-gap', ops: [op, src], key: k, explanation: `a watch from ${start} that got through ${through} never delivered the event for ${k} at revision ${r}` });
      } else positions.add(pos);
    }
    if (positions.size > 1 || (missing > 0 && positions.size > 0)) {
      add({ kind: 'watch-atomic', ops: [op], explanation: `the events of revision ${r} arrived ${missing > 0 ? 'incomplete' : `split over ${positions.size} responses`}` });
    }
  }
}
