// The durable raft log: hard state, entries and the latest snapshot in a
// LevelDB of their own (the server's <data-dir>/member/wal). Raft reads the
// log synchronously, so every read is served by an in-memory copy
// (RaftLogCache) loaded at open and updated only after a write is on disk.
//
// Crash safety comes from LevelDB's atomic write batches: each save() and
// createSnapshotAndCompact() is one synced batch, so after kill -9 the log is
// exactly the state after some prefix of the calls that were made. Key layout
// in raft-codec.ts.
import { promises as fs } from 'node:fs';
import { Level } from 'level';
import { assert, limits } from '../util';
import {
  StorageError, emptyHardState, makeConfState,
  type ConfState, type Entry, type HardState, type InitialState, type Snapshot, type Storage,
} from '../raft';
import {
  CorruptRecord, decodeEntry, decodeHardState, decodeLogStart, decodeSnapshotMeta, encodeEntry, encodeHardState,
  encodeLogStart, encodeSnapshotMeta, entryKey, entryKeyIndex, formatValue, keyFormat, keyHardState, keyLogStart,
  keySnapshotMeta, prefixEntry, prefixFormat, prefixHardState, prefixLogStart, prefixSnapshotData, prefixSnapshotMeta,
  snapshotDataKey, snapshotDataKeyChunk, type LogStart, type SnapshotRecord,
} from './raft-codec';
import { RaftLogCache } from './raft-log-cache';
import { describe, writeBatch } from './level-backend';

type Db = Level<Buffer, Buffer>;
type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

const emptyConfState: ConfState = Object.freeze({ voters: [], learners: [] });

export class DurableRaftStorage implements Storage {
  /** Serializes writes: each one is planned against the state the previous one left. */
  private tail: Promise<void> = Promise.resolve();
  /** A failed disk write: the log on disk may be behind what raft was told, so every later call fails. */
  private failure: Error | null = null;
  private closed = false;
  /** A hard state that only moved the commit index is kept in memory until the next write. */
  private hardStateUnwritten = false;
  /** Calls waiting for their turn. */
  private pending = 0;
  /** Whether the format marker is on disk (it goes with the first batch of a new log). */
  private formatWritten: boolean;

  private constructor(
    private readonly dir: string,
    private readonly db: Db,
    private readonly cache: RaftLogCache,
    private readonly wasNew: boolean,
    /** Chunks of snapshot data on disk; 0 also while nothing has been written. */
    private snapshotChunks: number,
  ) {
    this.formatWritten = !wasNew;
  }

