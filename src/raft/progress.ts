// What a leader knows about one follower's log, and the flow control for
// sending it entries (etcd-io/raft's Progress and Inflights, from the paper's
// matchIndex/nextIndex plus pipelining).
//
//  probe:     we do not know where the follower's log ends; send one MsgApp
//             at a time and wait for the answer (or a heartbeat answer).
//  replicate: the follower is caught up to `match`; stream entries
//             optimistically, up to maxInflightMsgs / maxInflightBytes.
//  snapshot:  the follower needs a snapshot; send nothing until it reports.
import { assert } from '../util';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A ring of the last index (and byte size) of each MsgApp in flight. */
export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: number[] = [];
  private readonly sizes: number[] = [];

  constructor(private readonly maxMsgs: number, private readonly maxBytes: number) {
    assert(maxMsgs > 0, 'inflight message limit must be positive');
    assert(maxBytes > 0, 'inflight byte limit must be positive');
  }

  add(index: number, bytes: number): void {
    assert(!this.full(), 'inflights are full');
    if (this.count > 0) assert(index > this.lastIndex(), 'inflight indexes must increase');
    const slot = (this.start + this.count) % this.maxMsgs;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ to (the follower acknowledged up to it). */
  freeLE(to: number): void {
    while (this.count > 0 && (this.indexes[this.start] as number) <= to) {
      this.bytes -= this.sizes[this.start] as number;
      this.start = (this.start + 1) % this.maxMsgs;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest message: a heartbeat answer suggests it was lost, so let the flow probe on. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.indexes[this.start] as number);
  }

  full(): boolean {
    return this.count === this.maxMsgs || this.bytes >= this.maxBytes;
  }

  size(): number {
    return this.count;
  }

  sizeBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }

  private lastIndex(): number {
    return this.indexes[(this.start + this.count - 1) % this.maxMsgs] as number;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** In probe state: a MsgApp is out; wait for its answer or a heartbeat answer. */
  probeSent = false;
  /** The latest heartbeat round this follower acknowledged (for ReadIndex and the lease). */
  ackedRound = 0;
  readonly inflights: Inflights;

  constructor(next: number, readonly isLearner: boolean, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged entries up to n; false if that is old news. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    this.checkInvariant();
    return updated;
  }

  /**
   * The follower rejected a MsgApp at index `rejected`, hinting its log
   * diverges at or below `matchHint`. False if the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe: only the answer to the last probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    this.checkInvariant();
    return true;
  }

  /** Records a MsgApp carrying entries up to lastIndex (bytes of entries) just sent. */
  sentEntries(count: number, lastIndex: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.next = lastIndex + 1;
          this.inflights.add(lastIndex, bytes);
        }
        break;
      case 'probe':
        this.probeSent = true;
        break;
      case 'snapshot':
        assert(false, 'sending entries to a follower in snapshot state');
    }
    this.checkInvariant();
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  private checkInvariant(): void {
    assert(this.match < this.next, 'progress must keep match < next');
  }
}
