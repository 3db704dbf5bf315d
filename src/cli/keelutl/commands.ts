// keelutl's commands: etcdutl 3.5's snapshot status|restore and defrag,
// etcd 3.6's hashkv, and version. Their checks and work are the same as
// keelctl's offline commands (offline-run.ts); only the log dialect differs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Exit, ExitError } from '../exit';
import type { Io } from '../io';
import type { OfflineTools } from '../offline';
import { defragDataDir, hashKvDataDir, snapshotRestore, snapshotStatus, type OfflineDialect } from '../offline-run';
import { newPrinter, type Printer } from '../printers';
import { consoleLogLine } from '../zap-log';
import type { ParsedArgs } from '../flags';

export const etcdutlVersion = '3.5.16';
export const utlApiVersion = '3.5';

export class UtlContext {
  constructor(readonly io: Io, readonly tools: OfflineTools, private readonly parsed: ParsedArgs) {}

  get args(): string[] {
    return this.parsed.positionals;
  }

  str(name: string): string {
    const v = this.parsed.values.get(name);
    return typeof v === 'string' ? v : '';
  }

  int(name: string): number {
    const v = this.parsed.values.get(name);
    return typeof v === 'number' ? v : 0;
  }

  bool(name: string): boolean {
    return this.parsed.values.get(name) === true;
  }

  /** etcdutl's initPrinterFromCmd. */
  printer(): Printer {
    const w = this.str('write-out');
    if (w === 'simple' || w === 'json' || w === 'fields' || w === 'table' || w === 'protobuf') return newPrinter(w, this.io, false);
    throw new ExitError(Exit.badFeature, 'unsupported output format');
  }
}

export type UtlHandler = (ctx: UtlContext) => Promise<void>;

function dirIsEmpty(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

function dialect(io: Io, memoryMapBytes: number): OfflineDialect {
  return {
    log: (caller, msg, fields) => io.err(consoleLogLine(caller, msg, fields)),
    resolvedCaller: 'netutil/netutil.go:112',
    restoringCaller: 'snapshot/v3_snapshot.go:265',
    trimmingCaller: 'membership/store.go:141',
    addedMemberCaller: 'membership/cluster.go:421',
    restoredCaller: 'snapshot/v3_snapshot.go:293',
    restoreExtra: [['initial-memory-map-size', memoryMapBytes]],
    // etcdutl 3.5 restores into an absent or empty data dir.
    refuseDataDir: (dataDir) => (fs.existsSync(dataDir) && !dirIsEmpty(dataDir) ? `data-dir ${JSON.stringify(dataDir)} not empty or could not be read` : undefined),
    defragCallers: { start: 'backend/backend.go:509', done: 'backend/backend.go:561' },
  };
}

/** bbolt's default initial mmap size, which etcdutl logs (LevelDB has none to set). */
const defaultMemoryMapBytes = 10 * 1024 * 1024 * 1024;

async function statusCommand(ctx: UtlContext): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'snapshot status requires exactly one argument');
  const printer = ctx.printer();
  printer.dbStatus(await snapshotStatus(ctx.tools, ctx.args[0] ?? ''));
}

async function restoreCommand(ctx: UtlContext): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'snapshot restore requires exactly one argument');
  const bump = ctx.int('bump-revision');
  const markCompacted = ctx.bool('mark-compacted');
  // etcdutl 3.5.16 answers both halves of the pairing with this one message.
  if ((bump > 0) !== markCompacted) throw new ExitError(Exit.badArgs, '--mark-compacted required if --revision-bump > 0');
  if (markCompacted) throw new ExitError(Exit.badFeature, '--bump-revision and --mark-compacted are not supported by keelutl yet');
  const memoryMapBytes = ctx.int('initial-memory-map-size');
  await snapshotRestore(ctx.tools, dialect(ctx.io, memoryMapBytes > 0 ? memoryMapBytes : defaultMemoryMapBytes), {
    file: ctx.args[0] ?? '',
    dataDir: ctx.str('data-dir'),
    walDir: ctx.str('wal-dir'),
    name: ctx.str('name'),
    initialCluster: ctx.str('initial-cluster'),
    initialClusterToken: ctx.str('initial-cluster-token'),
    initialAdvertisePeerUrls: ctx.str('initial-advertise-peer-urls'),
  });
}

async function defragCommand(ctx: UtlContext): Promise<void> {
  await defragDataDir(ctx.tools, dialect(ctx.io, defaultMemoryMapBytes), ctx.str('data-dir'));
}

/** hashkv's path: a data dir, or (as etcd 3.6 takes) the backend inside one. */
function hashKvDataDirOf(ctx: UtlContext): string {
  const flag = ctx.str('data-dir');
  if (flag !== '') {
    if (ctx.args.length !== 0) throw new ExitError(Exit.badArgs, 'hashkv takes a <filename> or --data-dir, not both');
    return flag;
  }
  if (ctx.args.length !== 1) throw new ExitError(Exit.error, `accepts 1 arg(s), received ${ctx.args.length}`);
  const given = path.normalize(ctx.args[0] ?? '');
  return given.endsWith(path.join('member', 'db')) ? path.dirname(path.dirname(given)) : given;
}

async function hashKvCommand(ctx: UtlContext): Promise<void> {
  const dataDir = hashKvDataDirOf(ctx);
  const printer = ctx.printer();
  printer.dbHashKV(await hashKvDataDir(ctx.tools, dataDir, ctx.int('rev')));
}

function versionCommand(ctx: UtlContext): Promise<void> {
  ctx.io.out(`etcdutl version: ${etcdutlVersion}\nAPI version: ${utlApiVersion}\n`);
  return Promise.resolve();
}

function saveCommand(ctx: UtlContext): Promise<void> {
  ctx.io.err('Command "save" is deprecated, Use `etcdctl snapshot save` to download snapshot\n');
  return Promise.reject(new ExitError(Exit.badArgs, 'In order to download snapshot use: `etcdctl snapshot save ...`'));
}

export const utlCommands: Readonly<Record<string, UtlHandler>> = {
  'snapshot status': statusCommand,
  'snapshot restore': restoreCommand,
  'snapshot save': saveCommand,
  defrag: defragCommand,
  hashkv: hashKvCommand,
  version: versionCommand,
};
