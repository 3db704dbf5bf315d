// A single keel member: the MVCC store behind an apply loop. Writes are
// applied one at a time in arrival order and made durable in groups (one
// LevelDB batch and one fsync per group); a reply leaves only after the write
// it reports is durable. Reads wait until everything they observed is durable,
// so no client ever sees a write that a crash could take back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert, AssertionError, EtcdError, limits, monotonicClock, type Clock } from '../util';
import { Lessor, LeaseIdGenerator, minLeaseTtlSeconds, type LeaseRecord } from '../lease';
import { openLevelBackend, type Backend } from '../storage';
import {
  MvccStore, txnHasWrite,
  type RangeRequest, type RangeResponse, type PutRequest, type PutResponse,
  type DeleteRangeRequest, type DeleteRangeResponse, type TxnRequest, type TxnResponse, type RequestOp,
  type Event, EventType, WatchHub, readHistory, hashKv, hashAll, type WatchSink, type WatchStream,
} from '../mvcc';
import type { ServerConfig } from './config';
import type { Logger } from './log';
import { memberIdOf, clusterIdOf, idToHex } from './ids';

/** The etcd version keel reports: kube-apiserver enables watch progress features from 3.5.13 on. */
export const etcdVersion = '3.5.16';
export const clusterVersion = '3.5.0';

interface WriteTask {
  run: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface DurableWaiter { revision: number; resolve: () => void }

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

const identityMeta = 'identity';
const leaseMetaPrefix = 'lease/';
const alarmMetaPrefix = 'alarm/';

export const enum AlarmType { None = 0, NoSpace = 1, Corrupt = 2 }
export const enum AlarmAction { Get = 0, Activate = 1, Deactivate = 2 }
export interface AlarmMember { memberId: bigint; alarm: AlarmType }
const alarmNames = ['NONE', 'NOSPACE', 'CORRUPT'];
/** etcd's lessor looks for expired leases every 500 ms. */
const leaseExpiryPassMs = 500;
/** etcd's default election timeout; it sets the minimum lease TTL. */
const electionTimeoutMs = 1000;

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
const consistentIndexMeta = 'consistent_index';

interface Identity { memberId: string; clusterId: string; term: string }

function txnHasPut(r: TxnRequest): boolean {
  const opHasPut = (op: RequestOp): boolean => ('put' in op) || ('txn' in op && txnHasPut(op.txn));
  return r.success.some(opHasPut) || r.failure.some(opHasPut);
}

export class Member {
  private readonly queue: WriteTask[] = [];
  private applying = false;
  private durableRevision: number;
  private readonly durableWaiters: DurableWaiter[] = [];
  private appliedIndex = 0n;
  private dbSizeBytes = 0;
  private dbSizeCheckedMs = 0;
  /** Raised alarms, keyed "<member id>/<type>" (etcd's alarm store). */
  private readonly alarms = new Map<string, AlarmMember>();
  private stopped = false;
  private readonly lessor: Lessor;
  private readonly leaseIds: LeaseIdGenerator;
  private readonly revoking = new Set<bigint>();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Meta records (lease records) to write with the next commit; undefined deletes. */
  private pendingMeta: Array<[string, Buffer | undefined]> = [];
  /** Events applied but not yet durable, by revision; published to watchers after the commit. */
  private pendingEvents: Array<[number, Event[]]> = [];
  private readonly hub: WatchHub;

  private constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly backend: Backend,
    private readonly store: MvccStore,
    readonly memberId: bigint,
    readonly clusterId: bigint,
    readonly raftTerm: bigint,
    private readonly fatal: (e: unknown) => void,
    lessor: Lessor,
  ) {
    this.durableRevision = store.currentRevision();
    this.lessor = lessor;
    this.leaseIds = new LeaseIdGenerator(memberId, Date.now());
    store.onEvents((events, revision) => {
      this.trackLeaseAttachments(events);
      this.pendingEvents.push([revision, events]);
    });
    this.hub = new WatchHub(
      {
        readHistory: (from, to, eventsMax) => readHistory(backend, from, to, eventsMax),
        kvAt: (key, revision) => this.kvAt(key, revision),
        compactRevision: () => store.compactRevision(),
      },
      store.currentRevision(),
      fatal,
    );
  }

  // ---- watch ----

  newWatchStream(sink: WatchSink): WatchStream {
    this.checkRunning();
    return this.hub.newStream(sink);
  }

