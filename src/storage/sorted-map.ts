// An ordered map from latin1 strings to values (latin1 strings compare like
// the bytes they stand for). Entries live in sorted chunks of at most
// sortedMapChunkEntriesMax, found by binary search over the chunks' first
// keys: insert and delete cost O(log n + chunk size) instead of the O(n) of
// one sorted array, with none of a B-tree's rebalancing code.
import { assert } from '../util';

/** Entries per chunk before it splits: big enough for few chunks, small enough that splice stays cheap. */
const chunkEntriesDefault = 512;

interface Chunk<V> {
  keys: string[];
  values: V[];
}

export class SortedStringMap<V> {
  private chunks: Chunk<V>[] = [];
  private entryCount = 0;

  constructor(private readonly chunkEntriesMax = chunkEntriesDefault) {
    assert(chunkEntriesMax >= 2, 'sorted map chunks hold at least two entries');
  }

  get size(): number {
    return this.entryCount;
  }

  get(key: string): V | undefined {
    const chunk = this.chunks[this.chunkFor(key)];
    if (chunk === undefined) return undefined;
    const i = lowerBound(chunk.keys, key);
    return chunk.keys[i] === key ? chunk.values[i] : undefined;
  }

  set(key: string, value: V): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], values: [value] });
      this.entryCount = 1;
      return;
    }
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    assert(chunk !== undefined, 'sorted map: chunk exists');
    const i = lowerBound(chunk.keys, key);
    if (chunk.keys[i] === key) {
      chunk.values[i] = value;
      return;
    }
    chunk.keys.splice(i, 0, key);
    chunk.values.splice(i, 0, value);
    this.entryCount += 1;
    if (chunk.keys.length > this.chunkEntriesMax) this.split(ci, chunk, i);
  }

  delete(key: string): boolean {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return false;
    const i = lowerBound(chunk.keys, key);
    if (chunk.keys[i] !== key) return false;
    chunk.keys.splice(i, 1);
    chunk.values.splice(i, 1);
    this.entryCount -= 1;
    if (chunk.keys.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /** Entries with gte <= key < lt (lt undefined: no upper bound), ascending. */
  *range(gte: string, lt: string | undefined): Generator<[string, V]> {
    const first = this.chunkFor(gte);
    for (let ci = first; ci < this.chunks.length; ci++) {
      const chunk = this.chunks[ci] as Chunk<V>;
      const start = ci === first ? lowerBound(chunk.keys, gte) : 0;
      for (let i = start; i < chunk.keys.length; i++) {
        const k = chunk.keys[i] as string;
        if (lt !== undefined && k >= lt) return;
        yield [k, chunk.values[i] as V];
      }
    }
  }

  /**
   * Calls f on the entries with gte <= key < lt (lt undefined: no upper
   * bound) in ascending order, until f returns false. The allocation-free
   * form of range(), for hot loops.
   */
  scan(gte: string, lt: string | undefined, f: (key: string, value: V) => boolean | void): void {
    const first = this.chunkFor(gte);
    for (let ci = first; ci < this.chunks.length; ci++) {
      const chunk = this.chunks[ci] as Chunk<V>;
      const keys = chunk.keys;
      const values = chunk.values;
      for (let i = ci === first ? lowerBound(keys, gte) : 0; i < keys.length; i++) {
        const k = keys[i] as string;
        if (lt !== undefined && k >= lt) return;
        if (f(k, values[i] as V) === false) return;
      }
    }
  }

  /** Entries with gte <= key < lt (lt undefined: no upper bound), descending. */
  *rangeReverse(gte: string, lt: string | undefined): Generator<[string, V]> {
    if (this.chunks.length === 0) return;
    const last = lt === undefined ? this.chunks.length - 1 : this.chunkFor(lt);
    for (let ci = last; ci >= 0; ci--) {
      const chunk = this.chunks[ci] as Chunk<V>;
      const end = ci === last && lt !== undefined ? lowerBound(chunk.keys, lt) : chunk.keys.length;
      for (let i = end - 1; i >= 0; i--) {
        const k = chunk.keys[i] as string;
        if (k < gte) return;
        yield [k, chunk.values[i] as V];
      }
    }
  }

  /** Index of the chunk that holds key, or would: the last chunk whose first key <= key (0 if none). */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const first = (this.chunks[mid] as Chunk<V>).keys[0] as string;
      if (first <= key) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Splits a chunk that just took an entry at index `inserted`. Appends (the
   * new entry last in the last chunk, as when keys arrive in order) leave the
   * full chunk as it is and start a new one, so loading in key order fills
   * every chunk; other inserts split in half. Both halves are copied to
   * arrays of their exact size: an array that grew by splice keeps its spare
   * capacity after splice shrinks it, which would waste a third or more of
   * every chunk.
   */
  private split(ci: number, chunk: Chunk<V>, inserted: number): void {
    const n = chunk.keys.length;
    const at = inserted === n - 1 && ci === this.chunks.length - 1 ? n - 1 : n >> 1;
    const right: Chunk<V> = { keys: chunk.keys.slice(at), values: chunk.values.slice(at) };
    chunk.keys = chunk.keys.slice(0, at);
    chunk.values = chunk.values.slice(0, at);
    this.chunks.splice(ci + 1, 0, right);
  }
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
