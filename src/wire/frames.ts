// HTTP/2 frame constants (RFC 9113 section 6, 7, 11) and the connection's
// output buffer: every frame of a turn is appended to one Buffer that goes to
// the socket in one write.
import { limits } from '../util';

export const frameHeaderBytes = 9;

export const enum FrameType {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  Goaway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

export const enum Flag {
  EndStream = 0x1,
  Ack = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

export const enum ErrorCode {
  NoError = 0x0,
  ProtocolError = 0x1,
  InternalError = 0x2,
  FlowControlError = 0x3,
  SettingsTimeout = 0x4,
  StreamClosed = 0x5,
  FrameSizeError = 0x6,
  RefusedStream = 0x7,
  Cancel = 0x8,
  CompressionError = 0x9,
  ConnectError = 0xa,
  EnhanceYourCalm = 0xb,
  InadequateSecurity = 0xc,
  Http11Required = 0xd,
}

export const enum Setting {
  HeaderTableSize = 0x1,
  EnablePush = 0x2,
  MaxConcurrentStreams = 0x3,
  InitialWindowSize = 0x4,
  MaxFrameSize = 0x5,
  MaxHeaderListSize = 0x6,
}

export const connectionPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** RFC 9113 6.9.1: windows never exceed 2^31 - 1. */
export const windowBytesMax = 0x7fffffff;
/** RFC 9113 6.5.2: SETTINGS_MAX_FRAME_SIZE lies in [2^14, 2^24 - 1]. */
export const frameSizeFloor = 16_384;
export const frameSizeCeiling = 16_777_215;
export const defaultWindowBytes = 65_535;

const empty = Buffer.alloc(0);
/** Output buffers free for the next connection that has something to send. */
const pool: Buffer[] = [];

/**
 * Bytes queued for the socket during one turn. The buffer comes from a small
 * shared pool when the first frame is appended and goes back after the
 * flush, but only when the socket took the write at once (so nothing still
 * references it); an idle connection holds none.
 */
export class Output {
  buf: Buffer = empty;
  pos = 0;

  ensure(more: number): void {
    if (this.pos + more <= this.buf.length) return;
    if (this.buf.length === 0 && more <= limits.wireOutputPoolBytes) {
      this.buf = pool.pop() ?? Buffer.allocUnsafeSlow(limits.wireOutputPoolBytes);
      return;
    }
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + more));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Writes a frame header at pos (room must have been ensured). */
  header(length: number, type: FrameType, flags: number, streamId: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = length >>> 16;
    b[p++] = (length >>> 8) & 0xff;
    b[p++] = length & 0xff;
    b[p++] = type;
    b[p++] = flags;
    b.writeUInt32BE(streamId, p);
    this.pos = p + 4;
  }

  frame(type: FrameType, flags: number, streamId: number, payload: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(frameHeaderBytes + n);
    this.header(n, type, flags, streamId);
    this.buf.set(payload.subarray(start, end), this.pos);
    this.pos += n;
  }

  u32Frame(type: FrameType, streamId: number, value: number): void {
    this.ensure(frameHeaderBytes + 4);
    this.header(4, type, 0, streamId);
    this.buf.writeUInt32BE(value, this.pos);
    this.pos += 4;
  }

  take(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** After the flush: reuse says the socket copied the bytes (the buffer is free again). */
  reset(reuse: boolean): void {
    if (reuse && this.buf.length === limits.wireOutputPoolBytes && pool.length < limits.wireOutputPoolBuffersMax) pool.push(this.buf);
    this.buf = empty;
    this.pos = 0;
  }
}
