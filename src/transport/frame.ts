// Framing on a peer connection: every frame is a u32 big-endian length, then
// that many bytes: a u8 kind and the payload. A connection opens with a hello
// from the dialer (cluster ID, sender, intended receiver, role) answered by a
// hello-ack; then a stream connection carries message frames one way, and a
// snapshot connection carries begin, chunks, end, answered by snapshot-ack.
import { assert } from '../util';
import { DecodeError, WireReader, uvarintBytes } from './codec';

export const frameKind = {
  hello: 1,
  helloAck: 2,
  message: 3,
  snapshotBegin: 4,
  snapshotChunk: 5,
  snapshotEnd: 6,
  snapshotAck: 7,
} as const;

/** Length prefix plus kind byte. */
export const frameHeaderBytes = 5;

const helloMagic = 0x4b45454c; // "KEEL"
export const wireVersion = 1;

export type ConnectionRole = 'stream' | 'snapshot';

export interface Hello {
  readonly version: number;
  readonly role: ConnectionRole;
  readonly clusterId: bigint;
  readonly from: bigint;
  readonly to: bigint;
}

export type HelloStatus = 'ok' | 'versionMismatch' | 'clusterMismatch' | 'memberMismatch';
const helloStatuses: readonly HelloStatus[] = ['ok', 'versionMismatch', 'clusterMismatch', 'memberMismatch'];

export interface HelloAck {
  readonly status: HelloStatus;
  readonly clusterId: bigint;
  readonly memberId: bigint;
}

/** Writes a frame header for a payload of payloadBytes; returns the payload offset. */
export function writeFrameHeader(buf: Buffer, off: number, kind: number, payloadBytes: number): number {
  buf.writeUInt32BE(payloadBytes + 1, off);
  buf[off + 4] = kind;
  return off + frameHeaderBytes;
}

function frame(kind: number, payloadBytes: number, fill: (buf: Buffer, off: number) => number): Buffer {
  const buf = Buffer.allocUnsafe(frameHeaderBytes + payloadBytes);
  const end = fill(buf, writeFrameHeader(buf, 0, kind, payloadBytes));
  assert(end === buf.length, 'frame payload size must match what was written');
  return buf;
}

export function encodeHello(h: Hello): Buffer {
  return frame(frameKind.hello, 4 + 1 + 1 + 24, (buf, off) => {
    off = buf.writeUInt32BE(helloMagic, off);
    off = buf.writeUInt8(h.version, off);
    off = buf.writeUInt8(h.role === 'stream' ? 0 : 1, off);
    off = buf.writeBigUInt64BE(h.clusterId, off);
    off = buf.writeBigUInt64BE(h.from, off);
    return buf.writeBigUInt64BE(h.to, off);
  });
}

function payloadReader(payload: Buffer): WireReader {
  return new WireReader(payload, 0, payload.length);
}

function expectEnd(r: WireReader): void {
  if (r.remaining !== 0) throw new DecodeError('trailing bytes in frame');
}

export function decodeHello(payload: Buffer): Hello {
  const r = payloadReader(payload);
  if (r.remaining < 4) throw new DecodeError('truncated hello');
  const magic = payload.readUInt32BE(r.pos);
  r.pos += 4;
  if (magic !== helloMagic) throw new DecodeError('not a keel peer connection (bad magic)');
  const version = r.u8();
  const roleCode = r.u8();
  if (roleCode > 1) throw new DecodeError(`unknown connection role ${roleCode}`);
  const hello: Hello = { version, role: roleCode === 0 ? 'stream' : 'snapshot', clusterId: r.u64(), from: r.u64(), to: r.u64() };
  expectEnd(r);
  return hello;
}

export function encodeHelloAck(a: HelloAck): Buffer {
  return frame(frameKind.helloAck, 1 + 16, (buf, off) => {
    off = buf.writeUInt8(helloStatuses.indexOf(a.status), off);
    off = buf.writeBigUInt64BE(a.clusterId, off);
    return buf.writeBigUInt64BE(a.memberId, off);
  });
}

