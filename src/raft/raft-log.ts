// The log as raft sees it: persisted entries (Storage) followed by unstable
// ones, plus the commit and applied indexes.
//   snapshot/first ... applied ≤ committed ≤ last
import { assert } from '../util';
import { StorageError } from './errors';
import type { Storage } from './storage';
import { Unstable } from './unstable';
import { entryBytes, limitSize, type Entry, type Snapshot } from './types';

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  /** Called after entries were appended (a conflicting suffix may have been replaced). */
  onAppend: (ents: readonly Entry[]) => void = () => {};

  constructor(readonly storage: Storage, private readonly maxCommittedBytesPerReady: number) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry i, or null outside [first index - 1, last index]. Never throws (hot path). */
  termOrNull(i: number): number | null {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return null;
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }

  /** Term of entry i; throws StorageError 'Compacted' or 'Unavailable' outside [first-1, last]. */
  term(i: number): number {
    const t = this.termOrNull(i);
    if (t !== null) return t;
    if (i < this.firstIndex() - 1) throw new StorageError('Compacted', `term of ${i}, first index ${this.firstIndex()}`);
    throw new StorageError('Unavailable', `term of ${i}, last index ${this.lastIndex()}`);
  }

  /** Term of entry i, or 0 if it is compacted or beyond the log. */
  termOrZero(i: number): number {
    return this.termOrNull(i) ?? 0;
  }

  matchTerm(i: number, term: number): boolean {
    return this.termOrNull(i) === term;
  }

  /** §5.4.1: a candidate's log (lastTerm, lastIndex) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends entries from the leader if our log matches (index, logTerm);
   * returns the index of the last new entry, or null on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, 'entry conflicts with a committed entry');
      this.append(ents.slice(ci - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    assert(first.index - 1 >= this.committed, 'append would overwrite committed entries');
    assert(Number.isSafeInteger(first.index + ents.length), 'log index must stay a safe integer');
    assert(first.index <= this.lastIndex() + 1, 'append leaves a gap in the log');
    this.unstable.truncateAndAppend(ents);
    this.onAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of ents that is missing from our log or
   * differs in term; 0 if every entry is already there.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index ≤ index whose term is ≤ term, with that term (fast
   * backtracking: entries above it cannot match a log whose entry at `index`
   * has `term`). Returns the first index - 1 if everything above is larger.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    const floor = this.firstIndex() - 1;
    for (; i >= floor; i--) {
      const t = this.termOrZero(i);
      if (t <= term) return { index: i, term: t };
    }
    return { index: floor, term: 0 };
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== null;
  }

  /** Committed entries not yet handed out, within the per-Ready byte budget. */
  nextCommittedEnts(): readonly Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.maxCommittedBytesPerReady);
  }

  hasNextCommittedEnts(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(to: number): void {
    if (to <= this.committed) return;
    assert(to <= this.lastIndex(), 'commit index beyond the last entry');
    this.committed = to;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed, 'applied beyond committed');
    assert(i >= this.applied, 'applied index went backwards');
    this.applied = i;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Entries from i to the end, at most maxBytes (at least one). */
  entries(i: number, maxBytes: number): readonly Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** Entries [lo, hi); throws StorageError 'Compacted' if lo is below the first index. */
  slice(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    assert(lo <= hi, 'slice needs lo ≤ hi');
    if (lo < this.firstIndex()) throw new StorageError('Compacted', `slice from ${lo}, first index ${this.firstIndex()}`);
    assert(hi <= this.lastIndex() + 1, 'slice beyond the last entry');
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let out: readonly Entry[] = [];
    if (lo < offset) {
      const stored = this.storage.entries(lo, Math.min(hi, offset), maxBytes);
      // Storage stopped early on the byte budget: the unstable part cannot follow.
      if (stored.length < Math.min(hi, offset) - lo) return stored;
      out = stored;
    }
    if (hi > offset) {
      const fresh = this.unstable.slice(Math.max(lo, offset), hi);
      out = out.length > 0 ? [...out, ...fresh] : fresh;
    }
    return limitSize(out, maxBytes);
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Bytes of the entries, for flow control. */
  static bytesOf(ents: readonly Entry[]): number {
    let n = 0;
    for (const e of ents) n += entryBytes(e);
    return n;
  }
}
