// The applier (etcd's server/etcdserver/apply): committed raft entries in,
// results out, in log order, the same on every member. It owns the MVCC store,
// the lessor, the member records, the alarms, the consistent index and the
// batched backend commit; it knows nothing of proposals, waiters, reads or
// the network (peer changes leave through a hook). Apply is deterministic: the
// same entries on the same state give the same store, whatever the timing —
// which is what lets the whole-member simulation run it.
import { assert, EtcdError, type Clock, type Timers } from '../util';
import { Lessor, loadLeases, leaseMetaOp, trackLeaseAttachments } from '../lease';
import { MvccStore, hashAll, hashKv, type MvccStoreOptions, type WatchHub } from '../mvcc';
import type { Backend } from '../storage';
import { decodeConfChange, type Entry, type ConfChange } from '../raft';
import { decodeRequest, type Op } from './requests';
import { Alarms, AlarmAction, AlarmType } from './alarms';
import type { Logger } from './log';
import { spoolEtcdSnapshot } from './snapshot';
import { clusterVersion } from './member-types';
import { BackendCommitter, consistentIndexMeta, decodeConsistentIndex, type BackendCommitOptions } from './backend-commit';
import { MemberRecords, decodeConfChangeContext, decodeMember, memberMetaPrefix, type MemberInfo, type PeerChange } from './membership';

/** Deliberate bugs, for proving the whole-member simulation notices them (never set outside tests). */
export type ApplierTestMutation = 'skipConsistentIndexCheck';

export interface ApplierOptions {
  memberId: bigint;
  clock: Clock;
  timers: Timers;
  minLeaseTtlSeconds: number;
  backendBatch: BackendCommitOptions;
  fatal: (e: unknown) => void;
  log: Logger;
  hooks: ApplierHooks;
  /** Smaller caches and compaction steps than the limits (the simulation uses them to reach the backend paths). */
  storeOptions?: Omit<MvccStoreOptions, 'leaseExists'>;
  testMutation?: ApplierTestMutation;
}

export interface ApplierHooks {
  /** A member was added, updated or removed (not this one): the transport follows. */
  peerChanged(change: PeerChange): void;
  /** This member was removed from the cluster. */
  removedSelf(): void;
  /** A NOSPACE alarm was disarmed (the quota check measures the backend again). */
  noSpaceDisarmed(): void;
}

/** Puts a snapshot's store in place of the current one (on disk, or in memory in the simulation). */
export interface SnapshotInstaller {
  /** Writes the new store aside; `current` is still open (its own meta may be carried over). */
  stage(current: MvccStore): Promise<void>;
  /** Called once the current store is closed: the new backend, open. */
  swapIn(): Promise<Backend>;
}

/** One applied request's result, for the proposer's waiter. */
export interface ApplyOutcome {
  requestId: bigint;
  ok: boolean;
  value: unknown;
}

export class Applier {
  store: MvccStore;
  lessor: Lessor;
  alarms: Alarms;
  readonly members: MemberRecords;
  readonly committer: BackendCommitter;
  private appliedIndexValue: number;
  private backendValue: Backend;
  private hub: WatchHub | undefined;
  private memberId: bigint;

  private constructor(private readonly options: ApplierOptions, backend: Backend, store: MvccStore, lessor: Lessor, alarms: Alarms, members: MemberInfo[], appliedIndex: number) {
    this.backendValue = backend;
    this.store = store;
    this.lessor = lessor;
    this.alarms = alarms;
    this.members = new MemberRecords(members);
    this.appliedIndexValue = appliedIndex;
    this.memberId = options.memberId;
    this.committer = new BackendCommitter(store, appliedIndex, options.backendBatch, options.timers, options.fatal);
    this.follow(store, lessor);
  }

  /** Opens the applied state kept in `backend`: store, leases, alarms, members, consistent index. */
  static async open(backend: Backend, options: ApplierOptions): Promise<Applier> {
    const { store, lessor, alarms, members, appliedIndex } = await loadState(backend, options);
    return new Applier(options, backend, store, lessor, alarms, members, appliedIndex);
  }

