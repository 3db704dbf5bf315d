// keel's raft WAL: a drop-in for storage/'s DurableRaftStorage (same public
// methods, same semantics; test/wal checks both against raft's MemoryStorage).
//
// On disk: preallocated segment files of frames (codec.ts); one save() is one
// frame written with one pwrite and made durable with one fdatasync, so a
// crash keeps a save whole or not at all. Every segment starts with a
// checkpoint (hard state, snapshot, log start), so once the log is compacted
// past what a segment began with, the segments before it are deleted.
//
// In memory: the hard state, snapshot, a compact index of the live entries
// (term and place on disk) and the newest entries up to entryCacheBytesMax;
// raft's synchronous reads of older entries are served by readSync from the
// segments. Memory changes only after a write is on disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert, failpoint, limits, onPowerLoss } from '../util';
import {
  StorageError, entryBytes, makeConfState,
  type ConfState, type Entry, type HardState, type InitialState, type Snapshot, type Storage,
} from '../raft';
import { encodeFrame, entryRecordOverheadBytes, readRecord, type WalRecord } from './codec';
import { crc32c } from './crc32c';
import { EntryCache } from './entry-cache';
import { datasync, fsyncDir, prepareSpare, removePartialSpare, spareName, spareReady, writeAllSync, zeroFill, zeroRangeSync } from './files';
import { lockWal, type WalLock } from './lock';
import { LogState, type RecordPlace } from './log-state';
import { readWal, segmentName, type Problem, type WalRead } from './read';

export interface WalOptions {
  /** Preallocated size of a segment (default limits.walSegmentBytes). */
  readonly segmentBytes?: number;
  /** Bytes of recent entries kept in memory (default limits.walEntryCacheBytesMax). */
  readonly entryCacheBytesMax?: number;
}

/** The WAL on disk is damaged in a way open will not fix on its own (see repairWal). */
export class WalCorruptError extends Error {
  override name = 'WalCorruptError';
  constructor(readonly dir: string, readonly problem: Problem) {
    super(`WAL ${dir} is corrupt: ${problem.file} at byte offset ${problem.offset}: ${problem.reason} (inspect it with inspectWal / keelutl; repairWal can truncate there, losing what follows)`);
  }
}

interface Segment {
  readonly no: number;
  readonly file: string;
  readonly fd: number;
  /** The log's last index when the segment began. */
  readonly startLastIndex: number;
}

/** What open found and fixed (for the member's log). */
export interface WalOpenReport {
  readonly tornTail: Problem | null;
  readonly segments: number;
}

const emptyConfState: ConfState = Object.freeze({ voters: [], learners: [] });

export class WalStorage implements Storage {
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;
  private hardStateUnwritten = false;
  private pending = 0;
  /** Where the next frame goes in the newest segment, and how much of it is fdatasync'ed. */
  private writeOffset: number;
  private syncedOffset: number;
  /** Frames in the newest segment after its checkpoint. */
  private framesInSegment = 1;
  private nextSeq: number;
  private spare: Promise<void> | null = null;
  private readonly unregisterPowerLoss: () => void;

  private constructor(
    private readonly dir: string,
    private readonly lock: WalLock,
    private readonly state: LogState,
    private readonly cache: EntryCache,
    private segments: Segment[],
    private readonly segmentBytes: number,
    private readonly read: WalRead,
    readonly openReport: WalOpenReport,
  ) {
    const last = read.segments[read.segments.length - 1];
    this.writeOffset = last?.endOffset ?? 0;
    this.syncedOffset = this.writeOffset;
    this.nextSeq = last?.lastSeq === null || last === undefined ? 0 : last.lastSeq + 1;
    this.unregisterPowerLoss = onPowerLoss(() => this.dropUnsynced());
  }

