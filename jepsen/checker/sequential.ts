// Sequential consistency of serializable reads (ops with extra.serializable
// === true), per key and per process. A serializable read may be stale — it is
// served from one member's applied state without a quorum round — but a
// process must never see the register go backwards.
//
// Exactly what is checked (a documented approximation of "some single total
// order consistent with every process's program order explains all reads"):
//
// 1. Each value identifies the write that produced it; values written more
//    than once on a key are ambiguous and reads of them are skipped (counted
//    in stats.readsSkipped). null is the initial state, before every write.
// 2. The write order: a before b when both carry a response revision and
//    a's is lower (etcd orders writes by revision); otherwise when a
//    completed (ok) before b was invoked (writes are linearizable, so real
//    time orders them). Unordered writes are never held against a read.
// 3. Each process keeps a floor: the latest writes (an antichain) it has
//    observed — by any ok read (serializable or not), its own ok writes, and
//    both sides of its ok cas. A serializable read of a write ordered before
//    a floor write is a violation: 'nonmonotonic-read' when that floor write
//    came from an earlier read, 'not-read-your-writes' when it was the
//    process's own write. A serializable read of a value no write wrote is
//    'unwritten-value'.
//
// With a total write order (revisions) this is exact for unique values: a
// process's observations, each placed right after the write it saw, form a
// non-decreasing sequence, and such sequences interleave into one total
// order. With only real time it is sound but may miss reorderings of
// concurrent writes.
import { limits } from '../../src/util';
import { pairOps, type HistoryOp } from '../history';
import type { Anomaly, CheckResult } from './result';
import { checkHistoryLength, isSerializable } from './register-ops';

type Pair = { invoke: HistoryOp; complete: HistoryOp | undefined };

interface Write {
  pair: Pair;
  revision: number | undefined;
}

interface FloorEntry {
  write: Write | 'initial';
  /** History index of the op that put it there. */
  by: number;
  own: boolean;
}

const registerFs: ReadonlySet<string> = new Set(['read', 'write', 'cas']);

export function checkSequential(history: readonly HistoryOp[]): CheckResult {
  const started = Date.now();
  let pairs: Pair[];
  try {
    checkHistoryLength(history);
    pairs = pairOps(history).filter((p) => registerFs.has(p.invoke.f));
  } catch (e) {
    return { checker: 'sequential', valid: 'unknown', anomalies: [], unknownReason: `malformed history: ${(e as Error).message}`, stats: { ms: Date.now() - started } };
  }
  const byKey = new Map<string, Pair[]>();
  for (const p of pairs) {
    const k = p.invoke.key ?? '';
    const list = byKey.get(k);
    if (list === undefined) byKey.set(k, [p]);
    else list.push(p);
  }
  const stats = { keys: 0, reads: 0, readsSkipped: 0, keysOrderedByRevision: 0, anomalies: 0, ms: 0 };
  const anomalies: Anomaly[] = [];
  for (const [k, keyPairs] of byKey) {
    if (!keyPairs.some(isSerializable)) continue;
    stats.keys++;
    new KeyCheck(k, keyPairs, stats, anomalies).run();
  }
  stats.ms = Date.now() - started;
  const listed = anomalies.slice(0, limits.jepsenAnomaliesMax);
  stats.anomalies = anomalies.length;
  return { checker: 'sequential', valid: anomalies.length === 0, anomalies: listed, stats };
}

class KeyCheck {
  private readonly writers = new Map<string, Write | 'ambiguous'>();
  private readonly useRevisions: boolean;

  constructor(
    private readonly key: string,
    private readonly pairs: readonly Pair[],
    private readonly stats: { reads: number; readsSkipped: number; keysOrderedByRevision: number },
    private readonly anomalies: Anomaly[],
  ) {
    for (const p of pairs) {
      if (p.complete?.type === 'fail' || p.invoke.f === 'read') continue;
      const text = JSON.stringify(writtenBy(p));
      const write: Write = { pair: p, revision: p.complete?.type === 'ok' ? p.complete.revision : undefined };
      this.writers.set(text, this.writers.has(text) ? 'ambiguous' : write);
    }
    const okWrites = pairs.filter((p) => p.invoke.f !== 'read' && p.complete?.type === 'ok');
    this.useRevisions = okWrites.length > 0 && okWrites.every((p) => typeof p.complete?.revision === 'number');
    if (this.useRevisions) stats.keysOrderedByRevision++;
  }