export function decodeHelloAck(payload: Buffer): HelloAck {
  const r = payloadReader(payload);
  const status = helloStatuses[r.u8()];
  if (status === undefined) throw new DecodeError('unknown hello status');
  const ack: HelloAck = { status, clusterId: r.u64(), memberId: r.u64() };
  expectEnd(r);
  return ack;
}

/** The begin frame of a snapshot: total data bytes, then the MsgSnap encoded with empty snapshot data. */
export function encodeSnapshotBegin(dataBytes: number, encodedMessage: Buffer): Buffer {
  return frame(frameKind.snapshotBegin, uvarintBytes(dataBytes) + encodedMessage.length, (buf, off) => {
    let v = dataBytes;
    while (v >= 0x80) {
      const low = v % 0x80;
      buf[off++] = low | 0x80;
      v = (v - low) / 0x80;
    }
    buf[off++] = v;
    encodedMessage.copy(buf, off);
    return off + encodedMessage.length;
  });
}

export function encodeEmptyFrame(kind: number): Buffer {
  return frame(kind, 0, (_buf, off) => off);
}

export function encodeSnapshotAck(ok: boolean): Buffer {
  return frame(frameKind.snapshotAck, 1, (buf, off) => buf.writeUInt8(ok ? 1 : 0, off));
}

export function decodeSnapshotAck(payload: Buffer): boolean {
  const r = payloadReader(payload);
  const v = r.u8();
  expectEnd(r);
  if (v > 1) throw new DecodeError('bad snapshot ack');
  return v === 1;
}

/**
 * Splits a byte stream into frames, calling onFrame(kind, payload). Each
 * payload is a freshly allocated, unpooled buffer owned by the receiver (so
 * decoded views into it never pin socket memory that belongs to other
 * frames), unless `target` supplies the place to read it into (snapshot
 * chunks go straight into the snapshot buffer). At most one partial frame is
 * held: memory per connection ≤ frameBytesMax.
 */
export class FrameReader {
  private readonly header = Buffer.alloc(frameHeaderBytes);
  private headerFill = 0;
  private kind = 0;
  private payload: Buffer | null = null;
  private payloadFill = 0;
  /** Where to read a payload of kind and size; null means a fresh buffer. */
  target: ((kind: number, payloadBytes: number) => Buffer | null) | null = null;

  constructor(public frameBytesMax: number) {}

  /**
   * Consumes chunk, calling onFrame for each complete frame; stops early when
   * onFrame returns false. Throws DecodeError for a frame length out of bounds.
   */
  push(chunk: Buffer, onFrame: (kind: number, payload: Buffer) => boolean): void {
    let pos = 0;
    // Each pass consumes at least one byte of chunk, so chunk.length bounds the loop.
    while (pos < chunk.length) {
      if (this.payload === null) {
        const n = Math.min(frameHeaderBytes - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < frameHeaderBytes) return;
        const len = this.header.readUInt32BE(0);
        if (len < 1) throw new DecodeError('empty frame');
        if (len > this.frameBytesMax) throw new DecodeError(`frame of ${len} bytes exceeds ${this.frameBytesMax}`);
        this.kind = this.header[4] as number;
        this.payload = this.target?.(this.kind, len - 1) ?? Buffer.allocUnsafeSlow(len - 1);
        assert(this.payload.length === len - 1, 'a frame target must fit the payload exactly');
        this.payloadFill = 0;
        this.headerFill = 0;
      }
      const n = Math.min(this.payload.length - this.payloadFill, chunk.length - pos);
      chunk.copy(this.payload, this.payloadFill, pos, pos + n);
      this.payloadFill += n;
      pos += n;
      if (this.payloadFill < this.payload.length) return;
      const payload = this.payload;
      this.payload = null;
      if (!onFrame(this.kind, payload)) return;
    }
  }

  /** Bytes held for the frame in progress. */
  get bufferedBytes(): number {
    return this.headerFill + (this.payload === null ? 0 : this.payloadFill);
  }
}
