// etcd's backend quota: a write that would take the backend past
// --quota-backend-bytes raises the NOSPACE alarm and is refused.
import type { Clock } from '../util';
import type { Backend } from '../storage';
import type { TxnRequest } from '../mvcc';
import type { Logger } from './log';

/** The backend's size is measured at most this often, except when asked to (status, defragment, disarm). */
const sizeCheckIntervalMs = 1000;

export class SpaceQuota {
  private sizeBytes = 0;
  private checkedMs = -Infinity;

  constructor(
    private readonly quotaBytes: number,
    private readonly backend: () => Backend,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get dbSizeBytes(): number {
    return this.sizeBytes;
  }

  async refresh(force: boolean): Promise<void> {
    const now = this.clock.nowMs();
    if (!force && now - this.checkedMs < sizeCheckIntervalMs) return;
    this.checkedMs = now;
    try {
      this.sizeBytes = await this.backend().sizeBytes();
    } catch (e) {
      this.log.warn('failed to measure backend size', { error: e });
    }
  }

  /** Whether a write of `costBytes` would exceed the quota (logged as etcd logs the alarm). */
  exceededBy(costBytes: number): boolean {
    if (this.sizeBytes + costBytes <= this.quotaBytes) return false;
    this.log.warn('alarm raised', { alarm: 'NOSPACE', 'quota-size-bytes': this.quotaBytes, 'db-size-bytes': this.sizeBytes });
    return true;
  }
}

/** Whether a txn may put (only those count against the quota, as etcd's). */
export function txnHasPut(r: TxnRequest): boolean {
  const opHasPut = (op: TxnRequest['success'][number]): boolean => ('put' in op) || ('txn' in op && txnHasPut(op.txn));
  return r.success.some(opHasPut) || r.failure.some(opHasPut);
}
