// keel-jepsen: the fault-injection harness's command line. Subcommands:
//   run   start a cluster, run workloads under a nemesis, check (see run --help)
//
//   check --jepsen-log FILE [--model cas-register|register]
//         reads a Jepsen single-register log (jepsen.util lines) and checks it
//   check --history FILE [--checkers linearizable,sequential,list-append] [--model M]
//         [--realtime true|false] [--report DIR]
//         checks one of keel's own JSON-lines histories
//   report --history FILE --out DIR [--faults FILE] [--checkers …]
//         checks a history and writes summary.txt, results.json, report.html
//
// check and report exit 0 when every checker says valid, 1 when one finds a
// violation, 2 when one could not decide, 3 on a usage or input error; the
// last line they print is a JSON summary (the CheckResult(s) plus counts).
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { parseHistory, type HistoryOp } from './history';
import { parseJepsenLog } from './checker/jepsen-log';
import { checkLinearizable, checkSequential } from './checker/linearizable';
import { checkListAppend } from './checker/list-append';
import { combineVerdicts, type CheckResult, type Verdict } from './checker/result';
import { countOps, writeReport, type FaultWindow } from './report';
import * as path from 'node:path';
import { parseRunOptions, runHelp, UsageError as RunUsageError } from './run/options';
import { runJepsen } from './run/runner';

class UsageError extends Error {}

const checkOptions = {
  'jepsen-log': { type: 'string' },
  history: { type: 'string' },
  checkers: { type: 'string' },
  model: { type: 'string', default: 'cas-register' },
  realtime: { type: 'string', default: 'true' },
  'time-limit-ms': { type: 'string' },
  'cache-entries-max': { type: 'string' },
  report: { type: 'string' },
  out: { type: 'string' },
  faults: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof checkOptions; allowPositionals: false }>>['values'];

const usage = `usage: keel-jepsen run [flags]   (keel-jepsen run --help)
       keel-jepsen check --jepsen-log FILE [--model cas-register|register]
       keel-jepsen check --history FILE [--checkers linearizable,sequential,list-append] [--model M] [--realtime true|false] [--report DIR]
       keel-jepsen report --history FILE --out DIR [--faults FILE] [--checkers …]
options: --time-limit-ms N (per checker), --cache-entries-max N (linearizability search)
exit: 0 valid, 1 invalid, 2 unknown, 3 usage or input error; the last line printed is a JSON summary`;

const commands: Record<string, (argv: string[]) => number | Promise<number>> = {
  run: (argv) => run(argv),
  check: (argv) => check(parse(argv)),
  report: (argv) => report(parse(argv)),
};

function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bin', 'keel.js'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(runHelp);
    return 0;
  }
  let o: ReturnType<typeof parseRunOptions>;
  try {
    o = parseRunOptions(argv, repoRoot());
  } catch (e) {
    if (e instanceof RunUsageError) throw new UsageError(e.message);
    throw e;
  }
  const out = await runJepsen(o, repoRoot(), (m) => process.stderr.write(`[jepsen ${new Date().toISOString().slice(11, 19)}] ${m}\n`));
  process.stdout.write(out.summary);
  process.stdout.write(`run directory: ${out.dir}\n`);
  return out.exitCode;
}

