// List-append histories checked as Elle does (Kingsbury & Alvaro, "Elle:
// inferring isolation anomalies from experimental observations"): every key
// is a list that transactions append unique elements to, so a read reveals
// the whole order of the appends before it.
//
// 1. Per-transaction checks: a read must agree with the transaction's own
//    earlier reads and appends ('internal'); no read may hold an element twice
//    ('duplicate-elements').
// 2. Each key's version order is its longest read; every other read must be a
//    prefix of it ('incompatible-order' otherwise, and that key then yields
//    no ww/rw edges).
// 3. Reads of an element appended by a failed transaction are 'G1a'; a read
//    ending on an append its writer followed with another append to the key
//    is 'G1b'; an element nobody appended is 'unknown-element'.
// 4. Transactions that committed — ok ones, and info ones whose appends were
//    read (info means "maybe committed") — form a graph with ww (next append
//    in the version order), wr (a read ending on another's append) and rw (a
//    read missing the next append) edges; with opts.realtime, rt edges too
//    (T1 completed before T2 was invoked; that includes each process's own
//    order, since a process's next op starts after its previous one ends).
// 5. Tarjan's SCCs, then in each a shortest cycle by the weakest edges first:
//    ww only → G0; ww+wr → G1c; exactly one rw → G-single; more → G2; and
//    the same with rt edges allowed, named G0-realtime … G2-realtime, when no
//    cycle closes without one (a strict-serializability violation only).
import { limits } from '../../src/util';
import { pairOps, type HistoryOp } from '../history';
import { EdgeGraph, EdgeType, edgeTypeName, stronglyConnected } from './graph';
import type { Anomaly, CheckResult } from './result';

export interface ListAppendOptions {
  realtime: boolean;
  timeLimitMs?: number;
}

interface Txn {
  id: number;
  process: number;
  invokeIndex: number;
  completeIndex: number | undefined;
  status: 'ok' | 'fail' | 'info';
  appends: Array<{ key: string; element: string }>;
  /** ok transactions only: the lists read, in order. */
  reads: Array<{ key: string; list: string[] }>;
  /** The micro-ops as recorded, for explanations. */
  mops: unknown[];
}

interface Append {
  txn: Txn;
  /** Is this the transaction's last append to the key? */
  final: boolean;
}

class Malformed extends Error {}

export function checkListAppend(history: readonly HistoryOp[], opts: ListAppendOptions): CheckResult {
  const started = Date.now();
  let txns: Txn[];
  try {
    txns = parseTxns(history);
  } catch (e) {
    if (!(e instanceof Malformed) && !(e instanceof Error && /invoked op|has no invocation/.test(e.message))) throw e;
    return { checker: 'list-append', valid: 'unknown', anomalies: [], unknownReason: `malformed history: ${e.message}`, stats: { ms: Date.now() - started } };
  }
  const run = new ListAppendRun(txns, opts, started + (opts.timeLimitMs ?? limits.jepsenCheckTimeLimitMsDefault));
  return run.check(started);
}

function parseTxns(history: readonly HistoryOp[]): Txn[] {
  if (history.length > limits.jepsenHistoryOpsMax) throw new Malformed(`${history.length} records, more than jepsenHistoryOpsMax (${limits.jepsenHistoryOpsMax})`);
  const txns: Txn[] = [];
  for (const { invoke, complete } of pairOps(history)) {
    if (invoke.f !== 'txn') continue;
    const status = complete === undefined ? 'info' : complete.type === 'ok' ? 'ok' : complete.type === 'fail' ? 'fail' : 'info';
    const mops = status === 'ok' ? complete!.value : invoke.value;
    if (!Array.isArray(mops)) throw new Malformed(`txn at history index ${invoke.index} has no list of micro-ops`);
    const txn: Txn = { id: txns.length, process: invoke.process, invokeIndex: invoke.index, completeIndex: complete?.index, status, appends: [], reads: [], mops };
    for (const mop of mops) addMop(txn, mop, status === 'ok');
    txns.push(txn);
  }
  return txns;
}

function addMop(txn: Txn, mop: unknown, readsKnown: boolean): void {
  if (!Array.isArray(mop) || mop.length !== 3 || typeof mop[1] !== 'string') throw new Malformed(`txn at history index ${txn.invokeIndex} has micro-op ${JSON.stringify(mop)}`);
  const [f, key, v] = mop as [unknown, string, unknown];
  if (f === 'append') {
    txn.appends.push({ key, element: JSON.stringify(v) });
    return;
  }
  if (f !== 'r') throw new Malformed(`txn at history index ${txn.invokeIndex} has micro-op ${JSON.stringify(mop)}`);
  if (!readsKnown) return;
  if (v !== null && !Array.isArray(v)) throw new Malformed(`read of ${key} in txn at history index ${txn.invokeIndex} is not a list`);
  // Reads are kept in micro-op order alongside appends for the internal check.
  txn.reads.push({ key, list: (v ?? []).map((e: unknown) => JSON.stringify(e)) });
}