  /** Opens (creating if missing) the WAL in dir; bootstrap is the initial configuration of a new log. */
  static async open(dir: string, bootstrap?: ConfState, options: WalOptions = {}): Promise<WalStorage> {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new Error(`cannot open WAL ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const lock = lockWal(dir);
    try {
      return await WalStorage.openLocked(dir, lock, bootstrap ?? emptyConfState, options);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static async openLocked(dir: string, lock: WalLock, bootstrap: ConfState, options: WalOptions): Promise<WalStorage> {
    const segmentBytes = options.segmentBytes ?? limits.walSegmentBytes;
    removePartialSpare(dir);
    let read = readWal(dir, bootstrap);
    const torn = read.torn;
    if (torn !== null) {
      cutTornTail(read, torn);
      read = readWal(dir, bootstrap);
    }
    const bad = read.corruption ?? read.torn;
    if (bad !== null) throw new WalCorruptError(dir, bad);
    read = dropEmptyLastSegment(dir, read, bootstrap);
    const segments = await openSegments(read, segmentBytes);
    const state = read.state ?? new LogState(bootstrap);
    const cache = new EntryCache(options.entryCacheBytesMax ?? limits.walEntryCacheBytesMax);
    const w = new WalStorage(dir, lock, state, cache, segments, segmentBytes, read, { tornTail: torn, segments: segments.length });
    w.ensureSpare();
    return w;
  }

  /** True when the dir held nothing (no hard state, entries or snapshot) at open. */
  isNew(): boolean {
    return this.read.state === null;
  }

  // --- raft's Storage: synchronous ---

  initialState(): InitialState {
    return { hardState: this.state.hardState, confState: this.state.snapshot.metadata.confState };
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] {
    const offset = this.state.logStart.index;
    if (lo <= offset) throw new StorageError('Compacted', `entries from ${lo}, log starts after ${offset}`);
    if (hi > this.lastIndex() + 1) throw new StorageError('Unavailable', `entries to ${hi}, last index ${this.lastIndex()}`);
    assert(lo <= hi, 'entries needs lo ≤ hi');
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; ) {
      const e = this.cache.get(i);
      if (e === undefined) {
        const run = this.readRun(out, i, Math.min(hi, this.cache.low() ?? hi), maxBytes, size);
        if (run.next === i) {
          // Only the byte limit stops a run before its first entry, and raft always gets at least one.
          assert(out.length > 0, 'an entries() read returns at least one entry');
          break;
        }
        i = run.next;
        size = run.size;
        continue;
      }
      size += entryBytes(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
      i++;
    }
    return out;
  }

  term(i: number): number {
    const offset = this.state.logStart.index;
    if (i < offset) throw new StorageError('Compacted', `term of ${i}, log starts after ${offset}`);
    if (i > this.lastIndex()) throw new StorageError('Unavailable', `term of ${i}, last index ${this.lastIndex()}`);
    return this.state.term(i);
  }

  firstIndex(): number {
    return this.state.logStart.index + 1;
  }

  lastIndex(): number {
    return this.state.lastIndex();
  }

  snapshot(): Snapshot {
    return this.state.snapshot;
  }

  /** Sizes for the member's metrics and the memory tests. */
  stats(): { segments: number; cacheBytes: number; indexBytes: number; syncedOffset: number } {
    return { segments: this.segments.length, cacheBytes: this.cache.bytes(), indexBytes: this.state.index.bytes(), syncedOffset: this.syncedOffset };
  }

  // --- writes (DurableRaftStorage's contract) ---

  /**
   * Persists one Ready as one frame: the snapshot (if non-null; it replaces
   * the whole log), then entries (replacing any conflicting suffix; entries at
   * or below the log start are skipped), then the hard state. Synced unless
   * sync is false and only the hard state is given (raft's mustSync false:
   * only the commit index moved), which is kept in memory until the next
   * frame or close. Throws StorageError 'SnapshotOutOfDate' (nothing written)
   * for a snapshot not newer than the one held.
   */
  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null, sync = true): Promise<void> {
    failpoint('raft-before-save');
    const mustSync = sync || entries.length > 0 || snapshot !== null;
    return this.serialize(async () => {
      await this.doSave(hardState, entries, snapshot, mustSync);
      failpoint('raft-after-save');
    });
  }

  /**
   * Records a snapshot at index i (≤ the commit index) with confState and
   * data, and compacts the log up to i - keepEntries, in one synced frame;
   * segments no longer needed are deleted. Throws StorageError
   * 'SnapshotOutOfDate' if i is not past the snapshot held.
   */
  createSnapshotAndCompact(i: number, confState: ConfState, data: Uint8Array, keepEntries: number): Promise<Snapshot> {
    return this.serialize(() => this.doCreateSnapshot(i, confState, data, keepEntries));
  }

  /** Waits for pending writes (and writes a hard state kept only in memory), then closes the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    try {
      if (this.hardStateUnwritten && this.failure === null) {
        this.hardStateUnwritten = false;
        await this.writeRecords([{ kind: 'hardState', hardState: this.state.hardState }]);
      }
    } finally {
      await this.spare?.catch(() => undefined);
      for (const s of this.segments) fs.closeSync(s.fd);
      this.segments = [];
      this.unregisterPowerLoss();
      this.lock.release();
    }
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`WAL ${this.dir} is closed`));
    assert(this.pending < limits.raftLogPendingWritesMax, 'too many WAL writes queued: the caller does not await them');
    this.pending++;
    const run = this.tail.then(() => {
      this.pending--;
      if (this.failure !== null) throw new Error(`WAL ${this.dir} failed earlier: ${this.failure.message}`, { cause: this.failure });
      return fn();
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async doSave(hs: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null, sync: boolean): Promise<void> {
    if (hs === null && entries.length === 0 && snapshot === null) return;
    if (!sync) {
      assert(hs !== null && entries.length === 0 && snapshot === null, 'an unsynced save carries only a hard state');
      this.state.hardState = hs;
      this.hardStateUnwritten = true;
      return;
    }
    if (hs === null && this.hardStateUnwritten) hs = this.state.hardState;
    const records: WalRecord[] = [];
    let offset = this.state.logStart.index;
    let last = this.lastIndex();
    if (snapshot !== null) {
      const have = this.state.snapshot.metadata.index;
      if (snapshot.metadata.index <= have && have > 0) throw new StorageError('SnapshotOutOfDate', `have ${have}, got ${snapshot.metadata.index}`);
      records.push({ kind: 'snapshot', snapshot });
      offset = snapshot.metadata.index;
      last = offset;
    }
    const first = entries[0];
    if (first !== undefined) {
      for (let k = 1; k < entries.length; k++) assert((entries[k] as Entry).index === first.index + k, 'saved entries are contiguous');
      const lastNew = first.index + entries.length - 1;
      if (lastNew > offset) {
        const skip = Math.max(0, offset + 1 - first.index);
        assert(first.index + skip <= last + 1, 'saved entries leave a gap in the log');
        for (let k = skip; k < entries.length; k++) records.push({ kind: 'entry', entry: entries[k] as Entry });
        last = lastNew;
      }
    }
    assert((hs ?? this.state.hardState).commit <= last, 'hard state commit is beyond the last entry');
    if (hs !== null) records.push({ kind: 'hardState', hardState: hs });
    if (records.length === 0) return;
    await this.writeRecords(records);
    this.hardStateUnwritten = false;
    if (snapshot !== null) this.releaseSegments();
  }

  private async doCreateSnapshot(i: number, confState: ConfState, data: Uint8Array, keepEntries: number): Promise<Snapshot> {
    const have = this.state.snapshot.metadata.index;
    if (i <= have) throw new StorageError('SnapshotOutOfDate', `have ${have}, asked ${i}`);
    assert(i <= this.lastIndex(), 'snapshot index beyond the last entry');
    assert(i <= this.state.hardState.commit, 'snapshot index beyond the commit index');
    assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, 'keepEntries is a count');
    const snap: Snapshot = { metadata: { index: i, term: this.state.term(i), confState: makeConfState(confState.voters, confState.learners) }, data };
    const records: WalRecord[] = [{ kind: 'snapshotMark', snapshot: snap }];
    const compactTo = i - keepEntries;
    if (compactTo > this.state.logStart.index) records.push({ kind: 'compact', logStart: { index: compactTo, term: this.state.term(compactTo) } });
    if (this.hardStateUnwritten) records.push({ kind: 'hardState', hardState: this.state.hardState });
    await this.writeRecords(records);
    this.hardStateUnwritten = false;
    this.releaseSegments();
    return snap;
  }

  /**
   * Fills a new, empty WAL with the log source holds (hard state, snapshot,
   * log start, entries): the first segment's checkpoint carries the first
   * three, then the entries follow in synced frames. For the migration.
   */
  async importLog(source: Storage): Promise<void> {
    assert(this.isNew() && this.segments.length === 0, 'import into a new WAL only');
    const start = source.firstIndex() - 1;
    this.state.startFrom({
      hardState: source.initialState().hardState,
      snapshot: source.snapshot(),
      logStart: { index: start, term: source.term(start) },
      lastIndex: start,
    });
    const last = source.lastIndex();
    await this.serialize(async () => {
      if (last <= start) await this.writeRecords([{ kind: 'hardState', hardState: this.state.hardState }]);
      for (let lo = start + 1; lo <= last; ) {
        const hi = Math.min(last + 1, lo + limits.walMigrateBatchEntriesMax);
        const ents = source.entries(lo, hi, limits.walSegmentBytes);
        await this.writeRecords(ents.map((entry) => ({ kind: 'entry', entry })));
        lo += ents.length;
      }
    });
  }

  /** Writes records as one synced frame (in a new segment when the current one is full), then applies them in memory. */
  private async writeRecords(records: readonly WalRecord[]): Promise<void> {
    let frame = encodeFrame(this.nextSeq, records, crc32c);
    // A frame the reader would refuse must never be written.
    assert(frame.buf.length <= limits.walFrameBytesMax, 'a WAL frame (one save) fits walFrameBytesMax');
    const current = this.segments[this.segments.length - 1];
    const rollover = current === undefined || (this.framesInSegment > 0 && this.writeOffset + frame.buf.length > this.segmentBytes);
    let seg = current;
    let buf = frame.buf;
    let frameAt = this.writeOffset;
    try {
      if (rollover) {
        failpoint('wal-before-rollover');
        seg = await this.startSegment();
        // The new segment begins with the state as it is before this frame.
        const cp = encodeFrame(this.nextSeq, [{ kind: 'checkpoint', checkpoint: this.state.checkpoint() }], crc32c);
        frame = encodeFrame(this.nextSeq + 1, records, crc32c);
        buf = Buffer.concat([cp.buf, frame.buf]);
        frameAt = cp.buf.length;
      }
      assert(seg !== undefined, 'a segment to write to');
      const at = this.writeOffset;
      writeAllSync(seg.fd, buf, at);
      failpoint('wal-before-sync');
      await datasync(seg.fd);
      this.writeOffset = at + buf.length;
      this.syncedOffset = this.writeOffset;
    } catch (e) {
      const err = new Error(`WAL ${this.dir}: write failed: ${(e as Error).message}`, { cause: e });
      this.failure = err;
      throw err;
    }
    this.nextSeq += rollover ? 2 : 1;
    this.framesInSegment++;
    this.applyWritten(records, seg.no, frameAt, frame.recordOffsets, frame.bodyEnd);
  }

  private applyWritten(records: readonly WalRecord[], segNo: number, frameAt: number, offsets: readonly number[], bodyEnd: number): void {
    for (let k = 0; k < records.length; k++) {
      const rec = records[k] as WalRecord;
      const start = offsets[k] as number;
      const place: RecordPlace = { seg: segNo, offset: frameAt + start, length: (offsets[k + 1] ?? bodyEnd) - start };
      this.state.apply(rec, place);
      if (rec.kind === 'entry') this.cache.put(rec.entry);
      else if (rec.kind === 'snapshot') this.cache.clear();
      else if (rec.kind === 'compact') this.cache.compactTo(rec.logStart.index);
    }
  }

  /** Renames the preallocated spare into place as the next segment (or writes one now if the spare is not ready). */
  private async startSegment(): Promise<Segment> {
    assert(this.segments.length < limits.walSegmentsMax, 'too many WAL segments: the log is not being compacted');
    const last = this.segments[this.segments.length - 1];
    const no = last === undefined ? 0 : last.no + 1;
    const file = path.join(this.dir, segmentName(no));
    await this.spare?.catch(() => undefined);
    this.spare = null;
    if (spareReady(this.dir, this.segmentBytes)) {
      fs.renameSync(path.join(this.dir, spareName), file);
    } else {
      const fd = fs.openSync(file, 'w');
      try {
        await zeroFill(fd, 0, this.segmentBytes);
      } finally {
        fs.closeSync(fd);
      }
    }
    fsyncDir(this.dir);
    const seg: Segment = { no, file, fd: fs.openSync(file, 'r+'), startLastIndex: this.lastIndex() };
    this.segments.push(seg);
    this.writeOffset = 0;
    this.syncedOffset = 0;
    this.framesInSegment = 0;
    this.ensureSpare();
    return seg;
  }

  private ensureSpare(): void {
    if (this.spare !== null || spareReady(this.dir, this.segmentBytes)) return;
    // A failed preparation is not fatal: the next rollover writes the segment itself.
    this.spare = prepareSpare(this.dir, this.segmentBytes).catch(() => removePartialSpare(this.dir));
  }

  /** Deletes the oldest segments once the log start has passed everything they began with. */
  private releaseSegments(): void {
    let k = this.segments.length - 1;
    while (k > 0 && (this.segments[k] as Segment).startLastIndex > this.state.logStart.index) k--;
    if (k <= 0) return;
    for (const s of this.segments.slice(0, k)) {
      fs.closeSync(s.fd);
      fs.rmSync(s.file, { force: true });
    }
    fsyncDir(this.dir);
    this.segments = this.segments.slice(k);
  }

  /** Reads uncached entries [i, end) of one segment in one call, within maxBytes (at least one entry). */
  private readRun(out: Entry[], i: number, end: number, maxBytes: number, sizeIn: number): { next: number; size: number } {
    const idx = this.state.index;
    const segNo = idx.seg(i);
    const start = idx.offset(i);
    let size = sizeIn;
    let j = i;
    for (; j < end && idx.seg(j) === segNo; j++) {
      const s = size + (idx.length(j) - entryRecordOverheadBytes) + limits.raftEntryOverheadBytes;
      if (out.length + (j - i) > 0 && s > maxBytes) break;
      if (j > i && idx.offset(j) + idx.length(j) - start > limits.walReadChunkBytesMax) break;
      size = s;
    }
    if (j === i) return { next: i, size: sizeIn };
    const seg = this.segments.find((s) => s.no === segNo);
    assert(seg !== undefined, 'a live entry is in a segment still held');
    const span = idx.offset(j - 1) + idx.length(j - 1) - start;
    const buf = Buffer.allocUnsafe(span);
    const n = fs.readSync(seg.fd, buf, 0, span, start);
    assert(n === span, `read ${n} of ${span} bytes of ${seg.file} at ${start}`);
    for (let k = i; k < j; k++) {
      const at = idx.offset(k) - start;
      const { record } = readRecord(buf, at, at + idx.length(k), false);
      assert(record.kind === 'entry' && record.entry.index === k && record.entry.term === idx.term(k), `WAL ${seg.file} at ${idx.offset(k)} holds entry ${k}`);
      out.push(record.entry);
    }
    return { next: j, size };
  }

  /** The power-loss failpoint: what was written but not fdatasync'ed is gone. */
  private dropUnsynced(): void {
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined) fs.ftruncateSync(last.fd, this.syncedOffset);
  }
}

function cutTornTail(read: WalRead, torn: Problem): void {
  const seg = read.segments.find((s) => s.file === torn.file);
  assert(seg !== undefined, 'a torn tail is in a segment read');
  if (seg.frames === 0) fs.rmSync(seg.file, { force: true });
  else zeroRangeSync(seg.file, seg.endOffset, seg.dirtyEnd);
  fsyncDir(path.dirname(seg.file));
}

/** A newest segment without frames (renamed into place, then a crash): removed, the one before continues. */
function dropEmptyLastSegment(dir: string, read: WalRead, bootstrap: ConfState): WalRead {
  const last = read.segments[read.segments.length - 1];
  if (last === undefined || last.frames > 0) return read;
  fs.rmSync(last.file, { force: true });
  fsyncDir(dir);
  return readWal(dir, bootstrap);
}

async function openSegments(read: WalRead, segmentBytes: number): Promise<Segment[]> {
  const out: Segment[] = [];
  for (let k = 0; k < read.segments.length; k++) {
    const s = read.segments[k] as WalRead['segments'][number];
    const isLast = k === read.segments.length - 1;
    const fd = fs.openSync(s.file, isLast ? 'r+' : 'r');
    out.push({ no: s.no, file: s.file, fd, startLastIndex: s.startLastIndex });
    // A power loss may have cut the preallocated tail: restore it so fdatasync again commits no size change.
    if (isLast && s.fileBytes < segmentBytes) await zeroFill(fd, s.fileBytes, segmentBytes);
  }
  return out;
}
