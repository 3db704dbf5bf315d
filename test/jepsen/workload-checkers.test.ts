// The runner's checkers against hand-built histories: each anomaly they exist
// to catch, and the same history without it (which must pass, so a checker
// that always complains fails too).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { HistoryOp, OpType } from '../../jepsen/history';
import { checkWatch } from '../../jepsen/checker/watch';
import { checkLease } from '../../jepsen/checker/lease';
import { checkLock } from '../../jepsen/checker/lock';
import { checkDivergence } from '../../jepsen/checker/divergence';
import { checkKube } from '../../jepsen/checker/kube';
import { runCheckers, subHistory } from '../../jepsen/checkers';
import { planSchedule } from '../../jepsen/nemesis/schedule';
import type { Delivery, WatchEvent } from '../../jepsen/workloads/watch-session';

class H {
  readonly ops: HistoryOp[] = [];
  constructor(private readonly workload: string) {}
  add(type: OpType, process: number, f: string, timeMs: number, more: Partial<HistoryOp> = {}): HistoryOp {
    const op: HistoryOp = { index: this.ops.length, type, process, f, timeNs: timeMs * 1e6, ...more, extra: { workload: this.workload, ...(more.extra ?? {}) } };
    this.ops.push(op);
    return op;
  }
  /** An invoke and its completion. */
  pair(process: number, f: string, fromMs: number, toMs: number, inv: Partial<HistoryOp>, done: Partial<HistoryOp>, type: OpType = 'ok'): void {
    this.add('invoke', process, f, fromMs, inv);
    this.add(type, process, f, toMs, { ...(inv.key === undefined ? {} : { key: inv.key }), ...done });
  }
}

const put = (key: string, mod: number, value: string, prevMod: number | null = null, prevValue: string | null = null): WatchEvent =>
  ({ type: 'PUT', key, mod, create: mod, version: 1, value, prevMod, prevValue });

function watchHistory(deliveries: Delivery[]): HistoryOp[] {
  const h = new H('watch');
  h.pair(0, 'put', 0, 1, { key: 'jw/a', value: 'x' }, { revision: 2, extra: { writes: [['PUT', 'jw/a', 'x']] } });
  h.pair(0, 'put', 2, 3, { key: 'jw/b', value: 'y' }, { revision: 3, extra: { writes: [['PUT', 'jw/b', 'y']] } });
  h.pair(0, 'txn-put', 4, 5, { value: [] }, { revision: 4, extra: { writes: [['PUT', 'jw/a', 'z'], ['PUT', 'jw/b', 'z']] } });
  h.pair(1, 'watch', 0, 10, { value: { prefix: 'jw/', start: 1 } }, { value: deliveries });
  return h.ops;
}

const t = 1;
const created: Delivery = { kind: 'created', h: 1, timeNs: t };
const complete: Delivery[] = [
  created,
  { kind: 'events', h: 2, timeNs: t, events: [put('jw/a', 2, 'x')] },
  { kind: 'events', h: 3, timeNs: t, events: [put('jw/b', 3, 'y')] },
  { kind: 'events', h: 4, timeNs: t, events: [put('jw/a', 4, 'z', 2, 'x'), put('jw/b', 4, 'z', 3, 'y')] },
  { kind: 'progress', h: 4, timeNs: t },
];

function kinds(r: { anomalies: Array<{ kind: string }> }): string[] {
  return [...new Set(r.anomalies.map((a) => a.kind))].sort();
}

test('watch: a complete, ordered delivery is valid', () => {
  const r = checkWatch(watchHistory(complete));
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.valid, true);
  assert.equal(r.stats['events'], 4);
});

test('watch: a missing event is a gap', () => {
  const r = checkWatch(watchHistory([complete[0]!, complete[1]!, complete[3]!, complete[4]!]));
  assert.equal(r.valid, false);
  assert.deepEqual(kinds(r), ['watch-gap']);
  assert.match(r.anomalies[0]!.explanation, /jw\/b at revision 3/);
});

test('watch: an event delivered twice is a duplicate', () => {
  const r = checkWatch(watchHistory([...complete.slice(0, 3), complete[2]!, ...complete.slice(3)]));
  assert.ok(kinds(r).includes('watch-duplicate'), JSON.stringify(r.anomalies));
});

test('watch: an event out of order', () => {
  const r = checkWatch(watchHistory([complete[0]!, complete[2]!, complete[1]!, complete[3]!]));
  assert.ok(kinds(r).includes('watch-out-of-order'), JSON.stringify(r.anomalies));
});

