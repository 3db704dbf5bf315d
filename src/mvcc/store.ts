// The MVCC store: etcd v3.5's mvcc + applier semantics over a Backend.
//
// Memory holds the key index (every key's revisions, etcd's keyIndex) and
// the current value of each live key, so reads at the current revision never
// touch the backend. Values at older revisions come from the backend, or from
// the uncommitted buffer for changes applied since the last commit.
//
// A write stages its changes and publishes them in one synchronous step at
// its end, so a concurrent read sees all of a write or none of it. Reads plan
// synchronously (resolve every key to a revision) and only then await values;
// compaction deletes backend revisions only once no read below the compact
// revision is in flight.
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { assert, EtcdError, limits } from '../util';
import type { Backend, BatchOp } from '../storage';
import { SortedStringMap } from '../storage';
import {
  decodeRecord,
  decodeRevision,
  decodeRevisionKey,
  encodeKeyValue,
  encodeRevision,
  encodeTombstone,
  metaKey,
  revisionKey,
  revisionKeyEnd,
  revisionKeyStart,
} from './codec';
import {
  appendPut,
  appendTombstone,
  compactEntry,
  type DroppedRevision,
  isLiveRevision,
  type KeyEntry,
  newKeyEntry,
  revisionAt,
} from './key-index';
import { compareHolds, fetchLimit, finishRange, inBounds, type KeyBounds, keyBounds } from './range-rules';
import {
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
}

export type EventListener = (events: Event[], revision: number) => void;

const currentRevisionMeta = 'mvcc/current_revision';
const compactRevisionMeta = 'mvcc/compact_revision';
const reservedMetaPrefix = 'mvcc/';

/** A kv already in memory, or a revision whose value must be fetched. */
type PlanItem = KeyValue | { main: number; sub: number };

interface Plan {
  items: PlanItem[];
  count: number;
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
}

/** Compare outcomes of a txn and of the nested txns on its chosen branch, all on the pre-txn state (etcd's txnPath). */
interface TxnPath {
  succeeded: boolean;
  nested: TxnPath[];
}

interface UncommittedRecord {
  main: number;
  sub: number;
  key: Buffer;
  kv: KeyValue | undefined;
}

interface GcTask {
  compactRev: number;
  /** Settles once the index compaction that feeds this task has run over every key. */
  dropped: Promise<DroppedRevision[]>;
}

export class MvccStore {
  private readonly index = new SortedStringMap<KeyEntry>();
  private currentRev = 1;
  /** -1: never compacted (etcd's compactMainRev starts there, so Compact(0) succeeds once). */
  private compactRev = -1;
  private compactDirty = false;

  // Bounded by what is applied between two commits (limits.storeUncommittedEntriesMax entries, plus one apply batch); commit empties both.
  private uncommitted: UncommittedRecord[] = [];
  private readonly uncommittedValues = new Map<string, KeyValue>();

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

  /** Every live key's current kv, in key order (e.g. for the lessor to re-attach keys after a restart). */
  *liveKvs(): Generator<KeyValue> {
    for (const [, entry] of this.index.range('', undefined)) if (entry.live !== undefined) yield entry.live;
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
      const path = this.comparePath(req);
      this.checkTxnPuts(req, path);
      this.checkTxnRanges(req, path);
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
      let entry = this.index.get(keyStr);
      if (rev.tombstone) {
        // A tombstone without its generation is what a half-done compaction leaves (etcd skips it too).
        if (entry === undefined || entry.live === undefined) {
          orphans.push({ main: rev.main, sub: rev.sub, tombstone: true });
          continue;
        }
        appendTombstone(entry, rev.main, rev.sub);
        entry.live = undefined;
        continue;
      }
      if (entry === undefined) {
        entry = newKeyEntry(rec.key);
        this.index.set(keyStr, entry);
      }
      appendPut(entry, rev.main, rev.sub);
      entry.live = rec;
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
    return { beginRev: this.currentRev, changes: [], overlay: new Map() };
  }

  private checkLease(lease: bigint): void {
    if (lease !== 0n && !this.options.leaseExists(lease)) throw new EtcdError('LeaseNotFound');
  }

