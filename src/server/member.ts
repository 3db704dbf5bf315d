// A keel member: the MVCC store and the lessor behind Raft. Every write (KV,
// lease, alarm, membership) is proposed as an entry; once committed it is
// applied in log order on every member, and the proposer's waiter gets the
// result. Linearizable reads wait for a ReadIndex round (shared by all reads
// of one event-loop turn) and for the apply to catch up; serializable reads
// are served from the local store. A single member is a one-voter cluster.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert, AssertionError, EtcdError, limits, monotonicClock, SeededRandom, type Clock } from '../util';
import { Lessor, LeaseIdGenerator, minLeaseTtlSeconds, type LeaseRecord } from '../lease';
import { openLevelBackend, dumpBackend, restoreBackend, type Backend } from '../storage';
import {
  RawNode, decodeConfChange, isRaftError,
  type Entry, type Message, type ReadState, type Snapshot, type SoftState, type ConfChange,
} from '../raft';
import {
  MvccStore, txnHasWrite,
  type RangeRequest, type RangeResponse, type PutRequest, type PutResponse,
  type DeleteRangeRequest, type DeleteRangeResponse, type TxnRequest, type TxnResponse, type KeyValue,
  type Event, EventType, WatchHub, readHistory, hashKv, hashAll, type WatchSink, type WatchStream,
} from '../mvcc';
import type { ServerConfig } from './config';
import type { Logger } from './log';
import { idToHex, memberIdOf } from './ids';
import { RaftDriver } from './raft-driver';
import { encodeRequest, decodeRequest, type Op } from './requests';
import { bootstrapMembers, parseInitialCluster, encodeMember, decodeMember, memberMetaName, memberMetaPrefix, type MemberInfo } from './membership';
import { openRaftLog, type RaftLogStorage } from './raft-log';
import { spoolSnapshot } from './snapshot';
import { AutoCompactor } from './compactor';

/** The etcd version keel reports: kube-apiserver enables watch progress features from 3.5.13 on. */
export const etcdVersion = '3.5.16';
export const clusterVersion = '3.5.0';

export interface MemberStatus {
  version: string;
  dbSize: number;
  dbSizeInUse: number;
  leader: bigint;
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  errors: string[];
  isLearner: boolean;
  revision: number;
}

/** Peer messaging, provided by the transport (cmd wires it; server does not import transport/). */
export interface PeerNetwork {
  send(messages: readonly Message[]): void;
  addPeer(id: bigint, urls: string[]): void;
  removePeer(id: bigint): void;
}

const identityMeta = 'identity';
const consistentIndexMeta = 'consistent_index';
const leaseMetaPrefix = 'lease/';
const alarmMetaPrefix = 'alarm/';

export const enum AlarmType { None = 0, NoSpace = 1, Corrupt = 2 }
export const enum AlarmAction { Get = 0, Activate = 1, Deactivate = 2 }
export interface AlarmMember { memberId: bigint; alarm: AlarmType }
const alarmNames = ['NONE', 'NOSPACE', 'CORRUPT'];
/** etcd's lessor looks for expired leases every 500 ms. */
const leaseExpiryPassMs = 500;

function leaseMetaName(id: bigint): string {
  return leaseMetaPrefix + BigInt.asUintN(64, id).toString(16).padStart(16, '0');
}

function encodeLeaseRecord(r: LeaseRecord): Buffer {
  return Buffer.from(JSON.stringify({ id: r.id.toString(), ttl: r.ttlSeconds, remaining: r.remainingTtlSeconds }));
}

function decodeLeaseRecord(b: Buffer): LeaseRecord {
  const o = JSON.parse(b.toString('utf8')) as { id: string; ttl: number; remaining: number };
  return { id: BigInt(o.id), ttlSeconds: o.ttl, remainingTtlSeconds: o.remaining };
}

