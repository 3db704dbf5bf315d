// The persisted log as raft reads it. Raft never writes storage: the
// application persists what each Ready hands it (entries, hard state,
// snapshot) and compacts the log when it has taken a snapshot. MemoryStorage
// is the reference implementation; a durable store keeps a MemoryStorage (or an
// equivalent cache) in front of its disk writes, since raft reads synchronously.
import { assert, limits } from '../util';
import { makeConfState } from './conf-change';
import { StorageError } from './errors';
import {
  emptyBytes, emptyHardState, entryBytes,
  type ConfState, type Entry, type HardState, type Snapshot,
} from './types';

export interface InitialState {
  readonly hardState: HardState;
  /** The configuration as of the last snapshot (entries after it may change it). */
  readonly confState: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /**
   * Entries [lo, hi), as many as fit in maxBytes but at least one when lo < hi.
   * Throws StorageError 'Compacted' if lo ≤ the snapshot index and
   * 'Unavailable' if hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): readonly Entry[];
  /**
   * The term of entry i; term(firstIndex() - 1) is the snapshot's term.
   * Throws 'Compacted' below that and 'Unavailable' above lastIndex().
   */
  term(i: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot; may throw 'SnapshotTemporarilyUnavailable'. */
  snapshot(): Snapshot;
}

const emptyConfState: ConfState = Object.freeze({ voters: [], learners: [] });

export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot;
  /** ents[0] is a dummy entry holding the snapshot's index and term. */
  private ents: Entry[];

  /** Pass the bootstrap configuration for a new cluster; omit it for a member that joins one. */
  constructor(confState: ConfState = emptyConfState) {
    this.snap = { metadata: { index: 0, term: 0, confState: makeConfState(confState.voters, confState.learners) }, data: emptyBytes };
    this.ents = [{ term: 0, index: 0, type: 'normal', data: emptyBytes }];
  }

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    const offset = this.dummy().index;
    if (lo <= offset) throw new StorageError('Compacted', `entries from ${lo}, snapshot at ${offset}`);
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
    const offset = this.dummy().index;
    if (i < offset) throw new StorageError('Compacted', `term of ${i}, snapshot at ${offset}`);
    if (i > this.lastIndex()) throw new StorageError('Unavailable', `term of ${i}, last index ${this.lastIndex()}`);
    return (this.ents[i - offset] as Entry).term;
  }

  firstIndex(): number {
    return this.dummy().index + 1;
  }

  lastIndex(): number {
    return this.dummy().index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    const have = this.snap.metadata.index;
    if (snap.metadata.index <= have && have > 0) throw new StorageError('SnapshotOutOfDate', `have ${have}, got ${snap.metadata.index}`);
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 'normal', data: emptyBytes }];
  }

  /**
   * Records a snapshot of the application state at index i (≤ applied) with
   * the configuration in effect there. Compact separately.
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    const have = this.snap.metadata.index;
    if (i <= have) throw new StorageError('SnapshotOutOfDate', `have ${have}, asked ${i}`);
    assert(i <= this.lastIndex(), 'snapshot index beyond the last entry');
    const term = this.term(i);
    this.snap = { metadata: { index: i, term, confState: makeConfState(confState.voters, confState.learners) }, data };
    return this.snap;
  }

  /** Discards entries up to and including i (the application must have a snapshot at or after i). */
  compact(i: number): void {
    const offset = this.dummy().index;
    if (i <= offset) throw new StorageError('Compacted', `compact to ${i}, already at ${offset}`);
    assert(i <= this.lastIndex(), 'compact beyond the last entry');
    assert(i <= this.snap.metadata.index, 'compact beyond the snapshot: create a snapshot first');
    const dummy = this.ents[i - offset] as Entry;
    this.ents = [{ term: dummy.term, index: dummy.index, type: 'normal', data: emptyBytes }, ...this.ents.slice(i - offset + 1)];
  }

  /** Appends entries, replacing any conflicting suffix. Entries must be contiguous. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const offset = this.dummy().index;
    const last = first.index + entries.length - 1;
    if (last <= offset) return; // all already compacted
    const skip = Math.max(0, offset + 1 - first.index);
    const ents = skip > 0 ? entries.slice(skip) : entries;
    const from = (ents[0] as Entry).index;
    assert(from <= this.lastIndex() + 1, 'append leaves a gap in the log');
    this.ents.length = from - offset;
    for (const e of ents) this.ents.push(e);
    assert(this.ents.length <= limits.raftMemoryStorageEntriesMax, 'MemoryStorage is full: compact the log');
  }

  private dummy(): Entry {
    return this.ents[0] as Entry;
  }
}
