// The outbound side for one peer: a persistent stream connection fed from a
// bounded queue, reconnecting with jittered exponential backoff, plus the
// snapshot sends in flight to that peer.
//
// States: connecting (dial + hello; messages queue) → active (messages are
// flushed once per event-loop turn) → on failure or loss, backoff (messages
// are dropped and the peer reported unreachable: stale heartbeats are useless
// and raft resends what matters) → connecting …; closed is final.
import type * as net from 'node:net';
import { assert, limits as globalLimits } from '../util';
import type { Message } from '../raft';
import { DecodeError, encodeMessage } from './codec';
import { dial, type PeerUrl, type TlsMaterial } from './dial';
import { FrameReader, decodeHelloAck, encodeHello, frameHeaderBytes, frameKind, wireVersion, writeFrameHeader } from './frame';
import { idHex, type PeerStats, type TransportLimits, type TransportLog, type WarnLimiter } from './options';
import { MessageQueue } from './queue';
import { SnapshotSend } from './snapshot-sender';

export interface PeerHost {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly limits: TransportLimits;
  readonly tls: TlsMaterial | null;
  readonly log: TransportLog;
  readonly warnLimiter: WarnLimiter;
  /** Asks for flush() in this event-loop turn. */
  markDirty(peer: Peer): void;
  /** Deferred to the end of the turn; deduplicated per turn. */
  reportUnreachable(id: bigint): void;
  reportSnapshot(id: bigint, ok: boolean): void;
}

type State = 'connecting' | 'active' | 'backoff' | 'closed';

export class Peer {
  private state: State = 'backoff';
  private socket: net.Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly queue: MessageQueue;
  private urls: readonly PeerUrl[];
  private urlCursor = 0;
  private lastUrl: PeerUrl;
  private failures = 0;
  private activeSinceMs: number | undefined;
  /** True while a failure streak has been logged, so it is logged once and its end announced. */
  private inactiveLogged = false;
  private lastError: Error | null = null;
  private progressBytes = 0;
  private progressAtMs = 0;
  private readonly snapshots = new Set<SnapshotSend>();
  private sentMsgs = 0;
  private droppedMsgs = 0;

  constructor(readonly id: bigint, urls: readonly PeerUrl[], private readonly host: PeerHost) {
    assert(urls.length > 0, 'a peer needs at least one URL');
    this.urls = urls;
    this.lastUrl = urls[0] as PeerUrl;
    this.queue = new MessageQueue(host.limits.peerQueueMsgsMax, host.limits.peerQueueBytesMax);
    this.connect();
  }

  get activeSince(): number | undefined {
    return this.activeSinceMs;
  }

  stats(): PeerStats {
    return {
      active: this.state === 'active',
      queuedMsgs: this.queue.length,
      queuedBytes: this.queue.bytes,
      socketBufferedBytes: this.socket?.writableLength ?? 0,
      sentMsgs: this.sentMsgs,
      droppedMsgs: this.droppedMsgs,
      snapshotsSending: this.snapshots.size,
      snapshotBufferedBytes: [...this.snapshots].reduce((n, s) => n + s.bufferedBytes, 0),
    };
  }

  /** Queues m (its encoded size is bytes); false when it was dropped instead. */
  enqueue(m: Message, bytes: number): boolean {
    if (frameHeaderBytes + bytes > this.host.limits.frameBytesMax) {
      this.host.warnLimiter.warn(`too-large-${idHex(this.id)}`, 'dropped message larger than a frame', {
        'remote-peer-id': idHex(this.id), type: m.type, 'message-bytes': bytes, 'frame-bytes-max': this.host.limits.frameBytesMax,
      });
      this.droppedMsgs++;
      return false;
    }
    const queued = (this.state === 'connecting' || this.state === 'active') && this.queue.tryPush(m, bytes);
    if (!queued) this.droppedMsgs++;
    return queued;
  }

