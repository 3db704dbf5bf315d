// The offline commands' steps, shared by keelctl (etcdctl 3.4's snapshot
// status|restore, defrag --data-dir) and keelutl (etcdutl 3.5's): checks and
// messages as etcd's, the work itself done by the OfflineTools cmd/ passes in.
// The two tools differ only in their log lines and in whether an empty data
// dir may be restored into, which the dialect says.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goDuration, hexID, humanizeBytes } from './go-format';
import { Exit, ExitError } from './exit';
import { assert } from '../util';
import { OfflineError, type BootstrapIds, type BootstrapMember, type DefragResult, type OfflineTools, type RestoreResult } from './offline';
import type { DbHashKV, DbStatus } from './printers';
import { planRestore, type RestoreFlags } from './restore-plan';
import type { LogField, LogInfo } from './zap-log';

/** bbolt refuses a file smaller than two 4 KiB pages with its own message. */
const boltMinFileBytes = 2 * 4096;

export interface OfflineDialect {
  log: LogInfo;
  restoringCaller: string;
  addedMemberCaller: string;
  restoredCaller: string;
  /** etcdutl 3.5 logs the URLs it resolves while matching advertised and cluster peer URLs. */
  resolvedCaller?: string;
  /** etcdctl 3.4 logs the restored store's last compaction (mvcc's restore). */
  compactCaller?: string;
  /** etcdutl 3.5 logs the membership trim of the restored backend. */
  trimmingCaller?: string;
  /** Fields etcdutl 3.5 adds to the restore lines. */
  restoreExtra: readonly LogField[];
  /** The refusal of dataDir as a restore target, or undefined. */
  refuseDataDir(dataDir: string): string | undefined;
  /** etcdutl 3.5 logs defragmentation; etcdctl 3.4 is silent. */
  defragCallers?: { start: string; done: string };
}

export interface RestoreRequest extends RestoreFlags {
  file: string;
  /** '' means <name>.keel (etcd: <name>.etcd). */
  dataDir: string;
  walDir: string;
}

function fail(message: string): never {
  throw new ExitError(Exit.error, message);
}

const errnoTexts: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
};

/** Go's *PathError text: "<op> <path>: <errno text>". */
function goPathError(op: string, file: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return `${op} ${file}: ${errnoTexts[code] ?? (e instanceof Error ? e.message : String(e))}`;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The file's size, or etcd's error for a file it could not open. */
function statSnapshotFile(op: 'stat' | 'open', file: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    fail(goPathError(op, file, e));
  }
  if (st.isDirectory()) fail(op === 'stat' ? `open ${file}: is a directory` : `read ${file}: is a directory`);
  try {
    fs.closeSync(fs.openSync(file, 'r'));
  } catch (e) {
    fail(goPathError('open', file, e));
  }
  return st.size;
}

/** `snapshot status FILE`. */
export async function snapshotStatus(tools: OfflineTools, file: string): Promise<DbStatus> {
  const size = statSnapshotFile('stat', file);
  try {
    return await tools.snapshotStatus(file);
  } catch (e) {
    if (e instanceof OfflineError && e.kind === 'invalid-snapshot') fail(size < boltMinFileBytes ? 'file size too small' : 'invalid database');
    fail(errorMessage(e));
  }
}

/** The restore's data dir (checked) and the dirs etcd names in its restore lines. */
function restoreTarget(d: OfflineDialect, req: RestoreRequest): { dataDir: string; dirs: LogField[] } {
  const dataDir = req.dataDir === '' ? `${req.name}.keel` : req.dataDir;
  const refusal = d.refuseDataDir(dataDir);
  if (refusal !== undefined) fail(refusal);
  const ownWalDir = path.join(dataDir, 'member', 'wal');
  const walDir = req.walDir === '' ? ownWalDir : req.walDir;
  if (path.resolve(walDir) !== path.resolve(ownWalDir)) {
    throw new ExitError(Exit.badFeature, `--wal-dir is not supported by keel (its raft log is always ${ownWalDir})`);
  }
  const dirs: LogField[] = [['path', req.file], ['wal-dir', walDir], ['data-dir', dataDir], ['snap-dir', path.join(dataDir, 'member', 'snap')], ...d.restoreExtra];
  return { dataDir, dirs };
}

