// ReadIndex (Raft thesis §6.4) and the leader's read lease.
//
// The leader numbers its heartbeat broadcasts ("rounds"); followers echo the
// round back. A read asked at commit index c is assigned the next round; once
// a quorum of voters has acknowledged that round, no other leader can have
// been elected when the read was asked, so c is a safe read index. Reads that
// arrive between two Readies share one round.
//
// The lease: a follower that acknowledged a heartbeat refuses to vote for
// electionTicks after receiving it (it is "in lease"). So from the tick a round
// was sent until electionTicks later, no new leader can exist if a quorum
// acknowledged that round, and the leader may answer reads without a round.
// A leader that orders a transfer (TimeoutNow) gives its lease up for the term,
// because the transferee's campaign bypasses the followers' lease.
import { assert, limits } from '../util';
import { bytesToHex } from './types';

/** A bounded FIFO with O(1) push/shift. */
export class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(capacity > 0, 'deque capacity must be positive');
  }

  get length(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  push(v: T): void {
    assert(!this.full(), 'deque is full');
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = v;
    this.count++;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return v;
  }

  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.head + i) % this.items.length];
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const size = Math.min(this.capacity, Math.max(8, this.items.length * 2));
    const next: (T | undefined)[] = new Array<T | undefined>(size);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}

export interface ReadRequest {
  readonly ctx: Uint8Array;
  /** Who asked: this node or the follower that forwarded the request. */
  readonly from: bigint;
  /** The leader's commit index when the request arrived. */
  readonly index: number;
  /** The heartbeat round that confirms it. */
  readonly round: number;
}

/** Leader side: rounds, their send ticks, and reads awaiting confirmation. */
export class LeaderReads {
  /** The last round broadcast. */
  round = 0;
  /** A request waits for a round that has not been broadcast yet. */
  roundPending = false;
  private readonly roundTicks = new Deque<number>(limits.raftHeartbeatRoundsMax);
  /** Round number of roundTicks.at(0). */
  private firstRound = 1;
  readonly requests = new Deque<ReadRequest>(limits.raftReadIndexPendingMax);
  /** Reads that arrived before the leader committed an entry of its term. */
  readonly beforeCommit = new Deque<{ ctx: Uint8Array; from: bigint }>(limits.raftReadIndexPendingMax);

  reset(): void {
    this.round = 0;
    this.roundPending = false;
    this.roundTicks.clear();
    this.firstRound = 1;
    this.requests.clear();
    this.beforeCommit.clear();
  }

  /** Starts the next round at tick; returns its number. */
  newRound(tick: number): number {
    if (this.roundTicks.full()) {
      this.roundTicks.shift();
      this.firstRound++;
    }
    this.roundTicks.push(tick);
    this.round++;
    assert(this.firstRound + this.roundTicks.length - 1 === this.round, 'round bookkeeping');
    this.roundPending = false;
    return this.round;
  }

  /** The tick round r was sent at, or null if it is unknown (too old, or not sent). */
  tickOf(r: number): number | null {
    if (r < this.firstRound || r > this.round) return null;
    return this.roundTicks.at(r - this.firstRound) ?? null;
  }

  /** Queues a read for the next round; false if too many are pending. */
  enqueue(ctx: Uint8Array, from: bigint, index: number): boolean {
    if (this.requests.full()) return false;
    this.requests.push({ ctx, from, index, round: this.round + 1 });
    this.roundPending = true;
    return true;
  }

  /** Removes and returns the reads confirmed by a quorum acknowledging round. */
  release(round: number): ReadRequest[] {
    const out: ReadRequest[] = [];
    for (;;) {
      const r = this.requests.peek();
      if (r === undefined || r.round > round) break;
      this.requests.shift();
      out.push(r);
    }
    return out;
  }
}

/**
 * Requester side: the IDs this node issued and still expects an answer for.
 * An ID is 24 bytes: member ID, a per-process nonce from the injected Random
 * (so a restarted member never matches answers meant for its previous life),
 * and a counter. Answers for unknown or already answered IDs are dropped.
 */
export class RequesterReads {
  private readonly pending = new Map<string, number>();
  private seq = 0n;
  private readonly prefix: Uint8Array;

  constructor(id: bigint, nonceHigh: number, nonceLow: number) {
    this.prefix = new Uint8Array(16);
    const dv = new DataView(this.prefix.buffer);
    dv.setBigUint64(0, id);
    dv.setUint32(8, nonceHigh >>> 0);
    dv.setUint32(12, nonceLow >>> 0);
  }

  full(): boolean {
    return this.pending.size >= limits.raftReadIndexPendingMax;
  }

  /** A fresh request ID, registered as pending since tick. */
  issue(tick: number): Uint8Array {
    assert(!this.full(), 'too many pending reads');
    this.seq++;
    const ctx = new Uint8Array(24);
    ctx.set(this.prefix, 0);
    new DataView(ctx.buffer).setBigUint64(16, this.seq);
    this.pending.set(bytesToHex(ctx), tick);
    return ctx;
  }

  /** True once for a pending ID (then forgets it). */
  take(ctx: Uint8Array): boolean {
    return this.pending.delete(bytesToHex(ctx));
  }

  /** Forgets requests issued before tick (their askers have given up). */
  expire(beforeTick: number): void {
    for (const [key, tick] of this.pending) {
      if (tick >= beforeTick) break;
      this.pending.delete(key);
    }
  }

  size(): number {
    return this.pending.size;
  }
}
