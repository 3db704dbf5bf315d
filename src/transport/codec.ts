// The peer wire encoding of a raft Message. Hand-written rather than msgpackr
// or protobuf: MsgApp, MsgAppResp and MsgHeartbeat are nearly all peer
// traffic, and a fixed field order with varints needs no field names, no
// reflection and no intermediate objects. Layout (all integers big-endian):
//
//   u8 type, u8 flags (1 = reject, 2 = snapshot present), u64 to, u64 from,
//   uvarint term, logTerm, index, commit, rejectHint,
//   uvarint context length, context bytes,
//   uvarint entry count, per entry: uvarint term, uvarint index, u8 type,
//     uvarint data length, data bytes,
//   if snapshot: uvarint index, uvarint term, uvarint voter count, u64 each,
//     uvarint learner count, u64 each, uvarint data length, data bytes.
//
// Decoding treats its input as untrusted: any inconsistency is a DecodeError
// (an operating error: the connection is dropped), never an assertion.
import { assert, limits } from '../util';
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../raft';

export class DecodeError extends Error {
  override name = 'DecodeError';
}

/** Types that cross the network, in wire-code order (code = position + 1). Local types have no code. */
const wireTypes: readonly MessageType[] = [
  'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgSnap', 'MsgHeartbeat', 'MsgHeartbeatResp',
  'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp', 'MsgPreVote', 'MsgPreVoteResp',
];
const typeCodes: ReadonlyMap<MessageType, number> = new Map(wireTypes.map((t, i) => [t, i + 1]));

const flagReject = 1;
const flagSnapshot = 2;
const entryTypeNormal = 0;
const entryTypeConfChange = 1;
const u64Max = (1n << 64n) - 1n;
const emptyBytes = new Uint8Array(0);
const noEntries: readonly Entry[] = Object.freeze([]);

/** Whether a message of this type may be handed to the transport. */
export function isWireType(t: MessageType): boolean {
  return typeCodes.has(t);
}

export function uvarintBytes(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  if (n < 0x800000000) return 5;
  if (n < 0x40000000000) return 6;
  if (n < 0x2000000000000) return 7;
  return 8;
}

function entryWireBytes(e: Entry): number {
  return uvarintBytes(e.term) + uvarintBytes(e.index) + 1 + uvarintBytes(e.data.byteLength) + e.data.byteLength;
}

function snapshotWireBytes(s: Snapshot): number {
  const cs = s.metadata.confState;
  return uvarintBytes(s.metadata.index) + uvarintBytes(s.metadata.term)
    + uvarintBytes(cs.voters.length) + 8 * cs.voters.length
    + uvarintBytes(cs.learners.length) + 8 * cs.learners.length
    + uvarintBytes(s.data.byteLength) + s.data.byteLength;
}

/** Exact encoded size of m; encodeMessage writes exactly this many bytes. */
export function messageWireBytes(m: Message): number {
  let n = 2 + 16 + uvarintBytes(m.term) + uvarintBytes(m.logTerm) + uvarintBytes(m.index)
    + uvarintBytes(m.commit) + uvarintBytes(m.rejectHint)
    + uvarintBytes(m.context.byteLength) + m.context.byteLength
    + uvarintBytes(m.entries.length);
  for (const e of m.entries) n += entryWireBytes(e);
  if (m.snapshot !== null) n += snapshotWireBytes(m.snapshot);
  return n;
}

function writeUvarint(buf: Buffer, off: number, n: number): number {
  assert(Number.isSafeInteger(n), 'wire integer must be a safe integer');
  assert(n >= 0, 'wire integer must not be negative');
  let v = n;
  while (v >= 0x80) {
    const low = v % 0x80;
    buf[off++] = low | 0x80;
    v = (v - low) / 0x80;
  }
  buf[off++] = v;
  return off;
}

function writeId(buf: Buffer, off: number, id: bigint): number {
  assert(id >= 0n, 'member ID must not be negative');
  assert(id <= u64Max, 'member ID must fit 64 bits');
  buf.writeBigUInt64BE(id, off);
  return off + 8;
}

function writeBytes(buf: Buffer, off: number, b: Uint8Array): number {
  off = writeUvarint(buf, off, b.byteLength);
  buf.set(b, off);
  return off + b.byteLength;
}

function writeSnapshot(buf: Buffer, off: number, s: Snapshot): number {
  off = writeUvarint(buf, off, s.metadata.index);
  off = writeUvarint(buf, off, s.metadata.term);
  const cs = s.metadata.confState;
  off = writeUvarint(buf, off, cs.voters.length);
  for (const id of cs.voters) off = writeId(buf, off, id);
  off = writeUvarint(buf, off, cs.learners.length);
  for (const id of cs.learners) off = writeId(buf, off, id);
  return writeBytes(buf, off, s.data);
}