  /** Opens (creating if missing) the raft log in dir. bootstrap is the initial configuration, used only when the dir is new. */
  static async open(dir: string, bootstrap?: ConfState): Promise<DurableRaftStorage> {
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new Error(`cannot open raft log ${dir}: ${describe(e)}`, { cause: e });
    }
    const db: Db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: true, errorIfExists: false });
    } catch (e) {
      throw new Error(`cannot open raft log ${dir}: ${describe(e)}`, { cause: e });
    }
    let loaded: Loaded | null;
    try {
      loaded = await load(db);
    } catch (e) {
      await db.close().catch(() => undefined);
      if (e instanceof CorruptRecord) throw new Error(`raft log ${dir} is corrupt: ${e.message}`, { cause: e });
      throw new Error(`cannot read raft log ${dir}: ${describe(e)}`, { cause: e });
    }
    if (loaded === null) {
      const cs = bootstrap ?? emptyConfState;
      return new DurableRaftStorage(dir, db, RaftLogCache.empty(makeConfState(cs.voters, cs.learners)), true, 0);
    }
    return new DurableRaftStorage(dir, db, loaded.cache, false, loaded.snapshotChunks);
  }

  /** True when the dir held nothing (no hard state, entries or snapshot) at open. */
  isNew(): boolean {
    return this.wasNew;
  }

  // --- raft's Storage: synchronous, from memory ---

  initialState(): InitialState {
    return this.cache.initialState();
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    return this.cache.entries(lo, hi, maxBytes);
  }

  term(i: number): number {
    return this.cache.term(i);
  }

  firstIndex(): number {
    return this.cache.firstIndex();
  }

  lastIndex(): number {
    return this.cache.lastIndex();
  }

  snapshot(): Snapshot {
    return this.cache.snapshot();
  }

  // --- writes ---

  /**
   * Persists one Ready in one batch: the snapshot (if non-null; it replaces
   * the whole log), then the hard state (if non-null), then entries
   * (replacing any conflicting suffix; entries at or below the log start are
   * skipped). The batch is synced unless sync is false, which raft allows
   * when only the commit index changed (Ready.mustSync): losing that to a
   * power cut only makes the member learn the commit index again. A batch
   * with entries or a snapshot is always synced. The in-memory copy changes
   * only after the write succeeded. Throws StorageError 'SnapshotOutOfDate'
   * (nothing written) for a snapshot not newer than the one held.
   */
  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null, sync = true): Promise<void> {
    const mustSync = sync || entries.length > 0 || snapshot !== null;
    return this.serialize(() => this.doSave(hardState, entries, snapshot, mustSync));
  }

  /**
   * Records a snapshot at index i (≤ the commit index, i.e. ≤ last applied in
   * practice) with confState and data, and compacts the log up to
   * i - keepEntries (etcd keeps limits.raftSnapshotCatchUpEntriesDefault), in
   * one synced batch. Throws StorageError 'SnapshotOutOfDate' if i is not past
   * the snapshot held.
   */
  createSnapshotAndCompact(i: number, confState: ConfState, data: Uint8Array, keepEntries: number): Promise<Snapshot> {
    return this.serialize(() => this.doCreateSnapshot(i, confState, data, keepEntries));
  }

  /** Waits for pending writes (and writes a hard state kept only in memory), then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    if (this.hardStateUnwritten && this.failure === null) {
      this.hardStateUnwritten = false;
      await this.write([{ type: 'put', key: keyHardState, value: encodeHardState(this.cache.hardStateNow()) }], true);
    }
    await this.db.close();
  }

  /** Runs fn after every earlier call; calls made before close() still run, later ones are refused. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`raft log ${this.dir} is closed`));
    assert(this.pending < limits.raftLogPendingWritesMax, 'too many raft log writes queued: the caller does not await them');
    this.pending++;
    const run = this.tail.then(() => {
      this.pending--;
      if (this.failure !== null) throw new Error(`raft log ${this.dir} failed earlier: ${this.failure.message}`, { cause: this.failure });
      return fn();
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async doSave(hs: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null, sync: boolean): Promise<void> {
    const cache = this.cache;
    if (hs === null && entries.length === 0 && snapshot === null) return;
    if (!sync) {
      // Only the commit index moved (mustSync false, no entries, no snapshot): keep it in memory and
      // write it with the next batch (or at close); a member that loses it learns it again from the leader.
      assert(hs !== null && entries.length === 0 && snapshot === null, 'an unsynced save carries only a hard state');
      cache.setHardState(hs);
      this.hardStateUnwritten = true;
      return;
    }
    if (hs === null && this.hardStateUnwritten) hs = cache.hardStateNow();
    this.hardStateUnwritten = false;
    const ops: Op[] = [];
    let offset = cache.offset();
    let last = cache.lastIndex();
    let chunks = this.snapshotChunks;
    if (snapshot !== null) {
      const have = cache.snapshot().metadata.index;
      if (snapshot.metadata.index <= have && have > 0) {
        throw new StorageError('SnapshotOutOfDate', `have ${have}, got ${snapshot.metadata.index}`);
      }
      deleteEntries(ops, offset + 1, last);
      chunks = putSnapshot(ops, snapshot, chunks);
      ops.push({ type: 'put', key: keyLogStart, value: encodeLogStart({ index: snapshot.metadata.index, term: snapshot.metadata.term }) });
      offset = snapshot.metadata.index;
      last = offset;
    }
    let appended: readonly Entry[] = [];
    const first = entries[0];
    if (first !== undefined) {
      for (let k = 1; k < entries.length; k++) assert((entries[k] as Entry).index === first.index + k, 'saved entries are contiguous');
      const lastNew = first.index + entries.length - 1;
      if (lastNew > offset) {
        const skip = Math.max(0, offset + 1 - first.index);
        appended = skip > 0 ? entries.slice(skip) : entries;
        assert(first.index + skip <= last + 1, 'saved entries leave a gap in the log');
        deleteEntries(ops, lastNew + 1, last);
        for (const e of appended) ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntry(e) });
        last = lastNew;
      }
    }
    assert((hs ?? cache.hardStateNow()).commit <= last, 'hard state commit is beyond the last entry');
    if (hs !== null) ops.push({ type: 'put', key: keyHardState, value: encodeHardState(hs) });
    await this.write(ops, sync);
    if (snapshot !== null) cache.applySnapshot(snapshot);
    this.snapshotChunks = chunks;
    if (hs !== null) cache.setHardState(hs);
    cache.append(appended);
  }

  private async doCreateSnapshot(i: number, confState: ConfState, data: Uint8Array, keepEntries: number): Promise<Snapshot> {
    const cache = this.cache;
    const have = cache.snapshot().metadata.index;
    if (i <= have) throw new StorageError('SnapshotOutOfDate', `have ${have}, asked ${i}`);
    assert(i <= cache.lastIndex(), 'snapshot index beyond the last entry');
    assert(i <= cache.hardStateNow().commit, 'snapshot index beyond the commit index');
    assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, 'keepEntries is a count');
    const snap: Snapshot = { metadata: { index: i, term: cache.term(i), confState: makeConfState(confState.voters, confState.learners) }, data };
    const ops: Op[] = [];
    const chunks = putSnapshot(ops, snap, this.snapshotChunks);
    const offset = cache.offset();
    const compactTo = i - keepEntries;
    if (compactTo > offset) {
      deleteEntries(ops, offset + 1, compactTo);
      ops.push({ type: 'put', key: keyLogStart, value: encodeLogStart({ index: compactTo, term: cache.term(compactTo) }) });
    }
    await this.write(ops);
    cache.setSnapshot(snap);
    this.snapshotChunks = chunks;
    if (compactTo > offset) cache.compact(compactTo);
    return snap;
  }

  private async write(ops: Op[], sync = true): Promise<void> {
    if (!this.formatWritten) {
      // The first batch of a new log also records the format and the bootstrap configuration.
      const snap = this.cache.snapshot();
      const record: SnapshotRecord = { metadata: snap.metadata, dataBytes: 0, chunks: 0 };
      ops.unshift({ type: 'put', key: keyFormat, value: formatValue }, { type: 'put', key: keySnapshotMeta, value: encodeSnapshotMeta(record) });
    }
    try {
      // The first batch is synced whatever the caller asked: it records the log's format.
      await writeBatch(this.db, ops, sync || !this.formatWritten);
    } catch (e) {
      const err = new Error(`raft log ${this.dir}: write failed: ${describe(e)}`, { cause: e });
      this.failure = err;
      throw err;
    }
    this.formatWritten = true;
  }
}

function deleteEntries(ops: Op[], from: number, to: number): void {
  for (let i = from; i <= to; i++) ops.push({ type: 'del', key: entryKey(i) });
}

/** Adds the snapshot's metadata and data chunks (deleting stale ones) to ops; returns the new chunk count. */
function putSnapshot(ops: Op[], snap: Snapshot, chunksBefore: number): number {
  const data = snap.data;
  const size = limits.raftLogSnapshotChunkBytes;
  const chunks = Math.ceil(data.byteLength / size);
  for (let c = 0; c < chunks; c++) {
    const start = c * size;
    const value = Buffer.from(data.buffer, data.byteOffset + start, Math.min(size, data.byteLength - start));
    ops.push({ type: 'put', key: snapshotDataKey(c), value });
  }
  for (let c = chunks; c < chunksBefore; c++) ops.push({ type: 'del', key: snapshotDataKey(c) });
  ops.push({ type: 'put', key: keySnapshotMeta, value: encodeSnapshotMeta({ metadata: snap.metadata, dataBytes: data.byteLength, chunks }) });
  return chunks;
}

