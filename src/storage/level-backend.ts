// The LevelDB Backend (classic-level through `level`). The only module that
// imports `level`.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Level } from 'level';
import type { Backend, BatchOp, IterateRange } from './backend';

type Db = Level<Buffer, Buffer>;

export async function openLevelBackend(dir: string): Promise<Backend> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot open data dir ${dir}: ${describe(e)}`, { cause: e });
  }
  const db: Db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    await db.open({ createIfMissing: true, errorIfExists: false });
  } catch (e) {
    throw new Error(`cannot open data dir ${dir}: ${describe(e)}`, { cause: e });
  }
  return new LevelBackend(dir, db);
}

type RawOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** abstract-level's implementation hook, which classic-level provides. */
interface RawBatch {
  _batch(ops: RawOp[], options: { sync: boolean }): Promise<void>;
}

/**
 * Writes one atomic batch of Buffer keys and values. The public batch() spends
 * about 4 µs of main-thread time per operation copying, validating and
 * transcoding each one (bench/micro, "LevelDB batch"); with Buffer keys and
 * values there is nothing to transcode and no hooks or listeners are used, so
 * an open database is handed the operations as they are, through the same
 * _batch() that batch() ends in. Anything else (opening, closing) takes the
 * public path, which waits for or refuses as abstract-level does.
 */
export function writeBatch(db: Level<Buffer, Buffer>, ops: RawOp[], sync: boolean): Promise<void> {
  if (db.status === 'open' && typeof (db as unknown as Partial<RawBatch>)._batch === 'function') {
    return (db as unknown as RawBatch)._batch(ops, { sync });
  }
  return db.batch(ops, { sync });
}

/** The innermost cause, with LevelDB's code: "LEVEL_LOCKED: lock …/LOCK: already held by process". */
export function describe(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 8 && cur instanceof Error; depth++) {
    const code = (cur as { code?: unknown }).code;
    parts.push(typeof code === 'string' && !cur.message.startsWith(code) ? `${code}: ${cur.message}` : cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  if (parts.length === 0) return String(e);
  const innermost = parts[parts.length - 1] as string;
  if (/LEVEL_LOCKED|lock/i.test(parts.join(' '))) return `${innermost} (is another keel process using it?)`;
  if (/corrupt/i.test(parts.join(' '))) return `${innermost} (the data dir is corrupt)`;
  return innermost;
}

class LevelBackend implements Backend {
  constructor(private readonly dir: string, private readonly db: Db) {}

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.db.get(key);
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return [];
    return this.db.getMany(keys);
  }

  iterate(range: IterateRange): AsyncIterable<[Buffer, Buffer]> {
    const options: { gte?: Buffer; lt?: Buffer; reverse?: boolean; limit?: number } = {};
    if (range.gte !== undefined) options.gte = range.gte;
    if (range.lt !== undefined) options.lt = range.lt;
    if (range.reverse !== undefined) options.reverse = range.reverse;
    if (range.limit !== undefined) options.limit = range.limit;
    return this.db.iterator(options) as AsyncIterable<[Buffer, Buffer]>;
  }

  async write(ops: BatchOp[], options: { sync: boolean }): Promise<void> {
    if (ops.length === 0) return;
    const batch = ops.map((op): RawOp =>
      op.type === 'put'
        ? { type: 'put', key: op.key, value: op.value as Buffer }
        : { type: 'del', key: op.key },
    );
    await writeBatch(this.db, batch, options.sync);
  }

  async sizeBytes(): Promise<number> {
    const names = await fs.readdir(this.dir);
    let total = 0;
    for (const name of names) {
      try {
        const st = await fs.stat(path.join(this.dir, name));
        if (st.isFile()) total += st.size;
      } catch {
        // LevelDB removed the file (compaction) between readdir and stat.
      }
    }
    return total;
  }

  async defragment(): Promise<void> {
    // classic-level compacts a key range; an empty range object means all of it.
    await (this.db as unknown as { compactRange(start?: Buffer, end?: Buffer): Promise<void> }).compactRange(Buffer.alloc(0), Buffer.from([0xff, 0xff, 0xff, 0xff]));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
