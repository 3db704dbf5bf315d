// etcd's backend batching: applied changes wait in memory (the raft log has
// them) until --backend-batch-limit entries or --backend-batch-interval has
// passed, so one backend write carries many applies. Every write carries the
// consistent index (the last applied raft index) in the same batch as the
// changes it covers, so a restart replays the raft log from exactly after it.
// Whatever reads the backend directly (history, hashes, snapshots) flushes first.
import { assert, limits, type TimerHandle, type Timers } from '../util';
import type { MvccStore } from '../mvcc';

/** Stages a meta record for the next backend write; undefined deletes it. */
export type MetaWrite = (name: string, value: Buffer | undefined) => void;

export const consistentIndexMeta = 'consistent_index';

export interface BackendCommitOptions {
  batchIntervalMs: number;
  batchLimit: number;
}

function indexBytes(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

export function decodeConsistentIndex(b: Buffer | undefined): number {
  return b === undefined ? 0 : Number(b.readBigUInt64BE(0));
}

export class BackendCommitter {
  /** Meta records (leases, alarms, members) to write with the next commit; bounded by what one batch applies. */
  private pendingMeta: Array<[string, Buffer | undefined]> = [];
  /** The backend write of earlier apply batches, running in the background (one at a time). */
  private inFlight: Promise<void> | undefined;
  /** Entries applied (in memory) since the last commit was started; bounded by limits.storeUncommittedEntriesMax. */
  private uncommittedEntries = 0;
  /** Applied index and revision the backend holds (as of the last finished commit). */
  private committedIndexValue: number;
  private committedRevision: number;
  private appliedIndex: number;
  private commitsStarted = 0;
  private commitsDone = 0;
  /** The next commit is synced (before the raft log is compacted past it). */
  private syncNext = false;
  private applying = false;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private store: MvccStore,
    appliedIndex: number,
    private readonly options: BackendCommitOptions,
    private readonly timers: Timers,
    private readonly fatal: (e: unknown) => void,
  ) {
    this.appliedIndex = appliedIndex;
    this.committedIndexValue = appliedIndex;
    this.committedRevision = store.currentRevision();
  }

  readonly meta: MetaWrite = (name, value) => {
    this.pendingMeta.push([name, value]);
  };

  get committedIndex(): number {
    return this.committedIndexValue;
  }

  /** An apply batch starts: no commit may start until it ends (the store would be half applied). */
  beginApply(): void {
    this.applying = true;
  }

  /** One entry applied in memory. */
  applied(index: number): void {
    assert(index > this.appliedIndex, 'applied indexes strictly increase');
    this.appliedIndex = index;
    this.uncommittedEntries++;
  }

  endApply(): void {
    this.applying = false;
  }

  /** After an apply batch: commit now if the batch limit is reached, else within the batch interval. */
  schedule(): void {
    if (this.stopped) return;
    if (this.uncommittedEntries >= limits.storeUncommittedEntriesMax || this.uncommittedEntries >= this.options.batchLimit) {
      this.kick();
      return;
    }
    if (this.timer !== undefined) return;
    if (this.uncommittedEntries === 0 && this.pendingMeta.length === 0) return;
    this.timer = this.timers.after(this.options.batchIntervalMs, () => {
      this.timer = undefined;
      this.kick();
    });
  }

  /** Whether so much is applied in memory that the apply loop should wait for the backend. */
  overfull(): boolean {
    return this.uncommittedEntries >= limits.storeUncommittedEntriesMax;
  }

  /** Resolves once everything applied so far is in the backend (on stable storage if sync). */
  async flush(sync: boolean): Promise<void> {
    const target = this.appliedIndex;
    let syncSeq = 0;
    if (sync) {
      this.syncNext = true;
      // Whether or not a commit is running, the next one to start is the synced one.
      syncSeq = this.commitsStarted + 1;
    }
    await this.waitFor(() => this.committedIndexValue >= target && this.commitsDone >= syncSeq);
  }

  /** Waits until the backend holds revision `revision` (catch-up reads of history come from the backend). */
  async waitRevision(revision: number): Promise<void> {
    await this.waitFor(() => this.committedRevision >= revision);
  }

  /** The store was replaced (a snapshot from the leader) after a flush: start over from its state. */
  reset(store: MvccStore, appliedIndex: number): void {
    assert(this.inFlight === undefined, 'the store is replaced only when no commit is running');
    this.store = store;
    this.pendingMeta = [];
    this.uncommittedEntries = 0;
    this.appliedIndex = appliedIndex;
    this.committedIndexValue = appliedIndex;
    this.committedRevision = store.currentRevision();
  }

  stop(): void {
    this.stopped = true;
    this.timers.cancel(this.timer);
    this.timer = undefined;
  }

  private async waitFor(done: () => boolean): Promise<void> {
    for (let turn = 0; !done(); turn++) {
      assert(turn < limits.storeCommitWaitTurnsMax, 'what was applied reaches the store backend');
      if (this.inFlight !== undefined) await this.inFlight;
      else if (this.applying) await new Promise((r) => setImmediate(r));
      else this.kick(true);
    }
  }

  /**
   * Starts writing everything applied so far, unless a commit is already running (it starts
   * the next one when done) or an apply batch is half done.
   */
  private kick(force = false): void {
    if (this.inFlight !== undefined || this.applying) return;
    if (this.stopped && !force) return;
    if (this.uncommittedEntries === 0 && this.pendingMeta.length === 0 && !this.syncNext) return;
    this.timers.cancel(this.timer);
    this.timer = undefined;
    const meta = this.pendingMeta;
    this.pendingMeta = [];
    meta.push([consistentIndexMeta, indexBytes(this.appliedIndex)]);
    const revision = this.store.currentRevision();
    const index = this.appliedIndex;
    const sync = this.syncNext;
    const seq = ++this.commitsStarted;
    this.syncNext = false;
    this.uncommittedEntries = 0;
    this.inFlight = this.store.commit(meta, { sync }).then(
      () => {
        this.committedRevision = revision;
        this.committedIndexValue = index;
        this.commitsDone = seq;
        this.inFlight = undefined;
        if (this.syncNext) this.kick(true); else this.schedule();
      },
      (e: unknown) => {
        this.inFlight = undefined;
        this.fatal(e);
        throw e;
      },
    );
  }
}
