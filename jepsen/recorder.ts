// Writes the history as the run observes it: an invoke when a process starts
// an operation, its completion when it ends, both stamped with the monotonic
// clock (process.hrtime.bigint) relative to the run's start. Lines go to
// history.jsonl as they happen, so a run that dies still leaves its history.
import * as fs from 'node:fs';
import { formatHistoryLine, type HistoryOp, type OpType } from './history';
import { historyOpsMax } from './limits';

export interface InvokeFields {
  key?: string;
  value?: unknown;
  node?: string;
  extra?: Record<string, unknown>;
}

export interface CompleteFields {
  value?: unknown;
  error?: string;
  revision?: number;
  extra?: Record<string, unknown>;
}

export class Recorder {
  readonly startNs: bigint;
  readonly ops: HistoryOp[] = [];
  private readonly fd: number | undefined;
  private nextProcess = 0;

  constructor(file: string | undefined, startNs: bigint = process.hrtime.bigint()) {
    this.startNs = startNs;
    this.fd = file === undefined ? undefined : fs.openSync(file, 'w');
  }

  /** Nanoseconds since the run started. */
  nowNs(): number {
    return Number(process.hrtime.bigint() - this.startNs);
  }

  get full(): boolean {
    return this.ops.length >= historyOpsMax;
  }

  /** A fresh process number: every worker gets one, and a new one after each `info`. */
  newProcess(): number {
    return this.nextProcess++;
  }

  invoke(process: number, workload: string, f: string, fields: InvokeFields = {}): HistoryOp {
    const op: HistoryOp = { index: this.ops.length, type: 'invoke', process, f, timeNs: this.nowNs() };
    if (fields.key !== undefined) op.key = fields.key;
    if (fields.value !== undefined) op.value = fields.value;
    if (fields.node !== undefined) op.node = fields.node;
    op.extra = { workload, ...(fields.extra ?? {}) };
    return this.append(op);
  }

  complete(inv: HistoryOp, type: Exclude<OpType, 'invoke'>, fields: CompleteFields = {}): HistoryOp {
    const op: HistoryOp = { index: this.ops.length, type, process: inv.process, f: inv.f, timeNs: this.nowNs() };
    if (inv.key !== undefined) op.key = inv.key;
    if (fields.value !== undefined) op.value = fields.value;
    if (fields.error !== undefined) op.error = fields.error;
    if (inv.node !== undefined) op.node = inv.node;
    if (fields.revision !== undefined) op.revision = fields.revision;
    op.extra = { workload: inv.extra?.['workload'], ...(fields.extra ?? {}) };
    return this.append(op);
  }

  private append(op: HistoryOp): HistoryOp {
    this.ops.push(op);
    if (this.fd !== undefined) fs.writeSync(this.fd, formatHistoryLine(op) + '\n');
    return op;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }
}

/** The workload an operation belongs to (every op the runner records carries extra.workload). */
export function workloadOf(op: HistoryOp): string | undefined {
  const w = op.extra?.['workload'];
  return typeof w === 'string' ? w : undefined;
}
