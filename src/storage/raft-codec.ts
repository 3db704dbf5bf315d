// The raft log's LevelDB layout. One byte of prefix per kind of record:
//
//   'c'                      log start: index and term of the last compacted entry
//                            (absent: 0 and 0, the log was never compacted)
//   'd' + u32 BE chunk       snapshot data, split in raftLogSnapshotChunkBytes pieces
//   'e' + u64 BE index       one entry: type byte, uvarint term, data
//   'f'                      format marker, written with the first batch
//   'h'                      hard state
//   's'                      snapshot metadata (index, term, data size, chunks, confState)
//
// Big-endian indexes make LevelDB's byte order the log order. Numbers are
// safe integers: decoding anything larger is reported as corruption.
import type { ConfState, Entry, EntryType, HardState, SnapshotMetadata } from '../raft';

export const prefixLogStart = 0x63; // 'c'
export const prefixSnapshotData = 0x64; // 'd'
export const prefixEntry = 0x65; // 'e'
export const prefixFormat = 0x66; // 'f'
export const prefixHardState = 0x68; // 'h'
export const prefixSnapshotMeta = 0x73; // 's'

export const keyLogStart = Buffer.from([prefixLogStart]);
export const keyFormat = Buffer.from([prefixFormat]);
export const keyHardState = Buffer.from([prefixHardState]);
export const keySnapshotMeta = Buffer.from([prefixSnapshotMeta]);
export const formatValue = Buffer.from('keel raft log v1', 'latin1');

/** Thrown by decoders; the opener turns it into an error naming the directory. */
export class CorruptRecord extends Error {
  override name = 'CorruptRecord';
}

const two32 = 2 ** 32;

function writeU64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / two32), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

function readU64(buf: Buffer, at: number, what: string): number {
  if (at + 8 > buf.length) throw new CorruptRecord(`${what}: record too short`);
  const v = buf.readUInt32BE(at) * two32 + buf.readUInt32BE(at + 4);
  if (!Number.isSafeInteger(v)) throw new CorruptRecord(`${what}: number out of range`);
  return v;
}

export function entryKey(index: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = prefixEntry;
  writeU64(k, 1, index);
  return k;
}

export function entryKeyIndex(key: Buffer): number {
  if (key.length !== 9) throw new CorruptRecord(`entry key ${key.toString('hex')} has a bad length`);
  return readU64(key, 1, 'entry key');
}

export function snapshotDataKey(chunk: number): Buffer {
  const k = Buffer.allocUnsafe(5);
  k[0] = prefixSnapshotData;
  k.writeUInt32BE(chunk, 1);
  return k;
}

export function snapshotDataKeyChunk(key: Buffer): number {
  if (key.length !== 5) throw new CorruptRecord(`snapshot data key ${key.toString('hex')} has a bad length`);
  return key.readUInt32BE(1);
}

// --- entries: [type][uvarint term][data] ---

const entryTypes: readonly EntryType[] = ['normal', 'confChange'];

function uvarintBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

export function encodeEntry(e: Entry): Buffer {
  const termBytes = uvarintBytes(e.term);
  const out = Buffer.allocUnsafe(1 + termBytes + e.data.byteLength);
  out[0] = entryTypes.indexOf(e.type);
  let v = e.term;
  let at = 1;
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  out.set(e.data, at);
  return out;
}

export function decodeEntry(index: number, value: Buffer): Entry {
  const type = entryTypes[value[0] ?? 0xff];
  if (type === undefined) throw new CorruptRecord(`entry ${index}: unknown type ${value[0] ?? '(empty record)'}`);
  let term = 0;
  let scale = 1;
  let at = 1;
  for (;;) {
    const b = value[at++];
    if (b === undefined) throw new CorruptRecord(`entry ${index}: record too short`);
    term += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 0x80;
    if (scale > Number.MAX_SAFE_INTEGER) throw new CorruptRecord(`entry ${index}: term out of range`);
  }
  if (!Number.isSafeInteger(term)) throw new CorruptRecord(`entry ${index}: term out of range`);
  // A view, not a copy: the value buffer belongs to this entry alone.
  const data = new Uint8Array(value.buffer, value.byteOffset + at, value.length - at);
  return { term, index, type, data };
}

