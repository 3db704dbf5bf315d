// One accepted peer connection. It must say hello (right cluster, right
// member) within the handshake timeout; then it is either a stream of message
// frames, delivered to onMessage as they decode, or a single snapshot:
// begin (size + MsgSnap header), chunks assembled into one buffer sized up
// front (bounded by snapshotBytesMax and the receive slots), end → deliver,
// acknowledge. Bad input drops the connection; it never asserts.
import type * as net from 'node:net';
import { limits as globalLimits } from '../util';
import type { Message } from '../raft';
import { DecodeError, WireReader, decodeMessage } from './codec';
import {
  FrameReader, decodeHello, encodeHelloAck, encodeSnapshotAck, frameKind, wireVersion,
  type Hello, type HelloStatus,
} from './frame';
import { idHex, type TransportLimits, type TransportLog, type WarnLimiter } from './options';

export interface InboundHost {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly limits: TransportLimits;
  readonly log: TransportLog;
  readonly warnLimiter: WarnLimiter;
  deliver(m: Message): void;
  /** A stream from this peer is up: an older one from the same peer is dropped. */
  claimStream(conn: InboundConn): void;
  tryReserveSnapshotReceive(): boolean;
  releaseSnapshotReceive(): void;
  connectionClosed(conn: InboundConn): void;
}

type Phase = 'hello' | 'stream' | 'snapshot' | 'done';

interface SnapshotInProgress {
  readonly header: Message;
  readonly data: Buffer;
  filled: number;
}

export class InboundConn {
  private phase: Phase = 'hello';
  private readonly reader = new FrameReader(globalLimits.transportHandshakeFrameBytesMax);
  private timer: NodeJS.Timeout | null;
  private snap: SnapshotInProgress | null = null;
  private lastError: Error | null = null;
  /** The sender's member ID once the hello is accepted. */
  remoteId = 0n;

