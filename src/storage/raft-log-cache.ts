// The in-memory copy of the durable raft log that raft reads synchronously.
// Same semantics as raft's MemoryStorage, plus one thing MemoryStorage cannot
// be loaded with: a log that starts (after compaction) before the snapshot.
// Bounded by compaction: it holds the entries after the log start only.
import { assert, limits } from '../util';
import {
  StorageError, emptyHardState, entryBytes,
  type ConfState, type Entry, type HardState, type InitialState, type Snapshot, type Storage,
} from '../raft';

const emptyBytes = new Uint8Array(0);

export class RaftLogCache implements Storage {
  /** ents[0] is a dummy entry holding the log start: the index and term of the last compacted entry. */
  private ents: Entry[];

  constructor(
    private hardState: HardState,
    private snap: Snapshot,
    start: { index: number; term: number },
    entries: Entry[],
  ) {
    this.ents = [{ term: start.term, index: start.index, type: 'normal', data: emptyBytes }];
    for (const e of entries) this.ents.push(e);
  }

  static empty(confState: ConfState): RaftLogCache {
    const snap: Snapshot = { metadata: { index: 0, term: 0, confState }, data: emptyBytes };
    return new RaftLogCache(emptyHardState, snap, { index: 0, term: 0 }, []);
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  hardStateNow(): HardState {
    return this.hardState;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new StorageError('Compacted', `entries from ${lo}, log starts after ${offset}`);
    if (hi > this.lastIndex() + 1) throw new StorageError('Unavailable', `entries to ${hi}, last index ${this.lastIndex()}`);
    assert(lo <= hi, 'entries needs lo ≤ hi');
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset] as Entry;
      size += entryBytes(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(i: number): number {
    const offset = this.offset();
    if (i < offset) throw new StorageError('Compacted', `term of ${i}, log starts after ${offset}`);
    if (i > this.lastIndex()) throw new StorageError('Unavailable', `term of ${i}, last index ${this.lastIndex()}`);
    return (this.ents[i - offset] as Entry).term;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Index of the last compacted entry (firstIndex() - 1). */
  offset(): number {
    return (this.ents[0] as Entry).index;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** Replaces the whole log with the snapshot. */
  applySnapshot(snap: Snapshot): void {
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: emptyBytes }];
  }

  /** Records a snapshot without touching the log. */
  setSnapshot(snap: Snapshot): void {
    this.snap = snap;
  }

  /** Drops entries up to and including i; i becomes the log start. */
  compact(i: number): void {
    const offset = this.offset();
    assert(i > offset, 'compact moves the log start forward');
    assert(i <= this.lastIndex(), 'compact within the log');
    const start = this.ents[i - offset] as Entry;
    const kept = this.ents.slice(i - offset + 1);
    kept.unshift({ term: start.term, index: start.index, type: 'normal', data: emptyBytes });
    this.ents = kept;
  }

  /** Appends contiguous entries whose first index is ≤ lastIndex() + 1 and above offset(), dropping the suffix they replace. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const offset = this.offset();
    assert(first.index > offset, 'append above the log start');
    assert(first.index <= this.lastIndex() + 1, 'append leaves no gap');
    this.ents.length = first.index - offset;
    for (const e of entries) this.ents.push(e);
    assert(this.ents.length <= limits.raftMemoryStorageEntriesMax, 'raft log cache is full: compact the log');
  }
}