interface Loaded {
  cache: RaftLogCache;
  snapshotChunks: number;
}

/** Reads and checks the whole log; null when the database is empty. Throws CorruptRecord. */
async function load(db: Db): Promise<Loaded | null> {
  let any = false;
  let format: Buffer | undefined;
  let hs: HardState | undefined;
  let start: LogStart | undefined;
  let meta: SnapshotRecord | undefined;
  const chunks: Buffer[] = [];
  const entries: Entry[] = [];
  for await (const [key, value] of db.iterator()) {
    any = true;
    const kind = key[0];
    if (kind === prefixEntry) {
      if (entries.length >= limits.raftMemoryStorageEntriesMax) throw new Error(`more than ${limits.raftMemoryStorageEntriesMax} entries: too many to load (was the log never compacted?)`);
      entries.push(decodeEntry(entryKeyIndex(key), value));
      continue;
    }
    if (kind === prefixSnapshotData) {
      const c = snapshotDataKeyChunk(key);
      if (c !== chunks.length) throw new CorruptRecord(`snapshot data chunk ${chunks.length} is missing`);
      chunks.push(value);
      continue;
    }
    if (key.length !== 1) throw new CorruptRecord(`unknown key ${key.toString('hex')}`);
    if (kind === prefixFormat) format = value;
    else if (kind === prefixHardState) hs = decodeHardState(value);
    else if (kind === prefixLogStart) start = decodeLogStart(value);
    else if (kind === prefixSnapshotMeta) meta = decodeSnapshotMeta(value);
    else throw new CorruptRecord(`unknown key ${key.toString('hex')}`);
  }
  if (!any) return null;
  if (format === undefined || !format.equals(formatValue)) throw new CorruptRecord('format marker missing or unknown (is this a keel raft log?)');
  if (meta === undefined) throw new CorruptRecord('snapshot metadata missing');
  const snap = snapshotFrom(meta, chunks);
  // No log start record: nothing was ever compacted or replaced by a received snapshot.
  const logStart = start ?? { index: 0, term: 0 };
  checkLog(logStart, snap, entries);
  const hardState = hs ?? emptyHardState;
  const lastIndex = logStart.index + entries.length;
  if (hardState.commit > lastIndex) throw new CorruptRecord(`hard state commit ${hardState.commit} is beyond the last entry ${lastIndex}`);
  return { cache: new RaftLogCache(hardState, snap, logStart, entries), snapshotChunks: meta.chunks };
}

