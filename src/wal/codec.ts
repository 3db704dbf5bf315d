// The WAL's bytes. A segment file is a sequence of frames, 8-byte aligned,
// followed by zeros (the preallocated space not yet used):
//
//   frame:  u32 magic 'KWAL' | u32 bodyBytes | u64 seq | u32 crc32c | u32 0 | body | zero pad to 8
//
// All numbers little-endian. seq counts frames across the whole WAL (+1 per
// frame, segments included), so a missing or misplaced file is noticed. The
// CRC covers bodyBytes, seq and the body. One frame is one save(): it is on
// disk whole or, after a crash, torn and cut — never half applied.
//
// The body is records: u8 kind | u32 payloadBytes | payload.
//   1 checkpoint   every segment's first frame: hard state, snapshot, log start, last index
//   2 entry        u64 index | u64 term | u8 type | data
//   3 hardState    u64 term | u64 vote | u64 commit
//   4 snapshot     a snapshot received from the leader: it replaces the log
//   5 snapshotMark a snapshot taken here: recorded, the log is unchanged
//   6 compact      u64 index | u64 term: entries up to index are released
// Numbers are safe integers; anything larger decodes as corruption.
import { makeConfState, type ConfState, type Entry, type EntryType, type HardState, type Snapshot } from '../raft';

export const frameMagic = 0x4c41574b; // "KWAL" read as u32 LE
export const frameHeaderBytes = 24;
export const frameAlignBytes = 8;
export const recordHeaderBytes = 5;
/** Bytes of an entry record besides its data. */
export const entryRecordOverheadBytes = recordHeaderBytes + 17;

export interface LogStart {
  readonly index: number;
  readonly term: number;
}

export interface Checkpoint {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  readonly logStart: LogStart;
  /** The log's last index when the segment began; the entries up to it are in earlier segments. */
  readonly lastIndex: number;
}

export type WalRecord =
  | { readonly kind: 'checkpoint'; readonly checkpoint: Checkpoint }
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }
  | { readonly kind: 'snapshotMark'; readonly snapshot: Snapshot }
  | { readonly kind: 'compact'; readonly logStart: LogStart };

const kindCodes = { checkpoint: 1, entry: 2, hardState: 3, snapshot: 4, snapshotMark: 5, compact: 6 } as const;
const entryTypes: readonly EntryType[] = ['normal', 'confChange'];

/** A record that cannot be decoded; the reader adds the file and offset. */
export class CorruptRecord extends Error {
  override name = 'CorruptRecord';
}

const two32 = 2 ** 32;

export function align(n: number): number {
  return Math.ceil(n / frameAlignBytes) * frameAlignBytes;
}

// --- sizes ---

function snapshotPayloadBytes(s: Snapshot): number {
  const cs = s.metadata.confState;
  return 16 + 8 + 8 * (cs.voters.length + cs.learners.length) + 8 + s.data.byteLength;
}

function payloadBytes(r: WalRecord): number {
  switch (r.kind) {
    case 'entry':
      return 17 + r.entry.data.byteLength;
    case 'hardState':
      return 24;
    case 'compact':
      return 16;
    case 'snapshot':
    case 'snapshotMark':
      return snapshotPayloadBytes(r.snapshot);
    case 'checkpoint':
      return 24 + 16 + 8 + snapshotPayloadBytes(r.checkpoint.snapshot);
  }
}

export function frameBytesOf(bodyBytes: number): number {
  return align(frameHeaderBytes + bodyBytes);
}

// --- writing ---

class Writer {
  at = 0;
  constructor(readonly buf: Buffer) {}
  u8(v: number): void {
    this.buf[this.at++] = v;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v, this.at);
    this.at += 4;
  }
  u64(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.at);
    this.buf.writeUInt32LE(Math.floor(v / two32), this.at + 4);
    this.at += 8;
  }
  big(v: bigint): void {
    this.buf.writeBigUInt64LE(v, this.at);
    this.at += 8;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  const { index, term, confState } = s.metadata;
  w.u64(index);
  w.u64(term);
  w.u32(confState.voters.length);
  w.u32(confState.learners.length);
  for (const id of confState.voters) w.big(id);
  for (const id of confState.learners) w.big(id);
  w.u64(s.data.byteLength);
  w.bytes(s.data);
}

