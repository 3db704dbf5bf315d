// Shared by the DurableRaftStorage tests and the crash child: random but
// raft-plausible write plans (appends with conflicting suffixes that never
// cut below the commit index, received snapshots, local snapshots with
// compaction), a MemoryStorage model they are applied to, and comparisons.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  MemoryStorage, isStorageError, makeConfState,
  type ConfState, type Entry, type HardState, type Snapshot, type Storage,
} from '../../src/raft';
import type { DurableRaftStorage } from '../../src/storage';

export type OpKind = 'save' | 'recv' | 'create' | 'stale' | 'reopen';

/** Raw random numbers an op is built from (fast-check generates them; the crash child draws them from its Rng). */
export interface OpSeed {
  kind: OpKind;
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
}

export type Plan =
  | { t: 'save'; hs: HardState | null; entries: Entry[]; snapshot: Snapshot | null }
  | { t: 'create'; i: number; confState: ConfState; data: Uint8Array; keep: number }
  | { t: 'stale'; i: number }
  | { t: 'reopen' }
  | { t: 'none' };

export interface Model {
  m: MemoryStorage;
  /** Highest term used so far: new entries take it, so terms never decrease along the log. */
  termClock: number;
}

export const bootstrapConfState: ConfState = makeConfState([1n, 2n, 3n]);

export function newModel(confState: ConfState = bootstrapConfState): Model {
  return { m: new MemoryStorage(confState), termClock: 1 };
}

function bytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function commitOf(m: MemoryStorage): number {
  return m.initialState().hardState.commit;
}

/** Turns a seed into a plan valid for the model's current state. */
export function plan(model: Model, s: OpSeed, maxKeep = 8): Plan {
  const m = model.m;
  const commit = commitOf(m);
  const snapIndex = m.snapshot().metadata.index;
  switch (s.kind) {
    case 'reopen':
      return { t: 'reopen' };
    case 'stale':
      return snapIndex > 0 ? { t: 'stale', i: snapIndex - (s.a % 2 === 0 ? 0 : Math.min(1, snapIndex)) } : { t: 'none' };
    case 'create': {
      if (commit <= snapIndex) return { t: 'none' };
      const i = snapIndex + 1 + (s.a % (commit - snapIndex));
      const voters = [1n + BigInt(s.b % 3), 5n];
      const confState = makeConfState(voters, s.c % 2 === 0 ? [] : [9n]);
      return { t: 'create', i, confState, data: bytes(s.d, s.d % 300), keep: s.e % (maxKeep + 1) };
    }
    case 'recv': {
      if (s.e % 2 === 0) model.termClock++;
      const index = Math.max(commit, snapIndex) + 1 + (s.a % 6);
      const term = model.termClock;
      const confState = makeConfState([1n, 2n, 3n + BigInt(s.b % 2)]);
      const snapshot: Snapshot = { metadata: { index, term, confState }, data: bytes(s.c, s.c % 200) };
      const count = s.d % 4;
      const entries: Entry[] = [];
      for (let k = 0; k < count; k++) entries.push({ index: index + 1 + k, term, type: 'normal', data: bytes(s.c + k, (s.c + k) % 40) });
      const hs: HardState = { term, vote: BigInt(s.b % 4), commit: index };
      return { t: 'save', hs, entries, snapshot };
    }
    case 'save':
      return planSave(model, s);
  }
}

function planSave(model: Model, s: OpSeed): Plan {
  const m = model.m;
  const commit = commitOf(m);
  const first = m.firstIndex();
  const last = m.lastIndex();
  if (s.e % 3 === 0) model.termClock++;
  // Sometimes start below the log start (raft may resend entries that were compacted meanwhile).
  const lo = Math.max(1, first - 2);
  const from = lo + (s.a % (last + 1 - lo + 1));
  let count = s.b % 7;
  // Committed entries are never truncated: a batch that starts at or below the commit index reaches past it.
  if (count > 0 && from <= commit && from + count - 1 < commit) count = commit - from + 1 + (s.b % 3);
  const entries: Entry[] = [];
  for (let k = 0; k < count; k++) {
    const index = from + k;
    const keepTerm = index <= commit && index >= first - 1 && index <= last;
    const term = keepTerm ? m.term(index) : model.termClock;
    const type = (s.c + k) % 5 === 0 ? 'confChange' : 'normal';
    entries.push({ index, term, type, data: bytes(s.c * 31 + k, (s.c + k) % 50) });
  }
  const lastNew = from + count - 1;
  const newLast = count > 0 && lastNew > first - 1 ? lastNew : last;
  const hs: HardState | null =
    s.d % 4 === 0 ? null : { term: model.termClock, vote: BigInt(s.d % 3), commit: commit + (s.c % (newLast - commit + 1)) };
  if (hs === null && entries.length === 0) return { t: 'none' };
  return { t: 'save', hs, entries, snapshot: null };
}

/** Applies a plan to the model the way the durable storage is meant to. */
export function applyToModel(model: Model, p: Plan): void {
  const m = model.m;
  if (p.t === 'save') {
    if (p.snapshot !== null) m.applySnapshot(p.snapshot);
    if (p.hs !== null) m.setHardState(p.hs);
    m.append(p.entries);
  } else if (p.t === 'create') {
    m.createSnapshot(p.i, p.confState, p.data);
    const compactTo = p.i - p.keep;
    if (compactTo > m.firstIndex() - 1) m.compact(compactTo);
  }
}

