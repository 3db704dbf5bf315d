// A raw HTTP/2 client for the wire tests: frames written by hand, header
// blocks coded by hpack.js (a library nobody here wrote), frames read back
// as they come. It lets a test say exactly what goes on the wire, including
// things a well-behaved client never sends.
import * as net from 'node:net';

// hpack.js has no types; this is the part of its API the tests use.
interface HpackJsCompressor {
  write(headers: Array<{ name: string; value: string; neverIndex?: boolean }>): void;
  read(): Buffer | null;
}
interface HpackJsDecompressor {
  write(raw: Buffer): void;
  execute(): void;
  read(): { name: string; value: string } | null;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hpackJs = require('hpack.js') as {
  compressor: { create(o: { table: { maxSize: number } }): HpackJsCompressor };
  decompressor: { create(o: { table: { maxSize: number } }): HpackJsDecompressor };
};

export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 } as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

export function settings(entries: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(T.SETTINGS, 0, 0, p);
}

export function u32(type: number, streamId: number, v: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(v, 0);
  return frame(type, 0, streamId, p);
}

export function grpcMessage(body: Buffer, flag = 0): Buffer {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(body.length, 1);
  return Buffer.concat([p, body]);
}

export class RawClient {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private readonly comp = hpackJs.compressor.create({ table: { maxSize: 4096 } });
  private readonly decomp = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
  private waiters: Array<() => void> = [];
  /** Bytes received in all. */
  received = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number, opts: { settings?: Array<[number, number]>; handshake?: boolean } = {}): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    if (opts.handshake !== false) c.write(Buffer.concat([preface, settings(opts.settings ?? [])]));
    return c;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** A header block in hpack.js's encoding. */
  block(headers: Array<[string, string]>): Buffer {
    this.comp.write(headers.map(([name, value]) => ({ name, value })));
    return this.comp.read() ?? Buffer.alloc(0);
  }

  requestHeaders(path: string, extra: Array<[string, string]> = [], authority = '127.0.0.1'): Array<[string, string]> {
    return [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', authority], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra];
  }

  /** HEADERS (+ DATA with END_STREAM) of one unary gRPC call. */
  unary(streamId: number, path: string, body: Buffer, extra: Array<[string, string]> = [], authority?: string): Buffer {
    return Buffer.concat([frame(T.HEADERS, F.END_HEADERS, streamId, this.block(this.requestHeaders(path, extra, authority))), frame(T.DATA, F.END_STREAM, streamId, grpcMessage(body))]);
  }

  decode(payload: Buffer): Array<[string, string]> {
    this.decomp.write(payload);
    this.decomp.execute();
    const out: Array<[string, string]> = [];
    for (let h = this.decomp.read(); h !== null; h = this.decomp.read()) out.push([h.name, h.value]);
    return out;
  }

  private onData(d: Buffer): void {
    this.received += d.length;
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      this.frames.push({ type: this.buf[3] as number, flags: this.buf[4] as number, streamId: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
      this.buf = this.buf.subarray(9 + len);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until pred holds over the frames received (or the socket closed: then it throws unless allowed). */
  async until(pred: (frames: Frame[]) => boolean, what: string, closedOk = false): Promise<void> {
    for (;;) {
      if (pred(this.frames)) return;
      if (this.closed) {
        if (closedOk) return;
        throw new Error(`connection closed before: ${what}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  goaway(): { lastStreamId: number; code: number; debug: string } | undefined {
    const g = this.frames.find((f) => f.type === T.GOAWAY);
    if (g === undefined) return undefined;
    return { lastStreamId: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4), debug: g.payload.subarray(8).toString('latin1') };
  }

  /** Headers (decoded in arrival order: call once per HEADERS frame) of a stream's HEADERS frames, and its DATA bytes. */
  response(streamId: number): { headers: Array<Array<[string, string]>>; data: Buffer; ended: boolean; rst?: number } {
    const headers: Array<Array<[string, string]>> = [];
    const data: Buffer[] = [];
    let ended = false;
    let rst: number | undefined;
    for (const f of this.frames) {
      if (f.streamId !== streamId) continue;
      if (f.type === T.HEADERS) headers.push(this.decodeOnce(f));
      if (f.type === T.DATA) data.push(f.payload);
      if ((f.type === T.HEADERS || f.type === T.DATA) && (f.flags & F.END_STREAM) !== 0) ended = true;
      if (f.type === T.RST_STREAM) rst = f.payload.readUInt32BE(0);
    }
    return { headers, data: Buffer.concat(data), ended, ...(rst !== undefined ? { rst } : {}) };
  }

  private decoded = new Map<Frame, Array<[string, string]>>();

  /** Header blocks must be decoded once each, in order: the HPACK table depends on it. */
  decodeAll(): void {
    for (const f of this.frames) if (f.type === T.HEADERS && !this.decoded.has(f)) this.decoded.set(f, this.decode(f.payload));
  }

  private decodeOnce(f: Frame): Array<[string, string]> {
    this.decodeAll();
    return this.decoded.get(f) ?? [];
  }

  ended(streamId: number): boolean {
    return this.frames.some((f) => f.streamId === streamId && (((f.type === T.HEADERS || f.type === T.DATA) && (f.flags & F.END_STREAM) !== 0) || f.type === T.RST_STREAM));
  }

  close(): void {
    this.socket.destroy();
  }
}

export function header(fields: Array<[string, string]>, name: string): string | undefined {
  return fields.find(([n]) => n === name)?.[1];
}