test('watch: a progress notification ahead of the events it vouches for', () => {
  const r = checkWatch(watchHistory([complete[0]!, complete[1]!, { kind: 'progress', h: 3, timeNs: t }, complete[2]!, complete[3]!]));
  assert.ok(kinds(r).includes('watch-progress-ahead'), JSON.stringify(r.anomalies));
});

test('watch: a txn\'s events split over two responses are not atomic', () => {
  const split: Delivery[] = [...complete.slice(0, 3),
    { kind: 'events', h: 4, timeNs: t, events: [put('jw/a', 4, 'z', 2, 'x')] },
    { kind: 'events', h: 4, timeNs: t, events: [put('jw/b', 4, 'z', 3, 'y')] }];
  assert.deepEqual(kinds(checkWatch(watchHistory(split))), ['watch-atomic']);
});

test('watch: a stale prev_kv, an event before the start, events after a compaction cancel', () => {
  const stale: Delivery[] = [...complete.slice(0, 3), { kind: 'events', h: 4, timeNs: t, events: [put('jw/a', 4, 'z', 1, 'old'), put('jw/b', 4, 'z', 3, 'y')] }];
  assert.deepEqual(kinds(checkWatch(watchHistory(stale))), ['watch-prev-kv']);
  const h = watchHistory(complete);
  (h[6]!.value as { start: number }).start = 3;
  assert.ok(kinds(checkWatch(h)).includes('watch-before-start'));
  const cancel: Delivery[] = [created, { kind: 'canceled', h: 4, timeNs: t, compactRevision: 3 }, complete[3]!];
  assert.ok(kinds(checkWatch(watchHistory(cancel))).includes('watch-after-cancel'));
});

test('watch: a final session that never reaches the final write is starved', () => {
  const h = watchHistory([created, complete[1]!]);
  h[7]!.extra = { ...h[7]!.extra, final: true, finalRevision: 4 };
  assert.ok(kinds(checkWatch(h)).includes('watch-starved'));
});

function leaseHistory(readAtMs: number, revokeAtMs?: number): HistoryOp[] {
  const h = new H('lease');
  h.pair(0, 'grant', 0, 10, { value: 5 }, { value: { id: '7', ttl: 5 } });
  h.pair(0, 'put', 20, 30, { value: ['jl/7/0', 'jl/7/1'], extra: { lease: '7' } }, { value: ['jl/7/0', 'jl/7/1'], extra: { lease: '7' } });
  h.pair(0, 'read', 1000, 1010, { extra: { lease: '7' } }, { value: ['jl/7/0', 'jl/7/1'], extra: { lease: '7' } });
  h.pair(0, 'keepalive', 2000, 2010, { extra: { lease: '7' } }, { value: 5, extra: { lease: '7' } });
  if (revokeAtMs !== undefined) h.pair(0, 'revoke', revokeAtMs, revokeAtMs + 5, { extra: { lease: '7' } }, { extra: { lease: '7' } });
  h.pair(0, 'read', readAtMs, readAtMs + 10, { extra: { lease: '7' } }, { value: [], extra: { lease: '7' } });
  return h.ops;
}

test('lease: keys gone after the TTL since the last keepalive, or after a revoke, are fine', () => {
  assert.equal(checkLease(leaseHistory(7100)).valid, true);
  assert.equal(checkLease(leaseHistory(3100, 3000)).valid, true);
});

test('lease: keys gone before the TTL since the last acknowledged keepalive ran out is an early expiry', () => {
  const r = checkLease(leaseHistory(6000));
  assert.deepEqual(kinds(r), ['lease-early-expiry']);
});

test('lease: some of a lease\'s keys gone, not all', () => {
  const h = leaseHistory(7100);
  h[h.length - 1]!.value = ['jl/7/1'];
  assert.deepEqual(kinds(checkLease(h)), ['lease-partial-expiry']);
});

function lockHistory(releaseFirstAtMs: number): HistoryOp[] {
  const h = new H('lock');
  const extra = { lock: 'jk/lock/' };
  h.pair(0, 'acquire', 0, 100, { key: 'jk/lock/a', extra }, { value: 10, extra });
  h.pair(0, 'release', releaseFirstAtMs, releaseFirstAtMs + 10, { key: 'jk/lock/a', extra }, { extra });
  h.pair(1, 'acquire', 50, 300, { key: 'jk/lock/b', extra }, { value: 12, extra });
  h.pair(1, 'release', 400, 410, { key: 'jk/lock/b', extra }, { extra });
  h.ops.sort((a, b) => a.timeNs - b.timeNs).forEach((op, i) => { op.index = i; });
  return h.ops;
}