function bigintBytes(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

interface Identity { memberId: string; clusterId: string }

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

interface ReadBatch {
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
  /** Set once raft answered this batch's ReadIndex. */
  index: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When its ReadIndex round started (monotonic ms), once it did. */
  sentMs?: number;
}

/** etcd's request timeout: 5 s plus two election timeouts. */
function requestTimeoutMs(cfg: ServerConfig): number {
  return 5000 + 2 * cfg.electionTimeoutMs;
}

export class Member {
  private lessor: Lessor;
  private backend: Backend;
  private store: MvccStore;
  /** Index of the last raft snapshot taken or received (raft log compacted up to it, minus a catch-up tail). */
  private snapshotIndex: number;
  private readonly ids: LeaseIdGenerator;
  private readonly revoking = new Set<bigint>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private compactionTimer: NodeJS.Timeout | undefined;
  /** Meta records (leases, alarms, members) to write with the next commit; undefined deletes. */
  private pendingMeta: Array<[string, Buffer | undefined]> = [];
  /** Events of the apply batch in progress, by revision (published to watchers at its end). */
  private pendingEvents: Array<[number, Event[]]> = [];
  /**
   * The store's backend write of earlier apply batches, running in the background (one at a time):
   * the raft log is the write-ahead log, so clients are answered once a batch is applied in memory.
   */
  private commitInFlight: Promise<void> | undefined;
  /** Entries applied (in memory) since the last commit was started; bounded by limits.storeUncommittedEntriesMax. */
  private uncommittedEntries = 0;
  /** Revision and applied index the backend holds (as of the last finished commit). */
  private committedRevision: number;
  private committedIndex: number;
  private commitsStarted = 0;
  private commitsDone = 0;
  /** The next commit is synced (before the raft log is compacted past it). */
  private syncNextCommit = false;
  private applying = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private readonly hub: WatchHub;
  private readonly alarms = new Map<string, AlarmMember>();
  private readonly members = new Map<bigint, MemberInfo>();
  private readonly waiters = new Map<bigint, Waiter>();
  /** Proposals made while no leader was known; proposed again when one is. */
  private parked: Uint8Array[] = [];
  private readonly driver: RaftDriver;
  private appliedIndex: number;
  private leader = 0n;
  private isLeader = false;
  private currentBatch: ReadBatch | undefined;
  private readRetryTimer: NodeJS.Timeout | undefined;
  private readonly readBatches = new Map<string, ReadBatch>();
  private readonly appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  private dbSizeBytes = 0;
  private dbSizeCheckedMs = 0;
  private stopped = false;
  private readyResolve: (() => void) | undefined;
  /** Resolves once this member's publish request is applied (etcd: ReadyNotify). */
  readonly ready: Promise<void>;
  private network: PeerNetwork | undefined;

  private constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    backend: Backend,
    store: MvccStore,
    private readonly raftLog: RaftLogStorage,
    readonly memberId: bigint,
    readonly clusterId: bigint,
    private readonly fatal: (e: unknown) => void,
    lessor: Lessor,
    appliedIndex: number,
    bootstrapPeers: bigint[],
    private readonly clock: Clock,
    raftApplied: number,
  ) {
    this.lessor = lessor;
    this.backend = backend;
    this.store = store;
    this.snapshotIndex = raftLog.snapshot().metadata.index;
    this.appliedIndex = appliedIndex;
    this.committedRevision = store.currentRevision();
    this.committedIndex = appliedIndex;
    this.ids = new LeaseIdGenerator(memberId, Date.now());
    this.ready = new Promise((r) => { this.readyResolve = r; });
    this.listenForEvents(store);
    this.hub = new WatchHub(
      {
        readHistory: async (from, to, eventsMax) => {
          await this.waitCommitted(to);
          return readHistory(this.backend, from, to, eventsMax);
        },
        kvAt: (key, revision) => this.kvAt(key, revision),
        compactRevision: () => this.store.compactRevision(),
      },
      store.currentRevision(),
      fatal,
    );
    const electionTicks = Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatMs));
    const node = new RawNode({
      id: memberId,
      peers: bootstrapPeers,
      electionTicks,
      heartbeatTicks: 1,
      storage: raftLog,
      applied: raftApplied,
      preVote: config.preVote,
      checkQuorum: true,
      random: new SeededRandom(Number(memberId & 0xffffffffn) ^ Date.now()),
    });
    this.driver = new RaftDriver(node, raftLog, {
      appended: (entries) => this.onAppended(entries),
      send: (msgs) => this.send(msgs),
      restore: (snap) => this.restoreFromSnapshot(snap),
      apply: (entries) => this.applyCommitted(entries),
      softState: (s) => this.onSoftState(s),
      readStates: (rs) => this.onReadStates(rs),
      fatal,
    }, config.heartbeatMs);
  }

  static async open(config: ServerConfig, log: Logger, fatal: (e: unknown) => void, clock: Clock = monotonicClock): Promise<Member> {
    const memberDir = path.join(config.dataDir, 'member');
    fs.mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    finishRestore(memberDir);
    const backend = await openLevelBackend(path.join(memberDir, 'db'));
    let store: MvccStore | undefined;
    try {
      const lessor = new Lessor({ clock, minTtlSeconds: minLeaseTtlSeconds(config.electionTimeoutMs) });
      store = await MvccStore.open(backend, { leaseExists: (id) => lessor.has(id) });
      const state = await loadState(store, lessor);
      const { identity, members, fresh } = await loadIdentity(store, config);
      const memberId = BigInt('0x' + identity.memberId);
      const raftLog = await openRaftLog(path.join(memberDir, 'wal'), state.appliedIndex);
      // The store can be ahead of the log (a crash right after restoring a leader's snapshot): raft
      // resumes from what the log holds and the entries the store already has are skipped on apply.
      // The log's commit index can also be behind the store: a hard state that only moved the commit
      // index is written unsynced (raft's mustSync), so a power cut may lose it; raft learns it again.
      const logCommit = Math.max(raftLog.initialState().hardState.commit, raftLog.snapshot().metadata.index);
      const raftApplied = Math.min(state.appliedIndex, Math.max(raftLog.lastIndex(), raftLog.snapshot().metadata.index), logCommit);
      // Bootstrap peers only for a brand-new member of a new cluster; a joining member learns the configuration from the leader.
      const bootstrap = raftLog.isNew() && config.initialClusterState === 'new' ? members.map((m) => m.id) : [];
      const m = new Member(config, log, backend, store, raftLog, memberId, BigInt('0x' + identity.clusterId), fatal, lessor, state.appliedIndex, bootstrap, clock, raftApplied);
      m.adoptState(state);
      // A joining member learns the membership from the log it receives; it starts knowing only the peers it was given.
      if (fresh) for (const info of members) m.members.set(info.id, info);
      m.dbSizeBytes = await backend.sizeBytes();
      log.info('opened backend', { path: path.join(memberDir, 'db'), 'current-revision': store.currentRevision(), 'compact-revision': store.compactRevision(), 'consistent-index': state.appliedIndex });
      return m;
    } catch (e) {
      if (store !== undefined) await store.close(); else await backend.close();
      throw e;
    }
  }

  /** Starts raft (and this member's publish). Peer messages go through `network`. */
  start(network: PeerNetwork | undefined): void {
    this.network = network;
    for (const m of this.members.values()) if (m.id !== this.memberId) network?.addPeer(m.id, m.peerUrls);
    this.driver.start();
    this.startAutoCompaction();
    // A lone voter need not wait an election timeout (etcd fast-forwards its ticks).
    const voters = this.driver.node.status().confState.voters;
    if (voters.length === 1 && voters[0] === this.memberId) this.driver.node.campaign();
    this.driver.kick();
    void this.publish();
  }

  /** Raft messages from peers. */
  step(m: Message): void {
    if (this.stopped) return;
    this.driver.step(m);
  }

  reportUnreachable(id: bigint): void {
    this.driver.node.reportUnreachable(id);
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.driver.node.reportSnapshot(id, ok ? 'finish' : 'failure');
    this.driver.kick();
  }

  get memberIdHex(): string { return idToHex(this.memberId); }
  get clusterIdHex(): string { return idToHex(this.clusterId); }
  get raftTerm(): bigint { return BigInt(this.driver.node.term); }
  get leaderId(): bigint { return this.leader; }

  currentRevision(): number { return this.store.currentRevision(); }

  // ---- reads ----

  async range(req: RangeRequest, serializable: boolean): Promise<RangeResponse> {
    this.checkRunning();
    if (!serializable) await this.linearizableBarrier();
    return this.store.range(req);
  }

  // ---- writes ----

  put(req: PutRequest, requestBytes: number): Promise<PutResponse> {
    this.checkRequestSize(requestBytes);
    this.checkQuota(requestBytes);
    return this.propose({ op: 'put', req });
  }

  deleteRange(req: DeleteRangeRequest, requestBytes: number): Promise<DeleteRangeResponse> {
    this.checkRequestSize(requestBytes);
    return this.propose({ op: 'deleteRange', req });
  }

  async txn(req: TxnRequest, requestBytes: number, serializable: boolean): Promise<TxnResponse> {
    if (!txnHasWrite(req)) {
      this.checkRunning();
      if (!serializable) await this.linearizableBarrier();
      return this.store.txn(req);
    }
    this.checkRequestSize(requestBytes);
    if (txnHasPut(req)) this.checkQuota(requestBytes);
    return this.propose({ op: 'txn', req });
  }

  compact(revision: number): Promise<{ revision: number }> {
    return this.propose({ op: 'compact', revision });
  }

  // ---- leases ----

  async leaseGrant(requestedId: bigint, ttlSeconds: number): Promise<{ id: bigint; ttlSeconds: number; revision: number }> {
    if (this.hasAlarm(AlarmType.NoSpace)) throw new EtcdError('NoSpace');
    const id = requestedId === 0n ? this.ids.next() : requestedId;
    this.lessor.checkGrant(id, ttlSeconds);
    return this.propose({ op: 'leaseGrant', id, ttl: ttlSeconds });
  }

  leaseRevoke(id: bigint): Promise<{ revision: number }> {
    if (!this.lessor.has(id)) return Promise.reject(new EtcdError('LeaseNotFound'));
    return this.propose({ op: 'leaseRevoke', id });
  }

  /** The TTL after renewal, or undefined for an unknown lease. Only the leader renews. */
  async leaseKeepAlive(id: bigint): Promise<number | undefined> {
    this.checkRunning();
    // etcd's leader only waits until it has applied what is committed (a revoke may be in flight).
    await this.appliedToCommit();
    if (!this.isLeader) throw new EtcdError('NotLeader');
    if (!this.lessor.has(id)) return undefined;
    return this.lessor.renew(id);
  }

  async leaseTimeToLive(id: bigint, withKeys: boolean): Promise<{ ttlSeconds: number; grantedTtlSeconds: number; keys: Buffer[] } | undefined> {
    this.checkRunning();
    await this.linearizableBarrier();
    const lease = this.lessor.get(id);
    if (lease === undefined) return undefined;
    return { ttlSeconds: this.lessor.remainingSeconds(id), grantedTtlSeconds: lease.ttlSeconds, keys: withKeys ? this.lessor.keysOf(id) : [] };
  }

  async leaseLeases(): Promise<bigint[]> {
    this.checkRunning();
    await this.linearizableBarrier();
    return this.lessor.ids();
  }

  // ---- watch ----

  newWatchStream(sink: WatchSink): WatchStream {
    this.checkRunning();
    return this.hub.newStream(sink);
  }

  startProgressNotify(intervalMs: number): void {
    this.hub.startProgressNotify(intervalMs);
  }

  // ---- maintenance ----

  /** etcd's Alarm: GET lists, ACTIVATE raises, DEACTIVATE disarms (answering the alarms it touched). */
  async alarm(action: AlarmAction, memberId: bigint, alarm: AlarmType): Promise<AlarmMember[]> {
    if (action === AlarmAction.Get) {
      this.checkRunning();
      return [...this.alarms.values()];
    }
    return this.propose({ op: 'alarm', action, memberId, alarm });
  }

  async hashKv(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number; revision: number }> {
    this.checkRunning();
    const current = this.store.currentRevision();
    const rev = revision === 0 ? current : revision;
    if (rev > current) throw new EtcdError('FutureRev');
    const compactRevision = this.store.compactRevision();
    if (rev < compactRevision) throw new EtcdError('Compacted');
    // Old revisions are deleted in the background; hash only once that is done, so members agree.
    await this.flushStore(false);
    await this.store.compactionSettled();
    return { hash: await hashKv(this.backend, compactRevision, rev), compactRevision, hashRevision: rev, revision: current };
  }

  async hash(): Promise<{ hash: number; revision: number }> {
    this.checkRunning();
    await this.flushStore(false);
    await this.store.compactionSettled();
    return { hash: await hashAll(this.backend), revision: this.store.currentRevision() };
  }

  // ---- membership ----

  async memberAdd(peerUrls: string[], isLearner: boolean): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    this.checkRunning();
    for (const m of this.members.values()) if (m.peerUrls.some((u) => peerUrls.includes(u))) throw new EtcdError('PeerURLExist');
    if (isLearner && [...this.members.values()].filter((m) => m.isLearner).length >= this.config.maxLearners) throw new EtcdError('TooManyLearners');
    // etcd mixes the time into an added member's ID and the joiner learns it from the cluster; a keel joiner
    // derives its ID from its URLs and the token, so the ID here must be the same function of them.
    const id = memberIdOf(peerUrls, this.config.initialClusterToken);
    if (this.members.has(id)) throw new EtcdError('MemberExist');
    const member: MemberInfo = { id, name: '', peerUrls, clientUrls: [], isLearner };
    await this.proposeConfChange({ type: isLearner ? 'addLearnerNode' : 'addNode', nodeId: id }, member);
    return { member, members: this.memberList() };
  }

  async memberRemove(id: bigint): Promise<MemberInfo[]> {
    this.checkRunning();
    const m = this.members.get(id);
    if (m === undefined) throw new EtcdError('MemberNotFound');
    await this.proposeConfChange({ type: 'removeNode', nodeId: id }, m);
    return this.memberList();
  }

  async memberUpdate(id: bigint, peerUrls: string[]): Promise<MemberInfo[]> {
    this.checkRunning();
    if (!this.members.has(id)) throw new EtcdError('MemberNotFound');
    for (const m of this.members.values()) if (m.id !== id && m.peerUrls.some((u) => peerUrls.includes(u))) throw new EtcdError('PeerURLExist');
    await this.propose({ op: 'memberUpdate', memberId: id, peerUrls });
    return this.memberList();
  }

  async memberPromote(id: bigint): Promise<MemberInfo[]> {
    this.checkRunning();
    const m = this.members.get(id);
    if (m === undefined) throw new EtcdError('MemberNotFound');
    if (!m.isLearner) throw new EtcdError('MemberNotLearner');
    if (this.isLeader) {
      // etcd promotes a learner only once its log is within 90% of the leader's.
      const st = this.driver.node.status();
      const match = st.progress.get(id)?.match ?? 0;
      if (match < 0.9 * st.lastIndex) throw new EtcdError('LearnerNotReady');
    }
    await this.proposeConfChange({ type: 'addNode', nodeId: id }, { ...m, isLearner: false });
    return this.memberList();
  }

  /** Proposes a conf change whose context carries the waiter's request ID and the member's record. */
  private proposeConfChange(cc: Omit<ConfChange, 'context'>, member: MemberInfo): Promise<void> {
    if (this.waiters.size >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    const id = this.ids.next();
    const context = Buffer.from(JSON.stringify({ requestId: id.toString(), member: JSON.parse(encodeMember(member).toString('utf8')) as unknown }));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new EtcdError('Timeout'));
      }, requestTimeoutMs(this.config));
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (this.leader === 0n) return;
      const err = this.driver.node.proposeConfChange({ ...cc, context });
      if (err !== null) {
        this.settle(id, false, new EtcdError('Unhealthy'));
        return;
      }
      this.driver.kick();
    });
  }

  /** The leader's first advertised client URL, once it has published one. */
  leaderClientUrl(): string | undefined {
    if (this.leader === 0n || this.isLeader) return undefined;
    return this.members.get(this.leader)?.clientUrls[0];
  }

  /** etcd's MoveLeader: the leader hands leadership to `target` and waits until it has it. */
  async moveLeader(target: bigint): Promise<void> {
    this.checkRunning();
    if (!this.isLeader) throw new EtcdError('NotLeader');
    if (!this.members.has(target)) throw new EtcdError('BadLeaderTransferee');
    if (target === this.memberId) return;
    this.driver.node.transferLeader(target);
    this.driver.kick();
    const deadline = Date.now() + requestTimeoutMs(this.config);
    while (this.leader !== target) {
      if (Date.now() > deadline || this.stopped) throw new EtcdError('TimeoutLeaderTransfer');
      await new Promise((r) => setTimeout(r, this.config.heartbeatMs));
    }
  }

  /** etcd's Defragment: this member's files rewritten without deleted data. */
  async defragment(): Promise<void> {
    this.checkRunning();
    await this.flushStore(false);
    await this.store.compactionSettled();
    await this.backend.defragment();
    await this.refreshDbSize(true);
  }

  /** For clients that ask for a leader (gRPC metadata hasleader=true). */
  hasLeader(): boolean {
    return this.leader !== 0n;
  }

  /** The whole store as keel's snapshot format (Maintenance.Snapshot). */
  async snapshot(): Promise<{ size: number; chunks: AsyncGenerator<Buffer> }> {
    this.checkRunning();
    await this.flushStore(false);
    return spoolSnapshot(this.backend);
  }

  memberList(): MemberInfo[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async status(): Promise<MemberStatus> {
    await this.refreshDbSize(true);
    const st = this.driver.node.status();
    return {
      version: etcdVersion,
      dbSize: this.dbSizeBytes,
      dbSizeInUse: this.dbSizeBytes,
      leader: this.leader,
      raftIndex: BigInt(st.hardState.commit),
      raftTerm: BigInt(st.hardState.term),
      raftAppliedIndex: BigInt(this.appliedIndex),
      errors: [...this.alarms.values()].map((a) => `memberID:${a.memberId.toString()} alarm:${alarmNames[a.alarm]} `),
      isLearner: st.confState.learners.includes(this.memberId),
      revision: this.store.currentRevision(),
    };
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.expiryTimer !== undefined) clearInterval(this.expiryTimer);
    if (this.compactionTimer !== undefined) clearInterval(this.compactionTimer);
    this.driver.stop();
    this.hub.stop();
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new EtcdError('Stopped'));
      this.waiters.delete(id);
    }
    if (this.readRetryTimer !== undefined) clearTimeout(this.readRetryTimer);
    for (const b of [...this.readBatches.values(), ...(this.currentBatch ? [this.currentBatch] : [])]) {
      if (b.timer !== undefined) clearTimeout(b.timer);
      for (const w of b.waiters) w.reject(new EtcdError('Stopped'));
    }
    await this.driver.idle();
    try {
      await this.flushStore(false);
    } finally {
      await this.raftLog.close();
      await this.store.close();
    }
  }

  // ---- proposals ----

  private propose<T>(body: Op): Promise<T> {
    this.checkRunning();
    if (this.waiters.size >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    const id = this.ids.next();
    const data = encodeRequest({ id, body });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new EtcdError('Timeout'));
      }, requestTimeoutMs(this.config));
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.submit(data);
    });
  }

  private submit(data: Uint8Array): void {
    if (this.leader === 0n) {
      if (this.parked.length < limits.applyQueueRequestsMax) this.parked.push(data);
      return;
    }
    const err = this.driver.node.propose(data);
    // Dropped (e.g. a leader transfer in progress): keep it for the next leader; its waiter times out otherwise.
    if (err !== null && this.parked.length < limits.applyQueueRequestsMax) this.parked.push(data);
    this.driver.kick();
  }

  private settle(id: bigint, ok: boolean, value: unknown): void {
    const w = this.waiters.get(id);
    if (w === undefined) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    if (ok) w.resolve(value); else w.reject(value);
  }

  private async publish(): Promise<void> {
    const self = this.members.get(this.memberId);
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.propose({ op: 'publish', memberId: this.memberId, name: this.config.name, clientUrls: this.config.advertiseClientUrls });
        this.log.info('published local member to cluster through raft', {
          'local-member-id': this.memberIdHex,
          'local-member-attributes': `{Name:${this.config.name} ClientURLs:[${this.config.advertiseClientUrls.join(' ')}]}`,
          'cluster-id': this.clusterIdHex,
          'peer-urls': self?.peerUrls ?? [],
        });
        this.readyResolve?.();
        return;
      } catch (e) {
        if (this.stopped) return;
        this.log.warn('failed to publish local member to cluster through raft', { attempt, error: e });
      }
    }
  }

  // ---- apply ----

  private async applyCommitted(entries: readonly Entry[]): Promise<void> {
    const outcomes: Array<[bigint, boolean, unknown]> = [];
    this.applying = true;
    try {
      for (const e of entries) {
        if (e.index <= this.appliedIndex) continue;
        if (e.type === 'confChange') {
          const requestId = this.applyConfChange(decodeConfChange(e.data));
          if (requestId !== undefined) outcomes.push([requestId, true, undefined]);
        }
        else if (e.data.byteLength > 0) {
          const req = decodeRequest(e.data);
          try {
            outcomes.push([req.id, true, await this.execute(req.body)]);
          } catch (err) {
            if (!(err instanceof EtcdError)) throw err;
            outcomes.push([req.id, false, err]);
          }
        }
        this.appliedIndex = e.index;
        this.uncommittedEntries++;
      }
    } finally {
      this.applying = false;
    }
    const published = this.pendingEvents;
    this.pendingEvents = [];
    for (const [revision, events] of published) this.hub.publish(revision, events);
    this.hub.advance(this.store.currentRevision());
    for (const [id, ok, value] of outcomes) this.settle(id, ok, value);
    this.releaseReads();
    if (this.snapshotDue()) {
      // The log is about to be compacted past what the store may have on disk: make the store durable first.
      await this.flushStore(true);
      await this.maybeSnapshot();
    } else if (this.uncommittedEntries >= limits.storeUncommittedEntriesMax) {
      await this.flushStore(false);
    } else {
      this.scheduleCommit();
    }
    void this.refreshDbSize(false);
  }

  /**
   * etcd's backend batching: applied changes wait in memory (the raft log has them) until
   * --backend-batch-limit entries or --backend-batch-interval has passed, so one backend write
   * carries many applies; whatever reads the backend (history, hashes, snapshots) flushes first.
   */
  private scheduleCommit(): void {
    if (this.uncommittedEntries >= this.config.backendBatchLimit) {
      this.kickCommit();
      return;
    }
    if (this.commitTimer !== undefined || this.stopped) return;
    if (this.uncommittedEntries === 0 && this.pendingMeta.length === 0) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      this.kickCommit();
    }, this.config.backendBatchIntervalMs);
  }

  /**
   * Starts writing everything applied so far to the store's backend, with the consistent index in
   * the same batch (so a restart replays the raft log from exactly after it), unless a commit is
   * already running (it starts the next one when done) or an apply batch is half done.
   */
  private kickCommit(): void {
    if (this.commitInFlight !== undefined || this.applying) return;
    if (this.uncommittedEntries === 0 && this.pendingMeta.length === 0 && !this.syncNextCommit) return;
    if (this.commitTimer !== undefined) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    const meta = this.pendingMeta;
    this.pendingMeta = [];
    meta.push([consistentIndexMeta, bigintBytes(this.appliedIndex)]);
    const revision = this.store.currentRevision();
    const index = this.appliedIndex;
    const sync = this.syncNextCommit;
    const seq = ++this.commitsStarted;
    this.syncNextCommit = false;
    this.uncommittedEntries = 0;
    this.commitInFlight = this.store.commit(meta, { sync }).then(
      () => {
        this.committedRevision = revision;
        this.committedIndex = index;
        this.commitsDone = seq;
        this.commitInFlight = undefined;
        if (this.syncNextCommit) this.kickCommit(); else this.scheduleCommit();
      },
      (e: unknown) => {
        this.commitInFlight = undefined;
        this.fatal(e);
        throw e;
      },
    );
  }

  /** Resolves once everything applied so far is in the store's backend (on stable storage if sync). */
  private async flushStore(sync: boolean): Promise<void> {
    const target = this.appliedIndex;
    let syncSeq = 0;
    if (sync) {
      this.syncNextCommit = true;
      // Whether or not a commit is running, the next one to start is the synced one.
      syncSeq = this.commitsStarted + 1;
    }
    await this.waitStore(() => this.committedIndex >= target && this.commitsDone >= syncSeq);
  }

  /** Waits until the backend holds revision `revision` (catch-up reads of history come from the backend). */
  private async waitCommitted(revision: number): Promise<void> {
    await this.waitStore(() => this.committedRevision >= revision);
  }

  private async waitStore(done: () => boolean): Promise<void> {
    for (let turn = 0; !done(); turn++) {
      assert(turn < limits.storeCommitWaitTurnsMax, 'what was applied reaches the store backend');
      if (this.commitInFlight !== undefined) await this.commitInFlight;
      else if (this.applying) await new Promise((r) => setImmediate(r));
      else this.kickCommit();
    }
  }

  private async execute(body: Op): Promise<unknown> {
    switch (body.op) {
      case 'put': return this.store.put(body.req);
      case 'deleteRange': return this.store.deleteRange(body.req);
      case 'txn': return this.store.txn(body.req);
      case 'compact': return this.store.compact(body.revision);
      case 'leaseGrant': {
        const lease = this.lessor.grant(body.id, body.ttl);
        this.pendingMeta.push([leaseMetaName(body.id), encodeLeaseRecord(this.lessor.record(body.id))]);
        return { id: body.id, ttlSeconds: lease.ttlSeconds, revision: this.store.currentRevision() };
      }
      case 'leaseRevoke': return this.applyRevoke(body.id);
      case 'alarm': return this.applyAlarm(body.action as AlarmAction, body.memberId, body.alarm as AlarmType);
      case 'memberUpdate': {
        const m = this.members.get(body.memberId);
        if (m === undefined) throw new EtcdError('MemberNotFound');
        const updated = { ...m, peerUrls: body.peerUrls };
        this.members.set(m.id, updated);
        this.pendingMeta.push([memberMetaName(m.id), encodeMember(updated)]);
        if (m.id !== this.memberId) this.network?.addPeer(m.id, body.peerUrls);
        return undefined;
      }
      case 'publish': {
        const m = this.members.get(body.memberId);
        if (m === undefined) return undefined;
        const updated = { ...m, name: body.name, clientUrls: body.clientUrls };
        this.members.set(m.id, updated);
        this.pendingMeta.push([memberMetaName(m.id), encodeMember(updated)]);
        return undefined;
      }
    }
  }

  private applyConfChange(cc: ConfChange): bigint | undefined {
    let requestId: bigint | undefined;
    let fromContext: MemberInfo | undefined;
    if (cc.context.byteLength > 0) {
      const ctx = JSON.parse(Buffer.from(cc.context).toString('utf8')) as { requestId?: string; member?: unknown };
      if (ctx.requestId !== undefined) requestId = BigInt(ctx.requestId);
      if (ctx.member !== undefined) fromContext = decodeMember(Buffer.from(JSON.stringify(ctx.member)));
    }
    if (cc.type === 'removeNode') {
      this.members.delete(cc.nodeId);
      this.pendingMeta.push([memberMetaName(cc.nodeId), undefined]);
      if (cc.nodeId !== this.memberId) this.network?.removePeer(cc.nodeId);
      else this.log.warn('this member was removed from the cluster', { 'local-member-id': this.memberIdHex });
      return requestId;
    }
    const existing = this.members.get(cc.nodeId);
    const info: MemberInfo = {
      id: cc.nodeId,
      name: existing?.name ?? fromContext?.name ?? '',
      peerUrls: fromContext?.peerUrls ?? existing?.peerUrls ?? [],
      clientUrls: existing?.clientUrls ?? [],
      isLearner: cc.type === 'addLearnerNode',
    };
    this.members.set(info.id, info);
    this.pendingMeta.push([memberMetaName(info.id), encodeMember(info)]);
    if (info.id !== this.memberId) this.network?.addPeer(info.id, info.peerUrls);
    return requestId;
  }

  private async applyRevoke(id: bigint): Promise<{ revision: number }> {
    const keys = this.lessor.keysOf(id);
    if (keys.length > 0) {
      // Every attached key goes in one revision: watchers see one atomic set of deletes.
      await this.store.txn({ compare: [], success: keys.map((key) => ({ deleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: false } })), failure: [] });
    }
    this.lessor.remove(id);
    this.pendingMeta.push([leaseMetaName(id), undefined]);
    return { revision: this.store.currentRevision() };
  }

  private applyAlarm(action: AlarmAction, memberId: bigint, alarm: AlarmType): AlarmMember[] {
    const name = `${memberId.toString(16)}/${alarm}`;
    if (action === AlarmAction.Activate) {
      if (alarm === AlarmType.None) return [];
      const a: AlarmMember = { memberId, alarm };
      this.alarms.set(name, a);
      this.pendingMeta.push([alarmMetaPrefix + name, Buffer.from(JSON.stringify({ memberId: memberId.toString(), alarm }))]);
      return [a];
    }
    const existing = this.alarms.get(name);
    if (existing === undefined) return [];
    this.alarms.delete(name);
    this.pendingMeta.push([alarmMetaPrefix + name, undefined]);
    if (alarm === AlarmType.NoSpace) void this.refreshDbSize(true);
    return [existing];
  }

  private trackLeaseAttachments(events: Event[]): void {
    // An event's prevKv is the key before the whole txn, so a key changed twice
    // in one txn (put, then deleted through a "\0" range end) is tracked here.
    const leaseNow = new Map<string, bigint>();
    for (const ev of events) {
      const key = ev.kv.key.toString('latin1');
      const before = leaseNow.get(key) ?? ev.prevKv?.lease ?? 0n;
      if (before !== 0n) this.lessor.detach(before, ev.kv.key);
      const after = ev.type === EventType.Put ? ev.kv.lease : 0n;
      if (after !== 0n) this.lessor.attach(after, ev.kv.key);
      leaseNow.set(key, after);
    }
  }

  private listenForEvents(store: MvccStore): void {
    store.onEvents((events, revision) => {
      this.trackLeaseAttachments(events);
      this.pendingEvents.push([revision, events]);
    });
  }

  /** Takes over what loadState read from a store: alarms, members, lease attachments. */
  private adoptState(state: StoredState): void {
    this.alarms.clear();
    for (const a of state.alarms) this.alarms.set(`${a.memberId.toString(16)}/${a.alarm}`, a);
    this.members.clear();
    for (const info of state.members) this.members.set(info.id, info);
    for (const kv of this.store.liveKvs()) {
      if (kv.lease === 0n) continue;
      if (this.lessor.has(kv.lease)) this.lessor.attach(kv.lease, kv.key);
      else this.log.warn('key attached to a lease that does not exist; leaving it unattached', { key: kv.key.toString(), lease: kv.lease });
    }
    if (this.expiryTimer === undefined) {
      this.expiryTimer = setInterval(() => this.revokeExpired(), leaseExpiryPassMs);
      this.expiryTimer.unref();
    }
  }

  // ---- auto-compaction ----

  private startAutoCompaction(): void {
    const compactor = new AutoCompactor(this.config.autoCompaction, this.clock);
    if (!compactor.enabled) return;
    const mode = this.config.autoCompaction.mode;
    this.compactionTimer = setInterval(() => {
      // Every member samples (a new leader knows the history); only the leader compacts.
      const target = compactor.tick(this.store.currentRevision());
      if (target === undefined || !this.isLeader) return;
      this.log.info(`starting auto ${mode} compaction`, { revision: target });
      this.compact(target).then(
        () => this.log.info(`completed auto ${mode} compaction`, { revision: target }),
        (e: unknown) => { if (!(e instanceof EtcdError && (e.kind === 'Compacted' || e.kind === 'Stopped'))) this.log.warn(`failed auto ${mode} compaction`, { revision: target, error: e }); },
      );
    }, compactor.checkIntervalMs);
    this.compactionTimer.unref();
  }

  // ---- raft snapshots ----

  /** Sends raft's messages; a MsgSnap first gets the whole store attached (raft's snapshot carries only its metadata). */
  private send(messages: readonly Message[]): void {
    const plain = messages.filter((m) => m.type !== 'MsgSnap');
    if (plain.length > 0) this.network?.send(plain);
    for (const m of messages) {
      if (m.type !== 'MsgSnap' || m.snapshot === null) continue;
      const snap = m.snapshot;
      void collect(dumpBackend(this.backend)).then(
        (data) => this.network?.send([{ ...m, snapshot: { ...snap, data } }]),
        (e: unknown) => {
          this.log.warn('failed to prepare a snapshot for a follower', { 'remote-peer-id': idToHex(m.to), error: e });
          this.reportSnapshot(m.to, false);
        },
      );
    }
  }

  /**
   * Every --snapshot-count applied entries, the raft log is compacted (keeping
   * --experimental-snapshot-catchup-entries for followers that are a little
   * behind); the store itself is the snapshot, so the raft snapshot holds none.
   */
  /** Whether the next maybeSnapshot() will compact the log (so the store must be durable first). */
  private snapshotDue(): boolean {
    return this.appliedIndex - this.snapshotIndex >= this.config.snapshotCount;
  }

  private async maybeSnapshot(): Promise<void> {
    if (!this.snapshotDue()) return;
    // Right after a restore the store can be ahead of the entries this log holds.
    if (this.appliedIndex > this.raftLog.lastIndex()) return;
    const confState = this.driver.node.status().appliedConfState;
    await this.raftLog.createSnapshotAndCompact(this.appliedIndex, confState, new Uint8Array(0), this.config.snapshotCatchupEntries);
    this.log.info('compacted raft log', { 'snapshot-index': this.appliedIndex, 'kept-entries': this.config.snapshotCatchupEntries });
    this.snapshotIndex = this.appliedIndex;
  }

  /**
   * Replaces the store with the leader's (received with a MsgSnap): written
   * into a fresh directory, then swapped in; this member keeps its identity.
   */
  private async restoreFromSnapshot(snapshot: Snapshot): Promise<void> {
    if (snapshot.metadata.index <= this.appliedIndex) return;
    assert(snapshot.data.byteLength > 0, 'a snapshot from the leader carries the store');
    const memberDir = path.join(this.config.dataDir, 'member');
    const restoring = path.join(memberDir, 'db.restoring');
    fs.rmSync(restoring, { recursive: true, force: true });
    // Earlier applies go to the old store first: it is closed (and replaced) below.
    await this.flushStore(false);
    const identity = await this.store.getMeta(identityMeta);
    assert(identity !== undefined, 'a running member has its identity');
    const fresh = await openLevelBackend(restoring);
    await restoreBackend(fresh, (async function* () { yield snapshot.data; })());
    const staged = await MvccStore.open(fresh, { leaseExists: () => true });
    await staged.commit([[identityMeta, identity]]);
    await staged.close();
    await this.store.close();
    fs.renameSync(path.join(memberDir, 'db'), path.join(memberDir, 'db.old'));
    fs.renameSync(restoring, path.join(memberDir, 'db'));
    fs.rmSync(path.join(memberDir, 'db.old'), { recursive: true, force: true });
    const lessor = new Lessor({ clock: this.clock, minTtlSeconds: minLeaseTtlSeconds(this.config.electionTimeoutMs) });
    this.backend = await openLevelBackend(path.join(memberDir, 'db'));
    this.store = await MvccStore.open(this.backend, { leaseExists: (id) => lessor.has(id) });
    this.lessor = lessor;
    this.listenForEvents(this.store);
    const state = await loadState(this.store, lessor);
    this.adoptState(state);
    if (this.isLeader) lessor.promote(this.config.electionTimeoutMs);
    this.appliedIndex = state.appliedIndex;
    this.committedIndex = state.appliedIndex;
    this.committedRevision = this.store.currentRevision();
    this.snapshotIndex = snapshot.metadata.index;
    this.hub.resync(this.store.currentRevision());
    for (const m of this.members.values()) if (m.id !== this.memberId) this.network?.addPeer(m.id, m.peerUrls);
    this.log.info('restored store from the leader\'s snapshot', { 'snapshot-index': snapshot.metadata.index, 'applied-index': this.appliedIndex, revision: this.store.currentRevision() });
  }

  private revokeExpired(): void {
    if (this.stopped || !this.isLeader) return;
    for (const id of this.lessor.expired()) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.propose({ op: 'leaseRevoke', id }).then(
        () => this.revoking.delete(id),
        (e: unknown) => {
          this.revoking.delete(id);
          if (!(e instanceof EtcdError && (e.kind === 'Stopped' || e.kind === 'LeaseNotFound'))) this.log.warn('failed to revoke expired lease', { 'lease-id': id.toString(16), error: e });
        },
      );
    }
  }

  // ---- raft state ----

  /**
   * A configuration change takes effect in raft when its entry is appended, so
   * the transport must know an added member's URLs from then on, not only once
   * the entry commits (committing it may need that very member).
   */
  private onAppended(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.type !== 'confChange') continue;
      const cc = decodeConfChange(e.data);
      if (cc.type === 'removeNode' || cc.nodeId === this.memberId || cc.context.byteLength === 0) continue;
      const ctx = JSON.parse(Buffer.from(cc.context).toString('utf8')) as { member?: unknown };
      if (ctx.member === undefined) continue;
      this.network?.addPeer(cc.nodeId, decodeMember(Buffer.from(JSON.stringify(ctx.member))).peerUrls);
    }
  }

  private onSoftState(s: SoftState): void {
    const wasLeader = this.isLeader;
    if (s.lead !== this.leader) this.log.info('raft leader changed', { 'local-member-id': this.memberIdHex, leader: idToHex(s.lead), term: this.driver.node.term });
    this.leader = s.lead;
    this.isLeader = s.state === 'leader';
    // Only the leader expires leases; a new leader gives every lease a fresh
    // countdown plus an election timeout, so none expires because of the change.
    if (this.isLeader && !wasLeader) this.lessor.promote(this.config.electionTimeoutMs);
    if (!this.isLeader && wasLeader) this.lessor.demote();
    if (this.leader !== 0n && this.parked.length > 0) {
      const parked = this.parked;
      this.parked = [];
      for (const data of parked) this.submit(data);
    }
    if (this.leader !== 0n && this.currentBatch !== undefined && this.currentBatch.index === undefined) this.sendReadIndex();
  }

  // ---- linearizable reads ----

  /** Resolves once this member has applied everything committed when the read arrived (ReadIndex). */
  private linearizableBarrier(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let batch = this.currentBatch;
      if (batch === undefined) {
        const fresh: ReadBatch = { waiters: [], index: undefined, timer: undefined };
        fresh.timer = setTimeout(() => this.failBatch(fresh, new EtcdError('Timeout')), requestTimeoutMs(this.config));
        this.currentBatch = batch = fresh;
        // Every read arriving in this turn shares one ReadIndex round (or the next one, if a round is out).
        setImmediate(() => this.maybeSendReadIndex());
      }
      batch.waiters.push({ resolve, reject });
    });
  }

  /**
   * Starts the waiting batch's ReadIndex round unless another round is still out (etcd's
   * linearizable read loop: one round at a time, so reads that arrive meanwhile share the
   * next one and a read costs the leader a fraction of a heartbeat round, not one each).
   * A round unanswered for a heartbeat interval no longer holds the next one back.
   */
  private maybeSendReadIndex(): void {
    if (this.currentBatch === undefined || this.stopped) return;
    const now = this.clock.nowMs();
    for (const b of this.readBatches.values()) {
      if (b.index !== undefined || b.sentMs === undefined) continue;
      const waitMs = b.sentMs + this.config.heartbeatMs - now;
      if (waitMs > 0) {
        if (this.readRetryTimer === undefined) {
          this.readRetryTimer = setTimeout(() => {
            this.readRetryTimer = undefined;
            this.maybeSendReadIndex();
          }, Math.ceil(waitMs));
        }
        return;
      }
    }
    this.sendReadIndex();
  }

  private sendReadIndex(): void {
    const batch = this.currentBatch;
    if (batch === undefined || this.stopped) return;
    if (this.leader === 0n) return; // retried when a leader appears (onSoftState)
    const ctx = this.driver.node.readIndex();
    if (isRaftError(ctx)) return;
    this.currentBatch = undefined;
    batch.sentMs = this.clock.nowMs();
    this.readBatches.set(Buffer.from(ctx).toString('hex'), batch);
    this.driver.kick();
  }

  private onReadStates(rs: readonly ReadState[]): void {
    for (const r of rs) {
      const key = Buffer.from(r.requestCtx).toString('hex');
      const batch = this.readBatches.get(key);
      if (batch === undefined) continue;
      batch.index = r.index;
    }
    this.releaseReads();
    this.maybeSendReadIndex();
  }

  private releaseReads(): void {
    let kept = 0;
    for (const w of this.appliedWaiters) {
      if (w.index <= this.appliedIndex) w.resolve(); else this.appliedWaiters[kept++] = w;
    }
    this.appliedWaiters.length = kept;
    for (const [key, batch] of this.readBatches) {
      if (batch.index === undefined || batch.index > this.appliedIndex) continue;
      this.readBatches.delete(key);
      if (batch.timer !== undefined) clearTimeout(batch.timer);
      for (const w of batch.waiters) w.resolve();
    }
  }

  /** Resolves once everything committed now has been applied locally. */
  private appliedToCommit(): Promise<void> {
    const commit = this.driver.node.commitIndex;
    if (this.appliedIndex >= commit) return Promise.resolve();
    if (this.appliedWaiters.length >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    return new Promise((resolve) => this.appliedWaiters.push({ index: commit, resolve }));
  }

  private failBatch(batch: ReadBatch, e: unknown): void {
    if (this.currentBatch === batch) this.currentBatch = undefined;
    for (const [key, b] of this.readBatches) if (b === batch) this.readBatches.delete(key);
    for (const w of batch.waiters) w.reject(e);
  }

  // ---- internals ----

  private async kvAt(key: Buffer, revision: number): Promise<KeyValue | undefined> {
    if (revision < 1 || revision < this.store.compactRevision()) return undefined;
    const r = await this.store.range({
      key, rangeEnd: Buffer.alloc(0), limit: 0, revision, sortOrder: 0, sortTarget: 0, keysOnly: false, countOnly: false,
      minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0,
    }).catch(() => undefined);
    return r?.kvs[0];
  }

  private checkRunning(): void {
    if (this.stopped) throw new EtcdError('Stopped');
  }

  private checkRequestSize(requestBytes: number): void {
    if (requestBytes > this.config.maxRequestBytes) throw new EtcdError('RequestTooLarge');
  }

  private hasAlarm(alarm: AlarmType): boolean {
    for (const a of this.alarms.values()) if (a.alarm === alarm) return true;
    return false;
  }

  private checkQuota(costBytes: number): void {
    if (this.hasAlarm(AlarmType.NoSpace)) throw new EtcdError('NoSpace');
    if (this.dbSizeBytes + costBytes > this.config.quotaBackendBytes) {
      this.log.warn('alarm raised', { alarm: 'NOSPACE', 'quota-size-bytes': this.config.quotaBackendBytes, 'db-size-bytes': this.dbSizeBytes });
      void this.alarm(AlarmAction.Activate, this.memberId, AlarmType.NoSpace).catch(() => undefined);
      throw new EtcdError('NoSpace');
    }
  }

  private async refreshDbSize(force: boolean): Promise<void> {
    const now = Date.now();
    if (!force && now - this.dbSizeCheckedMs < 1000) return;
    this.dbSizeCheckedMs = now;
    try {
      this.dbSizeBytes = await this.backend.sizeBytes();
    } catch (e) {
      this.log.warn('failed to measure backend size', { error: e });
    }
  }
}