  setUrls(urls: readonly PeerUrl[]): void {
    assert(urls.length > 0, 'a peer needs at least one URL');
    const same = urls.length === this.urls.length && urls.every((u, i) => u.text === this.urls[i]?.text);
    if (same) return;
    this.urls = urls;
    this.urlCursor = 0;
    this.lastUrl = urls[0] as PeerUrl;
    // Reconnect to the new addresses now rather than after a failure.
    if (this.state === 'closed') return;
    this.failures = 0;
    this.dropConnection();
    this.clearTimer();
    this.connect();
  }

  close(): void {
    this.state = 'closed';
    this.clearTimer();
    this.dropConnection();
    this.queue.clear();
    for (const s of this.snapshots) s.abort();
    this.snapshots.clear();
  }

  /** Moves queued messages into the socket: one write per batch, while the socket buffer is under its bound. */
  flush(): void {
    const socket = this.socket;
    if (this.state !== 'active' || socket === null) return;
    const limits = this.host.limits;
    // Each pass sends at least one message, so the queue length bounds the loop.
    while (this.queue.length > 0 && socket.writableLength < limits.socketBufferBytesMax) {
      let count = 0;
      let total = 0;
      while (count < this.queue.length) {
        const next = frameHeaderBytes + this.queue.sizeAt(count);
        if (count > 0 && total + next > limits.writeBatchBytesMax) break;
        total += next;
        count++;
      }
      const buf = Buffer.allocUnsafe(total);
      let off = 0;
      for (let i = 0; i < count; i++) {
        const size = this.queue.sizeAt(0);
        off = writeFrameHeader(buf, off, frameKind.message, size);
        const end = encodeMessage(this.queue.shift(), buf, off);
        assert(end === off + size, 'encoded size must match the queued size');
        off = end;
      }
      assert(off === total, 'batch must be filled exactly');
      socket.write(buf);
      this.sentMsgs += count;
    }
  }

  /** Drops the connection when its unsent bytes have not moved for writeStallMs. */
  checkStall(nowMs: number): void {
    const socket = this.socket;
    if (this.state !== 'active' || socket === null) return;
    const done = socket.bytesWritten - socket.writableLength;
    if (socket.writableLength === 0 || done !== this.progressBytes) {
      this.progressBytes = done;
      this.progressAtMs = nowMs;
      return;
    }
    if (nowMs - this.progressAtMs >= this.host.limits.writeStallMs) {
      this.lastError = new Error(`no write progress for ${this.host.limits.writeStallMs} ms`);
      socket.destroy();
    }
  }

  sendSnapshot(m: Message): void {
    if (this.state === 'closed' || this.snapshots.size >= globalLimits.transportSnapshotSendsPerPeerMax) {
      this.host.warnLimiter.warn(`snapshot-busy-${idHex(this.id)}`, 'dropped MsgSnap: a snapshot to this peer is in flight', {
        'remote-peer-id': idHex(this.id),
      });
      this.host.reportSnapshot(this.id, false);
      return;
    }
    const send = new SnapshotSend({
      url: this.lastUrl, tls: this.host.tls, clusterId: this.host.clusterId, from: this.host.memberId,
      message: m, limits: this.host.limits,
    });
    this.snapshots.add(send);
    const fields = { 'remote-peer-id': idHex(this.id), 'snapshot-index': m.snapshot?.metadata.index, 'snapshot-size-bytes': m.snapshot?.data.byteLength };
    this.host.log.info('sending database snapshot', fields);
    void send.done.then((failure) => {
      if (!this.snapshots.delete(send)) return; // closed or removed meanwhile: nobody to tell
      if (failure === null) {
        this.host.log.info('sent database snapshot', fields);
        this.host.reportSnapshot(this.id, true);
        return;
      }
      this.host.log.warn('failed to send database snapshot', { ...fields, error: failure });
      this.host.reportUnreachable(this.id);
      this.host.reportSnapshot(this.id, false);
    });
  }

  private nextUrl(): PeerUrl {
    const url = this.urls[this.urlCursor % this.urls.length];
    assert(url !== undefined, 'peer URL list is not empty');
    this.urlCursor = (this.urlCursor + 1) % this.urls.length;
    return url;
  }

