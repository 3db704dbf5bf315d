// A keel member: raft, the applier behind it, and what clients need around
// them. Every write (KV, lease, alarm, membership) is proposed as an entry
// (proposals.ts); once committed the applier applies it in log order on every
// member (applier.ts) and the proposer's waiter gets the result. Linearizable
// reads wait for a ReadIndex round (read-index.ts); serializable reads are
// served from the local store. The Ready loop (raft-driver.ts) persists,
// sends, applies and advances. A single member is a one-voter cluster.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert, EtcdError, SeededRandom } from '../util';
import { LeaseIdGenerator, minLeaseTtlSeconds } from '../lease';
import { openLevelBackend } from '../storage';
import { RawNode, decodeConfChange, type Entry, type Message, type ReadState, type Snapshot, type SoftState } from '../raft';
import {
  txnHasWrite, WatchHub, readHistory,
  type RangeRequest, type RangeResponse, type PutRequest, type PutResponse, type DeleteRangeRequest,
  type DeleteRangeResponse, type TxnRequest, type TxnResponse, type KeyValue, type WatchSink, type WatchStream,
} from '../mvcc';
import type { ServerConfig } from './config';
import type { Logger } from './log';
import { idToHex } from './ids';
import { RaftDriver } from './raft-driver';
import { decodeConfChangeContext, type MemberInfo, type PeerChange } from './membership';
import { openRaftLog, raftAppliedIndex, type RaftLogStorage } from './raft-log';
import { Housekeeping } from './housekeeping';
import { LogCompaction, sendWithSnapshots } from './log-compaction';
import { Applier, type ApplierTestMutation } from './applier';
import { AlarmAction, AlarmType, type AlarmMember } from './alarms';
import { Proposer } from './proposals';
import { ReadIndexer } from './read-index';
import { finishRestore, levelInstaller } from './restore';
import { loadIdentity } from './identity';
import { SpaceQuota, txnHasPut } from './quota';
import { etcdVersion, realEnvironment, type MemberEnvironment, type MemberStatus, type PeerNetwork } from './member-types';

/** etcd's request timeout: 5 s plus two election timeouts. */
function requestTimeoutMs(cfg: ServerConfig): number {
  return 5000 + 2 * cfg.electionTimeoutMs;
}

export class Member {
  private readonly driver: RaftDriver;
  private readonly proposer: Proposer;
  private readonly reads: ReadIndexer;
  private readonly hub: WatchHub;
  private readonly quota: SpaceQuota;
  private readonly ids: LeaseIdGenerator;
  private readonly logCompaction: LogCompaction;
  private readonly housekeeping: Housekeeping;
  /** Resolved whenever the leader changes (MoveLeader waits on it); bounded by the calls waiting. */
  private leaderWaiters: Array<() => void> = [];
  private leader = 0n;
  private isLeader = false;
  private stopped = false;
  private readyResolve: (() => void) | undefined;
  /** Resolves once this member's publish request is applied (etcd: ReadyNotify). */
  readonly ready: Promise<void>;
  private network: PeerNetwork | undefined;

