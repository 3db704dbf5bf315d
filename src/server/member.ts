// A single keel member: the MVCC store behind an apply loop. Writes are
// applied one at a time in arrival order and made durable in groups (one
// LevelDB batch and one fsync per group); a reply leaves only after the write
// it reports is durable. Reads wait until everything they observed is durable,
// so no client ever sees a write that a crash could take back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assert, AssertionError, EtcdError, limits } from '../util';
import { openLevelBackend, type Backend } from '../storage';
import {
  MvccStore, txnHasWrite,
  type RangeRequest, type RangeResponse, type PutRequest, type PutResponse,
  type DeleteRangeRequest, type DeleteRangeResponse, type TxnRequest, type TxnResponse, type RequestOp,
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
  private noSpaceAlarm = false;
  private stopped = false;

  private constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly backend: Backend,
    private readonly store: MvccStore,
    readonly memberId: bigint,
    readonly clusterId: bigint,
    readonly raftTerm: bigint,
    private readonly fatal: (e: unknown) => void,
  ) {
    this.durableRevision = store.currentRevision();
  }

  static async open(config: ServerConfig, log: Logger, fatal: (e: unknown) => void): Promise<Member> {
    const memberDir = path.join(config.dataDir, 'member');
    fs.mkdirSync(memberDir, { recursive: true, mode: 0o700 });
    const backend = await openLevelBackend(path.join(memberDir, 'db'));
    let store: MvccStore;
    let identity: Identity;
    let appliedIndex: bigint;
    try {
      store = await MvccStore.open(backend, { leaseExists: () => false });
      identity = await loadIdentity(store, config);
      const applied = await store.getMeta(consistentIndexMeta);
      appliedIndex = applied === undefined ? 0n : applied.readBigUInt64BE(0);
    } catch (e) {
      await backend.close();
      throw e;
    }
    const m = new Member(config, log, backend, store, BigInt('0x' + identity.memberId), BigInt('0x' + identity.clusterId), BigInt(identity.term), fatal);
    m.appliedIndex = appliedIndex;
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
      errors: this.noSpaceAlarm ? ['memberID:' + this.memberId.toString() + ' alarm:NOSPACE '] : [],
      isLearner: false,
      revision: this.store.currentRevision(),
    };
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    while (this.applying) await new Promise((r) => setTimeout(r, 5));
    for (const t of this.queue.splice(0)) t.reject(new EtcdError('Stopped'));
    await this.store.close();
  }

  // ---- internals ----

  private checkRunning(): void {
    if (this.stopped) throw new EtcdError('Stopped');
  }

  private checkRequestSize(requestBytes: number): void {
    if (requestBytes > this.config.maxRequestBytes) throw new EtcdError('RequestTooLarge');
  }

  private checkQuota(costBytes: number): void {
    if (this.noSpaceAlarm) throw new EtcdError('NoSpace');
    if (this.dbSizeBytes + costBytes > this.config.quotaBackendBytes) {
      this.noSpaceAlarm = true;
      this.log.warn('alarm raised', { alarm: 'NOSPACE', 'quota-size-bytes': this.config.quotaBackendBytes, 'db-size-bytes': this.dbSizeBytes });
      throw new EtcdError('NoSpace');
    }
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
    await this.store.commit([[consistentIndexMeta, bigintBytes(this.appliedIndex)]]);
    this.markDurable(this.store.currentRevision());
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
