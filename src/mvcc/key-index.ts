// etcd's keyIndex: the revisions of one key. A generation runs from a put on
// a missing key to the delete that ends it (its tombstone). Millions of keys
// must stay cheap, so an entry is one small object: the newest revision and
// the live generation's createRevision, version and lease sit in fields, and
// older revisions, when there are any, in one flat array of (main, sub)
// pairs, oldest first. A tombstone's sub is stored as -(sub + 1): generations
// need no arrays of their own, they end where a negative sub is.
//
// Values are not here: they live in the backend, and a bounded cache of live
// kvs (ValueCache, below) keeps the recently written and read ones.
import { assert } from '../util';
import type { KeyValue } from './types';

const noLease = 0n;

export class KeyEntry {
  constructor(
    /** The newest revision's main; with sub < 0 it is a tombstone and the key is deleted. */
    public main: number,
    public sub: number,
    /** The live generation's; 0 when deleted. */
    public createRevision: number,
    public version: number,
    public lease: bigint,
    /** Revisions before the newest, as (main, sub) pairs; undefined when there are none (the common case). */
    public older: number[] | undefined,
  ) {}
}

function tombstoneSub(sub: number): number {
  return -(sub + 1);
}

function realSub(stored: number): number {
  return stored < 0 ? -stored - 1 : stored;
}

/** An entry for a key created by a put at (main, sub). */
export function newKeyEntry(main: number, sub: number, createRevision: number, version: number, lease: bigint): KeyEntry {
  assert(sub >= 0, 'revision sub is non-negative');
  return new KeyEntry(main, sub, createRevision, version, lease === noLease ? noLease : lease, undefined);
}

export function isLive(e: KeyEntry): boolean {
  return e.sub >= 0;
}

function assertAfterNewest(e: KeyEntry, main: number, sub: number): void {
  assert(main > e.main || (main === e.main && sub > realSub(e.sub)), 'key index revisions increase');
}

function pushNewest(e: KeyEntry): void {
  if (e.older === undefined) e.older = [e.main, e.sub];
  else e.older.push(e.main, e.sub);
}

/** A put at (main, sub): a new version of a live key, or the first of a new generation of a deleted one. */
export function appendPut(e: KeyEntry, main: number, sub: number, createRevision: number, version: number, lease: bigint): void {
  assert(sub >= 0, 'revision sub is non-negative');
  assertAfterNewest(e, main, sub);
  pushNewest(e);
  e.main = main;
  e.sub = sub;
  e.createRevision = createRevision;
  e.version = version;
  e.lease = lease === noLease ? noLease : lease;
}

export function appendTombstone(e: KeyEntry, main: number, sub: number): void {
  assert(sub >= 0, 'revision sub is non-negative');
  assert(isLive(e), 'tombstone ends a live generation');
  assertAfterNewest(e, main, sub);
  pushNewest(e);
  e.main = main;
  e.sub = tombstoneSub(sub);
  e.createRevision = 0;
  e.version = 0;
  e.lease = noLease;
}

/**
 * The (main, sub) revision holding the key's value at atRev, or undefined if
 * the key was not live then: the newest revision <= atRev, unless that is a
 * tombstone.
 */
export function revisionAt(e: KeyEntry, atRev: number): [number, number] | undefined {
  if (e.main <= atRev) return e.sub >= 0 ? [e.main, e.sub] : undefined;
  const o = e.older;
  if (o === undefined) return undefined;
  for (let i = o.length - 2; i >= 0; i -= 2) {
    if ((o[i] as number) <= atRev) {
      const sub = o[i + 1] as number;
      return sub >= 0 ? [o[i] as number, sub] : undefined;
    }
  }
  return undefined;
}

/** True if (main, sub) is the key's newest revision and the key is live. */
export function isLiveRevision(e: KeyEntry, main: number, sub: number): boolean {
  return e.sub >= 0 && e.main === main && e.sub === sub;
}

export interface DroppedRevision {
  main: number;
  sub: number;
  tombstone: boolean;
}

/**
 * etcd's keyIndex.compact: keep the newest revision <= atRev unless it is a
 * tombstone, and everything newer. Pushes the dropped revisions (all <=
 * atRev) to dropped; returns true if nothing is left.
 */
export function compactEntry(e: KeyEntry, atRev: number, dropped: DroppedRevision[]): boolean {
  const o = e.older;
  if (e.main <= atRev) {
    // Everything is <= atRev: only the newest can stay, and only if it is live.
    if (o !== undefined) dropPairs(o, o.length, dropped);
    e.older = undefined;
    if (e.sub >= 0) return false;
    dropped.push({ main: e.main, sub: realSub(e.sub), tombstone: true });
    return true;
  }
  if (o === undefined) return false;
  let k = -1;
  for (let i = o.length - 2; i >= 0; i -= 2) {
    if ((o[i] as number) <= atRev) {
      k = i;
      break;
    }
  }
  if (k < 0) return false;
  const cut = (o[k + 1] as number) < 0 ? k + 2 : k;
  if (cut === 0) return false;
  dropPairs(o, cut, dropped);
  e.older = cut >= o.length ? undefined : o.slice(cut);
  return false;
}

function dropPairs(o: number[], end: number, dropped: DroppedRevision[]): void {
  for (let i = 0; i < end; i += 2) {
    const sub = o[i + 1] as number;
    dropped.push({ main: o[i] as number, sub: realSub(sub), tombstone: sub < 0 });
  }
}

