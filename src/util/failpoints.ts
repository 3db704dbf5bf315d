// Failpoints: named places where a test or the jepsen harness can make the
// process die on purpose. Inert unless installFailpoints() was called, which
// only cmd/ does, from the environment:
//
//   KEEL_FAILPOINTS="name=action[,name=action…]"   e.g. "raft-after-save=crash"
//   KEEL_FAILPOINT_PROBABILITY=p                    chance (0 < p ≤ 1, default 1) that a hit fires
//
// Actions: 'crash' SIGKILLs the process; 'powerloss' first truncates every
// open WAL file to the length it last fdatasync'ed (what a power cut keeps of
// a preallocated file at worst), then SIGKILLs. 'off' lists a name and does
// nothing. Names are failpointNames; an unknown name or action is refused so a
// typo in a test harness does not silently test nothing.
import { assert } from './assert';
import { failpointPowerLossHandlersMax } from './limits';

export const failpointNames = [
  /** RaftLog.save() was called; nothing of the Ready is written yet. */
  'raft-before-save',
  /** The Ready is written and synced; save() has not resolved yet. */
  'raft-after-save',
  /** The WAL wrote a frame but has not fdatasync'ed it. */
  'wal-before-sync',
  /** The WAL is about to start a new segment file. */
  'wal-before-rollover',
] as const;
export type FailpointName = (typeof failpointNames)[number];
export type FailpointAction = 'crash' | 'powerloss' | 'off';

export interface FailpointSettings {
  /** The KEEL_FAILPOINTS value. */
  readonly spec: string;
  /** The KEEL_FAILPOINT_PROBABILITY value, undefined or '' for 1. */
  readonly probability?: string | undefined;
  /** Uniform in [0, 1): decides whether a hit fires. */
  readonly random: () => number;
  /** Ends the process at once (cmd/ passes a SIGKILL of itself). */
  readonly kill: () => void;
}

export class FailpointError extends Error {
  override name = 'FailpointError';
}

interface Installed {
  actions: Map<FailpointName, FailpointAction>;
  probability: number;
  random: () => number;
  kill: () => void;
}

let installed: Installed | null = null;
const powerLossHandlers = new Set<() => void>();

/** Parses a KEEL_FAILPOINTS value; throws FailpointError naming what is wrong. */
export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const action = eq < 0 ? '' : part.slice(eq + 1);
    if (!(failpointNames as readonly string[]).includes(name)) throw new FailpointError(`unknown failpoint ${JSON.stringify(name)} (known: ${failpointNames.join(', ')})`);
    if (action !== 'crash' && action !== 'powerloss' && action !== 'off') throw new FailpointError(`failpoint ${name}: unknown action ${JSON.stringify(action)} (crash, powerloss, off)`);
    out.set(name as FailpointName, action);
  }
  return out;
}

function parseProbability(v: string | undefined): number {
  if (v === undefined || v === '') return 1;
  const p = Number(v);
  if (!(p > 0 && p <= 1)) throw new FailpointError(`KEEL_FAILPOINT_PROBABILITY must be in (0, 1], got ${JSON.stringify(v)}`);
  return p;
}

/** Turns failpoints on for this process (cmd/ only). An empty spec leaves them off. */
export function installFailpoints(s: FailpointSettings): void {
  const actions = parseFailpoints(s.spec);
  const probability = parseProbability(s.probability);
  installed = actions.size === 0 ? null : { actions, probability, random: s.random, kill: s.kill };
}

/** Turns failpoints off again (tests). */
export function uninstallFailpoints(): void {
  installed = null;
}

export function failpointsActive(): boolean {
  return installed !== null;
}

/** Called by code at a named place; does nothing unless that name was installed and the dice say so. */
export function failpoint(name: FailpointName): void {
  if (installed === null) return;
  const action = installed.actions.get(name);
  if (action === undefined || action === 'off') return;
  if (installed.probability < 1 && installed.random() >= installed.probability) return;
  if (action === 'powerloss') for (const h of powerLossHandlers) h();
  installed.kill();
}

/** Registers what a power loss drops (a WAL truncating its unsynced bytes); returns the unregister function. */
export function onPowerLoss(handler: () => void): () => void {
  assert(powerLossHandlers.size < failpointPowerLossHandlersMax, 'too many power-loss handlers: a WAL was not closed');
  powerLossHandlers.add(handler);
  return () => {
    powerLossHandlers.delete(handler);
  };
}
