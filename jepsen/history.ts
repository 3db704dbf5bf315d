// The history a jepsen run records and its checkers read: one JSON object per
// line, in the order the runner observed them. Every operation appears twice,
// as Jepsen records it: an `invoke` when a process starts it and a completion
// (`ok`, `fail` or `info`) when it ends. `info` means indeterminate (a timeout,
// Unavailable, a connection lost mid-call): the operation may or may not have
// taken effect, at any time after its invocation. A process that got `info`
// never issues another operation; the runner gives its client a new process
// number (as Jepsen does), so every process is sequential.

/** Invocation, or one of the three completions. */
export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

/**
 * Register workload (per key): `read` (value: null at invoke, the value read or null
 * for a missing key at ok), `write` (value: the number written), `cas` (value: [expected, new]).
 */
export type RegisterF = 'read' | 'write' | 'cas';

/**
 * List-append workload, Elle's micro-op form: a `txn` whose value is a list of
 * ['append', key, element] and ['r', key, null] at invoke; at ok, every 'r'
 * carries the list read ([] for a missing key).
 */
export type MicroOp = ['append', string, number] | ['r', string, number[] | null];

export interface HistoryOp {
  /** Position in the history, 0-based, dense. */
  index: number;
  type: OpType;
  /** Logical client process; sequential (one open operation at a time). */
  process: number;
  /** The operation: 'read' | 'write' | 'cas' | 'txn' | a workload's own verb. */
  f: string;
  /** Register and per-key workloads: the key the operation is on. */
  key?: string;
  /** The argument at invoke, the result at ok (see RegisterF and MicroOp). */
  value?: unknown;
  /** Monotonic nanoseconds since the run started (process.hrtime.bigint() − start), as a number. */
  timeNs: number;
  /** fail/info: why, e.g. 'etcdserver: request timed out' or 'timeout'. */
  error?: string;
  /** The endpoint (member name) the operation was sent to. */
  node?: string;
  /** ok: the response header's revision, when the operation has one. */
  revision?: number;
  /** Workload-specific detail (serializable read, lease ID, watch events, …). */
  extra?: Record<string, unknown>;
}

/** Parses a history file's text (JSON lines; blank lines ignored). */
export function parseHistory(text: string): HistoryOp[] {
  const out: HistoryOp[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    out.push(JSON.parse(line) as HistoryOp);
  }
  return out;
}

export function formatHistoryLine(op: HistoryOp): string {
  return JSON.stringify(op);
}

/** Pairs every invocation with its completion (undefined if the history ends first: indeterminate). */
export function pairOps(history: readonly HistoryOp[]): Array<{ invoke: HistoryOp; complete: HistoryOp | undefined }> {
  const open = new Map<number, number>();
  const pairs: Array<{ invoke: HistoryOp; complete: HistoryOp | undefined }> = [];
  for (const op of history) {
    if (op.type === 'invoke') {
      if (open.has(op.process)) throw new Error(`process ${op.process} invoked op ${op.index} while op ${pairs[open.get(op.process)!]!.invoke.index} was open`);
      open.set(op.process, pairs.length);
      pairs.push({ invoke: op, complete: undefined });
      continue;
    }
    const at = open.get(op.process);
    if (at === undefined) throw new Error(`completion ${op.index} of process ${op.process} has no invocation`);
    open.delete(op.process);
    pairs[at]!.complete = op;
  }
  return pairs;
}