/** Every revision of the entry, oldest first (for tests and checks). */
export function revisionsOf(e: KeyEntry): DroppedRevision[] {
  const out: DroppedRevision[] = [];
  if (e.older !== undefined) dropPairs(e.older, e.older.length, out);
  out.push({ main: e.main, sub: realSub(e.sub), tombstone: e.sub < 0 });
  return out;
}

// ---- the value cache ----

/**
 * Bytes charged per cached kv beyond its key and value bytes: the map entry,
 * the kv object and the two Buffer views on the arena (measured: ~270 with
 * 256-byte values), rounded up.
 */
export const valueCacheEntryOverheadBytes = 288;
/** Bytes of one arena: keys and values are copied into these, a generation's arenas die with it. */
const arenaBytes = 64 * 1024;
/** Longer keys or values get a buffer of their own (an arena would waste up to this much at its end). */
const arenaPieceBytesMax = 4 * 1024;

function charge(kv: KeyValue): number {
  return kv.key.length + kv.value.length + valueCacheEntryOverheadBytes;
}

/** One generation: its kvs and the arenas their bytes live in. */
class Generation {
  readonly kvs = new Map<string, KeyValue>();
  bytes = 0;
  private arena: Buffer = Buffer.alloc(0);
  private arenaUsed = 0;

  /** A copy of b in this generation's memory: nothing the caller holds (a request, a raft entry) stays reachable from the cache. */
  copy(b: Buffer): Buffer {
    if (b.length === 0) return emptyBytes;
    if (b.length > arenaPieceBytesMax) return Buffer.from(b);
    if (this.arenaUsed + b.length > this.arena.length) {
      this.arena = Buffer.allocUnsafeSlow(arenaBytes);
      this.arenaUsed = 0;
    }
    const out = this.arena.subarray(this.arenaUsed, this.arenaUsed + b.length);
    b.copy(out);
    this.arenaUsed += b.length;
    return out;
  }
}

const emptyBytes = Buffer.alloc(0);

function dropFrom(g: Generation, key: string): boolean {
  const kv = g.kvs.get(key);
  if (kv === undefined) return false;
  g.kvs.delete(key);
  g.bytes -= charge(kv);
  return true;
}

/**
 * The kvs of live keys that were written or read lately, in two generations
 * of at most bytesMax / 2 each: new and refreshed kvs go to the young one;
 * once it is full it becomes the old one and the old one is dropped whole.
 * That is LRU to within a factor of two with O(1) work per call (an exact
 * LRU on one Map must skip the holes its evictions leave at its front).
 *
 * A hit answers the cached kv itself, no copy, as the store did when it kept
 * every live kv: a range of many keys then allocates nothing per key. Keys
 * and values are copied into arenas owned by their generation (and copied
 * again when a hit moves them to the young one), so a dropped generation
 * frees its memory in large pieces instead of leaving Node's shared 8 KiB
 * pool slabs pinned by a few survivors, and the charged bytes stay close to
 * the memory held.
 *
 * The owner keeps it exact: set on every put, delete on every delete, so a
 * cached kv is always the key's live one. Callers never modify a kv they get.
 */
export class ValueCache {
  private young = new Generation();
  private old = new Generation();
  private readonly generationBytesMax: number;

  constructor(readonly bytesMax: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax >= 0, 'value cache bound is a non-negative integer');
    this.generationBytesMax = Math.floor(bytesMax / 2);
  }

  get size(): number {
    return this.young.kvs.size + this.old.kvs.size;
  }

  /** Bytes charged for what is cached now; never above bytesMax. */
  get bytes(): number {
    return this.young.bytes + this.old.bytes;
  }

  get(key: string): KeyValue | undefined {
    const young = this.young.kvs.get(key);
    if (young !== undefined) return young;
    const old = this.old.kvs.get(key);
    if (old === undefined) return undefined;
    dropFrom(this.old, key);
    return this.addYoung(key, old) ?? old;
  }

  has(key: string): boolean {
    return this.young.kvs.has(key) || this.old.kvs.has(key);
  }

  set(key: string, kv: KeyValue): void {
    this.delete(key);
    this.addYoung(key, kv);
  }

  delete(key: string): void {
    if (!dropFrom(this.young, key)) dropFrom(this.old, key);
  }

  /** Copies kv into the young generation (starting a new one if it is full); undefined if kv is too big to cache. */
  private addYoung(key: string, kv: KeyValue): KeyValue | undefined {
    const cost = charge(kv);
    if (cost > this.generationBytesMax) return undefined;
    if (this.young.bytes + cost > this.generationBytesMax) {
      this.old = this.young;
      this.young = new Generation();
    }
    const g = this.young;
    const copy: KeyValue = {
      key: g.copy(kv.key),
      value: g.copy(kv.value),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
      version: kv.version,
      lease: kv.lease,
    };
    g.kvs.set(key, copy);
    g.bytes += cost;
    assert(this.young.bytes + this.old.bytes <= this.bytesMax, 'value cache within its bound');
    return copy;
  }
}

/** A live key's kv from its index entry, with the given value. */
export function metaKv(keyStr: string, entry: KeyEntry, value: Buffer): KeyValue {
  return {
    key: Buffer.from(keyStr, 'latin1'),
    value,
    createRevision: entry.createRevision,
    modRevision: entry.main,
    version: entry.version,
    lease: entry.lease,
  };
}
