// Reads the operation lines Jepsen's classic single-register tests log
// through jepsen.util, e.g.
//
//   INFO  jepsen.util - 2	:invoke	:read	nil
//   2014-06-16 15:38:19,873{GMT}	INFO	[jepsen worker 3] jepsen.util: 3	:ok	:cas	[3 0]
//   INFO  jepsen.util - 4	:fail	:read	:timed-out
//
// (process, type, f, value; tabs between fields; anything may lead the
// line). `nil` is a missing value, `[a b]` a cas, a keyword after a fail or
// info (`:timed-out`) the error. Lines of the `:nemesis` process and lines
// that are not operations are skipped and counted. The result is keel's own
// history format (history.ts), one record per operation line, in log order.
import type { HistoryOp, OpType } from '../history';

export interface JepsenLogCounts {
  lines: number;
  operations: number;
  invoke: number;
  ok: number;
  fail: number;
  info: number;
  /** Invocations the log never completes: indeterminate. */
  pending: number;
  nemesisLines: number;
  skippedLines: number;
}

const opLine = /jepsen\.util(?: -|:)\s+(\S+)\t(:invoke|:ok|:fail|:info)\t:([\w-]+)\t?(.*)$/;
const timestamp = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)[,.](\d{3})/;

export function parseJepsenLog(text: string): { history: HistoryOp[]; counts: JepsenLogCounts } {
  const history: HistoryOp[] = [];
  const counts: JepsenLogCounts = { lines: 0, operations: 0, invoke: 0, ok: 0, fail: 0, info: 0, pending: 0, nemesisLines: 0, skippedLines: 0 };
  const open = new Set<number>();
  let firstMs: number | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    counts.lines++;
    const m = opLine.exec(line);
    if (m === null) {
      counts.skippedLines++;
      continue;
    }
    const [, proc, typeWord, f, rest] = m as unknown as [string, string, string, string, string];
    if (proc === ':nemesis') {
      counts.nemesisLines++;
      continue;
    }
    const process = Number(proc);
    if (!Number.isInteger(process)) {
      counts.skippedLines++;
      continue;
    }
    const type = typeWord.slice(1) as OpType;
    const ms = lineMs(line);
    firstMs ??= ms;
    const op: HistoryOp = { index: history.length, type, process, f, timeNs: ms !== undefined && firstMs !== undefined ? (ms - firstMs) * 1e6 : history.length * 1e6 };
    const parsed = parseValue(rest.trim());
    if (parsed.error !== undefined && type !== 'invoke' && type !== 'ok') op.error = parsed.error;
    else if (parsed.value !== undefined) op.value = parsed.value;
    if (type === 'invoke' && f === 'read') op.value = null;
    history.push(op);
    counts.operations++;
    counts[type]++;
    if (type === 'invoke') open.add(process);
    else open.delete(process);
  }
  counts.pending = open.size;
  return { history, counts };
}

function lineMs(line: string): number | undefined {
  const t = timestamp.exec(line);
  if (t === null) return undefined;
  const ms = Date.parse(`${t[1]}T${t[2]}.${t[3]}Z`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The value column: nil, an integer, [a b], or a keyword (an error after fail/info). */
function parseValue(text: string): { value?: unknown; error?: string } {
  if (text === '' || text === 'nil') return { value: null };
  if (text.startsWith(':')) return { error: text.slice(1) };
  const list = /^\[(.*)\]$/.exec(text);
  if (list !== null) return { value: list[1]!.trim().split(/[\s,]+/).filter((x) => x !== '').map(atom) };
  return { value: atom(text) };
}

function atom(text: string): unknown {
  if (text === 'nil') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}
