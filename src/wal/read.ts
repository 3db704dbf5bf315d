// Reads a WAL directory: every segment in order, every frame checked, the
// records applied to a LogState. Used by open (which then cuts a torn tail),
// inspectWal and repairWal. A problem is classified here:
//   torn tail  — the last segment ends in something that is not a valid frame
//                (a partial frame, a bad checksum, stray bytes in the zeroed
//                space) and no valid frame follows it: an interrupted write.
//   corruption — anything else: a bad frame followed by a valid one, a bad
//                frame in an earlier segment, a frame out of sequence, a valid
//                frame whose records make no sense, a missing segment.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { limits } from '../util';
import type { ConfState } from '../raft';
import { CorruptRecord, frameMagic, readFrame, readRecord, type WalRecord } from './codec';
import { crc32c } from './crc32c';
import { LogState } from './log-state';

export const segmentSuffix = '.wal';
const segmentNamePattern = /^[0-9a-f]{16}\.wal$/;

export function segmentName(no: number): string {
  return no.toString(16).padStart(16, '0') + segmentSuffix;
}

export interface Problem {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
}

export interface SegmentInfo {
  readonly no: number;
  readonly file: string;
  readonly fileBytes: number;
  frames: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** End of the last valid frame: where the next frame goes. */
  endOffset: number;
  /** One past the last non-zero byte after endOffset (endOffset when the rest is zeros). */
  dirtyEnd: number;
  /** The log's last index when the segment began (from its checkpoint). */
  startLastIndex: number;
}

export interface RecordCounts {
  checkpoint: number;
  entry: number;
  hardState: number;
  snapshot: number;
  snapshotMark: number;
  compact: number;
}

export interface WalRead {
  readonly segments: SegmentInfo[];
  /** null when no segment holds a valid frame (a new WAL). */
  readonly state: LogState | null;
  readonly records: RecordCounts;
  readonly lowestTerm: number | null;
  readonly highestTerm: number | null;
  readonly torn: Problem | null;
  readonly corruption: Problem | null;
}

/** Segment files of dir in order (throws if the directory cannot be listed). */
export function listSegments(dir: string): { no: number; file: string }[] {
  const names = fs.readdirSync(dir).filter((n) => segmentNamePattern.test(n)).sort();
  return names.map((n) => ({ no: parseInt(n.slice(0, 16), 16), file: path.join(dir, n) }));
}

class Reading {
  readonly segments: SegmentInfo[] = [];
  state: LogState | null = null;
  readonly records: RecordCounts = { checkpoint: 0, entry: 0, hardState: 0, snapshot: 0, snapshotMark: 0, compact: 0 };
  lowestTerm: number | null = null;
  highestTerm: number | null = null;
  torn: Problem | null = null;
  corruption: Problem | null = null;
  nextSeq: number | null = null;

  constructor(readonly bootstrap: ConfState) {}
}

/** Reads the whole WAL in dir. Never throws for what is on disk: problems are reported. */
export function readWal(dir: string, bootstrap: ConfState): WalRead {
  const r = new Reading(bootstrap);
  const files = listSegments(dir);
  if (files.length > limits.walSegmentsMax) {
    r.corruption = { file: dir, offset: 0, reason: `${files.length} segment files, more than ${limits.walSegmentsMax}` };
    return r;
  }
  for (let k = 0; k < files.length; k++) {
    const f = files[k] as { no: number; file: string };
    const prev = files[k - 1];
    if (prev !== undefined && f.no !== prev.no + 1) {
      r.corruption = { file: f.file, offset: 0, reason: `segment ${prev.no + 1} is missing` };
      break;
    }
    readSegment(r, f.no, f.file, k === files.length - 1);
    if (r.corruption !== null || r.torn !== null) break;
  }
  if (r.corruption === null && r.state !== null) {
    try {
      r.state.checkLoaded();
    } catch (e) {
      const last = r.segments[r.segments.length - 1];
      r.corruption = { file: last?.file ?? dir, offset: last?.endOffset ?? 0, reason: (e as Error).message };
    }
  }
  return r;
}

