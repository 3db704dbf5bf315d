// etcd's keyIndex: the revisions of one key, grouped in generations. A
// generation runs from a put on a missing key to the delete that ends it
// (its last revision is then the tombstone). Revisions are stored as flat
// (main, sub) pairs to keep millions of keys cheap.
import { assert } from '../util';
import type { KeyValue } from './types';

export interface KeyEntry {
  readonly key: Buffer;
  /** All but the last end in a tombstone; the last is empty iff the key is deleted. Never empty itself. */
  gens: number[][];
  /** The current value when the key is live. */
  live: KeyValue | undefined;
}

export function newKeyEntry(key: Buffer): KeyEntry {
  return { key, gens: [[]], live: undefined };
}

function lastGen(e: KeyEntry): number[] {
  const g = e.gens[e.gens.length - 1];
  assert(g !== undefined, 'key index has a generation');
  return g;
}

function lastMain(e: KeyEntry): number {
  for (let i = e.gens.length - 1; i >= 0; i--) {
    const g = e.gens[i] as number[];
    if (g.length > 0) return g[g.length - 2] as number;
  }
  return 0;
}

export function appendPut(e: KeyEntry, main: number, sub: number): void {
  assert(main >= lastMain(e), 'key index revisions increase');
  lastGen(e).push(main, sub);
}

export function appendTombstone(e: KeyEntry, main: number, sub: number): void {
  const g = lastGen(e);
  assert(g.length > 0, 'tombstone ends a live generation');
  assert(main >= lastMain(e), 'key index revisions increase');
  g.push(main, sub);
  e.gens.push([]);
}

/** The (main, sub) revision holding the key's value at atRev, or undefined if the key was not live then. */
export function revisionAt(e: KeyEntry, atRev: number): [number, number] | undefined {
  const last = e.gens.length - 1;
  for (let gi = last; gi >= 0; gi--) {
    const g = e.gens[gi] as number[];
    if (g.length === 0) continue;
    if (gi !== last && (g[g.length - 2] as number) <= atRev) return undefined; // deleted by then
    if ((g[0] as number) <= atRev) {
      for (let i = g.length - 2; i >= 0; i -= 2) {
        if ((g[i] as number) <= atRev) return [g[i] as number, g[i + 1] as number];
      }
      assert(false, 'generation walk finds the revision');
    }
  }
  return undefined;
}

/** True if (main, sub) is the key's latest revision and the key is live. */
export function isLiveRevision(e: KeyEntry, main: number, sub: number): boolean {
  const g = lastGen(e);
  return g.length > 0 && g[g.length - 2] === main && g[g.length - 1] === sub;
}

export interface DroppedRevision {
  main: number;
  sub: number;
  tombstone: boolean;
}

/**
 * etcd's keyIndex.compact: keep, per key, the newest revision <= atRev
 * unless it is a tombstone, and everything newer. Pushes the dropped
 * revisions (those <= atRev) to dropped; returns true if nothing is left.
 */
export function compactEntry(e: KeyEntry, atRev: number, dropped: DroppedRevision[]): boolean {
  const gens = e.gens;
  const last = gens.length - 1;
  if (last === 0) {
    // The common case, one generation with at most one revision <= atRev, allocates nothing.
    const g = gens[0] as number[];
    if (g.length === 0 || (g[0] as number) > atRev) return g.length === 0;
    if (g.length === 2 || (g[2] as number) > atRev) return false;
  }
  let gi = 0;
  while (gi < last) {
    const g = gens[gi] as number[];
    if ((g[g.length - 2] as number) > atRev) break;
    dropGen(g, true, dropped, atRev);
    gi++;
  }
  let g = gens[gi] as number[];
  if (g.length > 0) {
    let keepFrom = -1;
    for (let i = g.length - 2; i >= 0; i -= 2) {
      if ((g[i] as number) <= atRev) {
        keepFrom = i;
        break;
      }
    }
    if (keepFrom > 0) {
      dropGen(g.slice(0, keepFrom), false, dropped, atRev);
      g = g.slice(keepFrom);
    }
    if (g.length === 2 && gi !== last) {
      dropGen(g, true, dropped, atRev);
      gi++;
      g = gens[gi] as number[];
    }
  }
  const kept = gens.slice(gi);
  kept[0] = g;
  e.gens = kept;
  return kept.length === 1 && g.length === 0;
}

function dropGen(g: number[], endsInTombstone: boolean, dropped: DroppedRevision[], atRev: number): void {
  for (let i = 0; i < g.length; i += 2) {
    const main = g[i] as number;
    if (main > atRev) continue; // etcd only removes revisions <= atRev from the backend
    dropped.push({ main, sub: g[i + 1] as number, tombstone: endsInTombstone && i === g.length - 2 });
  }
}
