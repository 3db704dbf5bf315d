// Register histories (read / write / cas per key, history.ts) turned into the
// compact operations the linearizability search runs on: values interned to
// small integers, failed operations and indeterminate reads removed, and every
// operation's invocation and completion as history indexes (completion
// Infinity when the operation is indeterminate: it may take effect at any
// time after its invocation, or never).
import { limits } from '../../src/util';
import { pairOps, type HistoryOp } from '../history';

export type RegisterModel = 'register' | 'cas-register';

export type RegKind = 'read' | 'write' | 'cas';

export interface RegOp {
  kind: RegKind;
  /** History index of the invocation. */
  call: number;
  /** History index of the completion; Infinity when indeterminate (info, or never completed). */
  ret: number;
  /** Completed ok: it certainly took effect between call and ret. */
  determinate: boolean;
  /** read: the value read; write: the value written; cas: the value expected (interned ids). */
  a: number;
  /** cas: the value written (interned id); -1 otherwise. */
  b: number;
  process: number;
  /** History index of the completion record, if there is one (info or ok). */
  completeIndex: number | undefined;
}

/** Interned values: id 0 is null (a missing key, the register's initial state). */
export class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly values: unknown[] = [];

  constructor() {
    this.id(null);
  }

  id(value: unknown): number {
    const text = JSON.stringify(value ?? null);
    const known = this.ids.get(text);
    if (known !== undefined) return known;
    this.ids.set(text, this.values.length);
    this.values.push(value ?? null);
    return this.values.length - 1;
  }

  value(id: number): unknown {
    return this.values[id];
  }

  text(id: number): string {
    return JSON.stringify(this.values[id] ?? null);
  }
}

export interface KeyHistory {
  key: string | undefined;
  ops: RegOp[];
  /** Operations left out: failed ones, indeterminate reads, indeterminate writes whose value nobody observed. */
  dropped: number;
}

export interface Prepared {
  keys: KeyHistory[];
  values: ValueTable;
}

const registerFs: ReadonlySet<string> = new Set(['read', 'write', 'cas']);

type Pair = { invoke: HistoryOp; complete: HistoryOp | undefined };

/** Groups a history's register operations by key (ops with extra.serializable === true left to checkSequential). */
export function prepareRegisterHistory(history: readonly HistoryOp[], model: RegisterModel): Prepared {
  checkHistoryLength(history);
  const values = new ValueTable();
  const byKey = new Map<string, { key: string | undefined; pairs: Pair[] }>();
  for (const pair of pairOps(history)) {
    if (!registerFs.has(pair.invoke.f)) continue;
    if (isSerializable(pair)) continue;
    const name = pair.invoke.key ?? '';
    let group = byKey.get(name);
    if (group === undefined) byKey.set(name, (group = { key: pair.invoke.key, pairs: [] }));
    group.pairs.push(pair);
  }
  const keys: KeyHistory[] = [];
  for (const group of byKey.values()) keys.push(prepareKey(group.key, group.pairs, model, values));
  return { keys, values };
}

export function isSerializable(pair: Pair): boolean {
  return pair.invoke.extra?.['serializable'] === true || pair.complete?.extra?.['serializable'] === true;
}

/** Thrown for a record the checker cannot interpret; the checker answers 'unknown' with its message. */
export class MalformedHistoryError extends Error {
  override name = 'MalformedHistoryError';
}

export function checkHistoryLength(history: readonly HistoryOp[]): void {
  if (history.length > limits.jepsenHistoryOpsMax) throw new MalformedHistoryError(`${history.length} records, more than jepsenHistoryOpsMax (${limits.jepsenHistoryOpsMax})`);
}

function prepareKey(key: string | undefined, pairs: readonly Pair[], model: RegisterModel, values: ValueTable): KeyHistory {
  const ops: RegOp[] = [];
  let dropped = 0;
  for (const pair of pairs) {
    const op = toRegOp(pair, model, values);
    if (op === undefined) dropped++;
    else ops.push(op);
  }
  const observed = observedValues(ops);
  const kept = ops.filter((op) => op.determinate || op.kind === 'read' || observed.has(writtenValue(op)));
  return { key, ops: kept, dropped: dropped + ops.length - kept.length };
}

function toRegOp(pair: Pair, model: RegisterModel, values: ValueTable): RegOp | undefined {
  const { invoke, complete } = pair;
  if (complete?.type === 'fail') return undefined; // it did not happen
  const determinate = complete?.type === 'ok';
  const base = { call: invoke.index, ret: determinate ? complete.index : Infinity, determinate, process: invoke.process, completeIndex: complete?.index };
  if (invoke.f === 'read') {
    // An indeterminate read changes nothing and tells nothing.
    if (!determinate) return undefined;
    if (complete.value === undefined) throw new MalformedHistoryError(`ok read at history index ${complete.index} has no value (a missing key reads as null)`);
    return { ...base, kind: 'read', a: values.id(complete.value), b: -1 };
  }
  if (invoke.f === 'write') {
    if (invoke.value === undefined || invoke.value === null) throw new MalformedHistoryError(`write at history index ${invoke.index} has no value`);
    return { ...base, kind: 'write', a: values.id(invoke.value), b: -1 };
  }
  if (model === 'register') throw new MalformedHistoryError(`cas at history index ${invoke.index} in a history checked with the register model (use cas-register)`);
  const v = invoke.value;
  if (!Array.isArray(v) || v.length !== 2) throw new MalformedHistoryError(`cas at history index ${invoke.index} has value ${JSON.stringify(v)}, not [expected, new]`);
  return { ...base, kind: 'cas', a: values.id(v[0]), b: values.id(v[1]) };
}

function writtenValue(op: RegOp): number {
  return op.kind === 'cas' ? op.b : op.a;
}

// Values some operation depends on: read by an ok read, or expected by a cas.
// An indeterminate write (or cas) of a value outside this set can always be
// left out of a linearization — until the next write nobody could run
// against it — so dropping it up front keeps the verdict and spares the
// search the choice of when (or whether) it happened.
function observedValues(ops: readonly RegOp[]): Set<number> {
  const out = new Set<number>();
  for (const op of ops) {
    if (op.kind === 'read') out.add(op.a);
    if (op.kind === 'cas') out.add(op.a);
  }
  return out;
}