  private stagedLive(stage: Stage | undefined, keyStr: string): KeyValue | undefined {
    if (stage !== undefined && stage.overlay.has(keyStr)) return stage.overlay.get(keyStr);
    return this.index.get(keyStr)?.live;
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
    const { kvs } = this.liveScan(stage, keyBounds(req.key, req.rangeEnd), 0, false);
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
      // Read your writes: revision 0 inside a write sees this txn's earlier changes.
      const { kvs, count } = this.liveScan(stage, keyBounds(req.key, req.rangeEnd), fetchLimit(req), req.countOnly);
      return finishRange(req, kvs, count, headerRev);
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

  /** Makes a write's changes visible at once: index, live values, revision, uncommitted buffer, events. */
  private publish(stage: Stage): void {
    if (stage.changes.length === 0) return;
    assert(stage.beginRev === this.currentRev, 'no other write published during this one');
    const rev = stage.beginRev + 1;
    const events: Event[] = stage.changes.map((c) => this.eventFor(c, rev));
    stage.changes.forEach((c, sub) => {
      let entry = this.index.get(c.keyStr);
      if (entry === undefined) {
        entry = newKeyEntry(c.key);
        this.index.set(c.keyStr, entry);
      }
      if (c.kv !== undefined) {
        appendPut(entry, rev, sub);
        this.uncommittedValues.set(revisionId(rev, sub), c.kv);
      } else {
        appendTombstone(entry, rev, sub);
      }
      entry.live = c.kv;
      this.uncommitted.push({ main: rev, sub, key: c.key, kv: c.kv });
    });
    assert(rev > this.currentRev, 'revisions strictly increase');
    this.currentRev = rev;
    for (const listener of this.listeners) listener(events, rev);
  }

  /** etcd's watch event: prevKv is the key at revision - 1 (before this txn), absent for a create. */
  private eventFor(c: Change, rev: number): Event {
    const before = this.index.get(c.keyStr)?.live;
    if (c.kv !== undefined) {
      const isCreate = c.kv.createRevision === c.kv.modRevision;
      return { type: EventType.Put, kv: c.kv, prevKv: isCreate ? undefined : before };
    }
    const kv: KeyValue = { key: c.key, createRevision: 0, modRevision: rev, version: 0, value: Buffer.alloc(0), lease: 0n };
    return { type: EventType.Delete, kv, prevKv: before };
  }

  // ---- txn ----

  private comparePath(req: TxnRequest): TxnPath {
    const succeeded = req.compare.every((c) => compareHolds(c, this.liveScan(undefined, keyBounds(c.key, c.rangeEnd), 0, false).kvs));
    const nested: TxnPath[] = [];
    for (const op of succeeded ? req.success : req.failure) if ('txn' in op) nested.push(this.comparePath(op.txn));
    return { succeeded, nested };
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
      if ((p.ignoreValue || p.ignoreLease) && this.stagedLive(undefined, p.key.toString('latin1')) === undefined) {
        throw new EtcdError('KeyNotFound');
      }
      this.checkLease(p.lease);
    });
  }

  private checkTxnRanges(req: TxnRequest, path: TxnPath): void {
    this.walkPath(req, path, (op) => {
      if (!('range' in op) || op.range.revision === 0) return;
      if (op.range.revision > this.currentRev) throw new EtcdError('FutureRev');
      if (op.range.revision < this.compactRev) throw new EtcdError('Compacted');
    });
  }

  /** A txn without put or delete: planned at one revision synchronously, so concurrent writes cannot tear it. */
  private async readTxn(req: TxnRequest): Promise<TxnResponse> {
    this.checkOpen();
    const rev = this.currentRev;
    const path = this.comparePath(req);
    this.checkTxnRanges(req, path);
    const responses = this.planReadOps(req, path, rev);
    return { revision: rev, succeeded: path.succeeded, responses: await resolveAll(responses) };
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
        out.push(resolveAll(inner).then((responses) => ({ txn: { revision: 0, succeeded: sub.succeeded, responses } })));
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
   * Plans synchronously (before the first await) and then fetches values:
   * everything a caller sees is as of atRev even if writes land meanwhile.
   */
  private runRange(req: RangeRequest, atRev: number, headerRev: number): Promise<RangeResponse> {
    const bounds = keyBounds(req.key, req.rangeEnd);
    if (atRev === this.currentRev) {
      const { kvs, count } = this.liveScan(undefined, bounds, fetchLimit(req), req.countOnly);
      return Promise.resolve(finishRange(req, kvs, count, headerRev));
    }
    const plan = this.historyScan(bounds, atRev, fetchLimit(req), req.countOnly);
    this.readBegin(atRev);
    return this.materialize(plan.items)
      .then((kvs) => finishRange(req, kvs, plan.count, headerRev))
      .finally(() => this.readEnd(atRev));
  }

  /** Live keys in bounds as seen by a write in progress (or by readers, with no stage). */
  private liveScan(stage: Stage | undefined, bounds: KeyBounds, limit: number, countOnly: boolean): { kvs: KeyValue[]; count: number } {
    const kvs: KeyValue[] = [];
    let count = 0;
    const take = (kv: KeyValue): void => {
      count++;
      if (!countOnly && (limit === 0 || kvs.length < limit)) kvs.push(kv);
    };
    if (bounds.empty) return { kvs, count };
    if (bounds.single) {
      const kv = this.stagedLive(stage, bounds.gte);
      if (kv !== undefined) take(kv);
      return { kvs, count };
    }
    const overlay = stage === undefined ? [] : overlayInBounds(stage, bounds);
    let oi = 0;
    for (const [k, entry] of this.index.range(bounds.gte, bounds.lt)) {
      while (oi < overlay.length && (overlay[oi] as [string, KeyValue | undefined])[0] < k) {
        const kv = (overlay[oi++] as [string, KeyValue | undefined])[1];
        if (kv !== undefined) take(kv);
      }
      if (stage !== undefined && stage.overlay.has(k)) continue; // the overlay's entry wins
      if (entry.live !== undefined) take(entry.live);
    }
    for (; oi < overlay.length; oi++) {
      const kv = (overlay[oi] as [string, KeyValue | undefined])[1];
      if (kv !== undefined) take(kv);
    }
    return { kvs, count };
  }

  private historyScan(bounds: KeyBounds, atRev: number, limit: number, countOnly: boolean): Plan {
    const items: PlanItem[] = [];
    let count = 0;
    const visit = (entry: KeyEntry): void => {
      const rev = revisionAt(entry, atRev);
      if (rev === undefined) return;
      count++;
      if (countOnly || (limit !== 0 && items.length >= limit)) return;
      const [main, sub] = rev;
      items.push(entry.live !== undefined && isLiveRevision(entry, main, sub) ? entry.live : { main, sub });
    };
    if (bounds.empty) return { items, count };
    if (bounds.single) {
      const entry = this.index.get(bounds.gte);
      if (entry !== undefined) visit(entry);
      return { items, count };
    }
    for (const [, entry] of this.index.range(bounds.gte, bounds.lt)) visit(entry);
    return { items, count };
  }

  private async materialize(items: PlanItem[]): Promise<KeyValue[]> {
    const out: KeyValue[] = new Array<KeyValue>(items.length);
    const missing: number[] = [];
    items.forEach((item, i) => {
      if (!('main' in item)) {
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
        const item = items[i] as { main: number; sub: number };
        return revisionKey(item.main, item.sub, false);
      });
      const values = await this.backend.getMany(keys);
      chunk.forEach((i, j) => {
        const v = values[j];
        assert(v !== undefined, 'a revision the index holds is in the backend');
        out[i] = decodeRecord(v);
      });
    }
    return out;
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
      while (this.hasReadBelow(task.compactRev) && !this.closed) {
        await new Promise<void>((resolve) => this.readDrainWaiters.push(resolve));
      }
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

function recordOp(r: UncommittedRecord): BatchOp {
  const tombstone = r.kv === undefined;
  return {
    type: 'put',
    key: revisionKey(r.main, r.sub, tombstone),
    value: r.kv === undefined ? encodeTombstone(r.key) : encodeKeyValue(r.kv),
  };
}

function revisionId(main: number, sub: number): string {
  return `${main}_${sub}`;
}

function overlayInBounds(stage: Stage, bounds: KeyBounds): Array<[string, KeyValue | undefined]> {
  const out: Array<[string, KeyValue | undefined]> = [];
  for (const e of stage.overlay) if (inBounds(bounds, e[0])) out.push(e);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function resolveAll(ops: Array<Promise<ResponseOp>>): Promise<ResponseOp[]> {
  return Promise.all(ops);
}

export function txnHasWrite(req: TxnRequest): boolean {
  const opWrites = (op: RequestOp): boolean => 'put' in op || 'deleteRange' in op || ('txn' in op && txnHasWrite(op.txn));
  return req.success.some(opWrites) || req.failure.some(opWrites);
}