  run(): void {
    const byProcess = new Map<number, Pair[]>();
    for (const p of this.pairs) {
      if (p.complete?.type !== 'ok') continue;
      const list = byProcess.get(p.invoke.process);
      if (list === undefined) byProcess.set(p.invoke.process, [p]);
      else list.push(p);
    }
    for (const ops of byProcess.values()) this.runProcess(ops);
  }

  private runProcess(ops: readonly Pair[]): void {
    let floor: FloorEntry[] = [];
    for (const p of ops) {
      const complete = p.complete!;
      if (p.invoke.f === 'read') {
        const seen = this.writerOf(complete.value);
        if (isSerializable(p)) this.checkRead(p, seen, floor);
        if (seen !== undefined && seen !== 'unwritten') floor = raise(floor, { write: seen, by: complete.index, own: false }, this.before);
        continue;
      }
      if (p.invoke.f === 'cas') {
        const expected = this.writerOf((p.invoke.value as unknown[] | undefined)?.[0]);
        if (expected !== undefined && expected !== 'unwritten') floor = raise(floor, { write: expected, by: complete.index, own: false }, this.before);
      }
      const own = this.writers.get(JSON.stringify(writtenBy(p)));
      if (own !== undefined && own !== 'ambiguous') floor = raise(floor, { write: own, by: complete.index, own: true }, this.before);
    }
  }

  private checkRead(p: Pair, seen: Write | 'initial' | 'unwritten' | undefined, floor: readonly FloorEntry[]): void {
    this.stats.reads++;
    const complete = p.complete!;
    if (seen === undefined) {
      this.stats.readsSkipped++;
      return;
    }
    if (seen === 'unwritten') {
      this.report('unwritten-value', [p.invoke.index, complete.index], `serializable read by process ${p.invoke.process} (${p.invoke.index}→${complete.index}) returned ${JSON.stringify(complete.value)}, which no write of this key wrote`);
      return;
    }
    const newer = floor.find((f) => this.before(seen, f.write));
    if (newer === undefined) return;
    const kind = newer.own ? 'not-read-your-writes' : 'nonmonotonic-read';
    const earlier = newer.own ? `its own write at ${newer.by}` : `the value it had already observed at ${newer.by}`;
    const newerValue = newer.write === 'initial' ? 'null' : JSON.stringify(writtenBy(newer.write.pair));
    this.report(
      kind,
      [newer.by, p.invoke.index, complete.index],
      `serializable read by process ${p.invoke.process} (${p.invoke.index}→${complete.index}) returned ${JSON.stringify(complete.value)}, older than ${earlier} ` +
        `(${newerValue}): the register went backwards for this process (${this.useRevisions ? 'writes ordered by revision' : 'writes ordered by real time'}).`,
    );
  }

  private report(kind: string, ops: number[], explanation: string): void {
    const anomaly: Anomaly = { kind, ops: [...new Set(ops)].sort((a, b) => a - b), explanation: `key ${JSON.stringify(this.key)}: ${explanation}`, details: { offending: ops.slice(-2) } };
    if (this.key !== '') anomaly.key = this.key;
    this.anomalies.push(anomaly);
  }

  /** The write a value came from: 'initial' for null, 'unwritten' if none wrote it, undefined if ambiguous. */
  private writerOf(value: unknown): Write | 'initial' | 'unwritten' | undefined {
    if (value === null || value === undefined) return 'initial';
    const w = this.writers.get(JSON.stringify(value));
    if (w === 'ambiguous') return undefined;
    return w ?? 'unwritten';
  }

  private readonly before = (a: Write | 'initial', b: Write | 'initial'): boolean => {
    if (b === 'initial') return false;
    if (a === 'initial') return true;
    if (a === b) return false;
    if (this.useRevisions && a.revision !== undefined && b.revision !== undefined) return a.revision < b.revision;
    return a.pair.complete?.type === 'ok' && a.pair.complete.index < b.pair.invoke.index;
  };
}

function writtenBy(p: Pair): unknown {
  if (p.invoke.f === 'cas') return (p.invoke.value as unknown[] | undefined)?.[1];
  return p.invoke.value;
}

/** Adds an observation to a floor, keeping only the writes no other floor write follows. */
function raise(floor: readonly FloorEntry[], entry: FloorEntry, before: (a: Write | 'initial', b: Write | 'initial') => boolean): FloorEntry[] {
  if (floor.some((f) => f.write === entry.write || before(entry.write, f.write))) return [...floor];
  return [...floor.filter((f) => !before(f.write, entry.write)), entry];
}
