// Where leases live on disk and how keys follow them: lease records are meta
// entries of the MVCC store, written in the same backend batch as the applies
// that changed them; attachments are rebuilt from the store's live keys on
// open and kept current from the store's events.
import { EventType, type Event, type MvccStore } from '../mvcc';
import type { Lessor, LeaseRecord } from './lessor';

export const leaseMetaPrefix = 'lease/';

export function leaseMetaName(id: bigint): string {
  return leaseMetaPrefix + BigInt.asUintN(64, id).toString(16).padStart(16, '0');
}

export function encodeLeaseRecord(r: LeaseRecord): Buffer {
  return Buffer.from(JSON.stringify({ id: r.id.toString(), ttl: r.ttlSeconds, remaining: r.remainingTtlSeconds }));
}

export function decodeLeaseRecord(b: Buffer): LeaseRecord {
  const o = JSON.parse(b.toString('utf8')) as { id: string; ttl: number; remaining: number };
  return { id: BigInt(o.id), ttlSeconds: o.ttl, remainingTtlSeconds: o.remaining };
}

/** The meta write that persists lease `id` as the lessor holds it now (undefined: it is gone). */
export function leaseMetaOp(lessor: Lessor, id: bigint): [string, Buffer | undefined] {
  return [leaseMetaName(id), lessor.has(id) ? encodeLeaseRecord(lessor.record(id)) : undefined];
}

/**
 * Fills an empty lessor from the store: the persisted leases, then the keys
 * attached to them. Returns the keys that name a lease that does not exist.
 */
export async function loadLeases(store: MvccStore, lessor: Lessor): Promise<Buffer[]> {
  for (const [, value] of await store.metaEntries(leaseMetaPrefix)) lessor.restore(decodeLeaseRecord(value));
  const orphans: Buffer[] = [];
  for (const kv of store.liveKvs()) {
    if (kv.lease === 0n) continue;
    if (lessor.has(kv.lease)) lessor.attach(kv.lease, kv.key);
    else orphans.push(kv.key);
  }
  return orphans;
}

/**
 * Keeps attachments current with one write's events. An event's prevKv is the
 * key before the whole txn, so a key changed twice in one txn (put, then
 * deleted through a "\0" range end) is followed through the txn here.
 */
export function trackLeaseAttachments(lessor: Lessor, events: readonly Event[]): void {
  const leaseNow = new Map<string, bigint>();
  for (const ev of events) {
    const key = ev.kv.key.toString('latin1');
    const before = leaseNow.get(key) ?? ev.prevKv?.lease ?? 0n;
    if (before !== 0n) lessor.detach(before, ev.kv.key);
    const after = ev.type === EventType.Put ? ev.kv.lease : 0n;
    if (after !== 0n) lessor.attach(after, ev.kv.key);
    leaseNow.set(key, after);
  }
}