/** Writes m at off (buf must have messageWireBytes(m) bytes there); returns the offset after it. */
export function encodeMessage(m: Message, buf: Buffer, off: number): number {
  const code = typeCodes.get(m.type);
  assert(code !== undefined, `message type ${m.type} never crosses the network`);
  buf[off++] = code;
  buf[off++] = (m.reject ? flagReject : 0) | (m.snapshot !== null ? flagSnapshot : 0);
  off = writeId(buf, off, m.to);
  off = writeId(buf, off, m.from);
  off = writeUvarint(buf, off, m.term);
  off = writeUvarint(buf, off, m.logTerm);
  off = writeUvarint(buf, off, m.index);
  off = writeUvarint(buf, off, m.commit);
  off = writeUvarint(buf, off, m.rejectHint);
  off = writeBytes(buf, off, m.context);
  off = writeUvarint(buf, off, m.entries.length);
  for (const e of m.entries) {
    off = writeUvarint(buf, off, e.term);
    off = writeUvarint(buf, off, e.index);
    buf[off++] = e.type === 'normal' ? entryTypeNormal : entryTypeConfChange;
    off = writeBytes(buf, off, e.data);
  }
  if (m.snapshot !== null) off = writeSnapshot(buf, off, m.snapshot);
  return off;
}

/** A fresh buffer holding exactly one encoded message. */
export function encodeMessageToBuffer(m: Message): Buffer {
  const buf = Buffer.allocUnsafe(messageWireBytes(m));
  const end = encodeMessage(m, buf, 0);
  assert(end === buf.length, 'messageWireBytes must match encodeMessage');
  return buf;
}

/** Reads the wire format from [pos, end) of buf; every read checks the bound. */
export class WireReader {
  constructor(private readonly buf: Buffer, public pos: number, private readonly end: number) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new DecodeError('truncated message');
    return this.buf[this.pos++] as number;
  }

  u64(): bigint {
    if (this.end - this.pos < 8) throw new DecodeError('truncated message');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uvarint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (n > Number.MAX_SAFE_INTEGER) throw new DecodeError('integer exceeds 2^53');
        return n;
      }
      mul *= 0x80;
    }
    throw new DecodeError('varint longer than 8 bytes');
  }

  /** A view of the next n bytes: the caller owns buf, so views keep no foreign memory alive. */
  bytes(): Uint8Array {
    const n = this.uvarint();
    if (n > this.remaining) throw new DecodeError('truncated bytes field');
    if (n === 0) return emptyBytes;
    const view = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return view;
  }

  /** A count of items each at least minItemBytes long, checked against what is left. */
  count(minItemBytes: number): number {
    const n = this.uvarint();
    if (n * minItemBytes > this.remaining) throw new DecodeError('item count exceeds message');
    return n;
  }
}

function readEntryType(code: number): EntryType {
  if (code === entryTypeNormal) return 'normal';
  if (code === entryTypeConfChange) return 'confChange';
  throw new DecodeError(`unknown entry type ${code}`);
}

function readEntries(r: WireReader): readonly Entry[] {
  const n = r.count(4);
  if (n === 0) return noEntries;
  const out: Entry[] = new Array<Entry>(n);
  for (let i = 0; i < n; i++) {
    const term = r.uvarint();
    const index = r.uvarint();
    const type = readEntryType(r.u8());
    out[i] = { term, index, type, data: r.bytes() };
  }
  return out;
}

function readIds(r: WireReader): bigint[] {
  const n = r.count(8);
  if (n > limits.raftMembersMax) throw new DecodeError('too many members in confState');
  const ids: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.u64();
    const prev = ids[ids.length - 1];
    if (prev !== undefined && prev >= id) throw new DecodeError('confState IDs not strictly ascending');
    ids.push(id);
  }
  return ids;
}

function readConfState(r: WireReader): ConfState {
  const voters = readIds(r);
  const learners = readIds(r);
  const voterSet = new Set(voters);
  for (const id of learners) if (voterSet.has(id)) throw new DecodeError('confState learner is also a voter');
  return { voters, learners };
}

function readSnapshot(r: WireReader): Snapshot {
  const index = r.uvarint();
  const term = r.uvarint();
  const confState = readConfState(r);
  return { metadata: { index, term, confState }, data: r.bytes() };
}

function readType(code: number): MessageType {
  const t = wireTypes[code - 1];
  if (t === undefined) throw new DecodeError(`unknown message type ${code}`);
  return t;
}

/**
 * Decodes the message filling exactly [start, end) of buf. Byte fields are
 * views into buf, so buf must be owned by the message (not a pooled slab or a
 * socket chunk shared with other data).
 */
export function decodeMessage(buf: Buffer, start: number, end: number): Message {
  const r = new WireReader(buf, start, end);
  const type = readType(r.u8());
  const flags = r.u8();
  if ((flags & ~(flagReject | flagSnapshot)) !== 0) throw new DecodeError('unknown message flags');
  const to = r.u64();
  const from = r.u64();
  const term = r.uvarint();
  const logTerm = r.uvarint();
  const index = r.uvarint();
  const commit = r.uvarint();
  const rejectHint = r.uvarint();
  const context = r.bytes();
  const entries = readEntries(r);
  const snapshot = (flags & flagSnapshot) !== 0 ? readSnapshot(r) : null;
  if (r.remaining !== 0) throw new DecodeError('trailing bytes after message');
  return {
    type, to, from, term, logTerm, index, entries, commit, snapshot,
    reject: (flags & flagReject) !== 0, rejectHint, context,
  };
}
