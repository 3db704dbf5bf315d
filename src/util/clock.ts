// Time as a dependency: domain code takes a Clock (and Timers) so tests and
// the simulator can drive it.
export interface Clock {
  /** Milliseconds on a monotonic clock (never goes backwards). */
  nowMs(): number;
}

export const monotonicClock: Clock = {
  nowMs: () => performance.now(),
};

/** Milliseconds since the Unix epoch (wall clock): only for IDs that must differ across restarts. */
export interface WallClock {
  wallMs(): number;
}

export const systemWallClock: WallClock = {
  wallMs: () => Date.now(),
};

export class ManualClock implements Clock {
  constructor(private ms = 0) {}
  nowMs(): number { return this.ms; }
  advance(ms: number): void { this.ms += ms; }
}

/** An opaque timer handle. */
export interface TimerHandle {
  readonly timerId: unknown;
}

/**
 * Timers as a dependency: the member's timeouts, tickers and batching delays
 * come from here, so a simulation can run them on its own clock.
 */
export interface Timers {
  /** Calls fn once after ms. Timers never keep the process alive. */
  after(ms: number, fn: () => void): TimerHandle;
  /** Calls fn every ms until cancelled. */
  every(ms: number, fn: () => void): TimerHandle;
  cancel(h: TimerHandle | undefined): void;
}

export const realTimers: Timers = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { timerId: t };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { timerId: t };
  },
  cancel(h) {
    if (h === undefined) return;
    clearTimeout(h.timerId as NodeJS.Timeout);
  },
};

/**
 * Timers on a ManualClock: run() fires everything due, in deadline order
 * (ties in creation order), so a simulation is deterministic.
 */
export class ManualTimers implements Timers {
  private seq = 0;
  private readonly pending = new Map<number, { dueMs: number; everyMs: number; fn: () => void }>();

  constructor(private readonly clock: ManualClock) {}

  after(ms: number, fn: () => void): TimerHandle {
    return this.add(ms, 0, fn);
  }

  every(ms: number, fn: () => void): TimerHandle {
    return this.add(ms, Math.max(1, ms), fn);
  }

  cancel(h: TimerHandle | undefined): void {
    if (h !== undefined) this.pending.delete(h.timerId as number);
  }

  /** Deadline of the earliest timer, or undefined when none is pending. */
  nextDueMs(): number | undefined {
    let best: number | undefined;
    for (const t of this.pending.values()) if (best === undefined || t.dueMs < best) best = t.dueMs;
    return best;
  }

  /** Fires every timer due at the clock's current time (a timer set while running waits for the next run). */
  run(): number {
    const now = this.clock.nowMs();
    const due = [...this.pending].filter(([, t]) => t.dueMs <= now).sort((a, b) => a[1].dueMs - b[1].dueMs || a[0] - b[0]);
    for (const [id, t] of due) {
      if (!this.pending.has(id)) continue;
      if (t.everyMs > 0) t.dueMs += t.everyMs; else this.pending.delete(id);
      t.fn();
    }
    return due.length;
  }

  private add(ms: number, everyMs: number, fn: () => void): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { dueMs: this.clock.nowMs() + Math.max(0, ms), everyMs, fn });
    return { timerId: id };
  }
}