  /** This member's ID, once its identity is read from the store this applier opened. */
  setMemberId(id: bigint): void {
    this.memberId = id;
  }

  /** The consistent index: the last raft index applied (in memory). */
  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  get backend(): Backend {
    return this.backendValue;
  }

  /** Watch events of every store this applier holds (now and after a restore) go to `hub`. */
  attachWatchHub(hub: WatchHub): void {
    this.hub = hub;
    this.store.attachWatchHub(hub);
  }

  /** Applies committed entries in order; entries at or below the consistent index are skipped (a replay). */
  async apply(entries: readonly Entry[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = [];
    this.committer.beginApply();
    try {
      for (const e of entries) {
        const replayed = e.index <= this.appliedIndexValue;
        if (replayed && this.options.testMutation !== 'skipConsistentIndexCheck') continue;
        const outcome = await this.applyEntry(e);
        if (outcome !== undefined) outcomes.push(outcome);
        if (replayed) continue;
        this.appliedIndexValue = e.index;
        this.committer.applied(e.index);
      }
    } finally {
      this.committer.endApply();
    }
    this.store.endApplyBatch();
    return outcomes;
  }

  /**
   * Replaces the applied state with a snapshot's (from the leader): earlier applies reach the
   * old store first, the installer stages the new one, the old store closes, the new one opens.
   */
  async restore(installer: SnapshotInstaller): Promise<void> {
    await this.committer.flush(false);
    await installer.stage(this.store);
    await this.store.close();
    const backend = await installer.swapIn();
    const state = await loadState(backend, this.options);
    this.backendValue = backend;
    this.store = state.store;
    this.lessor = state.lessor;
    this.alarms = state.alarms;
    this.members.replaceAll(state.members);
    this.appliedIndexValue = state.appliedIndex;
    this.committer.reset(state.store, state.appliedIndex);
    this.follow(state.store, state.lessor);
    if (this.hub !== undefined) {
      state.store.attachWatchHub(this.hub);
      this.hub.resync(state.store.currentRevision());
    }
  }

  // ---- reads of the backend itself (they flush what is applied first) ----

  async hashKv(revision: number): Promise<{ hash: number; compactRevision: number; hashRevision: number; revision: number }> {
    const current = this.store.currentRevision();
    const rev = revision === 0 ? current : revision;
    if (rev > current) throw new EtcdError('FutureRev');
    const compactRevision = this.store.compactRevision();
    if (rev < compactRevision) throw new EtcdError('Compacted');
    // Old revisions are deleted in the background; hash only once that is done, so members agree.
    await this.committer.flush(false);
    await this.store.compactionSettled();
    // etcd answers compact_revision -1 before any compaction (0 after a Compact(0)).
    return { hash: await hashKv(this.backendValue, compactRevision, rev), compactRevision: this.store.lastCompactRevision(), hashRevision: rev, revision: current };
  }

  async hash(): Promise<{ hash: number; revision: number }> {
    await this.committer.flush(false);
    await this.store.compactionSettled();
    return { hash: await hashAll(this.backendValue), revision: this.store.currentRevision() };
  }

  async defragment(): Promise<void> {
    await this.committer.flush(false);
    await this.store.compactionSettled();
    await this.backendValue.defragment();
  }

  /**
   * The whole store as etcd's snapshot file (Maintenance.Snapshot): what is applied is flushed and
   * compaction's deletes settle first, so no compacted revision lands in the file.
   */
  async snapshot(term: bigint): Promise<{ size: number; chunks: AsyncGenerator<Buffer> }> {
    await this.committer.flush(false);
    await this.store.compactionSettled();
    return spoolEtcdSnapshot(this.backendValue, { term, clusterVersion });
  }

  async close(): Promise<void> {
    this.committer.stop();
    try {
      await this.committer.flush(false);
    } finally {
      await this.store.close();
    }
  }

  private follow(store: MvccStore, lessor: Lessor): void {
    store.onEvents((events) => trackLeaseAttachments(lessor, events));
  }

  private async applyEntry(e: Entry): Promise<ApplyOutcome | undefined> {
    if (e.type === 'confChange') return this.applyConfChange(decodeConfChange(e.data));
    // An empty entry: a new leader's first entry of its term.
    if (e.data.byteLength === 0) return undefined;
    const req = decodeRequest(e.data);
    try {
      return { requestId: req.id, ok: true, value: await this.execute(req.body) };
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      return { requestId: req.id, ok: false, value: err };
    }
  }

  private async execute(body: Op): Promise<unknown> {
    const meta = this.committer.meta;
    switch (body.op) {
      case 'put': return this.store.put(body.req);
      case 'deleteRange': return this.store.deleteRange(body.req);
      case 'txn': return this.store.txn(body.req);
      case 'compact': return this.store.compact(body.revision);
      case 'leaseGrant': {
        const lease = this.lessor.grant(body.id, body.ttl);
        meta(...leaseMetaOp(this.lessor, body.id));
        return { id: body.id, ttlSeconds: lease.ttlSeconds, revision: this.store.currentRevision() };
      }
      case 'leaseRevoke': return this.applyRevoke(body.id);
      case 'alarm': {
        const touched = this.alarms.apply(body.action as AlarmAction, body.memberId, body.alarm as AlarmType, meta);
        if (touched.length > 0 && body.alarm === AlarmType.NoSpace && body.action !== AlarmAction.Activate) this.options.hooks.noSpaceDisarmed();
        return touched;
      }
      case 'memberUpdate': {
        const change = this.members.applyUpdate(body.memberId, body.peerUrls, meta);
        if (change === undefined) throw new EtcdError('MemberNotFound');
        if (body.memberId !== this.memberId) this.options.hooks.peerChanged(change);
        return undefined;
      }
      case 'publish':
        this.members.applyPublish(body.memberId, body.name, body.clientUrls, meta);
        return undefined;
    }
  }

  private applyConfChange(cc: ConfChange): ApplyOutcome | undefined {
    const { requestId, member } = decodeConfChangeContext(cc.context);
    const change = this.members.applyConfChange(cc.type, cc.nodeId, member, this.committer.meta);
    if (cc.nodeId !== this.memberId) this.options.hooks.peerChanged(change);
    else if (change.type === 'remove') this.options.hooks.removedSelf();
    return requestId === undefined ? undefined : { requestId, ok: true, value: undefined };
  }

  private async applyRevoke(id: bigint): Promise<{ revision: number }> {
    const keys = this.lessor.keysOf(id);
    if (keys.length > 0) {
      // Every attached key goes in one revision: watchers see one atomic set of deletes.
      await this.store.txn({ compare: [], success: keys.map((key) => ({ deleteRange: { key, rangeEnd: Buffer.alloc(0), prevKv: false } })), failure: [] });
    }
    this.lessor.remove(id);
    this.committer.meta(...leaseMetaOp(this.lessor, id));
    return { revision: this.store.currentRevision() };
  }
}

interface LoadedState { store: MvccStore; lessor: Lessor; alarms: Alarms; members: MemberInfo[]; appliedIndex: number }

async function loadState(backend: Backend, options: ApplierOptions): Promise<LoadedState> {
  const lessor = new Lessor({ clock: options.clock, minTtlSeconds: options.minLeaseTtlSeconds });
  const store = await MvccStore.open(backend, { ...options.storeOptions, leaseExists: (id) => lessor.has(id) });
  try {
    for (const key of await loadLeases(store, lessor)) {
      options.log.warn('key attached to a lease that does not exist; leaving it unattached', { key: key.toString() });
    }
    const alarms = await Alarms.load(store);
    const members = (await store.metaEntries(memberMetaPrefix)).map(([, v]) => decodeMember(v));
    const appliedIndex = decodeConsistentIndex(await store.getMeta(consistentIndexMeta));
    return { store, lessor, alarms, members, appliedIndex };
  } catch (e) {
    await store.close();
    throw e;
  }
}
