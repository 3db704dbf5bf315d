// What every checker answers: valid, invalid with the anomalies found, or
// unknown (it gave up: a time or memory limit, with the reason).

export type Verdict = true | false | 'unknown';

export interface Anomaly {
  /** e.g. 'nonlinearizable', 'G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2', 'realtime', 'watch-gap', 'lease-early-expiry', 'double-holder'. */
  kind: string;
  /** History indexes (HistoryOp.index) of the operations involved, invocations or completions. */
  ops: number[];
  /** One or two sentences an engineer can act on. */
  explanation: string;
  /** The key (register, per-key checkers), when there is one. */
  key?: string;
  /**
   * Optional, checker-specific structure for tools (the report): e.g. the linearizability checker's
   * { offending, concurrent, prefix, possibleValues }, list-append's { cycle: [{ from, to, type, why }] }.
   * Every number in it is a HistoryOp.index.
   */
  details?: Record<string, unknown>;
}

export interface CheckResult {
  /** Which checker: 'linearizable', 'sequential', 'list-append', 'watch', 'lease', 'lock', … */
  checker: string;
  valid: Verdict;
  anomalies: Anomaly[];
  /** Why the verdict is 'unknown'. */
  unknownReason?: string;
  /** Counts and timings: operations checked, states explored, milliseconds. */
  stats: Record<string, number>;
}

/** Combines several checkers' results: invalid if any is, else unknown if any is, else valid. */
export function combineVerdicts(results: readonly CheckResult[]): Verdict {
  if (results.some((r) => r.valid === false)) return false;
  if (results.some((r) => r.valid === 'unknown')) return 'unknown';
  return true;
}