function writeHardState(w: Writer, hs: HardState): void {
  w.u64(hs.term);
  w.big(hs.vote);
  w.u64(hs.commit);
}

function writePayload(w: Writer, r: WalRecord): void {
  switch (r.kind) {
    case 'entry':
      w.u64(r.entry.index);
      w.u64(r.entry.term);
      w.u8(entryTypes.indexOf(r.entry.type));
      w.bytes(r.entry.data);
      return;
    case 'hardState':
      writeHardState(w, r.hardState);
      return;
    case 'compact':
      w.u64(r.logStart.index);
      w.u64(r.logStart.term);
      return;
    case 'snapshot':
    case 'snapshotMark':
      writeSnapshot(w, r.snapshot);
      return;
    case 'checkpoint':
      writeHardState(w, r.checkpoint.hardState);
      w.u64(r.checkpoint.logStart.index);
      w.u64(r.checkpoint.logStart.term);
      w.u64(r.checkpoint.lastIndex);
      writeSnapshot(w, r.checkpoint.snapshot);
      return;
  }
}

export interface EncodedFrame {
  readonly buf: Buffer;
  /** Offset of each record (its kind byte) from the start of the frame, in record order. */
  readonly recordOffsets: readonly number[];
  /** Offset of the end of the body (before the padding) from the start of the frame. */
  readonly bodyEnd: number;
}

/** Encodes records as one frame; crc is the caller's CRC32C (so the codec needs no binding). */
export function encodeFrame(seq: number, records: readonly WalRecord[], crc: (b: Uint8Array, c?: number) => number): EncodedFrame {
  let body = 0;
  for (const r of records) body += recordHeaderBytes + payloadBytes(r);
  const buf = Buffer.alloc(frameBytesOf(body));
  const w = new Writer(buf);
  w.u32(frameMagic);
  w.u32(body);
  w.u64(seq);
  w.at = frameHeaderBytes;
  const recordOffsets: number[] = [];
  for (const r of records) {
    recordOffsets.push(w.at);
    w.u8(kindCodes[r.kind]);
    const len = payloadBytes(r);
    w.u32(len);
    const start = w.at;
    writePayload(w, r);
    if (w.at - start !== len) throw new Error(`wal codec: ${r.kind} payload is ${w.at - start} bytes, sized ${len}`);
  }
  const c = crc(buf.subarray(frameHeaderBytes, frameHeaderBytes + body), crc(buf.subarray(4, 16)));
  buf.writeUInt32LE(c, 16);
  return { buf, recordOffsets, bodyEnd: frameHeaderBytes + body };
}

// --- reading frames ---

export type FrameRead =
  | { readonly status: 'ok'; readonly seq: number; readonly bodyStart: number; readonly bodyEnd: number; readonly next: number }
  /** Zeros where a frame would start: the end of the written part of a segment. */
  | { readonly status: 'zero' }
  | { readonly status: 'bad'; readonly reason: string };

/** Reads the frame at `at` of a segment's bytes (buf holds the whole file). */
export function readFrame(buf: Buffer, at: number, crc: (b: Uint8Array, c?: number) => number, frameBytesMax: number): FrameRead {
  if (at + frameHeaderBytes > buf.length) return isZero(buf, at, buf.length) ? { status: 'zero' } : { status: 'bad', reason: 'partial frame header' };
  const magic = buf.readUInt32LE(at);
  if (magic !== frameMagic) return isZero(buf, at, at + frameHeaderBytes) ? { status: 'zero' } : { status: 'bad', reason: 'no frame magic' };
  const body = buf.readUInt32LE(at + 4);
  if (body > frameBytesMax) return { status: 'bad', reason: `frame length ${body} beyond the limit` };
  const end = at + frameHeaderBytes + body;
  if (end > buf.length) return { status: 'bad', reason: `frame of ${body} bytes runs past the end of the file` };
  const want = buf.readUInt32LE(at + 16);
  const got = crc(buf.subarray(at + frameHeaderBytes, end), crc(buf.subarray(at + 4, at + 16)));
  if (got !== want) return { status: 'bad', reason: `checksum mismatch (stored ${hex32(want)}, computed ${hex32(got)})` };
  const seq = buf.readUInt32LE(at + 8) + buf.readUInt32LE(at + 12) * two32;
  if (!Number.isSafeInteger(seq)) return { status: 'bad', reason: 'frame sequence out of range' };
  return { status: 'ok', seq, bodyStart: at + frameHeaderBytes, bodyEnd: end, next: align(end) };
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}

