// The MVCC store: etcd v3.5's mvcc + applier semantics over a Backend.
//
// Memory holds the key index (every key's revisions, etcd's keyIndex, with
// the live generation's createRevision, version and lease) and a cache of the
// live kvs written or read lately, bounded in bytes (limits.mvccValueCacheBytesMax).
// Other values come from the backend, or from the uncommitted buffer for
// changes applied since the last commit: a range plans the revisions it needs
// and fetches what is not in memory, at the current revision as at older
// ones. A write fetches the previous values it needs (prevKv, events, value
// compares) before it stages anything.
//
// A write stages its changes and publishes them in one synchronous step at
// its end, so a concurrent read sees all of a write or none of it. Reads plan
// synchronously (resolve every key to a revision) and only then await values;
// compaction deletes backend revisions only once no read below the compact
// revision is in flight.
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { assert, EtcdError, limits } from '../util';
import type { Backend, BatchOp } from '../storage';
import type { WatchHub } from './watch';
import { SortedStringMap } from '../storage';
import {
  decodeRecord,
  decodeRevision,
  decodeRevisionKey,
  encodeRevision,
  metaKey,
  recordOp,
  revisionKey,
  revisionKeyEnd,
  revisionKeyStart,
  type UncommittedRecord,
} from './codec';
import {
  appendPut,
  appendTombstone,
  compactEntry,
  type DroppedRevision,
  isLive,
  isLiveRevision,
  metaKv,
  type KeyEntry,
  newKeyEntry,
  revisionAt,
  ValueCache,
} from './key-index';
import { RecordFetcher } from './record-fetcher';
import { compareHolds, fetchLimit, finishRange, inBounds, type KeyBounds, keyBounds, needsValues, txnHasWrite } from './range-rules';
export { txnHasWrite } from './range-rules';
import {
  type Compare,
  CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type Event,
  EventType,
  type KeyValue,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from './types';

export interface MvccStoreOptions {
  leaseExists: (id: bigint) => boolean;
  /** Smaller compaction steps than the limits allow (tests use them to interleave and interrupt compaction). */
  compactionIndexKeysPerTurn?: number;
  compactionBatchKeys?: number;
  /** A smaller value cache than the limit (tests use tiny ones so reads go to the backend). */
  valueCacheBytes?: number;
}

export type EventListener = (events: Event[], revision: number) => void;

const currentRevisionMeta = 'mvcc/current_revision';
const compactRevisionMeta = 'mvcc/compact_revision';
const reservedMetaPrefix = 'mvcc/';

/** A revision whose record must be read from the backend; liveKey names the key when it was the key's live revision. */
interface FetchItem {
  main: number;
  sub: number;
  liveKey: string | undefined;
}

/** A kv already in memory, or a revision whose record must be fetched. */
type PlanItem = KeyValue | FetchItem;

const emptyValue = Buffer.alloc(0);

interface Plan {
  items: PlanItem[];
  count: number;
  /** Items that are revisions to fetch, not kvs. */
  fetches: number;
}

interface Change {
  keyStr: string;
  key: Buffer;
  /** undefined: a delete. */
  kv: KeyValue | undefined;
}

/** A write in progress: nothing here is visible to readers until publish. */
interface Stage {
  beginRev: number;
  changes: Change[];
  /** Key → its value after this write's changes so far (undefined: deleted). */
  overlay: Map<string, KeyValue | undefined>;
  /** Key → its live kv before this write, for every key the write changes: pinned (fetched if need be) before anything is staged. */
  resident: Map<string, KeyValue>;
}

/** Compare outcomes of a txn and of the nested txns on its chosen branch, all on the pre-txn state (etcd's txnPath). */
interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

interface GcTask {
  compactRev: number;
  /** Settles once the index compaction that feeds this task has run over every key. */
  dropped: Promise<DroppedRevision[]>;
}

export class MvccStore {
  private readonly index = new SortedStringMap<KeyEntry>();
  /** Live kvs written or read lately; exact: publish sets or deletes every key it changes. */
  private readonly values: ValueCache;
  private currentRev = 1;
  /** -1: never compacted (etcd's compactMainRev starts there, so Compact(0) succeeds once). */
  private compactRev = -1;
  private compactDirty = false;

  // Bounded by what is applied between two commits (limits.storeUncommittedEntriesMax entries, plus one apply batch); commit empties both.
  private uncommitted: UncommittedRecord[] = [];
  private readonly uncommittedValues = new Map<string, KeyValue>();

  private readonly fetcher: RecordFetcher;

  // Bounded by the reads the server runs at once; each entry leaves when its read ends.
  private readonly readsInFlight = new Map<number, number>();
  private readDrainWaiters: Array<() => void> = [];

  // One task per compaction; compactions are rare and each task's list is bounded by the index it was cut from.
  private gcAwaitingCommit: GcTask[] = [];
  private readonly gcQueue: GcTask[] = [];
  private gcRunning: Promise<void> | undefined;
  /** The chain of index compactions, one after another. */
  private indexCompaction: Promise<unknown> = Promise.resolve();
  private gcError: unknown;

  private readonly listeners: EventListener[] = [];
  /** Where this store's watch events go, and the events of the apply batch in progress (bounded by one batch). */
  private hub: WatchHub | undefined;
  private batchEvents: Array<[number, Event[]]> = [];
  private writing = false;
  private committing = false;
  private closed = false;

  private readonly indexKeysPerTurn: number;
  private readonly gcBatchKeys: number;

  private constructor(
    private readonly backend: Backend,
    private readonly options: MvccStoreOptions,
  ) {
    this.indexKeysPerTurn = options.compactionIndexKeysPerTurn ?? limits.compactionIndexKeysPerTurnMax;
    this.gcBatchKeys = options.compactionBatchKeys ?? limits.compactionBatchKeysMax;
    const cacheBytes = options.valueCacheBytes ?? limits.mvccValueCacheBytesMax;
    assert(cacheBytes >= 0 && cacheBytes <= limits.mvccValueCacheBytesMax, 'value cache within limit');
    this.values = new ValueCache(cacheBytes);
    this.fetcher = new RecordFetcher(backend);
    assert(this.indexKeysPerTurn >= 1 && this.indexKeysPerTurn <= limits.compactionIndexKeysPerTurnMax, 'index compaction step within limit');
    assert(this.gcBatchKeys >= 1 && this.gcBatchKeys <= limits.compactionBatchKeysMax, 'compaction batch within limit');
  }

  static async open(backend: Backend, options: MvccStoreOptions): Promise<MvccStore> {
    const store = new MvccStore(backend, options);
    await store.restore();
    return store;
  }

  currentRevision(): number {
    return this.currentRev;
  }

  /** The last compaction's revision, 0 if never compacted. */
  compactRevision(): number {
    return Math.max(this.compactRev, 0);
  }

  /** The last compaction's revision, -1 if never compacted (etcd's HashKV answers that). */
  lastCompactRevision(): number { return this.compactRev; }

  /** The value cache: entries, bytes charged and its bound (for tests and metrics). */
  valueCacheStats(): { entries: number; bytes: number; bytesMax: number } {
    return { entries: this.values.size, bytes: this.values.bytes, bytesMax: this.values.bytesMax };
  }

  /** Watch events of this store's writes go to `hub`, each apply batch's at its end (endApplyBatch). */
  attachWatchHub(hub: WatchHub): void {
    this.hub = hub;
  }

  /** Ends an apply batch: its events reach the watchers, and the watched revision moves to the current one. */
  endApplyBatch(): void {
    const published = this.batchEvents;
    this.batchEvents = [];
    if (this.hub === undefined) return;
    for (const [revision, events] of published) this.hub.publish(revision, events);
    this.hub.advance(this.currentRev);
  }

  onEvents(listener: EventListener): void {
    assert(this.listeners.length < limits.mvccEventListenersMax, 'mvcc event listeners within limit');
    this.listeners.push(listener);
  }

  /** A meta value stored by commit(meta), e.g. the consistent index. */
  async getMeta(name: string): Promise<Buffer | undefined> {
    return this.backend.get(metaKey(name));
  }

  /** Committed meta values whose names start with `prefix` (e.g. the lessor's lease records), in name order. */
  async metaEntries(prefix: string): Promise<Array<[string, Buffer]>> {
    assert(!prefix.startsWith(reservedMetaPrefix), 'caller meta names stay out of mvcc/');
    const start = metaKey(prefix);
    const end = Buffer.concat([start, Buffer.from([0xff])]);
    const nameStart = start.length - Buffer.byteLength(prefix);
    const out: Array<[string, Buffer]> = [];
    for await (const [k, v] of this.backend.iterate({ gte: start, lt: end })) out.push([k.subarray(nameStart).toString('utf8'), v]);
    return out;
  }

  /**
   * Every live key's current kv in key order, value left empty: values stay in
   * the backend (this is for the lessor to re-attach keys after a restart).
   */
  *liveKvs(): Generator<KeyValue> {
    for (const [k, entry] of this.index.range('', undefined)) if (isLive(entry)) yield metaKv(k, entry, emptyValue);
  }

  // ---- reads ----

  async range(req: RangeRequest): Promise<RangeResponse> {
    this.checkOpen();
    const atRev = this.readRevision(req.revision, this.currentRev);
    return this.runRange(req, atRev, this.currentRev);
  }

  // ---- writes ----

  async put(req: PutRequest): Promise<PutResponse> {
    this.beginWrite();
    try {
      // A lone put checks the lease before the key (etcd's applier.Put); a txn checks in the other order.
      this.checkLease(req.lease);
      const stage = this.newStage();
      const pinning = this.pinLive(stage, [keyBounds(req.key, emptyValue)]);
      if (pinning !== undefined) await pinning;
      const resp = this.execPut(stage, req);
      this.publish(stage);
      return resp;
    } finally {
      this.endWrite();
    }
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    this.beginWrite();
    try {
      const stage = this.newStage();
      const pinning = this.pinLive(stage, [keyBounds(req.key, req.rangeEnd)]);
      if (pinning !== undefined) await pinning;
      const resp = this.execDelete(stage, req);
      this.publish(stage);
      return resp;
    } finally {
      this.endWrite();
    }
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    if (!txnHasWrite(req)) return this.readTxn(req);
    this.beginWrite();
    try {
      const stage = this.newStage();
      // No other write runs until this one ends: what is fetched first is still the live state after the awaits.
      const plans = this.planCompares(req);
      const path = this.comparePath(req, this.compareKvsNow(plans) ?? (await this.compareKvs(plans)));
      this.checkTxnPuts(req, path);
      this.checkTxnRanges(req, path, this.currentRev);
      const pinning = this.pinLive(stage, this.pathWrites(req, path));
      if (pinning !== undefined) await pinning;
      const responses = await this.execTxnOps(stage, req, path);
      this.publish(stage);
      const revision = stage.changes.length > 0 ? stage.beginRev + 1 : stage.beginRev;
      return { revision, succeeded: path.succeeded, responses };
    } finally {
      this.endWrite();
    }
  }

  async compact(revision: number): Promise<{ revision: number }> {
    this.beginWrite();
    try {
      if (revision <= this.compactRev) throw new EtcdError('Compacted');
      if (revision > this.currentRev) throw new EtcdError('FutureRev');
      this.compactRev = revision;
      this.compactDirty = true;
      // The backend may lose the dropped revisions only once the compact revision is durable.
      this.gcAwaitingCommit.push({ compactRev: revision, dropped: this.scheduleIndexCompaction(revision) });
      return { revision: this.currentRev };
    } finally {
      this.endWrite();
    }
  }

  /**
   * Writes every change since the last commit to the backend in one batch, with the caller's meta
   * keys; synced (on stable storage when this resolves) unless options.sync is false, for callers
   * that keep their own write-ahead log.
   */
  async commit(meta: Array<[string, Buffer | undefined]> = [], options: { sync: boolean } = { sync: true }): Promise<void> {
    this.checkOpen();
    assert(!this.committing, 'mvcc commits never overlap');
    if (this.gcError !== undefined) throw this.gcError;
    this.committing = true;
    try {
      const records = this.uncommitted;
      this.uncommitted = [];
      const ops: BatchOp[] = records.map(recordOp);
      ops.push({ type: 'put', key: metaKey(currentRevisionMeta), value: encodeRevision(this.currentRev) });
      if (this.compactDirty) {
        ops.push({ type: 'put', key: metaKey(compactRevisionMeta), value: encodeRevision(this.compactRev) });
        this.compactDirty = false;
      }
      for (const [name, value] of meta) {
        assert(!name.startsWith(reservedMetaPrefix), 'caller meta names stay out of mvcc/');
        ops.push(value === undefined ? { type: 'del', key: metaKey(name) } : { type: 'put', key: metaKey(name), value });
      }
      const gcReady = this.gcAwaitingCommit;
      this.gcAwaitingCommit = [];
      await this.backend.write(ops, { sync: options.sync });
      for (const r of records) if (r.kv !== undefined) this.uncommittedValues.delete(revisionId(r.main, r.sub));
      this.gcQueue.push(...gcReady);
      this.kickGc();
    } finally {
      this.committing = false;
    }
  }

  /** Stops background compaction (it resumes on the next open) and closes the backend. */
  async close(): Promise<void> {
    if (this.closed) return;
    assert(!this.writing, 'mvcc close waits for the apply loop');
    assert(!this.committing, 'mvcc close waits for the last commit');
    this.closed = true;
    this.wakeReadDrainWaiters();
    await this.indexCompaction;
    if (this.gcRunning !== undefined) await this.gcRunning;
    await this.backend.close();
  }

  // ---- restore ----

  private async restore(): Promise<void> {
    const current = await this.backend.get(metaKey(currentRevisionMeta));
    const compact = await this.backend.get(metaKey(compactRevisionMeta));
    let maxMain = 0;
    const orphans: DroppedRevision[] = [];
    for await (const [k, v] of this.backend.iterate({ gte: revisionKeyStart, lt: revisionKeyEnd })) {
      const rev = decodeRevisionKey(k);
      const rec = decodeRecord(v);
      assert(rev.main >= maxMain, 'backend revisions come in order');
      maxMain = rev.main;
      const keyStr = rec.key.toString('latin1');
      const entry = this.index.get(keyStr);
      if (rev.tombstone) {
        // A tombstone without its generation is what a half-done compaction leaves (etcd skips it too).
        if (entry === undefined || !isLive(entry)) {
          orphans.push({ main: rev.main, sub: rev.sub, tombstone: true });
          continue;
        }
        appendTombstone(entry, rev.main, rev.sub);
        continue;
      }
      if (entry === undefined) this.index.set(keyStr, newKeyEntry(rev.main, rev.sub, rec.createRevision, rec.version, rec.lease));
      else appendPut(entry, rev.main, rev.sub, rec.createRevision, rec.version, rec.lease);
    }
    this.currentRev = Math.max(current === undefined ? 1 : decodeRevision(current), maxMain, 1);
    this.compactRev = compact === undefined ? -1 : decodeRevision(compact);
    assert(this.compactRev <= this.currentRev, 'compact revision <= current revision');
    if (this.compactRev >= 0) {
      // Redo the index compaction; whatever the backend still holds below it is garbage from an unfinished run.
      const dropped = await this.scheduleIndexCompaction(this.compactRev);
      for (const o of orphans) if (o.main <= this.compactRev) dropped.push(o);
      if (dropped.length > 0) {
        this.gcQueue.push({ compactRev: this.compactRev, dropped: Promise.resolve(dropped) });
        this.kickGc();
      }
    }
  }

  // ---- write machinery ----

  private beginWrite(): void {
    this.checkOpen();
    assert(!this.writing, 'mvcc writes never overlap');
    this.writing = true;
  }

  private endWrite(): void {
    assert(this.writing, 'mvcc write was in progress');
    this.writing = false;
  }

  private newStage(): Stage {
    return { beginRev: this.currentRev, changes: [], overlay: new Map(), resident: new Map() };
  }

  private checkLease(lease: bigint): void {
    if (lease !== 0n && !this.options.leaseExists(lease)) throw new EtcdError('LeaseNotFound');
  }

  /** The key as this write sees it so far. */
  private stagedLive(stage: Stage, keyStr: string): KeyValue | undefined {
    if (stage.overlay.has(keyStr)) return stage.overlay.get(keyStr);
    return this.liveBefore(stage, keyStr);
  }

  /** The key's live kv before the write in progress, with its value (pinLive pinned every live key the write changes); undefined if it was not live. */
  private liveBefore(stage: Stage, keyStr: string): KeyValue | undefined {
    const kv = stage.resident.get(keyStr);
    if (kv === undefined) assert(!this.isLiveKey(keyStr), 'a write pins every live key it changes first');
    return kv;
  }

  private execPut(stage: Stage, req: PutRequest): PutResponse {
    const keyStr = req.key.toString('latin1');
    const prev = this.stagedLive(stage, keyStr);
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw new EtcdError('KeyNotFound');
    const rev = stage.beginRev + 1;
    const kv: KeyValue = {
      key: req.key,
      value: req.ignoreValue && prev !== undefined ? prev.value : req.value,
      createRevision: prev === undefined ? rev : prev.createRevision,
      modRevision: rev,
      version: prev === undefined ? 1 : prev.version + 1,
      lease: req.ignoreLease && prev !== undefined ? prev.lease : req.lease,
    };
    stage.changes.push({ keyStr, key: req.key, kv });
    stage.overlay.set(keyStr, kv);
    return { revision: rev, prevKv: req.prevKv ? prev : undefined };
  }

  private execDelete(stage: Stage, req: DeleteRangeRequest): DeleteRangeResponse {
    const kvs = this.liveScan(stage, keyBounds(req.key, req.rangeEnd), 0, false, true).items.map(resolved);
    for (const kv of kvs) {
      const keyStr = kv.key.toString('latin1');
      stage.changes.push({ keyStr, key: kv.key, kv: undefined });
      stage.overlay.set(keyStr, undefined);
    }
    const revision = stage.changes.length > 0 ? stage.beginRev + 1 : stage.beginRev;
    return { revision, deleted: kvs.length, prevKvs: req.prevKv ? kvs : [] };
  }

  private async execRange(stage: Stage, req: RangeRequest): Promise<RangeResponse> {
    const headerRev = stage.changes.length > 0 ? stage.beginRev + 1 : stage.beginRev;
    if (req.revision <= 0) {
      // Read your writes: revision 0 inside a write sees this txn's earlier changes. No other write can
      // change what it planned before the fetch ends, and compaction never drops a live revision.
      const { items, count } = this.liveScan(stage, keyBounds(req.key, req.rangeEnd), fetchLimit(req), req.countOnly, needsValues(req));
      return finishRange(req, await this.materialize(items), count, headerRev);
    }
    return this.runRange(req, req.revision, headerRev);
  }

  private async execTxnOps(stage: Stage, req: TxnRequest, path: TxnPath): Promise<ResponseOp[]> {
    const ops = path.succeeded ? req.success : req.failure;
    const responses: ResponseOp[] = [];
    let nested = 0;
    for (const op of ops) {
      if ('range' in op) responses.push({ range: await this.execRange(stage, op.range) });
      else if ('put' in op) responses.push({ put: this.execPut(stage, op.put) });
      else if ('deleteRange' in op) responses.push({ deleteRange: this.execDelete(stage, op.deleteRange) });
      else {
        const sub = path.nested[nested++];
        assert(sub !== undefined, 'txn path has an entry per nested txn');
        const subResponses = await this.execTxnOps(stage, op.txn, sub);
        responses.push({ txn: { revision: 0, succeeded: sub.succeeded, responses: subResponses } });
      }
    }
    return responses;
  }

  /** Makes a write's changes visible at once: index, value cache, revision, uncommitted buffer, events. */
  private publish(stage: Stage): void {
    if (stage.changes.length === 0) return;
    assert(stage.beginRev === this.currentRev, 'no other write published during this one');
    const rev = stage.beginRev + 1;
    const events: Event[] = stage.changes.map((c) => this.eventFor(stage, c, rev));
    stage.changes.forEach((c, sub) => {
      const entry = this.index.get(c.keyStr);
      const kv = c.kv;
      if (kv === undefined) {
        assert(entry !== undefined, 'a delete ends an indexed key');
        appendTombstone(entry, rev, sub);
        this.values.delete(c.keyStr);
      } else {
        if (entry === undefined) this.index.set(c.keyStr, newKeyEntry(rev, sub, kv.createRevision, kv.version, kv.lease));
        else appendPut(entry, rev, sub, kv.createRevision, kv.version, kv.lease);
        this.uncommittedValues.set(revisionId(rev, sub), kv);
        this.values.set(c.keyStr, kv);
      }
      this.uncommitted.push({ main: rev, sub, key: c.key, kv });
    });
    assert(rev > this.currentRev, 'revisions strictly increase');
    this.currentRev = rev;
    for (const listener of this.listeners) listener(events, rev);
    if (this.hub === undefined) return;
    assert(this.batchEvents.length < limits.mvccBatchRevisionsMax, 'an apply batch publishes a bounded number of revisions');
    this.batchEvents.push([rev, events]);
  }

  /** etcd's watch event: prevKv is the key at revision - 1 (before this txn), absent for a create. */
  private eventFor(stage: Stage, c: Change, rev: number): Event {
    const before = this.liveBefore(stage, c.keyStr);
    if (c.kv !== undefined) {
      const isCreate = c.kv.createRevision === c.kv.modRevision;
      return { type: EventType.Put, kv: c.kv, prevKv: isCreate ? undefined : before };
    }
    const kv: KeyValue = { key: c.key, createRevision: 0, modRevision: rev, version: 0, value: Buffer.alloc(0), lease: 0n };
    return { type: EventType.Delete, kv, prevKv: before };
  }

  // ---- txn ----

  /**
   * What every compare in the txn (nested ones on both branches too) reads,
   * planned now, before any await. Only value compares need values.
   */
  private planCompares(req: TxnRequest, out = new Map<Compare, PlanItem[]>()): Map<Compare, PlanItem[]> {
    for (const c of req.compare) {
      out.set(c, this.liveScan(undefined, keyBounds(c.key, c.rangeEnd), 0, false, c.target === CompareTarget.Value).items);
    }
    for (const op of req.success) if ('txn' in op) this.planCompares(op.txn, out);
    for (const op of req.failure) if ('txn' in op) this.planCompares(op.txn, out);
    return out;
  }

  /** The planned compares' kvs if every one is in memory already. */
  private compareKvsNow(plans: Map<Compare, PlanItem[]>): Map<Compare, KeyValue[]> | undefined {
    const out = new Map<Compare, KeyValue[]>();
    for (const [c, items] of plans) {
      if (!items.every(isKv)) return undefined;
      out.set(c, items as KeyValue[]);
    }
    return out;
  }

  /** The planned compares' kvs, fetching the values that are not in memory. */
  private async compareKvs(plans: Map<Compare, PlanItem[]>): Promise<Map<Compare, KeyValue[]>> {
    const out = new Map<Compare, KeyValue[]>();
    for (const [c, items] of plans) out.set(c, items.every(isKv) ? (items as KeyValue[]) : await this.materialize(items));
    return out;
  }

  private comparePath(req: TxnRequest, kvs: Map<Compare, KeyValue[]>): TxnPath {
    const kvsOf = (c: Compare): KeyValue[] => {
      const found = kvs.get(c);
      assert(found !== undefined, 'every compare was planned');
      return found;
    };
    const succeeded = req.compare.every((c) => compareHolds(c, kvsOf(c)));
    const nested: TxnPath[] = [];
    for (const op of succeeded ? req.success : req.failure) if ('txn' in op) nested.push(this.comparePath(op.txn, kvs));
    return { succeeded, nested };
  }

  /** The key ranges the chosen path puts or deletes. */
  private pathWrites(req: TxnRequest, path: TxnPath): KeyBounds[] {
    const out: KeyBounds[] = [];
    this.walkPath(req, path, (op) => {
      if ('put' in op) out.push(keyBounds(op.put.key, emptyValue));
      else if ('deleteRange' in op) out.push(keyBounds(op.deleteRange.key, op.deleteRange.rangeEnd));
    });
    return out;
  }

  /**
   * Puts the live kv (before the write) of every key in bounds into the
   * write's resident set, fetching the values that are not in memory: prevKv,
   * events and ignoreValue need them, and neither cache evictions nor a commit
   * during the write's awaits may take them away. No other write runs
   * meanwhile, so what is fetched stays live. Returns undefined when nothing
   * had to be fetched, so the common write stays synchronous.
   */
  private pinLive(stage: Stage, bounds: KeyBounds[]): Promise<void> | undefined {
    const fetches: FetchItem[] = [];
    const visit = (k: string, entry: KeyEntry): void => {
      if (!isLive(entry) || stage.resident.has(k)) return;
      // A cached kv is shared as it is: events and responses hold it only until they are sent (the lessor keeps key strings).
      const item = this.liveItem(k, entry, undefined, true);
      if (isKv(item)) stage.resident.set(k, item);
      else fetches.push(item);
    };
    for (const b of bounds) {
      if (b.empty) continue;
      if (b.single) {
        const entry = this.index.get(b.gte);
        if (entry !== undefined) visit(b.gte, entry);
        continue;
      }
      this.index.scan(b.gte, b.lt, visit);
    }
    if (fetches.length === 0) return undefined;
    return this.materialize(fetches, false).then((kvs) => {
      fetches.forEach((f, i) => {
        assert(f.liveKey !== undefined, 'a write fetches live revisions');
        stage.resident.set(f.liveKey, kvs[i] as KeyValue);
      });
    });
  }

  /** Calls f on every non-txn op along the chosen path, in order. */
  private walkPath(req: TxnRequest, path: TxnPath, f: (op: RequestOp) => void): void {
    let nested = 0;
    for (const op of path.succeeded ? req.success : req.failure) {
      if (!('txn' in op)) {
        f(op);
        continue;
      }
      const sub = path.nested[nested++];
      assert(sub !== undefined, 'txn path has an entry per nested txn');
      this.walkPath(op.txn, sub, f);
    }
  }

  private checkTxnPuts(req: TxnRequest, path: TxnPath): void {
    this.walkPath(req, path, (op) => {
      if (!('put' in op)) return;
      const p = op.put;
      if ((p.ignoreValue || p.ignoreLease) && !this.isLiveKey(p.key.toString('latin1'))) throw new EtcdError('KeyNotFound');
      this.checkLease(p.lease);
    });
  }

  private isLiveKey(keyStr: string): boolean {
    const entry = this.index.get(keyStr);
    return entry !== undefined && isLive(entry);
  }

  private checkTxnRanges(req: TxnRequest, path: TxnPath, current: number): void {
    this.walkPath(req, path, (op) => {
      if (!('range' in op) || op.range.revision === 0) return;
      if (op.range.revision > current) throw new EtcdError('FutureRev');
      if (op.range.revision < this.compactRev) throw new EtcdError('Compacted');
    });
  }

  /**
   * A txn without put or delete, at one revision whatever writes land while
   * it waits: compares are planned synchronously, and if a value compare must
   * fetch first, the ranges are planned afterwards at that same revision
   * (held as a read in flight, so compaction keeps both the index and the
   * backend revisions it needs).
   */
  private async readTxn(req: TxnRequest): Promise<TxnResponse> {
    this.checkOpen();
    const rev = this.currentRev;
    const plans = this.planCompares(req);
    this.readBegin(rev);
    try {
      const path = this.comparePath(req, this.compareKvsNow(plans) ?? (await this.compareKvs(plans)));
      this.checkTxnRanges(req, path, rev);
      const responses = this.planReadOps(req, path, rev);
      return { revision: rev, succeeded: path.succeeded, responses: await Promise.all(responses) };
    } finally {
      this.readEnd(rev);
    }
  }

  private planReadOps(req: TxnRequest, path: TxnPath, rev: number): Array<Promise<ResponseOp>> {
    const out: Array<Promise<ResponseOp>> = [];
    let nested = 0;
    for (const op of path.succeeded ? req.success : req.failure) {
      if ('range' in op) {
        const atRev = op.range.revision <= 0 ? rev : op.range.revision;
        out.push(this.runRange(op.range, atRev, rev).then((range) => ({ range })));
      } else if ('txn' in op) {
        const sub = path.nested[nested++];
        assert(sub !== undefined, 'txn path has an entry per nested txn');
        const inner = this.planReadOps(op.txn, sub, rev);
        out.push(Promise.all(inner).then((responses) => ({ txn: { revision: 0, succeeded: sub.succeeded, responses } })));
      } else {
        assert(false, 'a read-only txn holds only ranges and txns');
      }
    }
    return out;
  }

  // ---- range machinery ----

  private readRevision(requested: number, current: number): number {
    if (requested > current) throw new EtcdError('FutureRev');
    const atRev = requested <= 0 ? current : requested;
    if (atRev < this.compactRev) throw new EtcdError('Compacted');
    return atRev;
  }

  /**
   * Plans synchronously (before the first await) and then fetches what is not
   * in memory: everything a caller sees is as of atRev even if writes land
   * meanwhile, and compaction keeps the planned revisions until the read ends.
   */
  private runRange(req: RangeRequest, atRev: number, headerRev: number): Promise<RangeResponse> {
    const bounds = keyBounds(req.key, req.rangeEnd);
    const plan = atRev === this.currentRev
      ? this.liveScan(undefined, bounds, fetchLimit(req), req.countOnly, needsValues(req))
      : this.historyScan(bounds, atRev, fetchLimit(req), req.countOnly, needsValues(req));
    if (plan.fetches === 0) return Promise.resolve(finishRange(req, plan.items as KeyValue[], plan.count, headerRev));
    this.readBegin(atRev);
    return this.materialize(plan.items)
      .then((kvs) => finishRange(req, kvs, plan.count, headerRev))
      .finally(() => this.readEnd(atRev));
  }

  /**
   * Live keys in bounds as seen by a write in progress (or by readers, with no
   * stage). Values come from memory where they are (resident: what the write
   * fetched first); the rest are left to fetch.
   */
  private liveScan(
    stage: Stage | undefined,
    bounds: KeyBounds,
    limit: number,
    countOnly: boolean,
    needValues: boolean,
    resident: Map<string, KeyValue> | undefined = stage?.resident,
  ): Plan {
    const plan: Plan = { items: [], count: 0, fetches: 0 };
    const items = plan.items;
    const take = (k: string, entry: KeyEntry): void => {
      if (entry.sub < 0) return; // deleted (isLive, inlined by hand: this runs once per key in range)
      plan.count++;
      if (countOnly || (limit !== 0 && items.length >= limit)) return;
      const item = this.liveItem(k, entry, resident, needValues);
      if (!isKv(item)) plan.fetches++;
      items.push(item);
    };
    const takeKv = (kv: KeyValue | undefined): void => {
      if (kv === undefined) return;
      plan.count++;
      if (!countOnly && (limit === 0 || items.length < limit)) items.push(kv);
    };
    if (bounds.empty) return plan;
    if (bounds.single) {
      if (stage !== undefined && stage.overlay.has(bounds.gte)) takeKv(stage.overlay.get(bounds.gte));
      else {
        const entry = this.index.get(bounds.gte);
        if (entry !== undefined) take(bounds.gte, entry);
      }
      return plan;
    }
    if (stage === undefined || stage.overlay.size === 0) {
      this.index.scan(bounds.gte, bounds.lt, take);
      return plan;
    }
    // The overlay's entries merge in key order and win over the index's.
    const overlay = overlayInBounds(stage, bounds);
    let oi = 0;
    this.index.scan(bounds.gte, bounds.lt, (k, entry) => {
      while (oi < overlay.length && (overlay[oi] as [string, KeyValue | undefined])[0] < k) {
        takeKv((overlay[oi++] as [string, KeyValue | undefined])[1]);
      }
      if (!stage.overlay.has(k)) take(k, entry);
    });
    for (; oi < overlay.length; oi++) takeKv((overlay[oi] as [string, KeyValue | undefined])[1]);
    return plan;
  }

  /** A live key's kv if its value is in memory (or not needed), else the revision to fetch. */
  private liveItem(k: string, entry: KeyEntry, resident: Map<string, KeyValue> | undefined, needValue: boolean): PlanItem {
    if (!needValue) return metaKv(k, entry, emptyValue);
    const fetched = resident?.get(k);
    if (fetched !== undefined) return fetched;
    const cached = this.values.get(k);
    if (cached !== undefined) return cached;
    const pending = this.uncommittedValues.size === 0 ? undefined : this.uncommittedValues.get(revisionId(entry.main, entry.sub));
    if (pending !== undefined) return pending;
    return { main: entry.main, sub: entry.sub, liveKey: k };
  }

  private historyScan(bounds: KeyBounds, atRev: number, limit: number, countOnly: boolean, needValues: boolean): Plan {
    const items: PlanItem[] = [];
    let count = 0;
    let fetches = 0;
    const visit = (k: string, entry: KeyEntry): void => {
      const rev = revisionAt(entry, atRev);
      if (rev === undefined) return;
      count++;
      if (countOnly || (limit !== 0 && items.length >= limit)) return;
      const [main, sub] = rev;
      const item = isLiveRevision(entry, main, sub) ? this.liveItem(k, entry, undefined, needValues) : { main, sub, liveKey: undefined };
      if (!isKv(item)) fetches++;
      items.push(item);
    };
    if (bounds.empty) return { items, count, fetches };
    if (bounds.single) {
      const entry = this.index.get(bounds.gte);
      if (entry !== undefined) visit(bounds.gte, entry);
      return { items, count, fetches };
    }
    this.index.scan(bounds.gte, bounds.lt, visit);
    return { items, count, fetches };
  }

  /**
   * The planned kvs: uncommitted ones from memory (looked up before the first
   * await), the rest from the backend. A fetched live value enters the value
   * cache if the key still has that revision (cacheLive false: a write about
   * to replace it).
   */
  private async materialize(items: PlanItem[], cacheLive = true): Promise<KeyValue[]> {
    const out: KeyValue[] = new Array<KeyValue>(items.length);
    const missing: number[] = [];
    items.forEach((item, i) => {
      if (isKv(item)) {
        out[i] = item;
        return;
      }
      const pending = this.uncommittedValues.get(revisionId(item.main, item.sub));
      if (pending !== undefined) out[i] = pending;
      else missing.push(i);
    });
    for (let start = 0; start < missing.length; start += limits.historyReadChunkKeysMax) {
      const chunk = missing.slice(start, start + limits.historyReadChunkKeysMax);
      const keys = chunk.map((i) => {
        const item = items[i] as FetchItem;
        return revisionKey(item.main, item.sub, false);
      });
      const values = await this.fetcher.fetch(keys);
      chunk.forEach((i, j) => {
        const v = values[j];
        assert(v !== undefined, 'a revision the index holds is in the backend');
        const kv = decodeRecord(v);
        out[i] = kv;
        const item = items[i] as FetchItem;
        if (cacheLive && item.liveKey !== undefined) this.cacheIfLive(item.liveKey, item, kv);
      });
    }
    return out;
  }

  private cacheIfLive(keyStr: string, rev: FetchItem, kv: KeyValue): void {
    const entry = this.index.get(keyStr);
    if (entry !== undefined && isLiveRevision(entry, rev.main, rev.sub)) this.values.set(keyStr, kv);
  }

  private readBegin(atRev: number): void {
    this.readsInFlight.set(atRev, (this.readsInFlight.get(atRev) ?? 0) + 1);
  }

  private readEnd(atRev: number): void {
    const n = this.readsInFlight.get(atRev);
    assert(n !== undefined && n > 0, 'read was registered');
    if (n === 1) this.readsInFlight.delete(atRev);
    else this.readsInFlight.set(atRev, n - 1);
    this.wakeReadDrainWaiters();
  }

  private wakeReadDrainWaiters(): void {
    const waiters = this.readDrainWaiters;
    this.readDrainWaiters = [];
    for (const w of waiters) w();
  }

  private hasReadBelow(rev: number): boolean {
    for (const r of this.readsInFlight.keys()) if (r < rev) return true;
    return false;
  }

  /** Resolves once no read below rev is in flight (new ones are refused as compacted), or on close. */
  private async readsDrainedBelow(rev: number): Promise<void> {
    while (this.hasReadBelow(rev) && !this.closed) {
      await new Promise<void>((resolve) => this.readDrainWaiters.push(resolve));
    }
  }

  // ---- compaction ----

  private scheduleIndexCompaction(rev: number): Promise<DroppedRevision[]> {
    const job = this.indexCompaction.then(() => this.compactIndex(rev));
    this.indexCompaction = job.catch(() => undefined);
    return job;
  }

  /**
   * etcd's treeIndex.Compact, a slice of keys per event-loop turn. Safe to
   * interleave with reads and writes: a key not yet compacted answers every
   * read at >= rev exactly as a compacted one (reads below rev are refused
   * already), and writes only append revisions above rev.
   */
  private async compactIndex(rev: number): Promise<DroppedRevision[]> {
    // A read below rev may still plan from the index after an await (a read-only txn that fetched compare values first).
    await this.readsDrainedBelow(rev);
    const dropped: DroppedRevision[] = [];
    let cursor: string | undefined = '';
    while (cursor !== undefined && !this.closed) {
      const slice: Array<[string, KeyEntry]> = [];
      for (const e of this.index.range(cursor, undefined)) {
        slice.push(e);
        if (slice.length >= this.indexKeysPerTurn) break;
      }
      for (const [k, entry] of slice) if (compactEntry(entry, rev, dropped)) this.index.delete(k);
      const last = slice[slice.length - 1];
      // k + '\0' is the smallest key after k.
      cursor = slice.length < this.indexKeysPerTurn || last === undefined ? undefined : last[0] + '\x00';
      if (cursor !== undefined) await yieldTurn();
    }
    return dropped;
  }

  private kickGc(): void {
    if (this.gcRunning !== undefined || this.gcQueue.length === 0 || this.closed) return;
    this.gcRunning = this.runGc()
      .catch((e: unknown) => {
        this.gcError = e;
      })
      .finally(() => {
        this.gcRunning = undefined;
      });
  }

  /**
   * Deletes compacted revisions in revision order, a batch at a time. Order
   * matters for crash safety: a partial run removes a prefix of each key's
   * history, so the tombstone that ends a generation outlives its puts and
   * a restart cannot resurrect a deleted key.
   */
  private async runGc(): Promise<void> {
    while (!this.closed) {
      const task = this.gcQueue[0];
      if (task === undefined) return;
      await this.readsDrainedBelow(task.compactRev);
      const dropped = await task.dropped;
      dropped.sort((a, b) => a.main - b.main || a.sub - b.sub);
      for (let i = 0; i < dropped.length && !this.closed; i += this.gcBatchKeys) {
        const batch = dropped.slice(i, i + this.gcBatchKeys);
        await this.backend.write(
          batch.map((d) => ({ type: 'del' as const, key: revisionKey(d.main, d.sub, d.tombstone) })),
          { sync: false },
        );
        await yieldTurn();
      }
      if (!this.closed) this.gcQueue.shift();
    }
  }

  /** Resolves once background compaction has caught up (for tests and defrag). */
  async compactionSettled(): Promise<void> {
    await this.indexCompaction;
    while (this.gcRunning !== undefined) await this.gcRunning;
    if (this.gcError !== undefined) throw this.gcError;
  }

  private checkOpen(): void {
    if (this.closed) throw new EtcdError('Stopped');
  }
}

function revisionId(main: number, sub: number): string {
  return `${main}_${sub}`;
}

function isKv(item: PlanItem): item is KeyValue {
  return !('main' in item);
}

/** A planned item that must already be in memory (a write fetches what it reads before it stages anything). */
function resolved(item: PlanItem): KeyValue {
  assert(isKv(item), 'a write fetched every value it reads first');
  return item;
}

function overlayInBounds(stage: Stage, bounds: KeyBounds): Array<[string, KeyValue | undefined]> {
  const out: Array<[string, KeyValue | undefined]> = [];
  for (const e of stage.overlay) if (inBounds(bounds, e[0])) out.push(e);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
