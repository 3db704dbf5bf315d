// Linearizability of register histories, per key (P-compositionality: a
// history is linearizable iff each key's sub-history is, so each key is
// searched on its own), and sequential consistency of serializable reads.
//
// What the search assumes (history.ts): `fail` means the operation did not
// happen (a failed read is dropped too); `info` or no completion means it may
// have taken effect at any time after its invocation, or never; an
// indeterminate read constrains nothing and is dropped. Operations whose
// `extra.serializable` is true are left to checkSequential. The search itself
// is in wgl-search.ts.
import { limits } from '../../src/util';
import type { HistoryOp } from '../history';
import type { Anomaly, CheckResult } from './result';
import { MalformedHistoryError, prepareRegisterHistory, type KeyHistory, type RegisterModel, type RegOp, type ValueTable } from './register-ops';
import { RegisterSearch, type DeadEnd } from './wgl-search';

export { checkSequential } from './sequential';

export interface LinearizableOptions {
  model: RegisterModel;
  timeLimitMs?: number;
  cacheEntriesMax?: number;
}

export function checkLinearizable(history: readonly HistoryOp[], opts: LinearizableOptions): CheckResult {
  const started = Date.now();
  const deadlineMs = started + (opts.timeLimitMs ?? limits.jepsenCheckTimeLimitMsDefault);
  const cacheEntriesMax = opts.cacheEntriesMax ?? limits.jepsenLinearizableCacheEntriesDefault;
  let prepared;
  try {
    prepared = prepareRegisterHistory(history, opts.model);
  } catch (e) {
    if (!(e instanceof MalformedHistoryError) && !isPairingError(e)) throw e;
    return { checker: 'linearizable', valid: 'unknown', anomalies: [], unknownReason: `malformed history: ${(e as Error).message}`, stats: { ms: Date.now() - started } };
  }
  const tally = new Tally();
  for (const key of prepared.keys) {
    const search = new RegisterSearch(key.ops, { deadlineMs, cacheEntriesMax });
    const outcome = Date.now() >= deadlineMs ? { kind: 'unknown' as const, configurations: 0, reason: 'time limit reached before this key was searched' } : search.run();
    tally.add(key, outcome.configurations);
    if (outcome.kind === 'violation') tally.anomaly(describeViolation(key, outcome.deadEnd, prepared.values));
    if (outcome.kind === 'unknown') tally.unknown(key, outcome.reason);
  }
  return tally.result(Date.now() - started);
}

function isPairingError(e: unknown): boolean {
  return e instanceof Error && /invoked op|has no invocation/.test(e.message);
}

class Tally {
  private readonly anomalies: Anomaly[] = [];
  private anomaliesTotal = 0;
  private readonly unknownKeys: string[] = [];
  private readonly stats = { keys: 0, ops: 0, opsDropped: 0, configurations: 0, keysInvalid: 0, keysUnknown: 0, anomalies: 0, ms: 0 };

  add(key: KeyHistory, configurations: number): void {
    this.stats.keys++;
    this.stats.ops += key.ops.length;
    this.stats.opsDropped += key.dropped;
    this.stats.configurations += configurations;
  }

  anomaly(a: Anomaly): void {
    this.stats.keysInvalid++;
    this.anomaliesTotal++;
    if (this.anomalies.length < limits.jepsenAnomaliesMax) this.anomalies.push(a);
  }

  unknown(key: KeyHistory, reason: string): void {
    this.stats.keysUnknown++;
    if (this.unknownKeys.length < limits.jepsenAnomaliesMax) this.unknownKeys.push(`${keyLabel(key.key)}: ${reason}`);
  }

  result(ms: number): CheckResult {
    this.stats.ms = ms;
    this.stats.anomalies = this.anomaliesTotal;
    const base = { checker: 'linearizable', anomalies: this.anomalies, stats: { ...this.stats } };
    if (this.anomaliesTotal > 0) return { ...base, valid: false };
    if (this.stats.keysUnknown > 0) {
      const reason = `${this.stats.keysUnknown} of ${this.stats.keys} keys undecided (${this.unknownKeys.join('; ')})`;
      return { ...base, valid: 'unknown', unknownReason: reason };
    }
    return { ...base, valid: true };
  }
}

function keyLabel(key: string | undefined): string {
  return key === undefined ? 'the register' : `key ${JSON.stringify(key)}`;
}

/** History indexes of an op: invocation, then completion when there is one. */
function indexesOf(op: RegOp): number[] {
  return op.completeIndex === undefined ? [op.call] : [op.call, op.completeIndex];
}

export function describeRegOp(op: RegOp, values: ValueTable): string {
  const span = op.completeIndex === undefined ? `invoked at ${op.call}, never completed` : `${op.call}→${op.completeIndex}${op.determinate ? '' : ' info'}`;
  const what = op.kind === 'read' ? `read ${values.text(op.a)}` : op.kind === 'write' ? `write ${values.text(op.a)}` : `cas ${values.text(op.a)}→${values.text(op.b)}`;
  return `${what} by process ${op.process} (${span})`;
}

function describeViolation(key: KeyHistory, dead: DeadEnd, values: ValueTable): Anomaly {
  const ops = key.ops;
  const blocked = ops[dead.blocked]!;
  const held = dead.states.map((s) => values.text(s)).join(', ');
  const more = dead.states.length >= limits.jepsenPossibleStatesMax ? ' (at least)' : '';
  const concurrent = dead.concurrent.map((j) => ops[j]!);
  const prefix = dead.prefix.map((j) => ops[j]!);
  const why = blocked.kind === 'read' ? `it returned ${values.text(blocked.a)}` : `it succeeded expecting ${values.text(blocked.a)}`;
  const shown = concurrent.slice(0, 4).map((o) => describeRegOp(o, values)).join('; ');
  const others = concurrent.length === 0 ? '' : ` Concurrent with it and not yet placed there: ${shown}${concurrent.length > 4 ? ` and ${concurrent.length - 4} more` : ''}.`;
  const last = prefix.length > 0 ? ` The furthest order ended with ${prefix.map((o) => describeRegOp(o, values)).join('; ')}.` : '';
  const explanation =
    `${keyLabel(key.key)} is not linearizable: no order of its ${ops.length} operations respects both real time and the register. The search placed at most ` +
    `${dead.linearizedCount} of them and stops at ${describeRegOp(blocked, values)}: ${why}, but wherever it could take effect the register held ${held}${more}.${others}${last}`;
  const indexes = new Set<number>();
  for (const op of [blocked, ...concurrent, ...prefix]) for (const i of indexesOf(op)) if (indexes.size < limits.jepsenAnomalyOpsMax) indexes.add(i);
  const anomaly: Anomaly = {
    kind: 'nonlinearizable',
    ops: [...indexes].sort((x, y) => x - y),
    explanation,
    details: {
      offending: indexesOf(blocked),
      concurrent: concurrent.flatMap(indexesOf),
      prefix: prefix.flatMap(indexesOf),
      possibleValues: dead.states.map((s) => values.value(s)),
      linearizedBefore: dead.linearizedCount,
    },
  };
  if (key.key !== undefined) anomaly.key = key.key;
  return anomaly;
}
