// endpoint health|status|hashkv, alarm list|disarm, defrag, move-leader,
// member *, version.
import type * as t from '../../client';
import { AlarmAction } from '../../client';
import { toBigint, type Client } from '../../client';
import type { EpHashKV, EpHealth, EpStatus } from '../printers';
import { Context, Exit, ExitError, errorText } from '../runtime';
import { goQuote } from '../go-format';
import { parseHexUint64 } from './util';
import { defragDataDirCommand } from './snapshot';

export const etcdctlVersion = '3.4.23';
export const apiVersion = '3.4';

export function versionCommand(ctx: Context): Promise<void> {
  ctx.println(`etcdctl version: ${etcdctlVersion}`);
  ctx.println(`API version: ${apiVersion}`);
  return Promise.resolve();
}

/** The endpoints to act on: --endpoints, or with --cluster every member's client URLs. */
async function endpointsFromCluster(ctx: Context): Promise<string[]> {
  ctx.applyEnv();
  const eps = (ctx.flag('endpoints') as string[] | undefined) ?? [];
  if (!ctx.bool('cluster')) return eps;
  let members: t.MemberListResponse;
  try {
    members = await ctx.client().memberList(ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, `failed to fetch endpoints from etcd cluster member list: ${errorText(e)}`);
  }
  const out: string[] = [];
  for (const m of members.members) out.push(...m.clientURLs);
  return out;
}

export async function endpointHealthCommand(ctx: Context): Promise<void> {
  const printer = ctx.printer();
  const eps = await endpointsFromCluster(ctx);
  const list = await Promise.all(eps.map((ep) => checkHealth(ctx, ep)));
  printer.endpointHealth(list);
  if (list.some((h) => h.error !== '')) throw new ExitError(Exit.error, 'unhealthy cluster');
}

async function checkHealth(ctx: Context, ep: string): Promise<EpHealth> {
  const cli = ctx.endpointClient(ep, false);
  const start = process.hrtime.bigint();
  const deadline = ctx.deadline();
  const h: EpHealth = { ep, health: false, tookNs: 0n, error: '' };
  try {
    await cli.range({ key: Buffer.from('health') }, deadline);
    h.health = true;
  } catch (e) {
    const text = errorText(e);
    if (text === 'etcdserver: permission denied') h.health = true;
    else h.error = text;
  }
  h.tookNs = process.hrtime.bigint() - start;
  if (h.health) {
    try {
      const alarms = await cli.alarm(AlarmAction.GET, 0n, 0, deadline);
      if (alarms.alarms.length > 0) {
        h.health = false;
        h.error = `Active Alarm(s): ${alarms.alarms.map((a) => (a.alarm === 1 ? 'NOSPACE ' : a.alarm === 2 ? 'CORRUPT ' : 'UNKNOWN ')).join('')}`;
      }
    } catch {
      h.health = false;
      h.error = 'Unable to fetch the alarm list';
    }
  }
  cli.close();
  return h;
}

export async function endpointStatusCommand(ctx: Context): Promise<void> {
  const printer = ctx.printer();
  ctx.client();
  const eps = await endpointsFromCluster(ctx);
  const list: EpStatus[] = [];
  let failed = false;
  for (const ep of eps) {
    const cli = ctx.endpointClient(ep, true);
    try {
      list.push({ ep, resp: await cli.status(ctx.deadline()) });
    } catch (e) {
      failed = true;
      ctx.errln(`Failed to get the status of endpoint ${ep} (${errorText(e)})`);
    }
    cli.close();
  }
  printer.endpointStatus(list);
  if (failed) throw new ExitError(Exit.error, '', true);
}

export async function endpointHashKVCommand(ctx: Context): Promise<void> {
  const printer = ctx.printer();
  ctx.client();
  const eps = await endpointsFromCluster(ctx);
  const list: EpHashKV[] = [];
  let failed = false;
  for (const ep of eps) {
    const cli = ctx.endpointClient(ep, true);
    try {
      const resp = await cli.hashKV(ctx.int('rev'), ctx.deadline());
      // etcdctl 3.4's HashKVResponse has no hash_revision (field 4, added in 3.5): print what it prints.
      delete (resp as { hash_revision?: unknown }).hash_revision;
      list.push({ ep, resp });
    } catch (e) {
      failed = true;
      ctx.errln(`Failed to get the hash of endpoint ${ep} (${errorText(e)})`);
    }
    cli.close();
  }
  printer.endpointHashKV(list);
  if (failed) throw new ExitError(Exit.error, '', true);
}

export async function alarmListCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 0) throw new ExitError(Exit.badArgs, 'alarm list command accepts no arguments');
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.AlarmResponse;
  try {
    resp = await client.alarm(AlarmAction.GET, 0n, 0, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.alarm(resp);
}

export async function alarmDisarmCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 0) throw new ExitError(Exit.badArgs, 'alarm disarm command accepts no arguments');
  const client = ctx.client();
  const printer = ctx.printer();
  const ret: t.AlarmResponse = { header: null, alarms: [] };
  const deadline = ctx.deadline();
  try {
    const list = await client.alarm(AlarmAction.GET, 0n, 0, deadline);
    for (const a of list.alarms) {
      const r = await client.alarm(AlarmAction.DEACTIVATE, toBigint(a.memberID), a.alarm, deadline);
      ret.alarms.push(...r.alarms);
    }
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.alarm(ret);
}