async function restoreFile(tools: OfflineTools, file: string, dataDir: string): Promise<RestoreResult> {
  statSnapshotFile('open', file);
  try {
    return await tools.snapshotRestore(file, dataDir);
  } catch (e) {
    fail(errorMessage(e));
  }
}

/** `snapshot restore FILE`: a new member's data dir, logged as etcd logs it. */
export async function snapshotRestore(tools: OfflineTools, d: OfflineDialect, req: RestoreRequest): Promise<void> {
  const resolved = d.resolvedCaller;
  const plan = planRestore(req, (url, hostPort) => {
    if (resolved !== undefined) d.log(resolved, 'resolved URL Host', [['url', url], ['host', hostPort], ['resolved-addr', hostPort]]);
  });
  const { dataDir, dirs } = restoreTarget(d, req);
  d.log(d.restoringCaller, 'restoring snapshot', dirs);
  const ids = await tools.bootstrapIds(plan.members, plan.token);
  const restored = await restoreFile(tools, req.file, dataDir);
  if (d.compactCaller !== undefined && restored.compactRevision > 0) {
    d.log(d.compactCaller, 'restored last compact revision', [
      ['meta-bucket-name', 'meta'], ['meta-bucket-name-key', 'finishedCompactRev'], ['restored-compact-revision', restored.compactRevision],
    ]);
  }
  if (d.trimmingCaller !== undefined) d.log(d.trimmingCaller, 'Trimming membership information from the backend...');
  logAddedMembers(d, plan.members, ids);
  d.log(d.restoredCaller, 'restored snapshot', dirs);
}

/** etcd adds the new cluster's members in ID order, logging each. */
function logAddedMembers(d: OfflineDialect, members: readonly BootstrapMember[], ids: BootstrapIds): void {
  assert(ids.memberIds.length === members.length, 'one ID per bootstrap member');
  const added = members.map((m, i) => ({ id: ids.memberIds[i] ?? 0n, peerUrls: m.peerUrls }));
  added.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const m of added) {
    d.log(d.addedMemberCaller, 'added member', [
      ['cluster-id', hexID(ids.clusterId)], ['local-member-id', '0'], ['added-peer-id', hexID(m.id)], ['added-peer-peer-urls', m.peerUrls],
    ]);
  }
}

function sizeFields(bytes: number): LogField[] {
  return [['current-db-size-bytes', bytes], ['current-db-size', humanizeBytes(bytes)]];
}

/** `defrag --data-dir D`: a stopped member's backend, rewritten. */
export async function defragDataDir(tools: OfflineTools, d: OfflineDialect, dataDir: string): Promise<void> {
  const started = process.hrtime.bigint();
  let result: DefragResult;
  try {
    result = await tools.defragment(dataDir);
  } catch (e) {
    fail(`Failed to defragment etcd data[${dataDir}] (${errorMessage(e)})`);
  }
  if (d.defragCallers === undefined) return;
  // Logged once done: the tools report both sizes together.
  d.log(d.defragCallers.start, 'defragmenting', [['path', result.path], ...sizeFields(result.sizeBeforeBytes)]);
  const took = goDuration(process.hrtime.bigint() - started);
  const diff = result.sizeAfterBytes - result.sizeBeforeBytes;
  d.log(d.defragCallers.done, 'finished defragmenting directory', [
    ['path', result.path], ['current-db-size-bytes-diff', diff], ...sizeFields(result.sizeAfterBytes), ['took', took],
  ]);
}

/** `hashkv`: HashKV of a stopped member's backend. */
export async function hashKvDataDir(tools: OfflineTools, dataDir: string, revision: number): Promise<DbHashKV> {
  try {
    return await tools.hashKv(dataDir, revision);
  } catch (e) {
    fail(errorMessage(e));
  }
}
