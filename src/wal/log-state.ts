// The log as raft sees it, rebuilt from records: the same apply() runs when a
// WAL is read at open and after each write, so what is on disk and what is in
// memory cannot drift apart. Entry data is not kept here (see EntryCache):
// only each entry's term and where its record is.
import { assert } from '../util';
import { emptyHardState, makeConfState, type ConfState, type HardState, type Snapshot } from '../raft';
import { CorruptRecord, type Checkpoint, type LogStart, type WalRecord } from './codec';
import { LogIndex, holeSegment } from './log-index';

export interface RecordPlace {
  readonly seg: number;
  readonly offset: number;
  readonly length: number;
}

const emptyBytes = new Uint8Array(0);

export class LogState {
  hardState: HardState = emptyHardState;
  snapshot: Snapshot;
  logStart: LogStart = { index: 0, term: 0 };
  readonly index = new LogIndex(0);
  /**
   * Entries (logStart, holeEnd] were written before the first segment read;
   * they must all be compacted by the end of the read (the segments holding
   * them were released only because they were).
   */
  holeEnd = 0;

  constructor(confState: ConfState) {
    this.snapshot = { metadata: { index: 0, term: 0, confState: makeConfState(confState.voters, confState.learners) }, data: emptyBytes };
  }

  lastIndex(): number {
    return this.index.last;
  }

  term(i: number): number {
    return i === this.logStart.index ? this.logStart.term : this.index.term(i);
  }

  checkpoint(): Checkpoint {
    return { hardState: this.hardState, snapshot: this.snapshot, logStart: this.logStart, lastIndex: this.lastIndex() };
  }

  /** Starts from the checkpoint of the first segment read. */
  startFrom(cp: Checkpoint): void {
    if (cp.logStart.index > cp.lastIndex) throw new CorruptRecord(`checkpoint log start ${cp.logStart.index} is beyond its last index ${cp.lastIndex}`);
    this.hardState = cp.hardState;
    this.snapshot = cp.snapshot;
    this.logStart = cp.logStart;
    this.index.reset(cp.logStart.index);
    for (let i = cp.logStart.index + 1; i <= cp.lastIndex; i++) this.index.push(Number.NaN, holeSegment, 0, 0);
    this.holeEnd = cp.lastIndex;
  }

  /** A later segment's checkpoint must describe the log as the records before it left it. */
  checkAgainst(cp: Checkpoint): void {
    const { logStart, lastIndex, snapshot } = cp;
    if (logStart.index !== this.logStart.index || logStart.term !== this.logStart.term) throw new CorruptRecord(`checkpoint log start ${logStart.index}/${logStart.term} differs from ${this.logStart.index}/${this.logStart.term}`);
    if (lastIndex !== this.lastIndex()) throw new CorruptRecord(`checkpoint last index ${lastIndex} differs from ${this.lastIndex()}`);
    if (snapshot.metadata.index !== this.snapshot.metadata.index) throw new CorruptRecord(`checkpoint snapshot ${snapshot.metadata.index} differs from ${this.snapshot.metadata.index}`);
    this.hardState = cp.hardState;
  }

  /** Applies one record written at place. Throws CorruptRecord for a record that cannot follow the log (read path). */
  apply(r: WalRecord, place: RecordPlace): void {
    switch (r.kind) {
      case 'entry': {
        const e = r.entry;
        if (e.index <= this.logStart.index) return;
        if (e.index > this.lastIndex() + 1) throw new CorruptRecord(`entry ${e.index} leaves a gap after ${this.lastIndex()}`);
        assert(place.offset + place.length <= 2 ** 32, 'WAL record offsets fit in 32 bits');
        this.index.truncateFrom(e.index);
        this.index.push(e.term, place.seg, place.offset, place.length);
        this.holeEnd = Math.min(this.holeEnd, e.index - 1);
        return;
      }
      case 'hardState':
        this.hardState = r.hardState;
        return;
      case 'snapshot':
        this.snapshot = r.snapshot;
        this.logStart = { index: r.snapshot.metadata.index, term: r.snapshot.metadata.term };
        this.index.reset(this.logStart.index);
        this.holeEnd = 0;
        return;
      case 'snapshotMark':
        this.snapshot = r.snapshot;
        return;
      case 'compact':
        if (r.logStart.index > this.lastIndex()) throw new CorruptRecord(`compaction to ${r.logStart.index} is beyond the last entry ${this.lastIndex()}`);
        if (r.logStart.index <= this.logStart.index) throw new CorruptRecord(`compaction to ${r.logStart.index} does not move the log start ${this.logStart.index}`);
        this.index.compactTo(r.logStart.index);
        this.logStart = r.logStart;
        return;
      case 'checkpoint':
        throw new CorruptRecord('a checkpoint record after the start of a segment');
    }
  }

  /** Invariants a log read from disk must meet (raft would misbehave on any of them). */
  checkLoaded(): void {
    if (this.holeEnd > this.logStart.index) throw new CorruptRecord(`entries ${this.logStart.index + 1}..${this.holeEnd} are missing (their segment was removed)`);
    const last = this.lastIndex();
    if (this.hardState.commit > last) throw new CorruptRecord(`hard state commit ${this.hardState.commit} is beyond the last entry ${last}`);
    const snap = this.snapshot.metadata;
    if (snap.index < this.logStart.index || snap.index > last) throw new CorruptRecord(`snapshot at ${snap.index} lies outside the log (${this.logStart.index}..${last})`);
    if (this.term(snap.index) !== snap.term) throw new CorruptRecord(`snapshot term ${snap.term} differs from the term ${this.term(snap.index)} of entry ${snap.index}`);
    let prev = this.logStart.term;
    for (let i = this.logStart.index + 1; i <= last; i++) {
      const t = this.index.term(i);
      if (t < prev) throw new CorruptRecord(`entry ${i} has term ${t}, below the term ${prev} before it`);
      prev = t;
    }
  }
}