function snapshotFrom(meta: SnapshotRecord, chunks: Buffer[]): Snapshot {
  if (chunks.length !== meta.chunks) throw new CorruptRecord(`snapshot has ${chunks.length} data chunks, metadata says ${meta.chunks}`);
  const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (data.length !== meta.dataBytes) throw new CorruptRecord(`snapshot data is ${data.length} bytes, metadata says ${meta.dataBytes}`);
  let confState: ConfState;
  try {
    confState = makeConfState(meta.metadata.confState.voters, meta.metadata.confState.learners);
  } catch (e) {
    throw new CorruptRecord(`snapshot configuration: ${(e as Error).message}`);
  }
  return { metadata: { ...meta.metadata, confState }, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Entries follow the log start without gaps, terms never decrease, and the snapshot lies within the log. */
function checkLog(start: LogStart, snap: Snapshot, entries: Entry[]): void {
  const { index: snapIndex, term: snapTerm } = snap.metadata;
  if (start.index > snapIndex) throw new CorruptRecord(`log starts after ${start.index}, beyond the snapshot at ${snapIndex}`);
  let prevTerm = start.term;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k] as Entry;
    const want = start.index + 1 + k;
    if (e.index !== want) throw new CorruptRecord(`expected entry ${want}, found entry ${e.index}`);
    if (e.term < prevTerm) throw new CorruptRecord(`entry ${e.index} has term ${e.term}, below the term ${prevTerm} before it`);
    prevTerm = e.term;
  }
  const lastIndex = start.index + entries.length;
  if (snapIndex > lastIndex) throw new CorruptRecord(`snapshot at ${snapIndex} is beyond the last entry ${lastIndex}`);
  const termAtSnap = snapIndex === start.index ? start.term : (entries[snapIndex - start.index - 1] as Entry).term;
  if (termAtSnap !== snapTerm) throw new CorruptRecord(`snapshot term ${snapTerm} differs from the term ${termAtSnap} of entry ${snapIndex}`);
}