class ListAppendRun {
  private readonly anomalies: Anomaly[] = [];
  private anomaliesTotal = 0;
  private readonly appends = new Map<string, Map<string, Append>>();
  private readonly order = new Map<string, string[]>();
  private readonly incompatible = new Set<string>();
  private readonly inGraph: Uint8Array;
  private readonly graph: EdgeGraph;
  private readonly stats = { txns: 0, ok: 0, info: 0, fail: 0, keys: 0, nodes: 0, edges: 0, sccs: 0, anomalies: 0, ms: 0 };
  private outOfTime = false;

  constructor(
    private readonly txns: readonly Txn[],
    private readonly opts: ListAppendOptions,
    private readonly deadlineMs: number,
  ) {
    this.inGraph = new Uint8Array(txns.length);
    this.graph = new EdgeGraph(txns.length);
  }

  check(started: number): CheckResult {
    this.indexAppends();
    for (const t of this.txns) this.checkInternal(t);
    this.inferOrders();
    this.checkReadsOfAppends();
    this.chooseNodes();
    this.addWwRwWr();
    if (this.opts.realtime) this.addRealtime();
    this.findCycles();
    this.stats.ms = Date.now() - started;
    this.stats.anomalies = this.anomaliesTotal;
    this.stats.edges = this.graph.edgeCount;
    const base = { checker: 'list-append', anomalies: this.anomalies, stats: { ...this.stats } };
    if (this.anomaliesTotal > 0) return { ...base, valid: false };
    if (this.outOfTime) return { ...base, valid: 'unknown', unknownReason: 'time limit reached during the cycle search (no anomaly found before it)' };
    return { ...base, valid: true };
  }

  private indexAppends(): void {
    for (const t of this.txns) {
      this.stats.txns++;
      this.stats[t.status]++;
      const lastByKey = new Map<string, string>();
      for (const a of t.appends) lastByKey.set(a.key, a.element);
      for (const a of t.appends) {
        let byElement = this.appends.get(a.key);
        if (byElement === undefined) this.appends.set(a.key, (byElement = new Map()));
        if (byElement.has(a.element)) {
          this.report('duplicate-append', [byElement.get(a.element)!.txn, t], `${a.element} was appended to ${JSON.stringify(a.key)} twice; elements must be unique per key for the version order to be inferred`);
          continue;
        }
        byElement.set(a.element, { txn: t, final: lastByKey.get(a.key) === a.element });
      }
    }
  }

  /** A read must show the transaction's own earlier appends, after whatever it read before. */
  private checkInternal(t: Txn): void {
    if (t.status !== 'ok') return;
    const known = new Map<string, string[]>();
    const pending = new Map<string, string[]>();
    for (const mop of t.mops as Array<[string, string, unknown]>) {
      const [f, key, v] = mop;
      if (f === 'append') {
        const list = known.get(key) ?? pending.get(key) ?? [];
        list.push(JSON.stringify(v));
        if (known.has(key)) known.set(key, list);
        else pending.set(key, list);
        continue;
      }
      const read = ((v ?? []) as unknown[]).map((e) => JSON.stringify(e));
      const dup = read.find((e, i) => read.indexOf(e) !== i);
      if (dup !== undefined) this.report('duplicate-elements', [t], `${txnName(t)} read ${JSON.stringify(key)} = ${listText(read)}, which holds ${dup} twice`);
      const expected = known.get(key);
      const suffix = pending.get(key) ?? [];
      const consistent = expected !== undefined ? sameList(expected, read) : endsWith(read, suffix);
      if (!consistent) {
        const want = expected !== undefined ? `${listText(expected)} (its earlier read plus its own appends)` : `a list ending in its own appends ${listText(suffix)}`;
        this.report('internal', [t], `${txnName(t)} read ${JSON.stringify(key)} = ${listText(read)}, but it should have seen ${want}`);
      }
      known.set(key, read.slice());
      pending.delete(key);
    }
  }