  private connect(): void {
    assert(this.state !== 'closed', 'no connecting once closed');
    const url = this.nextUrl();
    const socket = dial(url, this.host.tls);
    this.socket = socket;
    this.state = 'connecting';
    this.lastError = null;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, globalLimits.transportKeepAliveMs);
    socket.write(encodeHello({ version: wireVersion, role: 'stream', clusterId: this.host.clusterId, from: this.host.memberId, to: this.id }));
    const reader = new FrameReader(globalLimits.transportHandshakeFrameBytesMax);
    this.timer = setTimeout(() => this.fail(socket, new Error('handshake timed out')), this.host.limits.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(socket, reader, url, chunk));
    socket.on('drain', () => { if (this.socket === socket) this.host.markDirty(this); });
    socket.on('error', (err) => { if (this.socket === socket) this.lastError = err; });
    socket.on('close', () => this.onClose(socket));
  }

  private fail(socket: net.Socket, err: Error): void {
    if (this.socket !== socket) return;
    this.lastError = err;
    socket.destroy();
  }

  private onData(socket: net.Socket, reader: FrameReader, url: PeerUrl, chunk: Buffer): void {
    if (this.socket !== socket) return;
    try {
      reader.push(chunk, (kind, payload) => {
        if (this.state !== 'connecting') throw new DecodeError('peer sent data on an established stream');
        if (kind !== frameKind.helloAck) throw new DecodeError(`expected a hello-ack, got frame kind ${kind}`);
        this.onHelloAck(socket, url, payload);
        return true;
      });
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.fail(socket, err);
    }
  }

  private onHelloAck(socket: net.Socket, url: PeerUrl, payload: Buffer): void {
    const ack = decodeHelloAck(payload);
    if (ack.status !== 'ok' || ack.clusterId !== this.host.clusterId || ack.memberId !== this.id) {
      const why = ack.status === 'clusterMismatch' || ack.clusterId !== this.host.clusterId ? 'cluster ID mismatch'
        : ack.status === 'memberMismatch' || ack.memberId !== this.id ? 'member ID mismatch' : 'wire version mismatch';
      this.host.warnLimiter.warn(`refused-${idHex(this.id)}`, `peer refused connection: ${why}`, {
        'local-member-id': idHex(this.host.memberId),
        'local-cluster-id': idHex(this.host.clusterId),
        'remote-peer-id': idHex(this.id),
        'remote-peer-member-id': idHex(ack.memberId),
        'remote-peer-cluster-id': idHex(ack.clusterId),
        'remote-peer-url': url.text,
      });
      this.inactiveLogged = true; // the refusal is the log line for this streak
      this.fail(socket, new Error(`peer refused connection: ${why}`));
      return;
    }
    this.clearTimer();
    this.state = 'active';
    this.activeSinceMs = Date.now();
    this.failures = 0;
    this.lastUrl = url;
    this.progressBytes = socket.bytesWritten - socket.writableLength;
    this.progressAtMs = performance.now();
    this.inactiveLogged = false;
    this.host.log.info('peer became active', { 'local-member-id': idHex(this.host.memberId), 'remote-peer-id': idHex(this.id), 'remote-peer-url': url.text });
    this.host.markDirty(this);
  }

  private onClose(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.clearTimer();
    if (this.state === 'closed') return;
    const wasActive = this.state === 'active';
    this.activeSinceMs = undefined;
    if (wasActive || !this.inactiveLogged) {
      this.host.log.warn(wasActive ? 'peer became inactive (connection lost)' : 'failed to connect to peer', {
        'local-member-id': idHex(this.host.memberId),
        'remote-peer-id': idHex(this.id),
        error: this.lastError?.message ?? 'connection closed by peer',
      });
      this.inactiveLogged = true;
    }
    this.host.reportUnreachable(this.id);
    this.backoff();
  }

  private backoff(): void {
    this.state = 'backoff';
    this.droppedMsgs += this.queue.clear();
    const { backoffInitialMs, backoffMaxMs } = this.host.limits;
    const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    // Equal jitter: half fixed, half random, so restarted members do not dial in lockstep.
    const delayMs = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delayMs);
  }

  private dropConnection(): void {
    const socket = this.socket;
    this.socket = null;
    this.activeSinceMs = undefined;
    if (socket !== null) socket.destroy();
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