export function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

// --- reading records ---

class Reader {
  constructor(readonly buf: Buffer, public at: number, readonly end: number) {}
  need(n: number): void {
    if (this.at + n > this.end) throw new CorruptRecord('record too short');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++] as number;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readUInt32LE(this.at) + this.buf.readUInt32LE(this.at + 4) * two32;
    this.at += 8;
    if (!Number.isSafeInteger(v)) throw new CorruptRecord('number out of range');
    return v;
  }
  big(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.at);
    this.at += 8;
    return v;
  }
  /** A view of the next n bytes, or a copy when copy is set (so a big read buffer is not kept alive). */
  bytes(n: number, copy: boolean): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    const u = copy ? Uint8Array.from(b) : b;
    return new Uint8Array(u.buffer, u.byteOffset, u.byteLength);
  }
}

function readSnapshot(r: Reader): Snapshot {
  const index = r.u64();
  const term = r.u64();
  const nv = r.u32();
  const nl = r.u32();
  r.need(8 * (nv + nl));
  const voters: bigint[] = [];
  const learners: bigint[] = [];
  for (let i = 0; i < nv; i++) voters.push(r.big());
  for (let i = 0; i < nl; i++) learners.push(r.big());
  let confState: ConfState;
  try {
    confState = makeConfState(voters, learners);
  } catch (e) {
    throw new CorruptRecord(`snapshot configuration: ${(e as Error).message}`);
  }
  const data = r.bytes(r.u64(), true);
  return { metadata: { index, term, confState }, data };
}

function readHardState(r: Reader): HardState {
  const term = r.u64();
  const vote = r.big();
  const commit = r.u64();
  return { term, vote, commit };
}

function readEntry(r: Reader, end: number, copy: boolean): Entry {
  const index = r.u64();
  const term = r.u64();
  const type = entryTypes[r.u8()];
  if (type === undefined) throw new CorruptRecord(`entry ${index}: unknown type`);
  return { index, term, type, data: r.bytes(end - r.at, copy) };
}

function readPayload(kind: number, r: Reader, end: number, copy: boolean): WalRecord {
  switch (kind) {
    case kindCodes.entry:
      return { kind: 'entry', entry: readEntry(r, end, copy) };
    case kindCodes.hardState:
      return { kind: 'hardState', hardState: readHardState(r) };
    case kindCodes.compact:
      return { kind: 'compact', logStart: { index: r.u64(), term: r.u64() } };
    case kindCodes.snapshot:
      return { kind: 'snapshot', snapshot: readSnapshot(r) };
    case kindCodes.snapshotMark:
      return { kind: 'snapshotMark', snapshot: readSnapshot(r) };
    case kindCodes.checkpoint: {
      const hardState = readHardState(r);
      const logStart = { index: r.u64(), term: r.u64() };
      const lastIndex = r.u64();
      return { kind: 'checkpoint', checkpoint: { hardState, logStart, lastIndex, snapshot: readSnapshot(r) } };
    }
    default:
      throw new CorruptRecord(`unknown record kind ${kind}`);
  }
}

/** Decodes the record at `at`; returns it and where the next one starts. Entry data is a view of buf unless copy. */
export function readRecord(buf: Buffer, at: number, end: number, copy: boolean): { record: WalRecord; next: number } {
  const r = new Reader(buf, at, end);
  const kind = r.u8();
  const len = r.u32();
  r.need(len);
  const payloadEnd = r.at + len;
  const inner = new Reader(buf, r.at, payloadEnd);
  const record = readPayload(kind, inner, payloadEnd, copy);
  if (inner.at !== payloadEnd) throw new CorruptRecord(`${record.kind} record has ${payloadEnd - inner.at} trailing bytes`);
  return { record, next: payloadEnd };
}