  private inferOrders(): void {
    const readsByKey = new Map<string, Array<{ txn: Txn; list: string[] }>>();
    for (const t of this.txns) {
      for (const r of t.reads) {
        const list = readsByKey.get(r.key);
        if (list === undefined) readsByKey.set(r.key, [{ txn: t, list: r.list }]);
        else list.push({ txn: t, list: r.list });
      }
    }
    this.stats.keys = new Set([...readsByKey.keys(), ...this.appends.keys()]).size;
    for (const [key, reads] of readsByKey) {
      let longest = reads[0]!;
      for (const r of reads) if (r.list.length > longest.list.length) longest = r;
      const bad = reads.find((r) => !isPrefix(r.list, longest.list));
      if (new Set(longest.list).size !== longest.list.length) this.incompatible.add(key);
      if (bad !== undefined) {
        this.incompatible.add(key);
        this.report(
          'incompatible-order',
          [longest.txn, bad.txn],
          `reads of ${JSON.stringify(key)} disagree on its order: ${txnName(longest.txn)} read ${listText(longest.list)} and ${txnName(bad.txn)} read ${listText(bad.list)}, which is not a prefix of it; appends to one list cannot produce both`,
        );
      }
      this.order.set(key, longest.list);
    }
  }

  private checkReadsOfAppends(): void {
    for (const t of this.txns) {
      for (const r of t.reads) {
        const byElement = this.appends.get(r.key);
        for (const e of r.list) {
          const a = byElement?.get(e);
          if (a === undefined) this.report('unknown-element', [t], `${txnName(t)} read ${JSON.stringify(r.key)} = ${listText(r.list)}, but no transaction appended ${e}`);
          else if (a.txn.status === 'fail') this.report('G1a', [t, a.txn], `aborted read: ${txnName(t)} read ${JSON.stringify(r.key)} = ${listText(r.list)}, which holds ${e}, appended by ${txnName(a.txn)}, which failed`);
        }
        const last = r.list[r.list.length - 1];
        const a = last === undefined ? undefined : byElement?.get(last);
        if (a !== undefined && a.txn !== t && !a.final && a.txn.status !== 'fail') {
          this.report('G1b', [t, a.txn], `intermediate read: ${txnName(t)} read ${JSON.stringify(r.key)} = ${listText(r.list)}, ending in ${last}, which ${txnName(a.txn)} appended but then followed with another append to the same key`);
        }
      }
    }
  }

  private chooseNodes(): void {
    const observed = new Set<Txn>();
    for (const [key, list] of this.order) for (const e of list) {
      const a = this.appends.get(key)?.get(e);
      if (a !== undefined) observed.add(a.txn);
    }
    for (const t of this.txns) {
      if (t.status === 'ok' || (t.status === 'info' && observed.has(t))) {
        this.inGraph[t.id] = 1;
        this.stats.nodes++;
      }
    }
  }

  private writerOf(key: string, element: string | undefined): Txn | undefined {
    if (element === undefined) return undefined;
    const a = this.appends.get(key)?.get(element);
    if (a === undefined || this.inGraph[a.txn.id] !== 1) return undefined;
    return a.txn;
  }

  private addWwRwWr(): void {
    for (const [key, list] of this.order) {
      if (this.incompatible.has(key)) continue;
      for (let i = 0; i + 1 < list.length; i++) {
        const from = this.writerOf(key, list[i]);
        const to = this.writerOf(key, list[i + 1]);
        if (from !== undefined && to !== undefined) this.edge(from, to, EdgeType.ww, `on ${JSON.stringify(key)}, ${list[i + 1]} was appended right after ${list[i]}`);
      }
    }
    for (const t of this.txns) {
      if (this.inGraph[t.id] !== 1) continue;
      for (const r of t.reads) {
        const last = r.list[r.list.length - 1];
        const w = this.writerOf(r.key, last);
        if (w !== undefined) this.edge(w, t, EdgeType.wr, `${txnName(t)} read ${JSON.stringify(r.key)} = ${listText(r.list)}, ending in ${last}`);
        if (this.incompatible.has(r.key)) continue;
        const next = this.order.get(r.key)![r.list.length];
        const n = this.writerOf(r.key, next);
        if (n !== undefined) this.edge(t, n, EdgeType.rw, `${txnName(t)} read ${JSON.stringify(r.key)} = ${listText(r.list)}, without ${next}, appended next`);
      }
    }
  }