export async function defragCommand(ctx: Context): Promise<void> {
  if (ctx.str('data-dir') !== '') return defragDataDirCommand(ctx);
  ctx.client();
  let failures = 0;
  for (const ep of await endpointsFromCluster(ctx)) {
    const cli = ctx.endpointClient(ep, true);
    try {
      await cli.defragment(ctx.deadline());
      ctx.println(`Finished defragmenting etcd member[${ep}]`);
    } catch (e) {
      ctx.errln(`Failed to defragment etcd member[${ep}] (${errorText(e)})`);
      failures++;
    }
    cli.close();
  }
  if (failures !== 0) throw new ExitError(Exit.error, '', true);
}

export async function moveLeaderCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'move-leader command needs 1 argument');
  const target = parseHexUint64(ctx.args[0] ?? '');
  if (typeof target === 'string') throw new ExitError(Exit.badArgs, target);
  const main = ctx.client();
  const printer = ctx.printer();
  const eps = main.endpointList;
  const deadline = ctx.deadline();
  let leaderCli: Client | undefined;
  let leaderId = 0n;
  for (const ep of eps) {
    const cli = ctx.endpointClient(ep, true);
    let st: t.StatusResponse;
    try {
      st = await cli.status(deadline);
    } catch (e) {
      throw new ExitError(Exit.error, errorText(e));
    }
    if (st.header?.member_id === st.leader) {
      leaderCli = cli;
      leaderId = toBigint(st.leader);
      break;
    }
    cli.close();
  }
  if (leaderCli === undefined) throw new ExitError(Exit.badArgs, `no leader endpoint given at [${eps.join(' ')}]`);
  let resp: t.Message;
  try {
    resp = await leaderCli.moveLeader(target, deadline);
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.moveLeader(leaderId, target, resp);
}

// --- member

function memberId(ctx: Context): bigint {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'member ID is not provided');
  const id = parseHexUint64(ctx.args[0] ?? '');
  if (typeof id === 'string') throw new ExitError(Exit.badArgs, `bad member ID arg (${id}), expecting ID in Hex`);
  return id;
}

export async function memberListCommand(ctx: Context): Promise<void> {
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.MemberListResponse;
  try {
    resp = await client.memberList(ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.memberList(resp);
}

export async function memberAddCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'member name not provided');
  const name = ctx.args[0] ?? '';
  const peerUrls = ctx.str('peer-urls');
  if (peerUrls.length === 0) throw new ExitError(Exit.badArgs, 'member peer urls not provided');
  const urls = peerUrls.split(',');
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.MemberAddResponse;
  try {
    resp = await client.memberAdd(urls, ctx.bool('learner'), ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.memberAdd(resp);
  if (printer.format !== 'simple') return;
  let list: t.MemberListResponse;
  try {
    list = await client.memberList(ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  const newId = resp.member?.ID;
  const conf: string[] = [];
  for (const m of list.members) for (const u of m.peerURLs) conf.push(`${m.ID === newId ? name : m.name}=${u}`);
  ctx.println('');
  ctx.println(`ETCD_NAME=${goQuote(name)}`);
  ctx.println(`ETCD_INITIAL_CLUSTER=${goQuote(conf.join(','))}`);
  ctx.println(`ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(peerUrls)}`);
  ctx.println('ETCD_INITIAL_CLUSTER_STATE="existing"');
}

export async function memberRemoveCommand(ctx: Context): Promise<void> {
  const id = memberId(ctx);
  const client = ctx.client();
  const printer = ctx.printer();
  try {
    printer.memberChange('removed from', id, await client.memberRemove(id, ctx.deadline()), 'MemberRemove');
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(Exit.error, errorText(e));
  }
}

export async function memberUpdateCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'member ID is not provided');
  const peerUrls = ctx.str('peer-urls');
  if (peerUrls.length === 0) throw new ExitError(Exit.badArgs, 'member peer urls not provided');
  const id = memberId(ctx);
  const client = ctx.client();
  const printer = ctx.printer();
  try {
    printer.memberChange('updated in', id, await client.memberUpdate(id, peerUrls.split(','), ctx.deadline()), 'MemberUpdate');
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(Exit.error, errorText(e));
  }
}

export async function memberPromoteCommand(ctx: Context): Promise<void> {
  const id = memberId(ctx);
  const client = ctx.client();
  const printer = ctx.printer();
  try {
    printer.memberChange('promoted in', id, await client.memberPromote(id, ctx.deadline()), 'MemberPromote');
  } catch (e) {
    if (e instanceof ExitError) throw e;
    throw new ExitError(Exit.error, errorText(e));
  }
}
