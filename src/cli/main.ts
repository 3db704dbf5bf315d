// keelctl's entry: finds the command like cobra does, parses flags like
// pflag does, runs it, and turns every failure into etcdctl's message and
// exit code (never a stack trace). The process itself (argv, env, signals,
// exit) is cmd/keelctl.ts's.
import { Command } from 'commander';
import { FlagError, findCommandPath, flagSpecs, parseFlags } from './flags';
import { helpTexts } from './help-data';
import { Context, Exit, ExitError } from './runtime';
import type { Io } from './io';
import type { OfflineTools } from './offline';
import { commands } from './commands';

/** Command paths that exist (runnable commands and their groups). */
export function knownPaths(): Set<string> {
  const paths = new Set(Object.keys(helpTexts).filter((p) => p !== ''));
  paths.add('auth status'); // etcdctl 3.5's; 3.4 has no such command
  return paths;
}

/**
 * The command tree as a commander program: used for discovery (keelctl's
 * own listing and completion tools); parsing itself follows pflag's rules,
 * which commander's parser does not share (--bool=false, -wjson, flags
 * after "--" handling, cobra's error texts).
 */
export function commandTree(): Command {
  const program = new Command('keelctl').description('A simple command line client for etcd3 (and keel).');
  const groups = new Map<string, Command>();
  for (const path of Object.keys(helpTexts).sort()) {
    if (path === '') continue;
    const words = path.split(' ');
    const short = /^NAME:\n\t\S.* - (.*)$/m.exec(helpTexts[path] ?? '')?.[1] ?? '';
    if (words.length === 1) {
      const c = program.command(path).description(short);
      groups.set(path, c);
    } else {
      const parent = groups.get(words[0] ?? '') ?? program.command(words[0] ?? '');
      groups.set(words[0] ?? '', parent);
      parent.command(words.slice(1).join(' ')).description(short);
    }
  }
  return program;
}

function printHelp(ctxIo: Io, path: string): void {
  ctxIo.out(helpTexts[path] ?? helpTexts[''] ?? '');
}

/** Runs one keelctl command line; resolves to the exit code (exitBySignal: die by SIGINT). */
export async function run(argv: readonly string[], io: Io, offline: OfflineTools): Promise<number> {
  const known = knownPaths();
  const { path, rest } = findCommandPath(argv, known);
  let ctx: Context | undefined;
  try {
    let parsed;
    try {
      parsed = parseFlags(rest, flagSpecs(path));
    } catch (e) {
      if (e instanceof FlagError) {
        io.err(`Error: ${e.message}\n`);
        printHelp(io, path);
        io.err('\n');
        throw new ExitError(Exit.error, e.message);
      }
      throw e;
    }
    if (parsed.values.get('help') === true) {
      printHelp(io, path);
      return Exit.success;
    }
    if (path === 'help') {
      const target = parsed.positionals.join(' ');
      printHelp(io, known.has(target) ? target : '');
      return Exit.success;
    }
    const handler = commands[path];
    if (handler === undefined) {
      if (path === '' && parsed.positionals.length > 0) {
        const word = parsed.positionals[0] ?? '';
        const msg = `unknown command ${JSON.stringify(word)} for "etcdctl"`;
        io.err(`Error: ${msg}\nRun 'etcdctl --help' for usage.\n`);
        throw new ExitError(Exit.error, msg);
      }
      printHelp(io, path);
      return Exit.success;
    }
    ctx = new Context(path, parsed, io, offline);
    await handler(ctx);
    return Exit.success;
  } catch (e) {
    if (e instanceof ExitError) {
      if (!e.silent) io.err(`Error: ${e.message}\n`);
      return ctx?.authFailed === true ? Exit.badConnection : e.code;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return Exit.error;
  } finally {
    if (ctx !== undefined) for (const c of ctx.cleanups) c();
  }
}
