// Time as a dependency: domain code takes a Clock so tests can drive it.
export interface Clock {
  /** Milliseconds on a monotonic clock (never goes backwards). */
  nowMs(): number;
}

export const monotonicClock: Clock = {
  nowMs: () => performance.now(),
};

export class ManualClock implements Clock {
  constructor(private ms = 0) {}
  nowMs(): number { return this.ms; }
  advance(ms: number): void { this.ms += ms; }
}
