// keel-jepsen: the fault-injection harness's command line. Subcommands:
//   run    start a cluster, run workloads under a nemesis, check (see run --help)
// (`check`, re-checking a run directory's history, is added with the checkers' half.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRunOptions, runHelp, UsageError } from './run/options';
import { runJepsen } from './run/runner';

const usage = `Usage: keel-jepsen <command> [flags]

Commands:
  run      run workloads against keel (or etcd) under faults and check the history

Run 'keel-jepsen run --help' for run's flags.
`;

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
  const o = parseRunOptions(argv, repoRoot());
  const out = await runJepsen(o, repoRoot(), (m) => process.stderr.write(`[jepsen ${new Date().toISOString().slice(11, 19)}] ${m}\n`));
  process.stdout.write(out.summary);
  process.stdout.write(`run directory: ${out.dir}\n`);
  return out.exitCode;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'run') return run(rest);
  process.stderr.write(`keel-jepsen: unknown command "${cmd}"\n${usage}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`keel-jepsen: ${e instanceof UsageError ? '' : 'error: '}${e instanceof Error ? (e instanceof UsageError ? e.message : e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
