// lease grant|revoke|timetolive|list|keep-alive and watch (plain, -i, and
// the exec form `watch key -- cmd args`).
import { spawnSync } from 'node:child_process';
import type * as grpc from '@grpc/grpc-js';
import type * as t from '../../client';
import { toBigint } from '../../client';
import { prefixRangeEnd } from '../range-end';
import { Context, Exit, ExitError, errorText, exitBySignal } from '../runtime';
import { goQuote, hexID16 } from '../go-format';
import { parseGoInt, parseHexInt64 } from './util';
import { waitForInterrupt } from '../io';
import { argify } from './kv';

function leaseFromArgs(arg: string): bigint {
  const id = parseHexInt64(arg);
  if (typeof id === 'string') throw new ExitError(Exit.badArgs, `bad lease ID arg (${id}), expecting ID in Hex`);
  return id;
}

export async function leaseGrantCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'lease grant command needs TTL argument');
  const ttl = parseGoInt(ctx.args[0] ?? '');
  if (typeof ttl === 'string') throw new ExitError(Exit.badArgs, `bad TTL (${ttl})`);
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.LeaseGrantResponse;
  try {
    resp = await client.leaseGrant(ttl, 0n, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, `failed to grant lease (${errorText(e)})`);
  }
  printer.grant(resp);
}

export async function leaseRevokeCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'lease revoke command needs 1 argument');
  const id = leaseFromArgs(ctx.args[0] ?? '');
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.LeaseRevokeResponse;
  try {
    resp = await client.leaseRevoke(id, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, `failed to revoke lease (${errorText(e)})`);
  }
  printer.revoke(id, resp);
}

export async function leaseTimeToLiveCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'lease timetolive command needs lease ID as argument');
  const id = leaseFromArgs(ctx.args[0] ?? '');
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.LeaseTimeToLiveResponse;
  try {
    resp = await client.leaseTimeToLive(id, ctx.bool('keys'), ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.badConnection, errorText(e));
  }
  printer.timeToLive(resp, ctx.bool('keys'));
}

export async function leaseListCommand(ctx: Context): Promise<void> {
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.LeaseLeasesResponse;
  try {
    resp = await client.leaseLeases(ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, `failed to list leases (${errorText(e)})`);
  }
  printer.leases(resp);
}

/** One keep-alive round trip on a stream; TTL 0 means the lease is gone. */
function keepAliveOnce(stream: grpc.ClientDuplexStream<unknown, unknown>, id: bigint): Promise<t.LeaseKeepAliveResponse> {
  return new Promise((resolve, reject) => {
    const onData = (r: unknown): void => {
      cleanup();
      resolve(r as t.LeaseKeepAliveResponse);
    };
    const onError = (e: unknown): void => {
      cleanup();
      reject(e);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('lease keepalive stream closed'));
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('end', onEnd);
    };
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('end', onEnd);
    stream.write({ ID: id.toString() });
  });
}

export async function leaseKeepAliveCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'lease keep-alive command needs lease ID as argument');
  const id = leaseFromArgs(ctx.args[0] ?? '');
  const client = ctx.client();
  const printer = ctx.printer();
  let stream: grpc.ClientDuplexStream<unknown, unknown>;
  try {
    stream = await client.duplex('Lease', 'LeaseKeepAlive', ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.badConnection, errorText(e));
  }
  stream.on('error', () => undefined);
  ctx.cleanups.push(() => stream.cancel());
  const notFound = (): ExitError => new ExitError(Exit.badConnection, 'etcdserver: requested lease not found');
  if (ctx.bool('once')) {
    let r: t.LeaseKeepAliveResponse;
    try {
      r = await keepAliveOnce(stream, id);
    } catch (e) {
      throw new ExitError(Exit.badConnection, errorText(e));
    }
    if (r.TTL === '0') throw notFound();
    printer.keepAlive(r);
    return;
  }
  const stop = waitForInterrupt(ctx.io);
  for (;;) {
    let r: t.LeaseKeepAliveResponse;
    try {
      r = await keepAliveOnce(stream, id);
    } catch {
      break;
    }
    if (r.TTL === '0') break;
    printer.keepAlive(r);
    const waitMs = Math.max(500, (Number(r.TTL) * 1000) / 3);
    if (await stop.within(waitMs)) throw new ExitError(exitBySignal, '', true);
  }
  stop.dispose();
  if (printer.format === 'simple') ctx.println(`lease ${hexID16(BigInt.asUintN(64, toBigint(id)))} expired or revoked.`);
}

// --- watch

interface WatchSpec {
  key: string;
  rangeEnd: string | undefined;
  prefix: boolean;
  prevKv: boolean;
  rev: number;
}

function watchRequest(s: WatchSpec): t.WatchCreateRequest {
  let key = Buffer.from(s.key, 'utf8');
  let end: Buffer = s.rangeEnd === undefined ? Buffer.alloc(0) : Buffer.from(s.rangeEnd, 'utf8');
  if (s.prefix) {
    if (key.length === 0) {
      key = Buffer.from([0]);
      end = Buffer.from([0]);
    } else end = prefixRangeEnd(key);
  }
  return { key, range_end: end, start_revision: s.rev, prev_kv: s.prevKv };
}