  private constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly applier: Applier,
    private readonly raftLog: RaftLogStorage,
    readonly memberId: bigint,
    readonly clusterId: bigint,
    private readonly fatal: (e: unknown) => void,
    bootstrapPeers: bigint[],
    private readonly env: MemberEnvironment,
    raftApplied: number,
  ) {
    this.logCompaction = new LogCompaction(raftLog, config, log);
    this.ids = new LeaseIdGenerator(memberId, env.wallClock.wallMs());
    this.ready = new Promise((r) => { this.readyResolve = r; });
    this.hub = new WatchHub(
      {
        readHistory: async (from, to, eventsMax) => {
          await this.applier.committer.waitRevision(to);
          return readHistory(this.applier.backend, from, to, eventsMax);
        },
        kvAt: (key, revision) => this.kvAt(key, revision),
        compactRevision: () => this.applier.store.compactRevision(),
      },
      this.applier.store.currentRevision(),
      fatal,
    );
    this.applier.attachWatchHub(this.hub);
    this.quota = new SpaceQuota(config.quotaBackendBytes, () => this.applier.backend, env.clock, log);
    const node = new RawNode({
      id: memberId,
      peers: bootstrapPeers,
      electionTicks: Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatMs)),
      heartbeatTicks: 1,
      storage: raftLog,
      applied: raftApplied,
      preVote: config.preVote,
      checkQuorum: true,
      random: new SeededRandom(Number(memberId & 0xffffffffn) ^ env.wallClock.wallMs()),
    });
    this.driver = new RaftDriver(node, raftLog, {
      appended: (entries) => this.onAppended(entries),
      send: (msgs) => this.send(msgs),
      restore: (snap) => this.restoreFromSnapshot(snap),
      apply: (entries) => this.applyCommitted(entries),
      softState: (s) => this.onSoftState(s),
      readStates: (rs) => this.onReadStates(rs),
      fatal,
    }, config.heartbeatMs, env.timers);
    const raft = {
      leader: () => this.leader,
      propose: (data: Uint8Array) => node.propose(data),
      proposeConfChange: (cc: Parameters<RawNode['proposeConfChange']>[0]) => node.proposeConfChange(cc),
      readIndex: () => node.readIndex(),
      commitIndex: () => node.commitIndex,
      appliedIndex: () => this.applier.appliedIndex,
      kick: () => this.driver.kick(),
    };
    this.proposer = new Proposer(raft, this.ids, env.timers, requestTimeoutMs(config));
    this.reads = new ReadIndexer(raft, env.clock, env.timers, config.heartbeatMs, requestTimeoutMs(config));
    this.housekeeping = new Housekeeping({
      clock: env.clock,
      timers: env.timers,
      log,
      autoCompaction: config.autoCompaction,
      isLeader: () => this.isLeader,
      lessor: () => this.applier.lessor,
      currentRevision: () => this.applier.store.currentRevision(),
      propose: (body) => this.proposer.propose(body),
    });
  }

  static async open(config: ServerConfig, log: Logger, fatal: (e: unknown) => void, env: MemberEnvironment = realEnvironment): Promise<Member> {
    const memberDir = path.join(config.dataDir, 'member');
    fs.mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    finishRestore(memberDir);
    const backend = await openLevelBackend(path.join(memberDir, 'db'));
    let applier: Applier | undefined;
    try {
      let member: Member | undefined;
      applier = await Applier.open(backend, {
        memberId: 0n, // set below, once the identity is known
        clock: env.clock,
        timers: env.timers,
        minLeaseTtlSeconds: minLeaseTtlSeconds(config.electionTimeoutMs),
        backendBatch: { batchIntervalMs: config.backendBatchIntervalMs, batchLimit: config.backendBatchLimit },
        fatal,
        log,
        hooks: {
          peerChanged: (c) => member?.onPeerChanged(c),
          removedSelf: () => log.warn('this member was removed from the cluster', { 'local-member-id': member?.memberIdHex }),
          noSpaceDisarmed: () => member?.quota.refresh(true),
        },
        ...(env.testMutation === undefined ? {} : { testMutation: env.testMutation }),
      });
      const { identity, members, fresh } = await loadIdentity(applier.store, config);
      const memberId = BigInt('0x' + identity.memberId);
      applier.setMemberId(memberId);
      const appliedIndex = applier.appliedIndex;
      const raftLog = await openRaftLog(path.join(memberDir, 'wal'), appliedIndex);
      const raftApplied = raftAppliedIndex(raftLog, appliedIndex);
      // Bootstrap peers only for a brand-new member of a new cluster; a joining member learns the configuration from the leader.
      const bootstrap = raftLog.isNew() && config.initialClusterState === 'new' ? members.map((m) => m.id) : [];
      // A joining member learns the membership from the log it receives; it starts knowing only the peers it was given.
      if (fresh) applier.members.replaceAll(members);
      member = new Member(config, log, applier, raftLog, memberId, BigInt('0x' + identity.clusterId), fatal, bootstrap, env, raftApplied);
      await member.quota.refresh(true);
      log.info('opened backend', { path: path.join(memberDir, 'db'), 'current-revision': applier.store.currentRevision(), 'compact-revision': applier.store.compactRevision(), 'consistent-index': appliedIndex });
      return member;
    } catch (e) {
      if (applier !== undefined) await applier.close(); else await backend.close();
      throw e;
    }
  }

  /** Starts raft (and this member's publish). Peer messages go through `network`. */
  start(network: PeerNetwork | undefined): void {
    this.network = network;
    this.addPeers();
    this.driver.start();
    this.housekeeping.start();
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

  currentRevision(): number { return this.applier.store.currentRevision(); }

  // ---- KV ----

  async range(req: RangeRequest, serializable: boolean): Promise<RangeResponse> {
    this.checkRunning();
    if (!serializable) await this.reads.barrier();
    return this.applier.store.range(req);
  }

  put(req: PutRequest, requestBytes: number): Promise<PutResponse> {
    this.checkRequestSize(requestBytes);
    this.checkQuota(requestBytes);
    return this.proposer.propose({ op: 'put', req });
  }

  deleteRange(req: DeleteRangeRequest, requestBytes: number): Promise<DeleteRangeResponse> {
    this.checkRequestSize(requestBytes);
    return this.proposer.propose({ op: 'deleteRange', req });
  }

  async txn(req: TxnRequest, requestBytes: number, serializable: boolean): Promise<TxnResponse> {
    if (!txnHasWrite(req)) {
      this.checkRunning();
      if (!serializable) await this.reads.barrier();
      return this.applier.store.txn(req);
    }
    this.checkRequestSize(requestBytes);
    if (txnHasPut(req)) this.checkQuota(requestBytes);
    return this.proposer.propose({ op: 'txn', req });
  }

  compact(revision: number): Promise<{ revision: number }> {
    return this.proposer.propose({ op: 'compact', revision });
  }

  // ---- leases ----

  async leaseGrant(requestedId: bigint, ttlSeconds: number): Promise<{ id: bigint; ttlSeconds: number; revision: number }> {
    if (this.applier.alarms.has(AlarmType.NoSpace)) throw new EtcdError('NoSpace');
    const id = requestedId === 0n ? this.ids.next() : requestedId;
    this.applier.lessor.checkGrant(id, ttlSeconds);
    return this.proposer.propose({ op: 'leaseGrant', id, ttl: ttlSeconds });
  }

  leaseRevoke(id: bigint): Promise<{ revision: number }> {
    if (!this.applier.lessor.has(id)) return Promise.reject(new EtcdError('LeaseNotFound'));
    return this.proposer.propose({ op: 'leaseRevoke', id });
  }

  /** The TTL after renewal, or undefined for an unknown lease. Only the leader renews. */
  async leaseKeepAlive(id: bigint): Promise<number | undefined> {
    this.checkRunning();
    // etcd's leader only waits until it has applied what is committed (a revoke may be in flight).
    await this.reads.appliedToCommit();
    if (!this.isLeader) throw new EtcdError('NotLeader');
    const lessor = this.applier.lessor;
    if (!lessor.has(id)) return undefined;
    if (lessor.isExpired(id)) {
      // etcd's Renew waits for the revoke of an expired lease and then answers it as not found (TTL 0).
      const how = await this.boundedWait(lessor.whenGone(id));
      if (how !== 'revoked') throw new EtcdError(how === 'demoted' ? 'NotLeader' : 'Timeout');
      return undefined;
    }
    return lessor.renew(id);
  }

  async leaseTimeToLive(id: bigint, withKeys: boolean): Promise<{ ttlSeconds: number; grantedTtlSeconds: number; keys: Buffer[] } | undefined> {
    this.checkRunning();
    await this.reads.barrier();
    const lessor = this.applier.lessor;
    const lease = lessor.get(id);
    if (lease === undefined) return undefined;
    // Only the leader counts leases down: a follower's answer comes from the leader (api/ forwards it).
    if (!this.isLeader) throw new EtcdError('NotLeader');
    return { ttlSeconds: lessor.remainingSeconds(id), grantedTtlSeconds: lease.ttlSeconds, keys: withKeys ? lessor.keysOf(id) : [] };
  }

  async leaseLeases(): Promise<bigint[]> {
    this.checkRunning();
    await this.reads.barrier();
    return this.applier.lessor.ids();
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
      return this.applier.alarms.list();
    }
    return this.proposer.propose({ op: 'alarm', action, memberId, alarm });
  }

  hashKv(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number; revision: number }> {
    this.checkRunning();
    return this.applier.hashKv(revision);
  }

  hash(): Promise<{ hash: number; revision: number }> {
    this.checkRunning();
    return this.applier.hash();
  }

  /** etcd's Defragment: this member's files rewritten without deleted data. */
  async defragment(): Promise<void> {
    this.checkRunning();
    await this.applier.defragment();
    await this.quota.refresh(true);
  }

  /** The whole store as etcd's snapshot file (Maintenance.Snapshot). */
  snapshot(): Promise<{ size: number; chunks: AsyncGenerator<Buffer> }> {
    this.checkRunning();
    return this.applier.snapshot(this.raftTerm);
  }

  async status(): Promise<MemberStatus> {
    await this.quota.refresh(true);
    const st = this.driver.node.status();
    return {
      version: etcdVersion,
      dbSize: this.quota.dbSizeBytes,
      dbSizeInUse: this.quota.dbSizeBytes,
      leader: this.leader,
      raftIndex: BigInt(st.hardState.commit),
      raftTerm: BigInt(st.hardState.term),
      raftAppliedIndex: BigInt(this.applier.appliedIndex),
      errors: this.applier.alarms.errors(),
      isLearner: st.confState.learners.includes(this.memberId),
      revision: this.applier.store.currentRevision(),
    };
  }

  // ---- membership ----

  memberList(): MemberInfo[] {
    return this.applier.members.list();
  }

  async memberAdd(peerUrls: string[], isLearner: boolean): Promise<{ member: MemberInfo; members: MemberInfo[] }> {
    this.checkRunning();
    const member = this.applier.members.newMember(peerUrls, isLearner, this.config.initialClusterToken, this.config.maxLearners);
    // A lone voter that adds a voter cannot commit the change without it (a configuration takes effect
    // in keel's raft when appended); etcd answers before the new member starts, so keel answers once
    // the change is in its log: the cluster then waits for the new member, as etcd's does.
    const voters = this.driver.node.status().confState.voters;
    const alone = !isLearner && voters.length === 1 && voters[0] === this.memberId;
    await this.proposer.proposeConfChange({ type: isLearner ? 'addLearnerNode' : 'addNode', nodeId: member.id }, member, alone ? 'appended' : 'applied');
    const members = this.memberList();
    if (!members.some((m) => m.id === member.id)) members.push(member);
    return { member, members };
  }

  async memberRemove(id: bigint): Promise<MemberInfo[]> {
    this.checkRunning();
    const m = this.applier.members.get(id);
    if (m === undefined) throw new EtcdError('MemberNotFound');
    await this.proposer.proposeConfChange({ type: 'removeNode', nodeId: id }, m);
    return this.memberList();
  }

  async memberUpdate(id: bigint, peerUrls: string[]): Promise<MemberInfo[]> {
    this.checkRunning();
    this.applier.members.checkUpdate(id, peerUrls);
    await this.proposer.propose({ op: 'memberUpdate', memberId: id, peerUrls });
    return this.memberList();
  }

  async memberPromote(id: bigint): Promise<MemberInfo[]> {
    this.checkRunning();
    const m = this.applier.members.get(id);
    if (m === undefined) throw new EtcdError('MemberNotFound');
    if (!m.isLearner) throw new EtcdError('MemberNotLearner');
    if (this.isLeader) {
      // etcd promotes a learner only once its log is within 90% of the leader's.
      const st = this.driver.node.status();
      const match = st.progress.get(id)?.match ?? 0;
      if (match < 0.9 * st.lastIndex) throw new EtcdError('LearnerNotReady');
    }
    await this.proposer.proposeConfChange({ type: 'addNode', nodeId: id }, { ...m, isLearner: false });
    return this.memberList();
  }

  /** The leader's first advertised client URL, once it has published one. */
  leaderClientUrl(): string | undefined {
    if (this.leader === 0n || this.isLeader) return undefined;
    return this.applier.members.get(this.leader)?.clientUrls[0];
  }

  /** etcd's MoveLeader: the leader hands leadership to `target` and waits until it has it. */
  async moveLeader(target: bigint): Promise<void> {
    this.checkRunning();
    if (!this.isLeader) throw new EtcdError('NotLeader');
    if (!this.applier.members.has(target)) throw new EtcdError('BadLeaderTransferee');
    if (target === this.memberId) return;
    this.driver.node.transferLeader(target);
    this.driver.kick();
    let timedOut = false;
    const timer = this.env.timers.after(requestTimeoutMs(this.config), () => {
      timedOut = true;
      this.wakeLeaderWaiters();
    });
    try {
      while (this.leader !== target) {
        if (timedOut || this.stopped) throw new EtcdError('TimeoutLeaderTransfer');
        await new Promise<void>((r) => this.leaderWaiters.push(r));
      }
    } finally {
      this.env.timers.cancel(timer);
    }
  }

  /** For clients that ask for a leader (gRPC metadata hasleader=true). */
  hasLeader(): boolean {
    return this.leader !== 0n;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.housekeeping.stop();
    this.driver.stop();
    this.hub.stop();
    this.proposer.close();
    this.reads.close();
    this.wakeLeaderWaiters();
    await this.driver.idle();
    try {
      await this.applier.close();
    } finally {
      await this.raftLog.close();
    }
  }

  // ---- the Ready loop's hooks ----

  private async applyCommitted(entries: readonly Entry[]): Promise<void> {
    const outcomes = await this.applier.apply(entries);
    this.proposer.settle(outcomes);
    this.reads.onApplied();
    const committer = this.applier.committer;
    if (this.logCompaction.due(this.applier.appliedIndex)) {
      // The log is about to be compacted past what the store may have on disk: make the store durable first.
      await committer.flush(true);
      await this.logCompaction.compact(this.applier.appliedIndex, this.driver.node.status().appliedConfState);
    } else if (committer.overfull()) {
      await committer.flush(false);
    } else {
      committer.schedule();
    }
    void this.quota.refresh(false);
  }

  /**
   * A configuration change takes effect in raft when its entry is appended, so
   * the transport must know an added member's URLs from then on, not only once
   * the entry commits (committing it may need that very member).
   */
  private onAppended(entries: readonly Entry[]): void {
    this.proposer.appended(entries);
    for (const e of entries) {
      if (e.type !== 'confChange') continue;
      const cc = decodeConfChange(e.data);
      if (cc.type === 'removeNode' || cc.nodeId === this.memberId) continue;
      const { member } = decodeConfChangeContext(cc.context);
      if (member !== undefined) this.network?.addPeer(cc.nodeId, member.peerUrls);
    }
  }

  private onPeerChanged(c: PeerChange): void {
    if (c.type === 'add') this.network?.addPeer(c.id, c.peerUrls);
    else this.network?.removePeer(c.id);
  }

  private onSoftState(s: SoftState): void {
    const wasLeader = this.isLeader;
    if (s.lead !== this.leader) this.log.info('raft leader changed', { 'local-member-id': this.memberIdHex, leader: idToHex(s.lead), term: this.driver.node.term });
    this.leader = s.lead;
    this.isLeader = s.state === 'leader';
    // Only the leader expires leases; a new leader gives every lease a fresh
    // countdown plus an election timeout, so none expires because of the change.
    if (this.isLeader && !wasLeader) this.applier.lessor.promote(this.config.electionTimeoutMs);
    if (!this.isLeader && wasLeader) this.applier.lessor.demote();
    this.wakeLeaderWaiters();
    if (this.leader === 0n) return;
    this.proposer.leaderKnown();
    this.reads.leaderKnown();
  }

  private onReadStates(rs: readonly ReadState[]): void {
    this.reads.onReadStates(rs);
  }

  private send(messages: readonly Message[]): void {
    sendWithSnapshots(messages, this.applier.backend, (ms) => this.network?.send(ms), (to, e) => {
      this.log.warn('failed to prepare a snapshot for a follower', { 'remote-peer-id': idToHex(to), error: e });
      this.reportSnapshot(to, false);
    });
  }

  /** Replaces the store with the leader's (received with a MsgSnap); this member keeps its identity. */
  private async restoreFromSnapshot(snapshot: Snapshot): Promise<void> {
    if (snapshot.metadata.index <= this.applier.appliedIndex) return;
    assert(snapshot.data.byteLength > 0, 'a snapshot from the leader carries the store');
    await this.applier.restore(levelInstaller(path.join(this.config.dataDir, 'member'), snapshot.data));
    if (this.isLeader) this.applier.lessor.promote(this.config.electionTimeoutMs);
    this.logCompaction.restored(snapshot.metadata.index);
    this.addPeers();
    this.log.info('restored store from the leader\'s snapshot', { 'snapshot-index': snapshot.metadata.index, 'applied-index': this.applier.appliedIndex, revision: this.applier.store.currentRevision() });
  }

  // ---- background work ----

  private async publish(): Promise<void> {
    const self = this.applier.members.get(this.memberId);
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.proposer.propose({ op: 'publish', memberId: this.memberId, name: this.config.name, clientUrls: this.config.advertiseClientUrls });
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

  // ---- internals ----

  private addPeers(): void {
    for (const m of this.applier.members.list()) if (m.id !== this.memberId) this.network?.addPeer(m.id, m.peerUrls);
  }

  /** `p`, or 'timeout' after etcd's request timeout. */
  private boundedWait<T>(p: Promise<T>): Promise<T | 'timeout'> {
    return new Promise((resolve) => {
      const timer = this.env.timers.after(requestTimeoutMs(this.config), () => resolve('timeout'));
      void p.then((v) => { this.env.timers.cancel(timer); resolve(v); });
    });
  }

  private wakeLeaderWaiters(): void {
    const waiting = this.leaderWaiters;
    this.leaderWaiters = [];
    for (const w of waiting) w();
  }

  private async kvAt(key: Buffer, revision: number): Promise<KeyValue | undefined> {
    const store = this.applier.store;
    if (revision < 1 || revision < store.compactRevision()) return undefined;
    const r = await store.range({
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

  private checkQuota(costBytes: number): void {
    if (this.applier.alarms.has(AlarmType.NoSpace)) throw new EtcdError('NoSpace');
    if (!this.quota.exceededBy(costBytes)) return;
    void this.alarm(AlarmAction.Activate, this.memberId, AlarmType.NoSpace).catch(() => undefined);
    throw new EtcdError('NoSpace');
  }
}