// --- hard state: [version 1][term u64][vote u64][commit u64] ---

export function encodeHardState(hs: HardState): Buffer {
  const out = Buffer.allocUnsafe(25);
  out[0] = 1;
  writeU64(out, 1, hs.term);
  out.writeBigUInt64BE(hs.vote, 9);
  writeU64(out, 17, hs.commit);
  return out;
}

export function decodeHardState(value: Buffer): HardState {
  if (value.length !== 25 || value[0] !== 1) throw new CorruptRecord('hard state: bad record');
  return { term: readU64(value, 1, 'hard state'), vote: value.readBigUInt64BE(9), commit: readU64(value, 17, 'hard state') };
}

// --- log start: [index u64][term u64] ---

export interface LogStart {
  readonly index: number;
  readonly term: number;
}

export function encodeLogStart(s: LogStart): Buffer {
  const out = Buffer.allocUnsafe(16);
  writeU64(out, 0, s.index);
  writeU64(out, 8, s.term);
  return out;
}

export function decodeLogStart(value: Buffer): LogStart {
  if (value.length !== 16) throw new CorruptRecord('log start: bad record');
  return { index: readU64(value, 0, 'log start'), term: readU64(value, 8, 'log start') };
}

// --- snapshot metadata: [version 1][index u64][term u64][data bytes u64][chunks u32]
//     [voters u32][voter u64]…[learners u32][learner u64]… ---

export interface SnapshotRecord {
  readonly metadata: SnapshotMetadata;
  readonly dataBytes: number;
  readonly chunks: number;
}

export function encodeSnapshotMeta(r: SnapshotRecord): Buffer {
  const { voters, learners } = r.metadata.confState;
  const out = Buffer.allocUnsafe(1 + 8 + 8 + 8 + 4 + 4 + 8 * voters.length + 4 + 8 * learners.length);
  out[0] = 1;
  writeU64(out, 1, r.metadata.index);
  writeU64(out, 9, r.metadata.term);
  writeU64(out, 17, r.dataBytes);
  out.writeUInt32BE(r.chunks, 25);
  let at = 29;
  for (const ids of [voters, learners]) {
    out.writeUInt32BE(ids.length, at);
    at += 4;
    for (const id of ids) {
      out.writeBigUInt64BE(id, at);
      at += 8;
    }
  }
  return out;
}

export function decodeSnapshotMeta(value: Buffer): SnapshotRecord {
  if (value.length < 37 || value[0] !== 1) throw new CorruptRecord('snapshot metadata: bad record');
  const index = readU64(value, 1, 'snapshot metadata');
  const term = readU64(value, 9, 'snapshot metadata');
  const dataBytes = readU64(value, 17, 'snapshot metadata');
  const chunks = value.readUInt32BE(25);
  let at = 29;
  const lists: bigint[][] = [];
  for (let l = 0; l < 2; l++) {
    if (at + 4 > value.length) throw new CorruptRecord('snapshot metadata: record too short');
    const n = value.readUInt32BE(at);
    at += 4;
    if (at + 8 * n > value.length) throw new CorruptRecord('snapshot metadata: record too short');
    const ids: bigint[] = [];
    for (let i = 0; i < n; i++, at += 8) ids.push(value.readBigUInt64BE(at));
    lists.push(ids);
  }
  if (at !== value.length) throw new CorruptRecord('snapshot metadata: trailing bytes');
  const confState: ConfState = { voters: lists[0] ?? [], learners: lists[1] ?? [] };
  return { metadata: { index, term, confState }, dataBytes, chunks };
}
