// etcd's auto-compaction (--auto-compaction-mode, --auto-compaction-retention),
// run by the leader only:
// - periodic: keep `retention` of history; compact every retention (every
//   retention/10 when retention is an hour or more) to the revision that was
//   current `retention` ago.
// - revision: every 5 minutes, compact to current revision - retention.
// The decisions are pure (time from a Clock); the member calls tick().
import { limits, type Clock } from '../util';

export type AutoCompactionMode = 'periodic' | 'revision';

export interface AutoCompactionConfig {
  mode: AutoCompactionMode;
  /** periodic: milliseconds of history kept; revision: revisions kept. 0 disables. */
  retention: number;
}

const hourMs = 3_600_000;
/** etcd's revision compactor looks every 5 minutes. */
export const revisionCompactionCheckMs = 5 * 60_000;

/** Parses --auto-compaction-retention as etcd does: a bare number is hours (periodic) or revisions. */
export function parseRetention(mode: AutoCompactionMode, v: string, durationMs: (s: string) => number): number {
  if (/^\d+$/.test(v)) return mode === 'periodic' ? Number(v) * hourMs : Number(v);
  if (mode === 'revision') throw new Error(`invalid auto-compaction-retention ${JSON.stringify(v)} for mode revision: must be a number of revisions`);
  return durationMs(v);
}

export class AutoCompactor {
  /** (time, revision) samples, oldest first, for the periodic mode. */
  private readonly samples: Array<{ atMs: number; revision: number }> = [];
  private lastCompactMs: number;
  private lastCompacted = 0;

  constructor(private readonly cfg: AutoCompactionConfig, private readonly clock: Clock) {
    this.lastCompactMs = clock.nowMs();
  }

  get enabled(): boolean {
    return this.cfg.retention > 0;
  }

  /** How often tick() should run. */
  get checkIntervalMs(): number {
    if (this.cfg.mode === 'revision') return revisionCompactionCheckMs;
    return Math.max(1000, Math.min(this.periodMs() / 10, 60_000));
  }

  /** The revision to compact to now, if any. */
  tick(currentRevision: number): number | undefined {
    if (!this.enabled) return undefined;
    const now = this.clock.nowMs();
    if (this.cfg.mode === 'revision') {
      const target = currentRevision - this.cfg.retention;
      if (target <= 0 || target <= this.lastCompacted) return undefined;
      return this.compacted(target, now);
    }
    this.samples.push({ atMs: now, revision: currentRevision });
    while (this.samples.length > limits.autoCompactionSamplesMax) this.samples.shift();
    if (now - this.lastCompactMs < this.periodMs()) return undefined;
    // The newest sample at least `retention` old is the revision to keep from.
    let target: number | undefined;
    for (const s of this.samples) if (now - s.atMs >= this.cfg.retention) target = s.revision;
    if (target === undefined || target <= this.lastCompacted) return undefined;
    while (this.samples.length > 0 && now - (this.samples[0] as { atMs: number }).atMs >= this.cfg.retention) this.samples.shift();
    return this.compacted(target, now);
  }

  private periodMs(): number {
    return this.cfg.retention >= hourMs ? this.cfg.retention / 10 : this.cfg.retention;
  }

  private compacted(target: number, now: number): number {
    this.lastCompacted = target;
    this.lastCompactMs = now;
    return target;
  }
}
