// Carries raft Messages between members over the peer URLs. send() only
// queues (bounded, per peer) and never blocks or throws for network trouble;
// one setImmediate per event-loop turn flushes every peer that has work and
// then delivers the deferred onUnreachable/onSnapshotStatus callbacks, so the
// server never sees a callback from inside its own send() call.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { assert, limits as globalLimits } from '../util';
import type { Message } from '../raft';
import { isWireType, messageWireBytes } from './codec';
import {
  formatPeerUrl, loadTls, parsePeerUrl, tlsServerOptions, UrlError,
  type PeerUrl, type TlsMaterial,
} from './dial';
import { InboundConn, type InboundHost } from './inbound';
import {
  WarnLimiter, defaultTransportLimits, idHex, silentTransportLog,
  type PeerStats, type TransportLimits, type TransportLog, type TransportOptions, type TransportStats,
} from './options';
import { Peer, type PeerHost } from './peer';

const u64Max = (1n << 64n) - 1n;

function parseUrls(urls: readonly string[], what: string): PeerUrl[] {
  if (urls.length === 0) throw new UrlError(`${what} needs at least one URL`);
  if (urls.length > globalLimits.transportUrlsMax) throw new UrlError(`${what} has more than ${globalLimits.transportUrlsMax} URLs`);
  return urls.map(parsePeerUrl);
}

function validLimits(l: TransportLimits): TransportLimits {
  assert(l.frameBytesMax >= l.snapshotChunkBytes + 1, 'a snapshot chunk must fit one frame');
  assert(l.frameBytesMax >= globalLimits.transportHandshakeFrameBytesMax, 'frames must admit the handshake');
  assert(l.backoffInitialMs > 0, 'backoff must start above zero');
  assert(l.backoffMaxMs >= l.backoffInitialMs, 'backoff ceiling must not be below its start');
  return l;
}

/** The machinery behind Transport; its host methods are for Peer and InboundConn only. */
class TransportCore implements PeerHost, InboundHost {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly limits: TransportLimits;
  readonly log: TransportLog;
  readonly warnLimiter: WarnLimiter;
  private readonly peers = new Map<bigint, Peer>();
  private readonly servers: net.Server[] = [];
  private readonly bound: string[] = [];
  private readonly inbound = new Set<InboundConn>();
  private readonly streams = new Map<bigint, InboundConn>();
  private readonly dirty = new Set<Peer>();
  private readonly unreachable = new Set<bigint>();
  private readonly snapshotStatus = new Map<bigint, boolean>();
  private turn: NodeJS.Immediate | null = null;
  private readonly stallTimer: NodeJS.Timeout;
  private snapshotsReceiving = 0;
  private receivedMsgs = 0;
  private droppedUnknownPeerMsgs = 0;
  private closed = false;

  constructor(private readonly opts: TransportOptions, readonly tls: TlsMaterial | null) {
    assert(opts.memberId > 0n, 'member ID 0 is reserved');
    assert(opts.memberId <= u64Max, 'member ID must fit 64 bits');
    assert(opts.clusterId >= 0n, 'cluster ID must not be negative');
    assert(opts.clusterId <= u64Max, 'cluster ID must fit 64 bits');
    this.memberId = opts.memberId;
    this.clusterId = opts.clusterId;
    this.limits = validLimits({ ...defaultTransportLimits, ...opts.limits });
    this.log = opts.log ?? silentTransportLog;
    this.warnLimiter = new WarnLimiter(this.log, globalLimits.transportWarnIntervalMs, globalLimits.transportWarnKeysMax);
    this.stallTimer = setInterval(() => this.checkStalls(), this.limits.stallCheckIntervalMs);
    this.stallTimer.unref();
  }

  /** The listen URLs as bound (port 0 resolved to the port the system chose). */
  boundUrls(): string[] {
    return [...this.bound];
  }

  addPeer(id: bigint, urls: string[]): void {
    assert(!this.closed, 'addPeer after close');
    assert(id > 0n, 'peer ID 0 is reserved');
    assert(id <= u64Max, 'peer ID must fit 64 bits');
    const parsed = parseUrls(urls, `peer ${idHex(id)}`);
    // Idempotent, like etcd's: replaying membership after a restart adds members again.
    if (id === this.memberId) return;
    const existing = this.peers.get(id);
    if (existing !== undefined) {
      existing.setUrls(parsed);
      return;
    }
    assert(this.peers.size < globalLimits.transportPeersMax, 'too many peers');
    this.peers.set(id, new Peer(id, parsed, this));
    this.log.info('added remote peer', { 'local-member-id': idHex(this.memberId), 'remote-peer-id': idHex(id), 'remote-peer-urls': urls });
  }