function parse(argv: string[]): Values {
  try {
    return parseArgs({ args: argv, options: checkOptions, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function exitCode(v: Verdict): number {
  return v === true ? 0 : v === false ? 1 : 2;
}

function numberOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got ${v}`);
  return n;
}

function model(v: Values): 'register' | 'cas-register' {
  if (v.model !== 'register' && v.model !== 'cas-register') throw new UsageError(`--model must be register or cas-register, got ${v.model}`);
  return v.model;
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

function check(v: Values): number {
  if (v.help === true) {
    console.log(usage);
    return 0;
  }
  if (v['jepsen-log'] !== undefined) return checkJepsenLog(v, v['jepsen-log']);
  if (v.history === undefined) throw new UsageError('check needs --jepsen-log FILE or --history FILE');
  const history = loadHistory(v.history);
  const results = runCheckers(history, v);
  const verdict = combineVerdicts(results);
  for (const r of results) console.log(`${r.checker}: ${verdictText(r)}`);
  if (v.report !== undefined) console.log(`report: ${writeReport(v.report, { history, results, faults: loadFaults(v.faults), meta: { history: v.history } }).htmlFile ?? v.report}`);
  console.log(JSON.stringify({ valid: verdict, results, counts: countOps(history) }));
  return exitCode(verdict);
}

function checkJepsenLog(v: Values, file: string): number {
  const { history, counts } = parseJepsenLog(readFile(file));
  const opts: Parameters<typeof checkLinearizable>[1] = { model: model(v) };
  const timeLimitMs = numberOption(v['time-limit-ms'], 'time-limit-ms');
  const cacheEntriesMax = numberOption(v['cache-entries-max'], 'cache-entries-max');
  if (timeLimitMs !== undefined) opts.timeLimitMs = timeLimitMs;
  if (cacheEntriesMax !== undefined) opts.cacheEntriesMax = cacheEntriesMax;
  const result = checkLinearizable(history, opts);
  console.log(`${file}: ${counts.operations} operations (${counts.invoke} invoked, ${counts.ok} ok, ${counts.fail} fail, ${counts.info} info, ${counts.pending} never completed)`);
  console.log(`linearizable: ${verdictText(result)}`);
  for (const a of result.anomalies) console.log(`  ${a.kind}: ${a.explanation}`);
  console.log(JSON.stringify({ ...result, counts }));
  return exitCode(result.valid);
}

function report(v: Values): number {
  if (v.history === undefined || v.out === undefined) throw new UsageError('report needs --history FILE and --out DIR');
  const history = loadHistory(v.history);
  const results = runCheckers(history, v);
  const { summaryText, htmlFile } = writeReport(v.out, { history, results, faults: loadFaults(v.faults), meta: { history: v.history } });
  process.stdout.write(summaryText);
  if (htmlFile !== undefined) console.log(`report: ${htmlFile}`);
  const verdict = combineVerdicts(results);
  console.log(JSON.stringify({ valid: verdict, results: results.map((r) => ({ checker: r.checker, valid: r.valid, anomalies: r.anomalies.length })), counts: countOps(history) }));
  return exitCode(verdict);
}

function verdictText(r: CheckResult): string {
  if (r.valid === true) return 'valid';
  if (r.valid === false) return `INVALID, ${r.anomalies.length} anomalies`;
  return `unknown (${r.unknownReason ?? 'no reason'})`;
}

function loadHistory(file: string): HistoryOp[] {
  try {
    return parseHistory(readFile(file));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file} is not a JSON-lines history: ${(e as Error).message}`);
  }
}

function loadFaults(file: string | undefined): FaultWindow[] {
  if (file === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(readFile(file));
    if (!Array.isArray(parsed)) throw new Error('not a JSON array');
    return parsed as FaultWindow[];
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file} is not a JSON array of {startNs, endNs, kind, detail}: ${(e as Error).message}`);
  }
}

/** The checkers asked for, or those the history's operations call for. */
function runCheckers(history: readonly HistoryOp[], v: Values): CheckResult[] {
  const timeLimitMs = numberOption(v['time-limit-ms'], 'time-limit-ms');
  const cacheEntriesMax = numberOption(v['cache-entries-max'], 'cache-entries-max');
  const names = v.checkers?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? defaultCheckers(history);
  if (v.realtime !== 'true' && v.realtime !== 'false') throw new UsageError(`--realtime must be true or false, got ${v.realtime}`);
  const realtime = v.realtime === 'true';
  return names.map((name) => {
    if (name === 'linearizable') {
      const opts: Parameters<typeof checkLinearizable>[1] = { model: model(v) };
      if (timeLimitMs !== undefined) opts.timeLimitMs = timeLimitMs;
      if (cacheEntriesMax !== undefined) opts.cacheEntriesMax = cacheEntriesMax;
      return checkLinearizable(history, opts);
    }
    if (name === 'sequential') return checkSequential(history);
    if (name === 'list-append') return checkListAppend(history, timeLimitMs === undefined ? { realtime } : { realtime, timeLimitMs });
    throw new UsageError(`unknown checker ${name} (known: linearizable, sequential, list-append)`);
  });
}

function defaultCheckers(history: readonly HistoryOp[]): string[] {
  const fs = new Set(history.map((op) => op.f));
  const out: string[] = [];
  if (fs.has('read') || fs.has('write') || fs.has('cas')) out.push('linearizable');
  if (history.some((op) => op.extra?.['serializable'] === true)) out.push('sequential');
  if (fs.has('txn')) out.push('list-append');
  return out.length > 0 ? out : ['linearizable'];
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (command === undefined) {
    console.error(name === undefined || name === '--help' || name === '-h' ? usage : `unknown command ${name}\n${usage}`);
    return name === '--help' || name === '-h' ? 0 : 3;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`keel-jepsen: ${e.message}`);
    return 3;
  }
}

// Runs leave client connections and timers behind: the exit code ends the process.
if (require.main === module) void main(process.argv.slice(2)).then((code) => process.exit(code));
