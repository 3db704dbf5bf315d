// Hand-built histories for the checker tests: each call appends one record,
// in the order written, so a test reads like the timeline it describes.
import type { HistoryOp, OpType } from '../../jepsen/history';

export class HistoryBuilder {
  readonly ops: HistoryOp[] = [];
  private readonly open = new Map<number, HistoryOp>();

  /** Starts an op; returns its invocation's history index. */
  invoke(process: number, f: string, value: unknown, opts: { key?: string; extra?: Record<string, unknown> } = {}): number {
    const op: HistoryOp = { index: this.ops.length, type: 'invoke', process, f, value, timeNs: this.ops.length * 1_000_000 };
    if (opts.key !== undefined) op.key = opts.key;
    if (opts.extra !== undefined) op.extra = opts.extra;
    this.ops.push(op);
    this.open.set(process, op);
    return op.index;
  }

  ok(process: number, value?: unknown, more: { revision?: number } = {}): number {
    return this.complete(process, 'ok', value, undefined, more.revision);
  }

  fail(process: number, error = 'etcdserver: request timed out'): number {
    return this.complete(process, 'fail', undefined, error, undefined);
  }

  info(process: number, error = 'timeout'): number {
    return this.complete(process, 'info', undefined, error, undefined);
  }

  /** write + ok in one step (no concurrency), returns [invoke, complete]. */
  write(process: number, value: unknown, key?: string): [number, number] {
    const i = this.invoke(process, 'write', value, key === undefined ? {} : { key });
    return [i, this.ok(process)];
  }

  read(process: number, value: unknown, key?: string, extra?: Record<string, unknown>): [number, number] {
    const opts: { key?: string; extra?: Record<string, unknown> } = {};
    if (key !== undefined) opts.key = key;
    if (extra !== undefined) opts.extra = extra;
    const i = this.invoke(process, 'read', null, opts);
    return [i, this.ok(process, value)];
  }

  /** A list-append txn invoked and completed ok at once; reads in `mops` carry their results. */
  txn(process: number, mops: unknown[]): [number, number] {
    const atInvoke = mops.map((m) => (Array.isArray(m) && m[0] === 'r' ? ['r', m[1], null] : m));
    const i = this.invoke(process, 'txn', atInvoke);
    return [i, this.ok(process, mops)];
  }

  private complete(process: number, type: OpType, value: unknown, error: string | undefined, revision: number | undefined): number {
    const inv = this.open.get(process);
    if (inv === undefined) throw new Error(`process ${process} has no open op`);
    this.open.delete(process);
    const op: HistoryOp = { index: this.ops.length, type, process, f: inv.f, timeNs: this.ops.length * 1_000_000 };
    if (inv.key !== undefined) op.key = inv.key;
    if (inv.extra !== undefined) op.extra = inv.extra;
    const v = type === 'ok' ? (value === undefined ? inv.value : value) : inv.value;
    if (v !== undefined) op.value = v;
    if (error !== undefined) op.error = error;
    if (revision !== undefined) op.revision = revision;
    this.ops.push(op);
    return op.index;
  }
}