  startProgressNotify(intervalMs: number): void {
    this.hub.startProgressNotify(intervalMs);
  }

  private async kvAt(key: Buffer, revision: number): Promise<import('../mvcc').KeyValue | undefined> {
    if (revision < 1 || revision < this.store.compactRevision()) return undefined;
    const r = await this.store.range({
      key, rangeEnd: Buffer.alloc(0), limit: 0, revision, sortOrder: 0, sortTarget: 0, keysOnly: false, countOnly: false,
      minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0,
    }).catch(() => undefined);
    return r?.kvs[0];
  }

  static async open(config: ServerConfig, log: Logger, fatal: (e: unknown) => void, clock: Clock = monotonicClock): Promise<Member> {
    const memberDir = path.join(config.dataDir, 'member');
    fs.mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    const backend = await openLevelBackend(path.join(memberDir, 'db'));
    let store: MvccStore;
    let identity: Identity;
    let appliedIndex: bigint;
    let lessor: Lessor;
    let alarms: AlarmMember[];
    try {
      lessor = new Lessor({ clock, minTtlSeconds: minLeaseTtlSeconds(electionTimeoutMs) });
      const l = lessor;
      store = await MvccStore.open(backend, { leaseExists: (id) => l.has(id) });
      for (const [, value] of await store.metaEntries(leaseMetaPrefix)) lessor.restore(decodeLeaseRecord(value));
      alarms = (await store.metaEntries(alarmMetaPrefix)).map(([, v]) => {
        const o = JSON.parse(v.toString('utf8')) as { memberId: string; alarm: AlarmType };
        return { memberId: BigInt(o.memberId), alarm: o.alarm };
      });
      identity = await loadIdentity(store, config);
      const applied = await store.getMeta(consistentIndexMeta);
      appliedIndex = applied === undefined ? 0n : applied.readBigUInt64BE(0);
    } catch (e) {
      await backend.close();
      throw e;
    }
    const m = new Member(config, log, backend, store, BigInt('0x' + identity.memberId), BigInt('0x' + identity.clusterId), BigInt(identity.term), fatal, lessor);
    m.appliedIndex = appliedIndex;
    for (const a of alarms) m.alarms.set(`${a.memberId.toString(16)}/${a.alarm}`, a);
    m.restoreLeases();
    m.dbSizeBytes = await backend.sizeBytes();
    log.info('opened backend', { path: path.join(memberDir, 'db'), 'current-revision': store.currentRevision(), 'compact-revision': store.compactRevision(), 'consistent-index': appliedIndex });
    return m;
  }

  get memberIdHex(): string { return idToHex(this.memberId); }
  get clusterIdHex(): string { return idToHex(this.clusterId); }

  currentRevision(): number { return this.store.currentRevision(); }

  // ---- reads ----

  async range(req: RangeRequest): Promise<RangeResponse> {
    this.checkRunning();
    const r = await this.store.range(req);
    await this.waitDurable(r.revision);
    return r;
  }

  // ---- writes ----

  put(req: PutRequest, requestBytes: number): Promise<PutResponse> {
    this.checkRequestSize(requestBytes);
    this.checkQuota(requestBytes);
    return this.enqueue(() => this.store.put(req));
  }

  deleteRange(req: DeleteRangeRequest, requestBytes: number): Promise<DeleteRangeResponse> {
    this.checkRequestSize(requestBytes);
    return this.enqueue(() => this.store.deleteRange(req));
  }

  async txn(req: TxnRequest, requestBytes: number): Promise<TxnResponse> {
    if (!txnHasWrite(req)) {
      this.checkRunning();
      const r = await this.store.txn(req);
      await this.waitDurable(r.revision);
      return r;
    }
    this.checkRequestSize(requestBytes);
    if (txnHasPut(req)) this.checkQuota(requestBytes);
    return this.enqueue(() => this.store.txn(req));
  }

  compact(revision: number): Promise<{ revision: number }> {
    return this.enqueue(() => this.store.compact(revision));
  }