interface StoredState { appliedIndex: number; alarms: AlarmMember[]; members: MemberInfo[] }

/** Reads the member state kept in a store's meta (and fills the lessor with its leases). */
async function loadState(store: MvccStore, lessor: Lessor): Promise<StoredState> {
  for (const [, value] of await store.metaEntries(leaseMetaPrefix)) lessor.restore(decodeLeaseRecord(value));
  const applied = await store.getMeta(consistentIndexMeta);
  const alarms = (await store.metaEntries(alarmMetaPrefix)).map(([, v]) => {
    const o = JSON.parse(v.toString('utf8')) as { memberId: string; alarm: AlarmType };
    return { memberId: BigInt(o.memberId), alarm: o.alarm };
  });
  const members = (await store.metaEntries(memberMetaPrefix)).map(([, v]) => decodeMember(v));
  return { appliedIndex: applied === undefined ? 0 : Number(applied.readBigUInt64BE(0)), alarms, members };
}

/** A restore interrupted by a crash: finish the swap, or drop the half-written copy (the leader sends it again). */
function finishRestore(memberDir: string): void {
  const db = path.join(memberDir, 'db');
  const restoring = path.join(memberDir, 'db.restoring');
  const old = path.join(memberDir, 'db.old');
  if (!fs.existsSync(db) && fs.existsSync(old)) fs.renameSync(fs.existsSync(restoring) ? restoring : old, db);
  fs.rmSync(restoring, { recursive: true, force: true });
  fs.rmSync(old, { recursive: true, force: true });
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

function txnHasPut(r: TxnRequest): boolean {
  const opHasPut = (op: TxnRequest['success'][number]): boolean => ('put' in op) || ('txn' in op && txnHasPut(op.txn));
  return r.success.some(opHasPut) || r.failure.some(opHasPut);
}

/**
 * The member's identity: computed from --initial-cluster on first start and
 * then read back, so flags changed later do not change who a member is.
 */
async function loadIdentity(store: MvccStore, config: ServerConfig): Promise<{ identity: Identity; members: MemberInfo[]; fresh: boolean }> {
  const initial = parseInitialCluster(config.initialCluster);
  const { members, clusterId } = bootstrapMembers(initial, config.initialClusterToken);
  const raw = await store.getMeta(identityMeta);
  if (raw !== undefined) {
    try {
      return { identity: JSON.parse(raw.toString('utf8')) as Identity, members, fresh: false };
    } catch {
      throw new Error(`data dir ${config.dataDir} is corrupt: member identity record is unreadable`);
    }
  }
  const self = members.find((m) => m.name === config.name);
  if (self === undefined) throw new Error(`couldn't find local name "${config.name}" in the initial cluster configuration`);
  const sameUrls = [...self.peerUrls].sort().join(',') === [...config.initialAdvertisePeerUrls].sort().join(',');
  if (!sameUrls) {
    throw new Error(`--initial-cluster has ${config.name}=${self.peerUrls.join(',')} but missing from --initial-advertise-peer-urls=${config.initialAdvertisePeerUrls.join(',')}`);
  }
  // A joining member (state existing) should learn the cluster ID from its peers; until membership changes land it derives it the same way.
  const identity: Identity = { memberId: idToHex(self.id), clusterId: idToHex(config.initialClusterState === 'existing' && config.existingClusterId !== undefined ? config.existingClusterId : clusterId) };
  const meta: Array<[string, Buffer | undefined]> = [[identityMeta, Buffer.from(JSON.stringify(identity))]];
  for (const m of members) meta.push([memberMetaName(m.id), encodeMember(m)]);
  await store.commit(meta);
  return { identity, members, fresh: true };
}