function watchSpecFromArgs(args: string[], ctx: { prefix: boolean; prevKv: boolean; rev: number }): WatchSpec {
  if (args.length < 1 || args.length > 2) throw new ExitError(Exit.badArgs, 'bad number of arguments');
  if (args.length === 2 && ctx.prefix) throw new ExitError(Exit.badArgs, '`range_end` and `--prefix` are mutually exclusive');
  return { key: args[0] ?? '', rangeEnd: args[1], prefix: ctx.prefix, prevKv: ctx.prevKv, rev: ctx.rev };
}

function runExec(ctx: Context, execArgs: string[], r: t.WatchResponse): void {
  for (const ev of r.events) {
    const env = {
      ...ctx.io.env,
      ETCD_WATCH_REVISION: String(r.header?.revision ?? '0'),
      ETCD_WATCH_EVENT_TYPE: goQuote(ev.type === 1 ? 'DELETE' : 'PUT'),
      ETCD_WATCH_KEY: goQuote(ev.kv?.key ?? Buffer.alloc(0)),
      ETCD_WATCH_VALUE: goQuote(ev.kv?.value ?? Buffer.alloc(0)),
    };
    const res = spawnSync(execArgs[0] ?? '', execArgs.slice(1), { env, stdio: 'inherit' });
    if (res.error !== undefined || res.status !== 0) {
      const why = res.error !== undefined ? `exec: ${goQuote(execArgs[0] ?? '')}: executable file not found in $PATH` : `exit status ${res.status ?? 1}`;
      ctx.errln(`command ${goSliceQuoted(execArgs)} error (${why})`);
      throw new ExitError(Exit.error, '', true);
    }
  }
}

function goSliceQuoted(items: string[]): string {
  return `[${items.map((i) => goQuote(i)).join(' ')}]`;
}

export async function watchCommand(ctx: Context): Promise<void> {
  const envKey = ctx.io.env['ETCDCTL_WATCH_KEY'] ?? '';
  const envRange = ctx.io.env['ETCDCTL_WATCH_RANGE_END'] ?? '';
  if (envKey === '' && envRange !== '') throw new ExitError(Exit.badArgs, `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${goQuote(envRange)}`);
  const opts = { prefix: ctx.bool('prefix'), prevKv: ctx.bool('prev-kv'), rev: ctx.int('rev') };
  const dash = ctx.argsLenAtDash;
  let watchArgs = dash >= 0 ? ctx.args.slice(0, dash) : ctx.args;
  const execArgs = dash >= 0 ? ctx.args.slice(dash) : [];
  if (envKey !== '') {
    if (watchArgs.length > 0) throw new ExitError(Exit.badArgs, 'watch key and range_end are given both as arguments and environment variables');
    watchArgs = envRange !== '' ? [envKey, envRange] : [envKey];
  }
  if (dash >= 0 && execArgs.length === 0) throw new ExitError(Exit.badArgs, 'bad number of arguments (found separator --, but no commands)');

  const specs: WatchSpec[] = [];
  if (ctx.bool('interactive')) {
    const lines = ctx.io.stdin().toString('utf8').split('\n');
    for (const raw of lines) {
      const line = raw.trim();
      if (line === '') continue;
      const a = argify(line);
      if (a[0] !== 'watch') {
        ctx.errln(`Invalid command: ${line} (only support watch)`);
        continue;
      }
      specs.push(watchSpecFromArgs(a.slice(1).filter((x) => !x.startsWith('--')), {
        prefix: a.includes('--prefix') || opts.prefix,
        prevKv: a.includes('--prev-kv') || opts.prevKv,
        rev: opts.rev,
      }));
    }
  } else {
    specs.push(watchSpecFromArgs(watchArgs, opts));
  }
  const client = ctx.client();
  const printer = ctx.printer();
  let stream: grpc.ClientDuplexStream<unknown, unknown>;
  try {
    stream = await client.duplex('Watch', 'Watch', ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.badConnection, errorText(e));
  }
  ctx.cleanups.push(() => stream.cancel());
  const stop = waitForInterrupt(ctx.io);
  const done = new Promise<'ended' | 'error'>((resolve) => {
    stream.on('end', () => resolve('ended'));
    stream.on('error', () => resolve('error'));
  });
  const failure: { error?: unknown } = {};
  stream.on('data', (d: unknown) => {
    const r = d as t.WatchResponse;
    try {
      if (r.created && r.events.length === 0 && !r.canceled) return;
      if (r.canceled) ctx.errln(`watch was canceled (${r.cancel_reason !== '' ? r.cancel_reason : 'etcdserver: mvcc: required revision has been compacted'})`);
      if (r.events.length === 0 && !r.canceled) return;
      printer.watch(r);
      if (execArgs.length > 0) runExec(ctx, execArgs, r);
    } catch (e) {
      failure.error = e;
      stream.cancel();
    }
  });
  for (const s of specs) stream.write({ create_request: watchRequest(s) });
  const outcome = await Promise.race([done, stop.promise.then(() => 'interrupted' as const)]);
  stop.dispose();
  if (failure.error !== undefined) throw failure.error;
  if (outcome === 'interrupted') throw new ExitError(exitBySignal, '', true);
  throw new ExitError(Exit.interrupted, 'watch is canceled by the server');
}
