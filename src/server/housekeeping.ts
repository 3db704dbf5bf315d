// What the leader does on its own: expire leases (proposing a revoke for each,
// etcd's lessor loop) and auto-compaction. Every member keeps the timers (a
// new leader knows the history); only the leader acts.
import { EtcdError, type Clock, type TimerHandle, type Timers } from '../util';
import type { Lessor } from '../lease';
import { AutoCompactor, type AutoCompactionConfig } from './compactor';
import type { Logger } from './log';
import type { Op } from './requests';

/** etcd's lessor looks for expired leases every 500 ms. */
const leaseExpiryPassMs = 500;

export interface HousekeepingContext {
  clock: Clock;
  timers: Timers;
  log: Logger;
  autoCompaction: AutoCompactionConfig;
  isLeader(): boolean;
  lessor(): Lessor;
  currentRevision(): number;
  propose<T>(body: Op): Promise<T>;
}

export class Housekeeping {
  private readonly revoking = new Set<bigint>();
  private readonly handles: TimerHandle[] = [];
  private stopped = false;

  constructor(private readonly ctx: HousekeepingContext) {}

  start(): void {
    this.handles.push(this.ctx.timers.every(leaseExpiryPassMs, () => this.revokeExpired()));
    this.startAutoCompaction();
  }

  stop(): void {
    this.stopped = true;
    for (const h of this.handles) this.ctx.timers.cancel(h);
  }

  private revokeExpired(): void {
    if (this.stopped || !this.ctx.isLeader()) return;
    for (const id of this.ctx.lessor().expired()) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.ctx.propose({ op: 'leaseRevoke', id }).then(
        () => this.revoking.delete(id),
        (e: unknown) => {
          this.revoking.delete(id);
          if (!(e instanceof EtcdError && (e.kind === 'Stopped' || e.kind === 'LeaseNotFound'))) this.ctx.log.warn('failed to revoke expired lease', { 'lease-id': id.toString(16), error: e });
        },
      );
    }
  }

  private startAutoCompaction(): void {
    const compactor = new AutoCompactor(this.ctx.autoCompaction, this.ctx.clock);
    if (!compactor.enabled) return;
    const mode = this.ctx.autoCompaction.mode;
    const log = this.ctx.log;
    this.handles.push(this.ctx.timers.every(compactor.checkIntervalMs, () => {
      const target = compactor.tick(this.ctx.currentRevision());
      if (target === undefined || !this.ctx.isLeader() || this.stopped) return;
      log.info(`starting auto ${mode} compaction`, { revision: target });
      this.ctx.propose({ op: 'compact', revision: target }).then(
        () => log.info(`completed auto ${mode} compaction`, { revision: target }),
        (e: unknown) => { if (!(e instanceof EtcdError && (e.kind === 'Compacted' || e.kind === 'Stopped'))) log.warn(`failed auto ${mode} compaction`, { revision: target, error: e }); },
      );
    }));
  }
}