  async status(): Promise<MemberStatus> {
    await this.refreshDbSize(true);
    return {
      version: etcdVersion,
      dbSize: this.dbSizeBytes,
      dbSizeInUse: this.dbSizeBytes,
      leader: this.memberId,
      raftIndex: this.appliedIndex,
      raftTerm: this.raftTerm,
      raftAppliedIndex: this.appliedIndex,
      errors: [...this.alarms.values()].map((a) => `memberID:${a.memberId.toString()} alarm:${alarmNames[a.alarm]} `),
      isLearner: false,
      revision: this.store.currentRevision(),
    };
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.expiryTimer !== undefined) clearInterval(this.expiryTimer);
    this.hub.stop();
    while (this.applying) await new Promise((r) => setTimeout(r, 5));
    for (const t of this.queue.splice(0)) t.reject(new EtcdError('Stopped'));
    await this.store.close();
  }

  // ---- leases ----

  async leaseGrant(requestedId: bigint, ttlSeconds: number): Promise<{ id: bigint; ttlSeconds: number; revision: number }> {
    if (this.hasAlarm(AlarmType.NoSpace)) throw new EtcdError('NoSpace');
    const id = requestedId === 0n ? this.leaseIds.next() : requestedId;
    this.lessor.checkGrant(id, ttlSeconds);
    return this.enqueue(async () => {
      const lease = this.lessor.grant(id, ttlSeconds);
      this.pendingMeta.push([leaseMetaName(id), encodeLeaseRecord(this.lessor.record(id))]);
      return { id, ttlSeconds: lease.ttlSeconds, revision: this.store.currentRevision() };
    });
  }

  leaseRevoke(id: bigint): Promise<{ revision: number }> {
    if (!this.lessor.has(id)) return Promise.reject(new EtcdError('LeaseNotFound'));
    return this.enqueue(() => this.applyRevoke(id));
  }

  /** The TTL after renewal, or undefined for an unknown lease. */
  async leaseKeepAlive(id: bigint): Promise<number | undefined> {
    this.checkRunning();
    // A renewal must not race ahead of a revoke already applied but not yet durable.
    await this.waitDurable(this.store.currentRevision());
    if (!this.lessor.has(id)) return undefined;
    return this.lessor.renew(id);
  }

  async leaseTimeToLive(id: bigint, withKeys: boolean): Promise<{ ttlSeconds: number; grantedTtlSeconds: number; keys: Buffer[] } | undefined> {
    this.checkRunning();
    await this.waitDurable(this.store.currentRevision());
    const lease = this.lessor.get(id);
    if (lease === undefined) return undefined;
    return { ttlSeconds: this.lessor.remainingSeconds(id), grantedTtlSeconds: lease.ttlSeconds, keys: withKeys ? this.lessor.keysOf(id) : [] };
  }

  async leaseLeases(): Promise<bigint[]> {
    this.checkRunning();
    await this.waitDurable(this.store.currentRevision());
    return this.lessor.ids();
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

  private trackLeaseAttachments(events: Event[]): void {
    for (const ev of events) {
      if (ev.prevKv !== undefined && ev.prevKv.lease !== 0n) this.lessor.detach(ev.prevKv.lease, ev.prevKv.key);
      if (ev.type === EventType.Put && ev.kv.lease !== 0n) this.lessor.attach(ev.kv.lease, ev.kv.key);
    }
  }

  private restoreLeases(): void {
    for (const kv of this.store.liveKvs()) {
      if (kv.lease === 0n) continue;
      if (this.lessor.has(kv.lease)) this.lessor.attach(kv.lease, kv.key);
      else this.log.warn('key attached to a lease that does not exist; leaving it unattached', { key: kv.key.toString(), lease: kv.lease });
    }
    // A single member is always the one that expires leases.
    this.lessor.promote(0);
    this.expiryTimer = setInterval(() => this.revokeExpired(), leaseExpiryPassMs);
    this.expiryTimer.unref();
  }

  private revokeExpired(): void {
    if (this.stopped) return;
    for (const id of this.lessor.expired()) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.enqueue(() => (this.lessor.has(id) ? this.applyRevoke(id) : Promise.resolve({ revision: this.store.currentRevision() }))).then(
        () => this.revoking.delete(id),
        (e: unknown) => {
          this.revoking.delete(id);
          if (!(e instanceof EtcdError && e.kind === 'Stopped')) this.log.warn('failed to revoke expired lease', { 'lease-id': id.toString(16), error: e });
        },
      );
    }
  }

  // ---- internals ----

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

  // ---- maintenance ----

  /** etcd's Alarm: GET lists, ACTIVATE raises, DEACTIVATE disarms (answering the alarms it touched). */
  async alarm(action: AlarmAction, memberId: bigint, alarm: AlarmType): Promise<AlarmMember[]> {
    if (action === AlarmAction.Get) {
      this.checkRunning();
      return [...this.alarms.values()];
    }
    return this.enqueue(async () => {
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
    });
  }

  async hashKv(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number; revision: number }> {
    this.checkRunning();
    const current = this.durableRevision;
    const rev = revision === 0 ? current : revision;
    if (rev > current) throw new EtcdError('FutureRev');
    const compactRevision = this.store.compactRevision();
    if (rev < compactRevision) throw new EtcdError('Compacted');
    // Old revisions are deleted in the background; hash only once that is done, so members agree.
    await this.store.compactionSettled();
    return { hash: await hashKv(this.backend, compactRevision, rev), compactRevision, hashRevision: rev, revision: current };
  }

  async hash(): Promise<{ hash: number; revision: number }> {
    this.checkRunning();
    // Wait for a quiet moment so the hash covers a whole number of commits.
    await this.waitDurable(this.store.currentRevision());
    return { hash: await hashAll(this.backend), revision: this.durableRevision };
  }

  members(): Array<{ id: bigint; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean }> {
    return [{ id: this.memberId, name: this.config.name, peerUrls: this.config.initialAdvertisePeerUrls, clientUrls: this.config.advertiseClientUrls, isLearner: false }];
  }

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    this.checkRunning();
    if (this.queue.length >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.applying) void this.applyLoop();
    });
  }

  private async applyLoop(): Promise<void> {
    this.applying = true;
    try {
      while (this.queue.length > 0) await this.applyGroup(this.queue.splice(0, limits.applyBatchRequestsMax));
    } catch (e) {
      this.fatal(e);
    } finally {
      this.applying = false;
    }
  }

  private async applyGroup(group: WriteTask[]): Promise<void> {
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    for (const task of group) {
      try {
        outcomes.push({ ok: true, value: await task.run() });
      } catch (e) {
        if (e instanceof AssertionError || !(e instanceof EtcdError)) throw e;
        outcomes.push({ ok: false, value: e });
      }
      this.appliedIndex++;
    }
    // A failed commit leaves memory ahead of disk: the caller treats it as fatal.
    const meta = this.pendingMeta;
    this.pendingMeta = [];
    meta.push([consistentIndexMeta, bigintBytes(this.appliedIndex)]);
    await this.store.commit(meta);
    this.markDurable(this.store.currentRevision());
    const published = this.pendingEvents;
    this.pendingEvents = [];
    for (const [revision, events] of published) this.hub.publish(revision, events);
    this.hub.advance(this.store.currentRevision());
    group.forEach((task, i) => {
      const o = outcomes[i];
      assert(o !== undefined, 'every task has an outcome');
      if (o.ok) task.resolve(o.value); else task.reject(o.value);
    });
    void this.refreshDbSize(false);
  }

  private waitDurable(revision: number): Promise<void> {
    if (revision <= this.durableRevision) return Promise.resolve();
    return new Promise((resolve) => this.durableWaiters.push({ revision, resolve }));
  }

  private markDurable(revision: number): void {
    assert(revision >= this.durableRevision, 'durable revision never goes backwards');
    this.durableRevision = revision;
    let kept = 0;
    for (const w of this.durableWaiters) {
      if (w.revision <= revision) w.resolve(); else this.durableWaiters[kept++] = w;
    }
    this.durableWaiters.length = kept;
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

function bigintBytes(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
}

async function loadIdentity(store: MvccStore, config: ServerConfig): Promise<Identity> {
  const raw = await store.getMeta(identityMeta);
  let next: Identity;
  if (raw !== undefined) {
    let parsed: Identity;
    try {
      parsed = JSON.parse(raw.toString('utf8')) as Identity;
    } catch {
      throw new Error(`data dir ${config.dataDir} is corrupt: member identity record is unreadable`);
    }
    // Each start is a new election in a single-member etcd: the term moves on.
    next = { ...parsed, term: (BigInt(parsed.term) + 1n).toString() };
  } else {
    const memberId = memberIdOf(config.initialAdvertisePeerUrls, config.initialClusterToken);
    next = { memberId: idToHex(memberId), clusterId: idToHex(clusterIdOf([memberId])), term: '2' };
  }
  await store.commit([[identityMeta, Buffer.from(JSON.stringify(next))]]);
  return next;
}