/** What the plans write through: DurableRaftStorage, and the WAL that replaces it. */
export type RaftLogWriter = Pick<DurableRaftStorage, 'save' | 'createSnapshotAndCompact'>;

/** Runs a plan against the durable storage (reopen is the caller's business). */
export async function applyToStorage(s: RaftLogWriter, p: Plan): Promise<void> {
  if (p.t === 'save') await s.save(p.hs, p.entries, p.snapshot);
  else if (p.t === 'create') await s.createSnapshotAndCompact(p.i, p.confState, p.data, p.keep);
  else if (p.t === 'stale') {
    await assert.rejects(
      s.createSnapshotAndCompact(p.i, makeConfState([1n]), new Uint8Array(0), 0),
      (e: unknown) => isStorageError(e, 'SnapshotOutOfDate'),
    );
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function entryView(e: Entry): string {
  return `${e.index}/${e.term}/${e.type}/${hex(e.data)}`;
}

function errorKind(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (isStorageError(e)) return e.kind;
    throw e;
  }
}

/** Every read raft makes gives the same answer from both. */
export function assertSameLog(got: Storage, want: Storage): void {
  assert.deepEqual(got.initialState(), want.initialState(), 'initialState');
  assert.equal(got.firstIndex(), want.firstIndex(), 'firstIndex');
  assert.equal(got.lastIndex(), want.lastIndex(), 'lastIndex');
  const first = want.firstIndex();
  const last = want.lastIndex();
  for (let i = first - 1; i <= last; i++) assert.equal(got.term(i), want.term(i), `term(${i})`);
  if (first >= 2) assert.equal(errorKind(() => got.term(first - 2)), 'Compacted', 'term below the log start');
  assert.equal(errorKind(() => got.term(last + 1)), 'Unavailable', 'term beyond the last entry');
  assert.deepEqual(got.entries(first, last + 1, Infinity).map(entryView), want.entries(first, last + 1, Infinity).map(entryView), 'entries');
  for (const maxBytes of [0, 40, 100]) {
    const lo = Math.min(first + 1, last + 1);
    assert.deepEqual(got.entries(lo, last + 1, maxBytes).map(entryView), want.entries(lo, last + 1, maxBytes).map(entryView), `entries(${lo}, ${last + 1}, ${maxBytes})`);
  }
  assert.equal(errorKind(() => got.entries(first - 1, last + 1, Infinity)), errorKind(() => want.entries(first - 1, last + 1, Infinity)), 'entries below the log start');
  assert.equal(errorKind(() => got.entries(first, last + 2, Infinity)), 'Unavailable', 'entries beyond the last entry');
  const gs = got.snapshot();
  const ws = want.snapshot();
  assert.deepEqual(gs.metadata, ws.metadata, 'snapshot metadata');
  assert.equal(hex(gs.data), hex(ws.data), 'snapshot data');
}

/** A fingerprint of everything raft can read from the log. */
export function digest(s: Storage): string {
  const h = createHash('sha256');
  const { hardState, confState } = s.initialState();
  h.update(`hs ${hardState.term} ${hardState.vote} ${hardState.commit}\n`);
  h.update(`cs ${confState.voters.join(',')} / ${confState.learners.join(',')}\n`);
  const first = s.firstIndex();
  const last = s.lastIndex();
  h.update(`log ${first} ${last} ${s.term(first - 1)}\n`);
  for (const e of s.entries(first, last + 1, Infinity)) h.update(entryView(e) + '\n');
  const snap = s.snapshot();
  h.update(`snap ${snap.metadata.index} ${snap.metadata.term} ${snap.metadata.confState.voters.join(',')} ${hex(snap.data)}\n`);
  return h.digest('hex').slice(0, 16);
}

/** Rebuilds a MemoryStorage holding the same log as s (the crash child continues from what it reopened). */
export function modelFrom(s: Storage): Model {
  const snap = s.snapshot();
  const first = s.firstIndex();
  const start = first - 1;
  const m = new MemoryStorage(snap.metadata.confState);
  const ents = s.entries(first, s.lastIndex() + 1, Infinity);
  if (start === snap.metadata.index) {
    if (start > 0) m.applySnapshot(snap);
    m.append(ents);
  } else {
    // The log starts before the snapshot: load it from a stand-in snapshot at the log start, then take the real one.
    if (start > 0) m.applySnapshot({ metadata: { index: start, term: s.term(start), confState: snap.metadata.confState }, data: new Uint8Array(0) });
    m.append(ents);
    m.createSnapshot(snap.metadata.index, snap.metadata.confState, snap.data);
  }
  m.setHardState(s.initialState().hardState);
  let termClock = Math.max(1, s.initialState().hardState.term, snap.metadata.term);
  for (const e of ents) termClock = Math.max(termClock, e.term);
  return { m, termClock };
}

/** Invariants any reopened log must satisfy, whatever the crash. */
export function assertRaftAcceptable(s: Storage): void {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const { hardState } = s.initialState();
  assert.ok(hardState.commit <= last, `commit ${hardState.commit} ≤ last index ${last}`);
  const snap = s.snapshot().metadata;
  assert.ok(snap.index >= first - 1 && snap.index <= last, 'snapshot within the log');
  assert.equal(s.term(snap.index), snap.term, 'snapshot term matches the log');
  let prev = s.term(first - 1);
  for (const e of s.entries(first, last + 1, Infinity)) {
    assert.ok(e.term >= prev, `terms never decrease (entry ${e.index})`);
    prev = e.term;
  }
}
