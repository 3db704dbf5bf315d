// snapshot save|status|restore and defrag --data-dir (the offline ones run on
// the OfflineTools cmd/keelctl.ts passes in), and the commands keelctl does
// not implement yet, which end clearly.
import * as fs from 'node:fs';
import type * as t from '../../client';
import { Context, Exit, ExitError, errorText } from '../runtime';
import { humanizeBytes, zapTime } from '../go-format';
import { defragDataDir, snapshotRestore, snapshotStatus, type OfflineDialect } from '../offline-run';
import { jsonLogLine } from '../zap-log';
import { waitForInterrupt } from '../io';

function info(ctx: Context, epochTs: boolean, caller: string, msg: string, fields: Record<string, string | number> = {}): void {
  const now = Date.now();
  const ts = epochTs ? String(now / 1000) : JSON.stringify(zapTime(new Date(now)));
  const extra = Object.entries(fields).map(([k, v]) => `,${JSON.stringify(k)}:${typeof v === 'number' ? String(v) : JSON.stringify(v)}`).join('');
  ctx.io.err(`{"level":"info","ts":${ts},"caller":${JSON.stringify(caller)},"msg":${JSON.stringify(msg)}${extra}}\n`);
}

export async function snapshotSaveCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'snapshot save expects one argument');
  const file = ctx.args[0] ?? '';
  const eps = (ctx.clientOptions().endpoints);
  if (eps.length !== 1) throw new ExitError(Exit.interrupted, `snapshot must be requested to one selected node, not multiple [${eps.join(' ')}]`);
  const ep = eps[0] ?? '';
  const partial = `${file}.part`;
  const client = ctx.client();
  const fd = fs.openSync(partial, 'w', 0o600);
  info(ctx, true, 'snapshot/v3_snapshot.go:119', 'created temporary db file', { path: partial });
  const started = process.hrtime.bigint();
  const stop = waitForInterrupt(ctx.io);
  let size = 0;
  try {
    const timeout = ctx.changed('command-timeout') ? Date.now() + ctx.commandTimeoutMs : undefined;
    const stream = await client.serverStream('Maintenance', 'Snapshot', {}, timeout !== undefined ? { streamDeadline: timeout } : {});
    ctx.cleanups.push(() => stream.cancel());
    info(ctx, false, 'clientv3/maintenance.go:200', 'opened snapshot stream; downloading');
    info(ctx, true, 'snapshot/v3_snapshot.go:127', 'fetching snapshot', { endpoint: ep });
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (d: unknown) => {
        const blob = (d as t.SnapshotResponse).blob;
        fs.writeSync(fd, blob);
        size += blob.length;
      });
      stream.on('end', () => resolve());
      stream.on('error', (e) => reject(e));
    });
    const outcome = await Promise.race([done.then(() => 'done' as const), stop.promise.then(() => 'interrupted' as const)]);
    if (outcome === 'interrupted') {
      stream.cancel();
      throw new ExitError(Exit.interrupted, 'context canceled');
    }
    info(ctx, false, 'clientv3/maintenance.go:208', 'completed snapshot read; closing');
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(partial, { force: true });
    if (e instanceof ExitError) throw e;
    throw new ExitError(Exit.interrupted, errorText(e));
  } finally {
    stop.dispose();
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const took = Number(process.hrtime.bigint() - started) / 1e9;
  info(ctx, true, 'snapshot/v3_snapshot.go:142', 'fetched snapshot', { endpoint: ep, size: humanizeBytes(size), took });
  fs.renameSync(partial, file);
  info(ctx, true, 'snapshot/v3_snapshot.go:152', 'saved', { path: file });
  ctx.println(`Snapshot saved at ${file}`);
}

/** Commands keelctl accepts (flags, --help) but cannot run yet: a clear message, exit 4. */
export function notSupported(what: string, why: string): (ctx: Context) => Promise<void> {
  return () => Promise.reject(new ExitError(Exit.badFeature, `${what} is not supported by keelctl yet (${why})`));
}

/** etcdctl 3.4's restore log lines; it refuses any existing data dir. */
const etcdctl34: OfflineDialect = {
  log: () => undefined,
  restoringCaller: 'snapshot/v3_snapshot.go:296',
  compactCaller: 'mvcc/kvstore.go:388',
  addedMemberCaller: 'membership/cluster.go:392',
  restoredCaller: 'snapshot/v3_snapshot.go:309',
  restoreExtra: [],
  refuseDataDir: (dataDir) => (fs.existsSync(dataDir) ? `data-dir ${JSON.stringify(dataDir)} exists` : undefined),
};

function dialect(ctx: Context): OfflineDialect {
  return { ...etcdctl34, log: (caller, msg, fields) => ctx.io.err(jsonLogLine(caller, msg, fields)) };
}

/** etcdctl snapshot status: hash, revision, total keys, total size. */
export async function snapshotStatusCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'snapshot status requires exactly one argument');
  const printer = ctx.printer();
  printer.dbStatus(await snapshotStatus(ctx.offline, ctx.args[0] ?? ''));
}

/** etcdctl snapshot restore: a new data dir (default <name>.keel) holding the snapshot's keys and revisions. */
export async function snapshotRestoreCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'snapshot restore requires exactly one argument');
  await snapshotRestore(ctx.offline, dialect(ctx), {
    file: ctx.args[0] ?? '',
    dataDir: ctx.str('data-dir'),
    walDir: ctx.str('wal-dir'),
    name: ctx.str('name'),
    initialCluster: ctx.str('initial-cluster'),
    initialClusterToken: ctx.str('initial-cluster-token'),
    initialAdvertisePeerUrls: ctx.str('initial-advertise-peer-urls'),
  });
}

/** etcdctl defrag --data-dir: offline, silent on success. */
export async function defragDataDirCommand(ctx: Context): Promise<void> {
  await defragDataDir(ctx.offline, dialect(ctx), ctx.str('data-dir'));
}