  constructor(readonly socket: net.Socket, private readonly host: InboundHost) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, globalLimits.transportKeepAliveMs);
    this.timer = setTimeout(() => this.drop('handshake timed out'), host.limits.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => { this.lastError = err; });
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => this.drop('snapshot connection idle'));
  }

  get isStream(): boolean {
    return this.phase === 'stream';
  }

  destroy(): void {
    this.phase = 'done';
    this.socket.destroy();
  }

  private remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  drop(reason: string): void {
    this.host.warnLimiter.warn(`inbound-drop-${idHex(this.remoteId)}-${reason}`, 'dropped peer connection', {
      'local-member-id': idHex(this.host.memberId),
      'remote-peer-id': idHex(this.remoteId),
      'remote-addr': this.remote(),
      reason,
      error: this.lastError?.message,
    });
    this.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk, (kind, payload) => this.onFrame(kind, payload));
    } catch (err) {
      // onMessage's own failures (assertions) propagate: they crash the member.
      if (!(err instanceof DecodeError)) throw err;
      this.drop(err.message);
    }
  }

  private onFrame(kind: number, payload: Buffer): boolean {
    switch (this.phase) {
      case 'hello':
        if (kind !== frameKind.hello) throw new DecodeError(`expected a hello, got frame kind ${kind}`);
        return this.onHello(payload);
      case 'stream': return this.onStreamFrame(kind, payload);
      case 'snapshot': return this.onSnapshotFrame(kind, payload);
      case 'done': return false;
    }
  }

  private helloStatus(h: Hello): HelloStatus {
    if (h.version !== wireVersion) return 'versionMismatch';
    if (h.clusterId !== this.host.clusterId) return 'clusterMismatch';
    if (h.to !== this.host.memberId) return 'memberMismatch';
    return 'ok';
  }

  private onHello(payload: Buffer): boolean {
    const h = decodeHello(payload);
    const status = this.helloStatus(h);
    this.socket.write(encodeHelloAck({ status, clusterId: this.host.clusterId, memberId: this.host.memberId }));
    this.remoteId = h.from;
    if (status !== 'ok') return this.refuse(h, status);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.reader.frameBytesMax = this.host.limits.frameBytesMax;
    if (h.role === 'stream') {
      this.phase = 'stream';
      this.host.claimStream(this);
    } else {
      this.phase = 'snapshot';
      this.reader.target = (kind, n) => this.chunkTarget(kind, n);
      this.socket.setTimeout(this.host.limits.snapshotAckTimeoutMs);
    }
    return true;
  }

  private refuse(h: Hello, status: HelloStatus): boolean {
    const why = status === 'clusterMismatch' ? 'cluster ID mismatch'
      : status === 'memberMismatch' ? 'connection meant for another member' : 'wire version mismatch';
    this.host.warnLimiter.warn(`refuse-${idHex(h.from)}`, `rejected peer connection: ${why}`, {
      'local-member-id': idHex(this.host.memberId),
      'local-cluster-id': idHex(this.host.clusterId),
      'remote-peer-id': idHex(h.from),
      'remote-peer-cluster-id': idHex(h.clusterId),
      'remote-peer-target-id': idHex(h.to),
      'remote-version': h.version,
      'remote-addr': this.remote(),
    });
    this.phase = 'done';
    this.socket.end();
    return false;
  }

  private onStreamFrame(kind: number, payload: Buffer): boolean {
    if (kind !== frameKind.message) throw new DecodeError(`unexpected frame kind ${kind} on a stream`);
    const m = decodeMessage(payload, 0, payload.length);
    if (m.to !== this.host.memberId) throw new DecodeError(`message addressed to member ${idHex(m.to)}`);
    if (m.type === 'MsgSnap') throw new DecodeError('MsgSnap on a stream connection');
    this.host.deliver(m);
    return this.phase === 'stream';
  }

  /** Snapshot chunks are read straight into the snapshot buffer: no per-chunk copy or garbage. */
  private chunkTarget(kind: number, payloadBytes: number): Buffer | null {
    const snap = this.snap;
    if (kind !== frameKind.snapshotChunk || snap === null) return null;
    if (snap.filled + payloadBytes > snap.data.length) return null; // onSnapshotFrame refuses it
    return snap.data.subarray(snap.filled, snap.filled + payloadBytes);
  }

  private onSnapshotFrame(kind: number, payload: Buffer): boolean {
    if (this.snap === null) {
      if (kind !== frameKind.snapshotBegin) throw new DecodeError('snapshot connection must begin with a snapshot header');
      return this.beginSnapshot(payload);
    }
    if (kind === frameKind.snapshotChunk) {
      if (payload.buffer !== this.snap.data.buffer) throw new DecodeError('snapshot data exceeds its announced size');
      this.snap.filled += payload.length;
      return true;
    }
    if (kind === frameKind.snapshotEnd) return this.endSnapshot();
    throw new DecodeError(`unexpected frame kind ${kind} in a snapshot`);
  }

  private beginSnapshot(payload: Buffer): boolean {
    const r = new WireReader(payload, 0, payload.length);
    const dataBytes = r.uvarint();
    const header = decodeMessage(payload, r.pos, payload.length);
    if (header.type !== 'MsgSnap' || header.snapshot === null) throw new DecodeError('snapshot header is not a MsgSnap');
    if (header.to !== this.host.memberId) throw new DecodeError(`snapshot addressed to member ${idHex(header.to)}`);
    const fields = {
      'local-member-id': idHex(this.host.memberId), 'remote-peer-id': idHex(header.from),
      'snapshot-index': header.snapshot.metadata.index, 'snapshot-size-bytes': dataBytes,
    };
    if (dataBytes > this.host.limits.snapshotBytesMax || !this.host.tryReserveSnapshotReceive()) {
      this.host.log.warn('refused incoming snapshot: too large or too many at once', {
        ...fields, 'snapshot-size-limit-bytes': this.host.limits.snapshotBytesMax,
      });
      this.phase = 'done';
      this.socket.end(encodeSnapshotAck(false));
      return false;
    }
    this.snap = { header, data: Buffer.allocUnsafeSlow(dataBytes), filled: 0 };
    this.host.log.info('receiving database snapshot', fields);
    return true;
  }

  private endSnapshot(): boolean {
    const snap = this.snap;
    if (snap === null || snap.header.snapshot === null) throw new DecodeError('snapshot end without a header');
    if (snap.filled !== snap.data.length) throw new DecodeError('snapshot ended before its announced size');
    this.phase = 'done';
    this.snap = null;
    this.host.releaseSnapshotReceive();
    const data = new Uint8Array(snap.data.buffer, snap.data.byteOffset, snap.data.length);
    const m: Message = { ...snap.header, snapshot: { metadata: snap.header.snapshot.metadata, data } };
    this.host.log.info('received database snapshot', {
      'local-member-id': idHex(this.host.memberId), 'remote-peer-id': idHex(m.from),
      'snapshot-index': snap.header.snapshot.metadata.index, 'snapshot-size-bytes': data.length,
    });
    this.host.deliver(m);
    this.socket.setTimeout(0);
    this.socket.end(encodeSnapshotAck(true));
    return false;
  }

  private onClose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.snap !== null) {
      this.snap = null;
      this.host.releaseSnapshotReceive();
    }
    this.phase = 'done';
    this.host.connectionClosed(this);
  }
}
