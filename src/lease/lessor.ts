// The lessor: leases, their TTLs and the keys attached to them. It never
// deletes keys itself: expiry yields lease IDs that the member turns into
// revoke requests (in a cluster, proposed through Raft by the leader only).
// Time comes from an injected Clock.
import { assert, EtcdError, limits, type Clock } from '../util';

export interface Lease {
  readonly id: bigint;
  /** TTL granted, in seconds (after the minimum-TTL rule). */
  readonly ttlSeconds: number;
  /** Monotonic ms at which the lease expires if not kept alive; Infinity while this member does not expire leases. */
  expiryMs: number;
  /** Keys attached, as latin1 strings (byte order preserved). */
  readonly keys: Set<string>;
  /** Seconds left when last checkpointed (etcd's remainingTTL); used once, at promotion. */
  checkpointSeconds: number | undefined;
}

/** What is persisted per lease (etcd's leasepb.Lease: ID, TTL, RemainingTTL). */
export interface LeaseRecord {
  id: bigint;
  ttlSeconds: number;
  remainingTtlSeconds: number;
}

export interface LessorOptions {
  clock: Clock;
  /** etcd's minimum TTL: ceil(1.5 × election timeout), in seconds. */
  minTtlSeconds: number;
}

export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  /** True while this member is the one that expires leases (the leader; always, for a single member). */
  private primary = false;
  /** Renewals of expired leases waiting for their revoke, by lease; bounded by limits.leaseRevokeWaitersMax. */
  private readonly goneWaiters = new Map<bigint, Array<(how: 'revoked' | 'demoted') => void>>();
  private goneWaiting = 0;

  constructor(private readonly options: LessorOptions) {
    assert(options.minTtlSeconds >= 1, 'minimum lease TTL is at least one second');
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  get(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  /** Validates a grant request before it is proposed; returns the TTL the lease will get. */
  checkGrant(id: bigint, ttlSeconds: number): number {
    if (ttlSeconds > limits.leaseTtlSecondsMax) throw new EtcdError('LeaseTTLTooLarge');
    if (this.leases.has(id)) throw new EtcdError('LeaseExist');
    if (this.leases.size >= limits.leasesMax) throw new EtcdError('TooManyRequests');
    return Math.max(ttlSeconds, this.options.minTtlSeconds);
  }

  /** Applies a grant. */
  grant(id: bigint, ttlSeconds: number): Lease {
    assert(id !== 0n, 'lease 0 means "no lease" and is never granted');
    const ttl = this.checkGrant(id, ttlSeconds);
    const lease: Lease = { id, ttlSeconds: ttl, expiryMs: Infinity, keys: new Set(), checkpointSeconds: undefined };
    if (this.primary) lease.expiryMs = this.options.clock.nowMs() + ttl * 1000;
    this.leases.set(id, lease);
    return lease;
  }

  /** Removes a revoked lease; its keys were deleted by the caller in the same apply. */
  remove(id: bigint): void {
    if (!this.leases.delete(id)) throw new EtcdError('LeaseNotFound');
    this.wakeGone(id, 'revoked');
  }

  /** Whether the primary's deadline for `id` has passed (its revoke is on its way). */
  isExpired(id: bigint): boolean {
    const lease = this.leases.get(id);
    return lease !== undefined && this.primary && lease.expiryMs <= this.options.clock.nowMs();
  }

  /**
   * Resolves once `id` is revoked, or once this lessor stops being the primary (etcd's Renew of an
   * expired lease waits for the revoke: the lease must not come back to life).
   */
  whenGone(id: bigint): Promise<'revoked' | 'demoted'> {
    if (!this.leases.has(id)) return Promise.resolve('revoked');
    if (!this.primary) return Promise.resolve('demoted');
    if (this.goneWaiting >= limits.leaseRevokeWaitersMax) throw new EtcdError('TooManyRequests');
    this.goneWaiting++;
    return new Promise((resolve) => {
      const list = this.goneWaiters.get(id) ?? [];
      list.push(resolve);
      this.goneWaiters.set(id, list);
    });
  }

  /** Keys to delete when `id` is revoked, in key order (one revision deletes them all). */
  keysOf(id: bigint): Buffer[] {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new EtcdError('LeaseNotFound');
    return [...lease.keys].sort().map((k) => Buffer.from(k, 'latin1'));
  }

  /** Renews a lease; returns its TTL. Only the primary renews (a follower forwards keepalives). */
  renew(id: bigint): number {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new EtcdError('LeaseNotFound');
    if (this.primary) lease.expiryMs = this.options.clock.nowMs() + lease.ttlSeconds * 1000;
    return lease.ttlSeconds;
  }

  /** Seconds left, truncated as etcd truncates (int64(remaining.Seconds())). */
  remainingSeconds(id: bigint): number {
    const lease = this.leases.get(id);
    if (lease === undefined) throw new EtcdError('LeaseNotFound');
    if (lease.expiryMs === Infinity) return lease.ttlSeconds;
    return Math.max(0, Math.trunc((lease.expiryMs - this.options.clock.nowMs()) / 1000));
  }

  ids(): bigint[] {
    return [...this.leases.keys()];
  }

  attach(id: bigint, key: Buffer): void {
    const lease = this.leases.get(id);
    // The store refused puts naming unknown leases; an attachment to a missing lease is a bug.
    assert(lease !== undefined, 'keys are attached only to existing leases');
    lease.keys.add(key.toString('latin1'));
  }

  detach(id: bigint, key: Buffer): void {
    this.leases.get(id)?.keys.delete(key.toString('latin1'));
  }

  /**
   * Makes this member the one that expires leases. Every lease gets a fresh
   * deadline of its remaining TTL plus `extendMs` (etcd's Promote), so that no
   * lease expires because of a restart or a leader change.
   */
  promote(extendMs: number): void {
    this.primary = true;
    const now = this.options.clock.nowMs();
    for (const lease of this.leases.values()) {
      lease.expiryMs = now + extendMs + (lease.checkpointSeconds ?? lease.ttlSeconds) * 1000;
      lease.checkpointSeconds = undefined;
    }
  }

  demote(): void {
    this.primary = false;
    for (const lease of this.leases.values()) lease.expiryMs = Infinity;
    for (const id of [...this.goneWaiters.keys()]) this.wakeGone(id, 'demoted');
  }

  private wakeGone(id: bigint, how: 'revoked' | 'demoted'): void {
    const list = this.goneWaiters.get(id);
    if (list === undefined) return;
    this.goneWaiters.delete(id);
    this.goneWaiting -= list.length;
    for (const w of list) w(how);
  }

  /** Leases past their deadline, oldest first, at most limits.leaseRevokesPerPassMax. */
  expired(): bigint[] {
    if (!this.primary) return [];
    const now = this.options.clock.nowMs();
    const out: Lease[] = [];
    for (const lease of this.leases.values()) if (lease.expiryMs <= now) out.push(lease);
    out.sort((a, b) => a.expiryMs - b.expiryMs);
    return out.slice(0, limits.leaseRevokesPerPassMax).map((l) => l.id);
  }

  /** Records to persist: TTL and the remaining TTL (so a restart resumes the countdown). */
  record(id: bigint): LeaseRecord {
    const lease = this.leases.get(id);
    assert(lease !== undefined, 'records are taken of existing leases');
    return { id, ttlSeconds: lease.ttlSeconds, remainingTtlSeconds: this.primary ? this.remainingSeconds(id) : lease.ttlSeconds };
  }

  /** Restores a persisted lease (before promote). */
  restore(r: LeaseRecord): void {
    assert(!this.leases.has(r.id), 'a lease is restored once');
    this.leases.set(r.id, { id: r.id, ttlSeconds: r.ttlSeconds, expiryMs: Infinity, keys: new Set(), checkpointSeconds: r.remainingTtlSeconds });
  }
}

/** etcd's lease ID generator: low 16 bits of the member ID, then milliseconds and a counter. */
export class LeaseIdGenerator {
  private suffix: bigint;
  private readonly prefix: bigint;

  constructor(memberId: bigint, wallClockMs: number) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(Math.floor(wallClockMs)) & ((1n << 40n) - 1n)) << 8n;
  }

  next(): bigint {
    for (;;) {
      this.suffix++;
      const id = (this.prefix | (this.suffix & ((1n << 48n) - 1n))) & ((1n << 63n) - 1n);
      if (id !== 0n) return id;
    }
  }
}

export function minLeaseTtlSeconds(electionTimeoutMs: number): number {
  return Math.ceil((1.5 * electionTimeoutMs) / 1000);
}
