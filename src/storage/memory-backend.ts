// An in-memory Backend for tests: same ordering and atomicity as LevelDB,
// no durability. Buffers are copied in and out so callers cannot alias it.
import { assert } from '../util';
import type { Backend, BatchOp, IterateRange } from './backend';
import { SortedStringMap } from './sorted-map';

export function memoryBackend(): Backend {
  return new MemoryBackend();
}

class MemoryBackend implements Backend {
  private readonly data = new SortedStringMap<Buffer>();
  private heldBytes = 0;
  private closed = false;

  async get(key: Buffer): Promise<Buffer | undefined> {
    this.checkOpen();
    const v = this.data.get(key.toString('latin1'));
    return v === undefined ? undefined : Buffer.from(v);
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    this.checkOpen();
    return keys.map((key) => {
      const v = this.data.get(key.toString('latin1'));
      return v === undefined ? undefined : Buffer.from(v);
    });
  }

  iterate(range: IterateRange): AsyncIterable<[Buffer, Buffer]> {
    this.checkOpen();
    // Copy the matching entries now: LevelDB iterators read from an implicit snapshot.
    const gte = range.gte === undefined ? '' : range.gte.toString('latin1');
    const lt = range.lt === undefined ? undefined : range.lt.toString('latin1');
    const limit = range.limit === undefined || range.limit < 0 ? Infinity : range.limit;
    const entries: [Buffer, Buffer][] = [];
    const source = range.reverse === true ? this.data.rangeReverse(gte, lt) : this.data.range(gte, lt);
    for (const [k, v] of source) {
      if (entries.length >= limit) break;
      entries.push([Buffer.from(k, 'latin1'), Buffer.from(v)]);
    }
    return (async function* () {
      yield* entries;
    })();
  }

  async write(ops: BatchOp[], _options: { sync: boolean }): Promise<void> {
    this.checkOpen();
    for (const op of ops) {
      const k = op.key.toString('latin1');
      const old = this.data.get(k);
      if (old !== undefined) {
        this.heldBytes -= k.length + old.length;
        this.data.delete(k);
      }
      if (op.type === 'put') {
        assert(op.value !== undefined, 'memory backend: put has a value');
        const v = Buffer.from(op.value);
        this.data.set(k, v);
        this.heldBytes += k.length + v.length;
      }
    }
  }

  async sizeBytes(): Promise<number> {
    return this.heldBytes;
  }

  async defragment(): Promise<void> {
    // Nothing to reclaim: deleted entries are gone from memory at once.
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('memory backend is closed');
  }
}
