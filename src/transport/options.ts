// What a Transport is given, and the bounds it enforces (defaults from
// util/limits; tests shrink them to reach the edges quickly).
import { limits } from '../util';
import type { Message } from '../raft';
import type { TlsFiles } from './dial';

export interface TransportLog {
  info(msg: string, f?: object): void;
  warn(msg: string, f?: object): void;
}

export interface TransportLimits {
  readonly peerQueueMsgsMax: number;
  readonly peerQueueBytesMax: number;
  readonly socketBufferBytesMax: number;
  readonly writeBatchBytesMax: number;
  readonly frameBytesMax: number;
  readonly snapshotChunkBytes: number;
  readonly snapshotBytesMax: number;
  readonly snapshotReceivesMax: number;
  readonly inboundConnectionsMax: number;
  readonly handshakeTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly writeStallMs: number;
  readonly stallCheckIntervalMs: number;
  readonly snapshotAckTimeoutMs: number;
}

export const defaultTransportLimits: TransportLimits = Object.freeze({
  peerQueueMsgsMax: limits.transportPeerQueueMsgsMax,
  peerQueueBytesMax: limits.transportPeerQueueBytesMax,
  socketBufferBytesMax: limits.transportSocketBufferBytesMax,
  writeBatchBytesMax: limits.transportWriteBatchBytesMax,
  frameBytesMax: limits.transportFrameBytesMax,
  snapshotChunkBytes: limits.transportSnapshotChunkBytes,
  snapshotBytesMax: limits.transportSnapshotBytesMax,
  snapshotReceivesMax: limits.transportSnapshotReceivesMax,
  inboundConnectionsMax: limits.transportInboundConnectionsMax,
  handshakeTimeoutMs: limits.transportHandshakeTimeoutMs,
  backoffInitialMs: limits.transportBackoffInitialMs,
  backoffMaxMs: limits.transportBackoffMaxMs,
  writeStallMs: limits.transportWriteStallMs,
  stallCheckIntervalMs: limits.transportStallCheckIntervalMs,
  snapshotAckTimeoutMs: limits.transportSnapshotAckTimeoutMs,
});

export interface TransportOptions {
  memberId: bigint;
  clusterId: bigint;
  /** e.g. ['http://127.0.0.1:2380']; https listens with TLS and needs `tls`. Port 0 binds any free port (see boundUrls()). */
  listenUrls: string[];
  /** Peer TLS (etcd's --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth); plain TCP when absent. */
  tls?: TlsFiles;
  /** Every inbound raft message, called synchronously from socket data. */
  onMessage(m: Message): void;
  /** A send failed or the connection to peer was lost. Never called from inside send(). */
  onUnreachable(peer: bigint): void;
  /** Result of sending a MsgSnap: ok once fully written and acknowledged by the receiver. Never called from inside send(). */
  onSnapshotStatus(peer: bigint, ok: boolean): void;
  log?: TransportLog;
  /** Overrides of the util/limits defaults (tests). */
  limits?: Partial<TransportLimits>;
}

export interface PeerStats {
  /** Whether the stream connection has completed its handshake. */
  readonly active: boolean;
  readonly queuedMsgs: number;
  readonly queuedBytes: number;
  /** Bytes written to the socket but not yet handed to the kernel. */
  readonly socketBufferedBytes: number;
  readonly sentMsgs: number;
  /** Messages dropped: queue full, peer down, or too large. */
  readonly droppedMsgs: number;
  readonly snapshotsSending: number;
  /** Bytes of snapshot data written to snapshot sockets and not yet handed to the kernel. */
  readonly snapshotBufferedBytes: number;
}

export interface TransportStats {
  readonly inboundConnections: number;
  readonly snapshotsReceiving: number;
  readonly receivedMsgs: number;
  /** Messages addressed to members that are not peers. */
  readonly droppedUnknownPeerMsgs: number;
}

export const silentTransportLog: TransportLog = { info() {}, warn() {} };

/** Logs each key at most once per interval; the number of suppressed lines rides along. */
export class WarnLimiter {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(private readonly log: TransportLog, private readonly intervalMs: number, private readonly keysMax: number) {}

  warn(key: string, msg: string, f: object): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.atMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    if (seen === undefined && this.last.size >= this.keysMax) this.last.clear();
    this.last.set(key, { atMs: now, suppressed: 0 });
    this.log.warn(msg, seen !== undefined && seen.suppressed > 0 ? { ...f, suppressed: seen.suppressed } : f);
  }
}

export function idHex(id: bigint): string {
  return id.toString(16);
}
