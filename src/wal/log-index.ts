// Where each live entry is: its term, segment and byte offset, in parallel
// typed arrays (20 bytes an entry, no objects), so term() and the location of
// an entry read from disk cost no allocation and the index of a 1M-entry log
// is ~20 MB rather than the entries themselves. Slot k holds entry start + 1 + k.
import { assert, limits } from '../util';

/** Segment number of an entry written before the first segment replayed (only while a WAL is being read). */
export const holeSegment = 0xffffffff;

export class LogIndex {
  private terms = new Float64Array(1024);
  private segs = new Uint32Array(1024);
  private offsets = new Uint32Array(1024);
  private lengths = new Uint32Array(1024);
  /** Slot of the first live entry (entries below it were compacted; reclaimed on growth). */
  private head = 0;
  private count = 0;

  /** Index of the entry before the first slot (the log start). */
  constructor(private start: number) {}

  get first(): number {
    return this.start + 1;
  }

  get last(): number {
    return this.start + this.count;
  }

  /** Forgets everything; the log starts after `start`. */
  reset(start: number): void {
    this.start = start;
    this.head = 0;
    this.count = 0;
  }

  /** Appends entry last + 1. */
  push(term: number, seg: number, offset: number, length: number): void {
    assert(this.count < limits.raftMemoryStorageEntriesMax, 'WAL index is full: compact the log');
    if (this.head + this.count === this.terms.length) this.grow();
    const k = this.head + this.count;
    this.terms[k] = term;
    this.segs[k] = seg;
    this.offsets[k] = offset;
    this.lengths[k] = length;
    this.count++;
  }

  /** Drops entries from index i on (a conflicting suffix replaced by the leader). */
  truncateFrom(i: number): void {
    assert(i > this.start, 'truncate above the log start');
    if (i > this.last) return;
    this.count = i - this.start - 1;
  }

  /** Drops entries up to and including i; i becomes the log start. */
  compactTo(i: number): void {
    assert(i >= this.start, 'compact moves the log start forward');
    const n = Math.min(i, this.last) - this.start;
    this.head += n;
    this.count -= n;
    this.start = i;
  }

  private slot(i: number): number {
    assert(i > this.start && i <= this.last, 'entry within the index');
    return this.head + (i - this.start - 1);
  }

  term(i: number): number {
    return this.terms[this.slot(i)] as number;
  }

  seg(i: number): number {
    return this.segs[this.slot(i)] as number;
  }

  offset(i: number): number {
    return this.offsets[this.slot(i)] as number;
  }

  length(i: number): number {
    return this.lengths[this.slot(i)] as number;
  }

  /** Bytes the arrays hold (reported by inspectWal and the memory test). */
  bytes(): number {
    return this.terms.byteLength + this.segs.byteLength + this.offsets.byteLength + this.lengths.byteLength;
  }

  private grow(): void {
    // Compacted slots at the front are reclaimed first; the arrays double only when they are full of live entries.
    const size = this.count * 2 > this.terms.length ? this.terms.length * 2 : this.terms.length;
    const move = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a.subarray(this.head, this.head + this.count));
      return b;
    };
    this.terms = move(this.terms, (n) => new Float64Array(n));
    this.segs = move(this.segs, (n) => new Uint32Array(n));
    this.offsets = move(this.offsets, (n) => new Uint32Array(n));
    this.lengths = move(this.lengths, (n) => new Uint32Array(n));
    this.head = 0;
  }
}
