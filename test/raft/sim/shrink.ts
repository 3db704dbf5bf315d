// Shrinks a failing seed: disables events (ddmin over the events that ran)
// while some violation still occurs, so the trace printed is as short as the
// budget of replays allows.
import type { RaftTestMutation } from '../../../src/raft';
import { Simulation, type SimResult } from './simulation';

export interface Shrunk {
  readonly disabled: ReadonlySet<string>;
  readonly result: SimResult;
}

export function shrink(seed: number, mutation: RaftTestMutation | null, initiallyDisabled: ReadonlySet<string>, runsMax: number): Shrunk {
  let runs = 0;
  const attempt = (disabled: ReadonlySet<string>, trace: boolean): SimResult => {
    runs++;
    return new Simulation({ seed, disabled, trace, ...(mutation !== null ? { mutation } : {}) }).run();
  };
  let disabled = new Set(initiallyDisabled);
  let best = attempt(disabled, false);
  if (best.violation === null) return { disabled, result: attempt(disabled, true) };
  // ddmin over the events that ran before the violation.
  let chunks = 2;
  while (runs < runsMax) {
    const events = [...best.events];
    if (events.length === 0) break;
    const size = Math.ceil(events.length / chunks);
    let progressed = false;
    for (let start = 0; start < events.length && runs < runsMax; start += size) {
      const candidate = new Set(disabled);
      for (const id of events.slice(start, start + size)) candidate.add(id);
      const r = attempt(candidate, false);
      if (r.violation !== null && r.events.length < best.events.length) {
        disabled = candidate;
        best = r;
        chunks = Math.max(chunks - 1, 2);
        progressed = true;
        break;
      }
    }
    if (!progressed) {
      if (size <= 1) break;
      chunks = Math.min(chunks * 2, events.length);
    }
  }
  return { disabled, result: attempt(disabled, true) };
}
