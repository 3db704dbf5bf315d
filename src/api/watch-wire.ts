// The Watch service's messages, coded by hand. One put can fan out to
// thousands of watchers; each event is encoded once (cached by the shared
// Event object the hub hands to every watcher) and a response is its header,
// watch_id and flags followed by those shared bytes. Field numbers are etcd's
// (rpc.proto WatchResponse and ResponseHeader, kv.proto Event and KeyValue);
// fields go in number order and zero values are left out, as Go's marshaller
// does, so sizes (and fragment boundaries) match etcd's. WatchRequest, one per
// watcher created, is decoded straight into the hub's WatchCreate.
import { EventType, type Event, type KeyValue, type WatchCreate, type WatchFilter, type WatchOutput } from '../mvcc';
import { assert } from '../util';

// (field number << 3) | wire type; 0 = varint, 2 = length-delimited.
const kvKeyTag = 0x0a;
const kvCreateTag = 0x10;
const kvModTag = 0x18;
const kvVersionTag = 0x20;
const kvValueTag = 0x2a;
const kvLeaseTag = 0x30;
const eventTypeTag = 0x08;
const eventKvTag = 0x12;
const eventPrevKvTag = 0x1a;
const headerClusterTag = 0x08;
const headerMemberTag = 0x10;
const headerRevisionTag = 0x18;
const headerTermTag = 0x20;
const respHeaderTag = 0x0a;
const respWatchIdTag = 0x10;
const respCreatedTag = 0x18;
const respCanceledTag = 0x20;
const respCompactTag = 0x28;
const respReasonTag = 0x32;
const respFragmentTag = 0x38;
const respEventTag = 0x5a;

/** gRPC's length prefix: a compressed flag byte and a 4-byte big-endian length. */
export const grpcPrefixBytes = 5;

const twoPow64 = 1n << 64n;

/** Varint size of a non-negative safe integer. */
function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function bigVarintSize(v: bigint): number {
  let x = v < 0n ? v + twoPow64 : v;
  let n = 1;
  while (x >= 128n) {
    x >>= 7n;
    n++;
  }
  return n;
}

/** int64 as a varint: negatives take ten bytes (two's complement). */
function int64Size(v: number): number {
  return v < 0 ? 10 : uvarintSize(v);
}

function writeUvarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 128) {
    // `& 127` reads the low bits exactly for any safe integer (ToInt32 is modulo 2^32).
    buf[pos++] = (v & 127) | 128;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeBigVarint(buf: Buffer, pos: number, v: bigint): number {
  let x = v < 0n ? v + twoPow64 : v;
  while (x >= 128n) {
    buf[pos++] = Number(x & 127n) | 128;
    x >>= 7n;
  }
  buf[pos++] = Number(x);
  return pos;
}

function writeInt64(buf: Buffer, pos: number, v: number): number {
  return v < 0 ? writeBigVarint(buf, pos, BigInt(v)) : writeUvarint(buf, pos, v);
}

function bytesFieldSize(len: number): number {
  return len === 0 ? 0 : 1 + uvarintSize(len) + len;
}

function int64FieldSize(v: number): number {
  return v === 0 ? 0 : 1 + int64Size(v);
}

function kvSize(kv: KeyValue): number {
  return bytesFieldSize(kv.key.length) + int64FieldSize(kv.createRevision) + int64FieldSize(kv.modRevision)
    + int64FieldSize(kv.version) + bytesFieldSize(kv.value.length) + (kv.lease === 0n ? 0 : 1 + bigVarintSize(kv.lease));
}

function writeBytesField(buf: Buffer, pos: number, tag: number, b: Buffer): number {
  if (b.length === 0) return pos;
  buf[pos++] = tag;
  pos = writeUvarint(buf, pos, b.length);
  return pos + b.copy(buf, pos);
}

function writeInt64Field(buf: Buffer, pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  buf[pos++] = tag;
  return writeInt64(buf, pos, v);
}

function writeKv(buf: Buffer, pos: number, tag: number, kv: KeyValue, size: number): number {
  buf[pos++] = tag;
  pos = writeUvarint(buf, pos, size);
  pos = writeBytesField(buf, pos, kvKeyTag, kv.key);
  pos = writeInt64Field(buf, pos, kvCreateTag, kv.createRevision);
  pos = writeInt64Field(buf, pos, kvModTag, kv.modRevision);
  pos = writeInt64Field(buf, pos, kvVersionTag, kv.version);
  pos = writeBytesField(buf, pos, kvValueTag, kv.value);
  if (kv.lease !== 0n) {
    buf[pos++] = kvLeaseTag;
    pos = writeBigVarint(buf, pos, kv.lease);
  }
  return pos;
}

/** The WatchResponse.events field (tag, length, Event) of one event. */
function encodeEventField(ev: Event): Buffer {
  const kvBytes = kvSize(ev.kv);
  const prevBytes = ev.prevKv === undefined ? -1 : kvSize(ev.prevKv);
  const eventBytes = (ev.type === EventType.Put ? 0 : 2) + 1 + uvarintSize(kvBytes) + kvBytes
    + (prevBytes < 0 ? 0 : 1 + uvarintSize(prevBytes) + prevBytes);
  const buf = Buffer.allocUnsafe(1 + uvarintSize(eventBytes) + eventBytes);
  buf[0] = respEventTag;
  let pos = writeUvarint(buf, 1, eventBytes);
  if (ev.type !== EventType.Put) {
    buf[pos++] = eventTypeTag;
    buf[pos++] = ev.type;
  }
  pos = writeKv(buf, pos, eventKvTag, ev.kv, kvBytes);
  if (ev.prevKv !== undefined) pos = writeKv(buf, pos, eventPrevKvTag, ev.prevKv, prevBytes);
  return buf;
}

// The hub hands the same Event object to every watcher of a publish (and of a
// catch-up chunk): its bytes live as long as it does.
const eventFields = new WeakMap<Event, Buffer>();

// A fan-out asks for the same event's bytes many times in a row.
let lastEvent: Event | undefined;
let lastField: Buffer = Buffer.alloc(0);

export function eventField(ev: Event): Buffer {
  if (ev === lastEvent) return lastField;
  let b = eventFields.get(ev);
  if (b === undefined) {
    b = encodeEventField(ev);
    eventFields.set(ev, b);
  }
  lastEvent = ev;
  lastField = b;
  return b;
}

export interface HeaderIds { clusterId: bigint; memberId: bigint; raftTerm: bigint }

/** Encodes WatchResponse.header fields; remembers the last one (every watcher of a publish shares it). */
export class HeaderCache {
  private revision = -1;
  private ids: HeaderIds = { clusterId: 0n, memberId: 0n, raftTerm: 0n };
  private bytes: Buffer = Buffer.alloc(0);

  field(ids: HeaderIds, revision: number): Buffer {
    const last = this.ids;
    if (revision === this.revision && ids.raftTerm === last.raftTerm && ids.memberId === last.memberId && ids.clusterId === last.clusterId) {
      return this.bytes;
    }
    this.revision = revision;
    this.ids = { clusterId: ids.clusterId, memberId: ids.memberId, raftTerm: ids.raftTerm };
    this.bytes = encodeHeaderField(ids, revision);
    return this.bytes;
  }
}

function uint64FieldSize(v: bigint): number {
  return v === 0n ? 0 : 1 + bigVarintSize(v);
}

function writeUint64Field(buf: Buffer, pos: number, tag: number, v: bigint): number {
  if (v === 0n) return pos;
  buf[pos++] = tag;
  return writeBigVarint(buf, pos, v);
}

function encodeHeaderField(ids: HeaderIds, revision: number): Buffer {
  const size = uint64FieldSize(ids.clusterId) + uint64FieldSize(ids.memberId) + int64FieldSize(revision) + uint64FieldSize(ids.raftTerm);
  const buf = Buffer.allocUnsafe(1 + uvarintSize(size) + size);
  buf[0] = respHeaderTag;
  let pos = writeUvarint(buf, 1, size);
  pos = writeUint64Field(buf, pos, headerClusterTag, ids.clusterId);
  pos = writeUint64Field(buf, pos, headerMemberTag, ids.memberId);
  pos = writeInt64Field(buf, pos, headerRevisionTag, revision);
  writeUint64Field(buf, pos, headerTermTag, ids.raftTerm);
  return buf;
}

/** Bytes of a response's fields other than header and events (fragment excluded). */
function controlSize(out: WatchOutput, reason: Buffer | undefined): number {
  return int64FieldSize(out.watchId) + (out.created === true ? 2 : 0) + (out.canceled === true ? 2 : 0)
    + int64FieldSize(out.compactRevision ?? 0) + (reason === undefined ? 0 : bytesFieldSize(reason.length));
}

function reasonBytes(out: WatchOutput): Buffer | undefined {
  return out.cancelReason === undefined || out.cancelReason === '' ? undefined : Buffer.from(out.cancelReason, 'utf8');
}

/**
 * Framed gRPC messages (5-byte length prefix + message) gathered for one
 * write. A message is written in place into the current chunk; a full chunk
 * is kept as it is and a larger one started (nothing is copied twice). The
 * first chunk is sized like the previous batch, so a steady fan-out costs
 * one allocation per batch, not one per response.
 */
export class FrameBuffer {
  private readonly full: Buffer[] = [];
  private cur: Buffer | undefined;
  private curLen = 0;
  private fullBytes = 0;
  private lastBytes = 0;

  /** Bytes gathered so far. */
  get length(): number { return this.fullBytes + this.curLen; }

  /** Room for `bytes` contiguous bytes: the chunk and the position to write them at. */
  reserve(bytes: number): [Buffer, number] {
    let cur = this.cur;
    if (cur === undefined || cur.length - this.curLen < bytes) {
      if (cur !== undefined) {
        this.full.push(cur.subarray(0, this.curLen));
        this.fullBytes += this.curLen;
      }
      const next = cur === undefined ? Math.min(this.lastBytes, frameFirstChunkBytesMax) : Math.min(2 * cur.length, frameChunkBytesMax);
      this.cur = cur = Buffer.allocUnsafe(Math.max(bytes, next, frameChunkBytesMin));
      this.curLen = 0;
    }
    const pos = this.curLen;
    this.curLen += bytes;
    return [cur, pos];
  }

  /** The gathered chunks, in order (never written again), or undefined if none; the next reserve starts afresh. */
  take(): Buffer[] | undefined {
    if (this.cur === undefined) return undefined;
    const out = this.full.splice(0);
    if (this.curLen > 0) out.push(this.cur.subarray(0, this.curLen));
    this.lastBytes = this.length;
    this.cur = undefined;
    this.curLen = 0;
    this.fullBytes = 0;
    return out;
  }
}

/** Small batches come from Node's shared buffer pool (allocUnsafe below 4 KiB). */
const frameChunkBytesMin = 1024;
/** A batch's first chunk is sized like the previous batch up to this (a burst is not taken as the new normal). */
const frameFirstChunkBytesMax = 64 * 1024;
/** Chunks grow by doubling up to this (a larger single message gets a chunk of its own size). */
const frameChunkBytesMax = 1024 * 1024;

function eventsSize(events: readonly Event[], from: number, to: number): number {
  let size = 0;
  for (let i = from; i < to; i++) size += eventField(events[i] as Event).length;
  return size;
}

/** Appends one framed message with events [from, to). */
function appendResponse(into: FrameBuffer, header: Buffer, out: WatchOutput, reason: Buffer | undefined, from: number, to: number, fragment: boolean): void {
  const size = header.length + controlSize(out, reason) + (fragment ? 2 : 0) + eventsSize(out.events, from, to);
  const [buf, start] = into.reserve(grpcPrefixBytes + size);
  buf[start] = 0;
  buf.writeUInt32BE(size, start + 1);
  buf.set(header, start + grpcPrefixBytes);
  let pos = start + grpcPrefixBytes + header.length;
  pos = writeInt64Field(buf, pos, respWatchIdTag, out.watchId);
  if (out.created === true) { buf[pos++] = respCreatedTag; buf[pos++] = 1; }
  if (out.canceled === true) { buf[pos++] = respCanceledTag; buf[pos++] = 1; }
  pos = writeInt64Field(buf, pos, respCompactTag, out.compactRevision ?? 0);
  if (reason !== undefined) pos = writeBytesField(buf, pos, respReasonTag, reason);
  if (fragment) { buf[pos++] = respFragmentTag; buf[pos++] = 1; }
  for (let i = from; i < to; i++) {
    const e = eventField(out.events[i] as Event);
    buf.set(e, pos);
    pos += e.length;
  }
  assert(pos === start + grpcPrefixBytes + size, 'a watch response fills the size computed for it');
}

/**
 * Appends the framed messages for one output. A watcher that asked for
 * fragments gets etcd's sendFragments: a response of `maxBytes` or more with
 * two or more events is split between events, each part but the last marked
 * fragment, each part as large as stays under the limit (one event at least).
 */
export function appendResponses(into: FrameBuffer, header: Buffer, out: WatchOutput, maxBytes: number): void {
  const reason = reasonBytes(out);
  const events = out.events;
  if (out.fragment !== true || events.length < 2) {
    appendResponse(into, header, out, reason, 0, events.length, false);
    return;
  }
  const base = header.length + controlSize(out, reason);
  if (base + eventsSize(events, 0, events.length) < maxBytes) {
    appendResponse(into, header, out, reason, 0, events.length, false);
    return;
  }
  let idx = 0;
  while (idx < events.length) {
    const from = idx;
    let size = base + 2;
    while (idx < events.length) {
      const next = size + eventField(events[idx] as Event).length;
      if (idx > from && next >= maxBytes) break;
      size = next;
      idx++;
    }
    appendResponse(into, header, out, reason, from, idx, idx < events.length);
  }
}

/** Each message of framed bytes, without its prefix (for writing through grpc-js). */
export function* messagesOf(framed: Buffer): Generator<Buffer> {
  let pos = 0;
  while (pos < framed.length) {
    const size = framed.readUInt32BE(pos + 1);
    yield framed.subarray(pos + grpcPrefixBytes, pos + grpcPrefixBytes + size);
    pos += grpcPrefixBytes + size;
  }
}

// ---- requests ----

/** A decoded WatchRequest: its oneof, or none (an empty request, ignored as etcd does). */
export type WatchRequestMessage =
  | { kind: 'create'; create: WatchCreate }
  | { kind: 'cancel'; watchId: number }
  | { kind: 'progress' }
  | { kind: 'none' };

class WireError extends Error {
  constructor(what: string) {
    super(`invalid WatchRequest: ${what}`);
  }
}

const safeMaxBig = BigInt(Number.MAX_SAFE_INTEGER);
/** Varints of up to 7 bytes (< 2^49) add up exactly in a double. */
const exactVarintBytes = 7;
const varintBytesMax = 10;

class Reader {
  constructor(private readonly buf: Buffer, public pos: number, readonly end: number) {}

  get done(): boolean { return this.pos >= this.end; }

  /** An int64 varint as a number, clamped to the safe range (as int64ToNumber; revisions and IDs never get near it). */
  int64(): number {
    const start = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < exactVarintBytes; i++) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    this.pos = start;
    return this.bigInt64();
  }

  private bigInt64(): number {
    let v = 0n;
    for (let i = 0; i < varintBytesMax; i++) {
      const b = this.byte();
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        const signed = BigInt.asIntN(64, v);
        if (signed > safeMaxBig) return Number.MAX_SAFE_INTEGER;
        if (signed < -safeMaxBig) return -Number.MAX_SAFE_INTEGER;
        return Number(signed);
      }
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Buffer {
    const len = this.int64();
    if (len < 0 || len > this.end - this.pos) throw new WireError('length past the end');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A nested message's extent: [pos, end) of a new reader. */
  nested(): Reader {
    const b = this.bytes();
    return new Reader(this.buf, this.pos - b.length, this.pos);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.int64(); break;
      case 1: this.advance(8); break;
      case 2: this.bytes(); break;
      case 5: this.advance(4); break;
      default: throw new WireError(`wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new WireError('fixed field past the end');
    this.pos += n;
  }

  private byte(): number {
    if (this.pos >= this.end) throw new WireError('varint past the end');
    return this.buf[this.pos++] as number;
  }
}

const emptyBytes = Buffer.alloc(0);

function decodeCreate(r: Reader): WatchCreate {
  const c: WatchCreate = {
    watchId: 0, key: emptyBytes, rangeEnd: emptyBytes, startRevision: 0, filters: [], prevKv: false, progressNotify: false, fragment: false,
  };
  while (!r.done) {
    const tag = r.int64();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 1 && wireType === 2) c.key = r.bytes();
    else if (field === 2 && wireType === 2) c.rangeEnd = r.bytes();
    else if (field === 3 && wireType === 0) c.startRevision = r.int64();
    else if (field === 4 && wireType === 0) c.progressNotify = r.int64() !== 0;
    else if (field === 5 && wireType === 0) c.filters.push(r.int64() as WatchFilter);
    else if (field === 5 && wireType === 2) for (const p = r.nested(); !p.done;) c.filters.push(p.int64() as WatchFilter);
    else if (field === 6 && wireType === 0) c.prevKv = r.int64() !== 0;
    else if (field === 7 && wireType === 0) c.watchId = r.int64();
    else if (field === 8 && wireType === 0) c.fragment = r.int64() !== 0;
    else r.skip(wireType);
  }
  return c;
}

function decodeCancel(r: Reader): number {
  let watchId = 0;
  while (!r.done) {
    const tag = r.int64();
    if (tag === 0x08) watchId = r.int64();
    else r.skip(tag % 8);
  }
  return watchId;
}

/**
 * Decodes a WatchRequest without protobufjs: a watch create is the one
 * request a client sends per watcher, and this builds the hub's WatchCreate
 * directly. Unknown fields are skipped; of several oneof fields the last
 * wins (Go's rule).
 */
export function decodeWatchRequest(buf: Buffer): WatchRequestMessage {
  const r = new Reader(buf, 0, buf.length);
  let out: WatchRequestMessage = { kind: 'none' };
  while (!r.done) {
    const tag = r.int64();
    if (tag === 0x0a) out = { kind: 'create', create: decodeCreate(r.nested()) };
    else if (tag === 0x12) out = { kind: 'cancel', watchId: decodeCancel(r.nested()) };
    else if (tag === 0x1a) { r.bytes(); out = { kind: 'progress' }; }
    else r.skip(tag % 8);
  }
  return out;
}
