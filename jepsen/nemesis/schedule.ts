// The fault schedule, drawn from the seed before the run starts: alternating
// quiet and fault windows; each window applies one or two faults of the
// selected kinds together and heals them together when it ends. Targets are
// drawn as roles ('leader', 'minority', …) plus a seed for picking members, so
// the same seed gives the same schedule whatever the members' names.
import { SeededRandom } from '../../src/util';
import { nemesisWindowsMax } from '../limits';

export const nemesisKinds = ['kill', 'pause', 'partition', 'netem', 'clock', 'member', 'compaction', 'failpoint'] as const;
export type NemesisKind = (typeof nemesisKinds)[number];

export interface PlannedFault {
  kind: NemesisKind;
  detail: Record<string, string | number>;
  /** Seeds the member picks of this fault. */
  pickSeed: number;
}

export interface PlannedWindow {
  startMs: number;
  endMs: number;
  faults: PlannedFault[];
}

export const failpointNames = ['raft-before-save', 'raft-after-save', 'backend-before-commit', 'backend-after-commit', 'snapshot-send', 'snapshot-receive', 'compact'] as const;

function detailFor(kind: NemesisKind, rng: SeededRandom): Record<string, string | number> {
  switch (kind) {
    case 'kill': return { target: rng.pick(['one', 'leader', 'minority', 'all']) };
    case 'pause': return { target: rng.pick(['one', 'leader', 'minority']) };
    case 'partition': return { shape: rng.pick(['halves', 'isolated-leader', 'majority-ring', 'bridge']) };
    case 'netem': return { mode: rng.pick(['loss', 'slow', 'loss+slow']), lossPercent: rng.int(5, 30), rate: rng.pick(['256kbit', '1mbit']), target: rng.pick(['one', 'all']) };
    case 'clock': return { target: rng.pick(['one', 'leader']), offsetSeconds: (rng.bool() ? 1 : -1) * rng.int(2, 90) };
    case 'member': return { action: rng.pick(['replace', 'learner-promote']) };
    case 'compaction': return { intervalMs: rng.int(200, 800), defragPercent: 30 };
    case 'failpoint': {
      const a = rng.pick(failpointNames);
      const b = rng.pick(failpointNames);
      return { target: 'one', failpoints: a === b ? `${a}=crash` : `${a}=crash,${b}=crash`, probability: rng.pick([0.01, 0.05, 0.2]) };
    }
  }
}

export function planSchedule(seed: number, kinds: readonly NemesisKind[], timeLimitMs: number): PlannedWindow[] {
  const rng = new SeededRandom(seed);
  const out: PlannedWindow[] = [];
  if (kinds.length === 0) return out;
  const settleMs = 3000;
  const lastEndMs = timeLimitMs - 2000;
  let t = settleMs;
  while (out.length < nemesisWindowsMax) {
    const startMs = t + rng.int(2000, 6000);
    const endMs = Math.min(startMs + rng.int(4000, 12_000), lastEndMs);
    if (endMs - startMs < 1500) break;
    const first = rng.pick(kinds);
    const picked = new Set<NemesisKind>([first]);
    if (kinds.length > 1 && rng.bool(0.3)) picked.add(rng.pick(kinds));
    out.push({ startMs, endMs, faults: [...picked].map((kind) => ({ kind, detail: detailFor(kind, rng), pickSeed: rng.u32() })) });
    t = endMs;
  }
  return out;
}
