// Sends one MsgSnap on a connection of its own, so a large snapshot never
// holds up heartbeats on the stream connection. The data is written in chunk
// frames, waiting for 'drain' whenever the socket buffer is full: memory is
// bounded by one chunk beyond the socket's high-water mark, whatever the
// snapshot size. Success means the receiver acknowledged the whole snapshot.
import type * as net from 'node:net';
import { assert, limits as globalLimits } from '../util';
import type { Message } from '../raft';
import { encodeMessageToBuffer, DecodeError } from './codec';
import { dial, type PeerUrl, type TlsMaterial } from './dial';
import {
  FrameReader, decodeHelloAck, decodeSnapshotAck, encodeEmptyFrame, encodeHello, encodeSnapshotBegin,
  frameKind, frameHeaderBytes, wireVersion, writeFrameHeader,
} from './frame';
import type { TransportLimits } from './options';

export interface SnapshotSendArgs {
  readonly url: PeerUrl;
  readonly tls: TlsMaterial | null;
  readonly clusterId: bigint;
  readonly from: bigint;
  readonly message: Message;
  readonly limits: TransportLimits;
}

/** Turns a socket's events into awaitable frames and drains; fails every wait once the socket closes. */
class Channel {
  private readonly reader = new FrameReader(globalLimits.transportHandshakeFrameBytesMax);
  private frame: { kind: number; payload: Buffer } | null = null;
  private failure: Error | null = null;
  private lastError: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.notify());
    socket.on('error', (err) => { this.lastError = err; });
    socket.on('close', () => this.fail(this.lastError ?? new Error('connection closed by peer')));
  }

  fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    this.socket.destroy();
    this.notify();
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk, (kind, payload) => {
        if (this.frame !== null) throw new DecodeError('peer sent an unexpected frame');
        this.frame = { kind, payload };
        return true;
      });
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.fail(err);
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    if (w !== null) w();
  }

  /** Resolves when notified or after timeoutMs; the caller re-checks its condition. */
  private wait(timeoutMs: number, what: string): Promise<void> {
    assert(this.wake === null, 'one waiter at a time');
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.fail(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The next frame, which must be of kind. */
  async nextFrame(kind: number, timeoutMs: number, what: string): Promise<Buffer> {
    if (this.frame === null && this.failure === null) await this.wait(timeoutMs, what);
    if (this.failure !== null) throw this.failure;
    const f = this.frame;
    assert(f !== null, 'woken without a frame or a failure');
    this.frame = null;
    if (f.kind !== kind) throw new DecodeError(`expected frame kind ${kind}, got ${f.kind}`);
    return f.payload;
  }

  async drain(stallMs: number): Promise<void> {
    if (this.failure === null && this.socket.writableNeedDrain) await this.wait(stallMs, 'snapshot write');
    if (this.failure !== null) throw this.failure;
  }
}

export class SnapshotSend {
  private channel: Channel | null = null;
  private aborted = false;
  /** Resolves with null on success, else the reason it failed; never rejects. */
  readonly done: Promise<string | null>;

  constructor(private readonly args: SnapshotSendArgs) {
    assert(args.message.snapshot !== null, 'MsgSnap carries a snapshot');
    this.done = this.run().then(() => null, (err: unknown) => (err instanceof Error ? err.message : String(err)));
  }

  /** Bytes written to the snapshot socket and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.channel?.socket.writableLength ?? 0;
  }

  abort(): void {
    this.aborted = true;
    this.channel?.fail(new Error('snapshot send aborted'));
  }

  private async run(): Promise<void> {
    const socket = dial(this.args.url, this.args.tls);
    socket.setNoDelay(true);
    const ch = new Channel(socket);
    this.channel = ch;
    if (this.aborted) ch.fail(new Error('snapshot send aborted'));
    try {
      await this.exchange(ch, socket);
    } catch (err) {
      ch.fail(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  private async exchange(ch: Channel, socket: net.Socket): Promise<void> {
    const { limits, message } = this.args;
    const snap = message.snapshot;
    assert(snap !== null, 'MsgSnap carries a snapshot');
    socket.write(encodeHello({ version: wireVersion, role: 'snapshot', clusterId: this.args.clusterId, from: this.args.from, to: message.to }));
    const ack = decodeHelloAck(await ch.nextFrame(frameKind.helloAck, limits.handshakeTimeoutMs, 'snapshot handshake'));
    if (ack.status !== 'ok') throw new Error(`peer refused the snapshot connection: ${ack.status}`);
    if (ack.clusterId !== this.args.clusterId) throw new Error('peer answered with another cluster ID');
    if (ack.memberId !== message.to) throw new Error('peer answered with another member ID');
    const header = { ...message, snapshot: { metadata: snap.metadata, data: new Uint8Array(0) } };
    socket.write(encodeSnapshotBegin(snap.data.byteLength, encodeMessageToBuffer(header)));
    const chunks = Math.ceil(snap.data.byteLength / limits.snapshotChunkBytes);
    for (let i = 0; i < chunks; i++) {
      const part = snap.data.subarray(i * limits.snapshotChunkBytes, (i + 1) * limits.snapshotChunkBytes);
      const head = Buffer.allocUnsafe(frameHeaderBytes);
      writeFrameHeader(head, 0, frameKind.snapshotChunk, part.byteLength);
      socket.write(head);
      socket.write(part);
      await ch.drain(limits.writeStallMs);
    }
    socket.write(encodeEmptyFrame(frameKind.snapshotEnd));
    const ok = decodeSnapshotAck(await ch.nextFrame(frameKind.snapshotAck, limits.snapshotAckTimeoutMs, 'snapshot acknowledgement'));
    socket.end();
    if (!ok) throw new Error('peer refused the snapshot');
  }
}
