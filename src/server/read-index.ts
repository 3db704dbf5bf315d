// Linearizable reads (etcd's linearizable read loop): a read waits until this
// member has applied everything committed when it arrived, as learned by a
// ReadIndex round. Reads arriving in one event-loop turn share a round, and
// only one round is out at a time, so reads that arrive meanwhile share the
// next one; a round unanswered for a heartbeat interval no longer holds the
// next one back.
import { EtcdError, limits, type Clock, type TimerHandle, type Timers } from '../util';
import { isRaftError, type ReadState, type RaftError } from '../raft';

/** What reads need from raft and the applier. */
export interface ReadIndexRaft {
  leader(): bigint;
  readIndex(): Uint8Array | RaftError;
  commitIndex(): number;
  appliedIndex(): number;
  kick(): void;
}

interface ReadBatch {
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
  /** Set once raft answered this batch's ReadIndex. */
  index: number | undefined;
  timer: TimerHandle | undefined;
  /** When its ReadIndex round started (monotonic ms), once it did. */
  sentMs?: number;
}

export class ReadIndexer {
  private currentBatch: ReadBatch | undefined;
  private retryTimer: TimerHandle | undefined;
  /** Rounds out, by request context; bounded by raft's own limit on pending ReadIndex requests. */
  private readonly batches = new Map<string, ReadBatch>();
  private readonly appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  private stopped = false;

  constructor(
    private readonly raft: ReadIndexRaft,
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly heartbeatMs: number,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves once this member has applied everything committed when the read arrived. */
  barrier(): Promise<void> {
    if (this.stopped) return Promise.reject(new EtcdError('Stopped'));
    return new Promise<void>((resolve, reject) => {
      let batch = this.currentBatch;
      if (batch === undefined) {
        const fresh: ReadBatch = { waiters: [], index: undefined, timer: undefined };
        fresh.timer = this.timers.after(this.timeoutMs, () => this.failBatch(fresh, new EtcdError('Timeout')));
        this.currentBatch = batch = fresh;
        // Every read arriving in this turn shares one ReadIndex round (or the next one, if a round is out).
        setImmediate(() => this.maybeSend());
      }
      batch.waiters.push({ resolve, reject });
    });
  }

  /** Resolves once everything committed now has been applied locally. */
  appliedToCommit(): Promise<void> {
    const commit = this.raft.commitIndex();
    if (this.raft.appliedIndex() >= commit) return Promise.resolve();
    if (this.appliedWaiters.length >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    return new Promise((resolve) => this.appliedWaiters.push({ index: commit, resolve }));
  }

  onReadStates(rs: readonly ReadState[]): void {
    for (const r of rs) {
      const batch = this.batches.get(Buffer.from(r.requestCtx).toString('hex'));
      if (batch !== undefined) batch.index = r.index;
    }
    this.onApplied();
    this.maybeSend();
  }

  /** The applied index moved: release the reads it satisfies. */
  onApplied(): void {
    const applied = this.raft.appliedIndex();
    let kept = 0;
    for (const w of this.appliedWaiters) {
      if (w.index <= applied) w.resolve(); else this.appliedWaiters[kept++] = w;
    }
    this.appliedWaiters.length = kept;
    for (const [key, batch] of this.batches) {
      if (batch.index === undefined || batch.index > applied) continue;
      this.batches.delete(key);
      this.timers.cancel(batch.timer);
      for (const w of batch.waiters) w.resolve();
    }
  }

  /** A leader is known again: a batch that waited for one starts its round. */
  leaderKnown(): void {
    if (this.currentBatch !== undefined && this.currentBatch.index === undefined) this.send();
  }

  close(): void {
    this.stopped = true;
    this.timers.cancel(this.retryTimer);
    for (const b of [...this.batches.values(), ...(this.currentBatch ? [this.currentBatch] : [])]) {
      this.timers.cancel(b.timer);
      for (const w of b.waiters) w.reject(new EtcdError('Stopped'));
    }
    this.batches.clear();
    this.currentBatch = undefined;
  }

  private maybeSend(): void {
    if (this.currentBatch === undefined || this.stopped) return;
    const now = this.clock.nowMs();
    for (const b of this.batches.values()) {
      if (b.index !== undefined || b.sentMs === undefined) continue;
      const waitMs = b.sentMs + this.heartbeatMs - now;
      if (waitMs <= 0) continue;
      this.retryTimer ??= this.timers.after(Math.ceil(waitMs), () => {
        this.retryTimer = undefined;
        this.maybeSend();
      });
      return;
    }
    this.send();
  }

  private send(): void {
    const batch = this.currentBatch;
    if (batch === undefined || this.stopped) return;
    if (this.raft.leader() === 0n) return; // retried when a leader appears (leaderKnown)
    const ctx = this.raft.readIndex();
    if (isRaftError(ctx)) return;
    this.currentBatch = undefined;
    batch.sentMs = this.clock.nowMs();
    this.batches.set(Buffer.from(ctx).toString('hex'), batch);
    this.raft.kick();
  }

  private failBatch(batch: ReadBatch, e: unknown): void {
    if (this.currentBatch === batch) this.currentBatch = undefined;
    for (const [key, b] of this.batches) if (b === batch) this.batches.delete(key);
    for (const w of batch.waiters) w.reject(e);
  }
}