  updatePeer(id: bigint, urls: string[]): void {
    const parsed = parseUrls(urls, `peer ${idHex(id)}`);
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    peer.setUrls(parsed);
    this.log.info('updated remote peer', { 'local-member-id': idHex(this.memberId), 'remote-peer-id': idHex(id), 'remote-peer-urls': urls });
  }

  removePeer(id: bigint): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    peer.close();
    this.peers.delete(id);
    this.dirty.delete(peer);
    this.streams.get(id)?.destroy();
    this.log.info('removed remote peer', { 'local-member-id': idHex(this.memberId), 'remote-peer-id': idHex(id) });
  }

  /** Queues msgs for their peers. Never blocks; drops (and reports unreachable) rather than grow a queue. */
  send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      assert(isWireType(m.type), `${m.type} is local to raft and never sent`);
      if (this.closed) return;
      const peer = this.peers.get(m.to);
      if (peer === undefined) {
        this.droppedUnknownPeerMsgs++;
        this.warnLimiter.warn(`unknown-peer-${idHex(m.to)}`, 'dropped message to unknown peer', {
          'local-member-id': idHex(this.memberId), 'remote-peer-id': idHex(m.to), type: m.type,
        });
        continue;
      }
      if (m.type === 'MsgSnap') {
        peer.sendSnapshot(m);
        continue;
      }
      if (peer.enqueue(m, messageWireBytes(m))) this.markDirty(peer);
      else this.reportUnreachable(m.to);
    }
  }

  /** When the current stream connection to peer id came up (ms since the epoch); undefined while down. */
  activeSince(id: bigint): number | undefined {
    return this.peers.get(id)?.activeSince;
  }

  peerStats(id: bigint): PeerStats | undefined {
    return this.peers.get(id)?.stats();
  }

  stats(): TransportStats {
    return {
      inboundConnections: this.inbound.size,
      snapshotsReceiving: this.snapshotsReceiving,
      receivedMsgs: this.receivedMsgs,
      droppedUnknownPeerMsgs: this.droppedUnknownPeerMsgs,
    };
  }

  /** Stops listening and closes every connection and timer; no callback fires afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.stallTimer);
    if (this.turn !== null) clearImmediate(this.turn);
    this.turn = null;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    this.dirty.clear();
    this.unreachable.clear();
    this.snapshotStatus.clear();
    for (const c of this.inbound) c.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  // --- PeerHost ---

  markDirty(peer: Peer): void {
    this.dirty.add(peer);
    this.scheduleTurn();
  }

  reportUnreachable(id: bigint): void {
    this.unreachable.add(id);
    this.scheduleTurn();
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.snapshotStatus.set(id, ok);
    this.scheduleTurn();
  }

  // --- InboundHost ---

  deliver(m: Message): void {
    if (this.closed) return;
    this.receivedMsgs++;
    this.opts.onMessage(m);
  }

  claimStream(conn: InboundConn): void {
    const old = this.streams.get(conn.remoteId);
    this.streams.set(conn.remoteId, conn);
    if (old !== undefined && old !== conn) old.destroy();
  }

  tryReserveSnapshotReceive(): boolean {
    if (this.snapshotsReceiving >= this.limits.snapshotReceivesMax) return false;
    this.snapshotsReceiving++;
    return true;
  }

  releaseSnapshotReceive(): void {
    assert(this.snapshotsReceiving > 0, 'snapshot receive released twice');
    this.snapshotsReceiving--;
  }

  connectionClosed(conn: InboundConn): void {
    this.inbound.delete(conn);
    if (this.streams.get(conn.remoteId) === conn) this.streams.delete(conn.remoteId);
  }

  // --- internals ---

  private scheduleTurn(): void {
    if (this.turn === null && !this.closed) this.turn = setImmediate(() => this.onTurn());
  }

  private onTurn(): void {
    this.turn = null;
    // flush() never adds to dirty synchronously ('drain' arrives in a later turn), so this loop is bounded by the peer count.
    for (const p of this.dirty) p.flush();
    this.dirty.clear();
    const unreachable = [...this.unreachable];
    this.unreachable.clear();
    const statuses = [...this.snapshotStatus];
    this.snapshotStatus.clear();
    // A peer removed meanwhile is no longer raft's business.
    for (const id of unreachable) if (!this.closed && this.peers.has(id)) this.opts.onUnreachable(id);
    for (const [id, ok] of statuses) if (!this.closed && this.peers.has(id)) this.opts.onSnapshotStatus(id, ok);
  }

  private checkStalls(): void {
    const now = performance.now();
    for (const p of this.peers.values()) p.checkStall(now);
  }

  private onConnection(socket: net.Socket): void {
    if (this.closed || this.inbound.size >= this.limits.inboundConnectionsMax) {
      this.warnLimiter.warn('inbound-full', 'refused peer connection: too many inbound connections', {
        'local-member-id': idHex(this.memberId), limit: this.limits.inboundConnectionsMax,
      });
      socket.destroy();
      return;
    }
    this.inbound.add(new InboundConn(socket, this));
  }

  async listenOn(url: PeerUrl): Promise<void> {
    const server = url.secure
      ? tls.createServer({ ...tlsServerOptions(this.tls as TlsMaterial), handshakeTimeout: this.limits.handshakeTimeoutMs }, (s) => this.onConnection(s))
      : net.createServer((s) => this.onConnection(s));
    // Bounds sockets still in their TLS handshake too, which onConnection has not seen yet.
    server.maxConnections = this.limits.inboundConnectionsMax;
    if (url.secure) {
      server.on('tlsClientError', (err, s) => {
        this.warnLimiter.warn('tls-client-error', 'rejected peer connection: TLS handshake failed', {
          'local-member-id': idHex(this.memberId), 'remote-addr': s.remoteAddress, error: err.message,
        });
      });
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: url.host, port: url.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.warn('peer listener error', { 'local-member-id': idHex(this.memberId), error: err.message }));
    this.servers.push(server);
    const addr = server.address();
    assert(addr !== null && typeof addr === 'object', 'a TCP listener has an address');
    const text = formatPeerUrl(url.secure, url.host, addr.port);
    this.bound.push(text);
    this.log.info('listening for peers', { 'local-member-id': idHex(this.memberId), address: text });
  }
}

/** Peer messaging for one member. See DESIGN.md (transport/) and this folder's index.ts. */
export class Transport {
  private constructor(private readonly core: TransportCore) {}

