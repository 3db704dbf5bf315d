// keelutl: etcdutl's offline tools (snapshot status|restore, defrag,
// hashkv) for keel's snapshot files and stopped members' data dirs. Command
// lookup, flag errors, help and exit codes follow cobra as etcdutl uses it;
// the storage work is the OfflineTools that cmd/keelutl.ts passes in.
import { FlagError, findCommandPath, parseFlags, type ParsedArgs } from '../flags';
import { Exit, ExitError } from '../exit';
import type { Io } from '../io';
import type { OfflineTools } from '../offline';
import { utlHelpTexts } from './help-data';
import { allUtlFlagSpecs, requiredFlags, utlFlagSpecs } from './flags';
import { UtlContext, utlCommands } from './commands';

const knownPaths: ReadonlySet<string> = new Set([...Object.keys(utlHelpTexts).filter((p) => p !== ''), ...Object.keys(utlCommands), 'help']);

function usage(path: string): string {
  return utlHelpTexts[path] ?? utlHelpTexts[''] ?? '';
}

/** cobra's error for a bad command line: the error, the usage, the error again (etcdutl's own print). */
function cobraError(io: Io, path: string, message: string): ExitError {
  io.err(`Error: ${message}\n${usage(path)}\n`);
  return new ExitError(Exit.error, message);
}

function parse(io: Io, path: string, rest: readonly string[]): ParsedArgs {
  try {
    return parseFlags(rest, utlFlagSpecs(path));
  } catch (e) {
    if (e instanceof FlagError) throw cobraError(io, path, e.message);
    throw e;
  }
}

function checkRequired(io: Io, path: string, parsed: ParsedArgs): void {
  const missing = (requiredFlags[path] ?? []).filter((f) => !parsed.changed.has(f));
  if (missing.length > 0) throw cobraError(io, path, `required flag(s) ${missing.map((f) => JSON.stringify(f)).join(', ')} not set`);
}

/** `help [command]`: cobra prints an unknown topic's complaint and the root usage (without -h, which help never adds). */
function help(io: Io, topic: readonly string[]): number {
  const path = topic.join(' ');
  if (topic.length === 0 || knownPaths.has(path)) {
    io.out(usage(path));
    return Exit.success;
  }
  const rootWithoutHelp = usage('').replace(/^ {2}-h, --help .*\n/m, '');
  io.err(`Unknown help topic [${topic.map((w) => `\`${w}\``).join(' ')}]\n${rootWithoutHelp}`);
  return Exit.success;
}

async function dispatch(io: Io, tools: OfflineTools, path: string, parsed: ParsedArgs): Promise<number> {
  if (path === 'help') return help(io, parsed.positionals);
  const handler = utlCommands[path];
  if (handler === undefined) {
    const word = parsed.positionals[0];
    if (path === '' && word !== undefined) {
      const msg = `unknown command ${JSON.stringify(word)} for "etcdutl"`;
      io.err(`Error: ${msg}\nRun 'etcdutl --help' for usage.\n`);
      throw new ExitError(Exit.error, msg);
    }
    io.out(usage(path));
    return Exit.success;
  }
  checkRequired(io, path, parsed);
  await handler(new UtlContext(io, tools, parsed));
  return Exit.success;
}

/** Runs one keelutl command line; resolves to the exit code. */
export async function runUtl(argv: readonly string[], io: Io, tools: OfflineTools): Promise<number> {
  const { path, rest } = findCommandPath(argv, knownPaths, allUtlFlagSpecs());
  try {
    const parsed = parse(io, path, rest);
    if (parsed.values.get('help') === true) {
      io.out(usage(path));
      return Exit.success;
    }
    return await dispatch(io, tools, path, parsed);
  } catch (e) {
    if (e instanceof ExitError) {
      if (!e.silent) io.err(`Error: ${e.message}\n`);
      return e.code;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return Exit.error;
  }
}
