// The newest entries in memory, a contiguous window [lo, last] bounded by
// bytes: what raft reads most (entries to replicate, entries to apply) is what
// was appended last. Entries below the window are read from the segments.
import { assert } from '../util';
import { entryBytes, type Entry } from '../raft';

export class EntryCache {
  private ents: Entry[] = [];
  /** ents[head] is the lowest cached entry; slots below head are evicted, reclaimed in bulk. */
  private head = 0;
  private size = 0;

  constructor(private readonly bytesMax: number) {}

  /** Index of the lowest cached entry, or undefined when empty. */
  low(): number | undefined {
    return this.ents[this.head]?.index;
  }

  /** The cached entry i, or undefined if it is not in the window. */
  get(i: number): Entry | undefined {
    const lo = this.low();
    if (lo === undefined || i < lo) return undefined;
    return this.ents[this.head + (i - lo)];
  }

  /** Adds entry e (index last + 1, or lower: the suffix from e.index is dropped first). */
  put(e: Entry): void {
    this.truncateFrom(e.index);
    const top = this.ents[this.ents.length - 1];
    // A gap (the window was emptied and the log continues): start a new window at e.
    if (top !== undefined && top.index + 1 !== e.index) this.clear();
    this.ents.push(e);
    this.size += entryBytes(e);
    while (this.size > this.bytesMax && this.head < this.ents.length) this.evictOne();
    this.reclaim();
  }

  /** Drops cached entries from index i on. */
  truncateFrom(i: number): void {
    const lo = this.low();
    if (lo === undefined) return;
    if (i <= lo) {
      this.clear();
      return;
    }
    const keep = this.head + (i - lo);
    for (let k = keep; k < this.ents.length; k++) this.size -= entryBytes(this.ents[k] as Entry);
    if (keep < this.ents.length) this.ents.length = keep;
  }

  /** Drops cached entries up to and including i. */
  compactTo(i: number): void {
    for (let lo = this.low(); lo !== undefined && lo <= i; lo = this.low()) this.evictOne();
    this.reclaim();
  }

  clear(): void {
    this.ents = [];
    this.head = 0;
    this.size = 0;
  }

  bytes(): number {
    return this.size;
  }

  private evictOne(): void {
    const e = this.ents[this.head];
    assert(e !== undefined, 'evict from a non-empty cache');
    this.size -= entryBytes(e);
    this.ents[this.head] = undefined as unknown as Entry;
    this.head++;
    if (this.head === this.ents.length) this.clear();
  }

  private reclaim(): void {
    if (this.head > 1024 && this.head * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.head);
      this.head = 0;
    }
  }
}