  /** Reads the TLS files, binds every listen URL, and starts accepting peers. */
  static async listen(opts: TransportOptions): Promise<Transport> {
    const urls = parseUrls(opts.listenUrls, 'listenUrls');
    if (urls.some((u) => u.secure) && opts.tls === undefined) {
      throw new UrlError('an https listen URL needs peer TLS (certFile and keyFile)');
    }
    const material = opts.tls === undefined ? null : await loadTls(opts.tls);
    const core = new TransportCore(opts, material);
    try {
      for (const u of urls) await core.listenOn(u);
    } catch (err) {
      await core.close();
      throw err;
    }
    return new Transport(core);
  }

  get memberId(): bigint {
    return this.core.memberId;
  }

  /** The listen URLs as bound (port 0 resolved to the port the system chose). */
  boundUrls(): string[] {
    return this.core.boundUrls();
  }

  /**
   * Starts a persistent connection to a peer; its URLs are tried in turn. Idempotent: adding a
   * known peer updates its URLs, adding this member itself is ignored. Throws UrlError for a bad URL.
   */
  addPeer(id: bigint, urls: string[]): void {
    this.core.addPeer(id, urls);
  }

  /** Replaces a peer's URLs; reconnects at once when they changed. Unknown IDs are ignored. */
  updatePeer(id: bigint, urls: string[]): void {
    this.core.updatePeer(id, urls);
  }

  /** Closes the peer's connections and drops what was queued for it. Unknown IDs are ignored. */
  removePeer(id: bigint): void {
    this.core.removePeer(id);
  }

  /** Queues msgs for their peers. Never blocks, never throws for network trouble: drops and reports unreachable instead. */
  send(msgs: readonly Message[]): void {
    this.core.send(msgs);
  }

  /** When the current stream connection to the peer came up (ms since the epoch); undefined while down. */
  activeSince(id: bigint): number | undefined {
    return this.core.activeSince(id);
  }

  peerStats(id: bigint): PeerStats | undefined {
    return this.core.peerStats(id);
  }

  stats(): TransportStats {
    return this.core.stats();
  }

  /** Stops listening, closes every connection and timer; no callback fires afterwards. */
  close(): Promise<void> {
    return this.core.close();
  }
}