  /** rt edges, transitively reduced: an op's predecessors are the completed ops no later completion has superseded. */
  private addRealtime(): void {
    const events: Array<{ index: number; txn: Txn; invoke: boolean }> = [];
    for (const t of this.txns) {
      if (this.inGraph[t.id] !== 1) continue;
      events.push({ index: t.invokeIndex, txn: t, invoke: true });
      if (t.status === 'ok') events.push({ index: t.completeIndex!, txn: t, invoke: false });
    }
    events.sort((a, b) => a.index - b.index);
    const frontier = new Set<Txn>();
    const preds = new Map<Txn, Txn[]>();
    for (const ev of events) {
      if (ev.invoke) {
        const before = [...frontier];
        for (const p of before) this.edge(p, ev.txn, EdgeType.rt, `${txnName(p)} completed (history index ${p.completeIndex}) before ${txnName(ev.txn)} was invoked (${ev.txn.invokeIndex})`);
        preds.set(ev.txn, before);
        continue;
      }
      for (const p of preds.get(ev.txn) ?? []) frontier.delete(p);
      preds.delete(ev.txn);
      frontier.add(ev.txn);
    }
  }

  private edge(from: Txn, to: Txn, type: EdgeType, why: string): void {
    if (from === to) return;
    this.graph.add(from.id, to.id, type, why);
  }

  private findCycles(): void {
    const nodes: number[] = [];
    for (let i = 0; i < this.txns.length; i++) if (this.inGraph[i] === 1) nodes.push(i);
    const all = EdgeType.ww | EdgeType.wr | EdgeType.rw | EdgeType.rt;
    for (const scc of stronglyConnected(this.txns.length, nodes, (v) => this.graph.successors(v, all))) {
      if (scc.length < 2) continue;
      this.stats.sccs++;
      if (Date.now() >= this.deadlineMs) {
        this.outOfTime = true;
        return;
      }
      const cycle = this.graph.weakestCycle(scc, this.deadlineMs, limits.jepsenCycleRwEdgesMax);
      if (cycle === undefined) {
        this.outOfTime = true;
        continue;
      }
      this.reportCycle(cycle);
    }
  }

  private reportCycle(cycle: Array<{ from: number; to: number; type: EdgeType; why: string }>): void {
    const rw = cycle.filter((e) => e.type === EdgeType.rw).length;
    const wr = cycle.some((e) => e.type === EdgeType.wr);
    const rt = cycle.some((e) => e.type === EdgeType.rt);
    const base = rw === 0 ? (wr ? 'G1c' : 'G0') : rw === 1 ? 'G-single' : 'G2';
    const kind = rt ? `${base}-realtime` : base;
    const txns = cycle.map((e) => this.txns[e.from]!);
    const steps = cycle.map((e) => `${txnName(this.txns[e.from]!)} → ${txnName(this.txns[e.to]!)} (${edgeTypeName(e.type)}: ${e.why})`);
    const what = rt ? 'cannot be ordered consistently with real time' : 'cannot be serialized in any order';
    const explanation = `${kind}: a cycle of ${cycle.length} transactions that ${what}: ${steps.join('; ')}.`;
    const details = { cycle: cycle.map((e) => ({ from: this.txns[e.from]!.invokeIndex, to: this.txns[e.to]!.invokeIndex, type: edgeTypeName(e.type), why: e.why })) };
    this.report(kind, txns, explanation, details);
  }

  private report(kind: string, txns: readonly Txn[], explanation: string, extra: Record<string, unknown> = {}): void {
    this.anomaliesTotal++;
    if (this.anomalies.length >= limits.jepsenAnomaliesMax) return;
    const ops = new Set<number>();
    for (const t of txns) {
      ops.add(t.invokeIndex);
      if (t.completeIndex !== undefined) ops.add(t.completeIndex);
    }
    // Every transaction of a cycle is named (a cycle is only as long as its component); other anomalies name a few.
    const sorted = [...ops].sort((a, b) => a - b).slice(0, 'cycle' in extra ? undefined : limits.jepsenAnomalyOpsMax);
    this.anomalies.push({ kind, ops: sorted, explanation, details: { offending: sorted, ...extra } });
  }
}

function txnName(t: Txn): string {
  const span = t.completeIndex === undefined ? `${t.invokeIndex}→?` : `${t.invokeIndex}→${t.completeIndex}`;
  return `txn ${t.invokeIndex} (process ${t.process}, ${t.status}, ${span})`;
}

function listText(list: readonly string[]): string {
  return `[${list.join(', ')}]`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((e, i) => e === b[i]);
}

function endsWith(list: readonly string[], suffix: readonly string[]): boolean {
  if (suffix.length > list.length) return false;
  const offset = list.length - suffix.length;
  return suffix.every((e, i) => list[offset + i] === e);
}

function isPrefix(prefix: readonly string[], list: readonly string[]): boolean {
  return prefix.length <= list.length && prefix.every((e, i) => list[i] === e);
}