function readSegment(r: Reading, no: number, file: string, isLast: boolean): void {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    r.corruption = { file, offset: 0, reason: `cannot read: ${(e as Error).message}` };
    return;
  }
  const seg: SegmentInfo = { no, file, fileBytes: buf.length, frames: 0, firstSeq: null, lastSeq: null, endOffset: 0, dirtyEnd: 0, startLastIndex: 0 };
  r.segments.push(seg);
  let at = 0;
  for (;;) {
    const fr = readFrame(buf, at, crc32c, limits.walFrameBytesMax);
    if (fr.status === 'zero') break;
    let reason: string | null = fr.status === 'bad' ? fr.reason : null;
    if (fr.status === 'ok' && r.nextSeq !== null && fr.seq !== r.nextSeq) reason = `frame sequence ${fr.seq}, expected ${r.nextSeq}`;
    if (reason !== null) {
      classify(r, seg, buf, at, reason, isLast);
      return;
    }
    if (fr.status !== 'ok') return;
    try {
      applyFrame(r, seg, buf, fr.bodyStart, fr.bodyEnd);
    } catch (e) {
      if (!(e instanceof CorruptRecord)) throw e;
      r.corruption = { file, offset: at, reason: e.message };
      return;
    }
    seg.frames++;
    seg.firstSeq ??= fr.seq;
    seg.lastSeq = fr.seq;
    r.nextSeq = fr.seq + 1;
    at = fr.next;
  }
  seg.endOffset = at;
  seg.dirtyEnd = dirtyEnd(buf, at);
  if (seg.dirtyEnd > at) classify(r, seg, buf, at, 'stray bytes after the last frame', isLast);
  // Only the newest segment can be empty (a crash right after it was renamed into place).
  else if (seg.frames === 0 && !isLast) r.corruption = { file, offset: 0, reason: 'segment holds no frames but later segments follow' };
}

/** A bad spot: corruption if a valid frame follows it (here or, for an earlier segment, anywhere), else a torn tail. */
function classify(r: Reading, seg: SegmentInfo, buf: Buffer, at: number, reason: string, isLast: boolean): void {
  seg.endOffset = at;
  seg.dirtyEnd = dirtyEnd(buf, at);
  const later = findValidFrame(buf, at + 8);
  if (later !== null) {
    r.corruption = { file: seg.file, offset: at, reason: `${reason}, followed by a valid frame at offset ${later}` };
  } else if (!isLast) {
    r.corruption = { file: seg.file, offset: at, reason: `${reason}, in a segment that later segments follow` };
  } else {
    r.torn = { file: seg.file, offset: at, reason };
  }
}

const zeroChunk = Buffer.alloc(64 * 1024);

/** One past the last non-zero byte at or after from (from when all zero); compares whole chunks natively first. */
export function dirtyEnd(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end - from >= zeroChunk.length && buf.subarray(end - zeroChunk.length, end).equals(zeroChunk)) end -= zeroChunk.length;
  for (let i = end - 1; i >= from; i--) if (buf[i] !== 0) return i + 1;
  return from;
}

const magicBytes = Buffer.alloc(4);
magicBytes.writeUInt32LE(frameMagic, 0);

/** Offset of the first frame at or after `from` (8-aligned) whose checksum holds, or null. */
export function findValidFrame(buf: Buffer, from: number): number | null {
  for (let at = buf.indexOf(magicBytes, from); at >= 0; at = buf.indexOf(magicBytes, at + 1)) {
    if (at % 8 !== 0) continue;
    if (readFrame(buf, at, crc32c, limits.walFrameBytesMax).status === 'ok') return at;
  }
  return null;
}

function applyFrame(r: Reading, seg: SegmentInfo, buf: Buffer, start: number, end: number): void {
  let at = start;
  let first = true;
  while (at < end) {
    const { record, next } = readRecord(buf, at, end, false);
    applyRecord(r, seg, record, first, { seg: seg.no, offset: at, length: next - at });
    first = false;
    at = next;
  }
  if (seg.frames === 0 && first) throw new CorruptRecord('the first frame of a segment is empty');
}

function applyRecord(r: Reading, seg: SegmentInfo, rec: WalRecord, firstInFrame: boolean, place: { seg: number; offset: number; length: number }): void {
  r.records[rec.kind]++;
  if (rec.kind === 'entry') {
    r.lowestTerm = Math.min(r.lowestTerm ?? rec.entry.term, rec.entry.term);
    r.highestTerm = Math.max(r.highestTerm ?? rec.entry.term, rec.entry.term);
  }
  const segmentStart = seg.frames === 0 && firstInFrame;
  if (segmentStart !== (rec.kind === 'checkpoint')) throw new CorruptRecord(segmentStart ? `segment starts with a ${rec.kind} record, not a checkpoint` : 'a checkpoint record after the start of a segment');
  if (rec.kind !== 'checkpoint') {
    (r.state as LogState).apply(rec, place);
    return;
  }
  seg.startLastIndex = rec.checkpoint.lastIndex;
  if (r.state === null) {
    r.state = new LogState(r.bootstrap);
    r.state.startFrom(rec.checkpoint);
  } else {
    r.state.checkAgainst(rec.checkpoint);
  }
}