test('lock: holds one after the other are fine, overlapping holds are two holders', () => {
  assert.equal(checkLock(lockHistory(200)).valid, true);
  const r = checkLock(lockHistory(350));
  assert.deepEqual(kinds(r), ['double-holder']);
});

test('lock: a fenced write by an older token after a newer one is a fencing violation', () => {
  const h = new H('lock');
  h.pair(0, 'fenced-write', 0, 1, { value: 12, extra: { lock: 'jk/lock/' } }, { value: 12, revision: 20, extra: { lock: 'jk/lock/' } });
  h.pair(1, 'fenced-write', 2, 3, { value: 10, extra: { lock: 'jk/lock/' } }, { value: 10, revision: 21, extra: { lock: 'jk/lock/' } });
  assert.deepEqual(kinds(checkLock(h.ops)), ['fencing-violation']);
});

function probe(revisions: number[], hashes: number[]): HistoryOp[] {
  const h = new H('cluster');
  const value = revisions.map((r, i) => ({ name: `n${i + 1}`, revision: r, appliedIndex: 50, hash: hashes[i]!, compactRevision: 3, hashRevision: r }));
  h.pair(0, 'member-state', 0, 1, {}, { value, extra: { converged: true } });
  return h.ops;
}

test('divergence: equal revisions and hashes are fine; a different revision or hash is divergence', () => {
  assert.equal(checkDivergence(probe([9, 9, 9], [1, 1, 1])).valid, true);
  assert.deepEqual(kinds(checkDivergence(probe([9, 8, 9], [1, 1, 1]))), ['divergence']);
  assert.deepEqual(kinds(checkDivergence(probe([9, 9, 9], [1, 2, 1]))), ['divergence']);
  assert.equal(checkDivergence([]).valid, 'unknown');
});

test('kube: a guarded update that succeeded over a newer write is a lost update; a wrong nested header is caught', () => {
  const h = new H('kube');
  const k = '/registry/jkpods/default/p1';
  h.pair(0, 'create', 0, 1, { key: k }, { revision: 5, extra: { guard: 0, nestedRevision: 5, writes: [['PUT', k, 'a']] } });
  h.pair(0, 'update', 2, 3, { key: k }, { revision: 6, extra: { guard: 5, nestedRevision: 6, writes: [['PUT', k, 'b']] } });
  assert.equal(checkKube(h.ops).valid, true);
  h.pair(1, 'update', 4, 5, { key: k }, { revision: 7, extra: { guard: 5, nestedRevision: 6, writes: [['PUT', k, 'c']] } });
  assert.deepEqual(kinds(checkKube(h.ops)), ['kube-lost-update', 'kube-nested-header']);
});

test('kube: a list that leaves out a live object, or whose count is off', () => {
  const h = new H('kube');
  const k = '/registry/jkpods/default/p1';
  h.pair(0, 'create', 0, 1, { key: k }, { revision: 5, extra: { guard: 0, nestedRevision: 5, writes: [['PUT', k, 'a']] } });
  h.pair(1, 'list', 2, 3, {}, { revision: 6, value: { items: [[k, 5, 'a']], counts: [1] } });
  assert.equal(checkKube(h.ops).valid, true);
  h.pair(1, 'list', 4, 5, {}, { revision: 6, value: { items: [], counts: [1] } });
  assert.deepEqual(kinds(checkKube(h.ops)), ['kube-list-count', 'kube-list-missing']);
});

test('registry: each checker sees its workload re-indexed, anomalies point back into the run', () => {
  const lock = lockHistory(350);
  const other = new H('register');
  other.pair(9, 'write', 0, 1, { key: 'jr/0', value: 1 }, { value: 1 });
  const all = [...other.ops, ...lock].map((op, i) => ({ ...op, index: i }));
  const sub = subHistory(all, 'lock');
  assert.deepEqual(sub.ops.map((o) => o.index), sub.ops.map((_, i) => i));
  const results = runCheckers(all, ['lock']);
  const anomaly = results.find((r) => r.checker === 'lock')?.anomalies[0];
  assert.ok(anomaly !== undefined);
  for (const i of anomaly.ops) assert.equal(all[i]?.extra?.['workload'], 'lock');
});

test('the nemesis schedule is a function of the seed', () => {
  const a = planSchedule(42, ['kill', 'partition', 'pause'], 60_000);
  assert.deepEqual(planSchedule(42, ['kill', 'partition', 'pause'], 60_000), a);
  assert.notDeepEqual(planSchedule(43, ['kill', 'partition', 'pause'], 60_000), a);
  assert.ok(a.length > 0);
  for (const w of a) assert.ok(w.startMs < w.endMs && w.endMs <= 58_000);
});
