// Entries and a snapshot that raft has accepted but the application has not
// yet persisted. They reach storage through Ready.entries / Ready.snapshot and
// leave this buffer on advance().
import { assert, limits } from '../util';
import type { Entry, Snapshot } from './types';

export class Unstable {
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  /** The index of entries[0] (or of the next entry if there are none). */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | null {
    return this.snapshot === null ? null : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === null ? null : this.snapshot.metadata.index;
  }

  maybeTerm(i: number): number | null {
    if (i < this.offset) {
      const s = this.snapshot;
      return s !== null && s.metadata.index === i ? s.metadata.term : null;
    }
    const e = this.entries[i - this.offset];
    return e === undefined ? null : e.term;
  }

  /** Entries up to (index, term) are durable; a mismatching term means they were replaced meanwhile. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === null || t !== term || index < this.offset) return;
    const n = index + 1 - this.offset;
    this.entries = this.entries.slice(n);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) this.snapshot = null;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    const from = first.index;
    if (from === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (from <= this.offset) {
      // Replaces everything unstable; stable entries from `from` on are overwritten when persisted.
      this.offset = from;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, from - this.offset);
      for (const e of ents) this.entries.push(e);
    }
    assert(this.entries.length <= limits.raftUnstableEntriesMax, 'too many unpersisted entries: is the application taking Readies?');
  }

  /** Entries [lo, hi), which must lie within the unstable range. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset, 'unstable slice starts before the unstable entries');
    assert(hi <= this.offset + this.entries.length, 'unstable slice ends after the unstable entries');
    assert(lo <= hi, 'unstable slice needs lo ≤ hi');
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
