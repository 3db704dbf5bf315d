// -w simple: etcdctl's simplePrinter, the human-readable default.
import type * as t from '../../client';
import { goDuration, goSlice, hexID, hexID16, hexWithPrefix } from '../go-format';
import { prefixRangeEnd } from '../range-end';
import {
  UnsupportedPrinter, alarmTypes, dbHashKVRow, dbStatusRow, eventTypes, memberRows, statusRows,
  type AuthPrint, type DbHashKV, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type MemberChange, type Msg, type PrintSink,
} from './printer';

const newline = Buffer.from('\n');

export class SimplePrinter extends UnsupportedPrinter {
  /** get --print-value-only: values without their keys. */
  valueOnly = false;

  constructor(sink: PrintSink, private readonly isHex: boolean) {
    super('simple', sink);
  }

  private kv(kv: t.KeyValue | null): void {
    const key = kv?.key ?? Buffer.alloc(0);
    const value = kv?.value ?? Buffer.alloc(0);
    if (this.isHex) {
      if (!this.valueOnly) this.p(hexWithPrefix(key));
      this.p(hexWithPrefix(value));
      return;
    }
    if (!this.valueOnly) this.raw(Buffer.concat([key, newline]));
    this.raw(Buffer.concat([value, newline]));
  }

  override get(r: t.RangeResponse): void {
    for (const kv of r.kvs) this.kv(kv);
  }

  override put(r: t.PutResponse): void {
    this.p('OK');
    if (r.prev_kv !== null && r.prev_kv !== undefined) this.kv(r.prev_kv);
  }

  override del(r: t.DeleteRangeResponse): void {
    this.p(String(r.deleted));
    for (const kv of r.prev_kvs) this.kv(kv);
  }

  override txn(r: t.TxnResponse): void {
    this.p(r.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of r.responses) {
      this.p('');
      if (op.response_delete_range) this.del(op.response_delete_range);
      else if (op.response_put) this.put(op.response_put);
      else if (op.response_range) this.get(op.response_range);
      else this.p(`unexpected response ${JSON.stringify(op)}`);
    }
  }

  override watch(r: t.WatchResponse): void {
    for (const ev of r.events) {
      this.p(eventTypes[ev.type] ?? String(ev.type));
      if (ev.prev_kv !== null && ev.prev_kv !== undefined) this.kv(ev.prev_kv);
      this.kv(ev.kv);
    }
  }

  override grant(r: t.LeaseGrantResponse): void {
    this.p(`lease ${hexID16(r.ID)} granted with TTL(${r.TTL}s)`);
  }

  override revoke(id: bigint): void {
    this.p(`lease ${hexID16(id)} revoked`);
  }

  override keepAlive(r: t.LeaseKeepAliveResponse): void {
    this.p(`lease ${hexID16(r.ID)} keepalived with TTL(${r.TTL})`);
  }

  override timeToLive(r: t.LeaseTimeToLiveResponse, keys: boolean): void {
    if (r.grantedTTL === '0' && r.TTL === '-1') {
      this.p(`lease ${hexID16(r.ID)} already expired`);
      return;
    }
    let txt = `lease ${hexID16(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
    if (keys) txt += `, attached keys(${goSlice(r.keys.map((k) => k.toString('latin1')))})`;
    this.raw(Buffer.concat([Buffer.from(txt, 'latin1'), newline]));
  }

  override leases(r: t.LeaseLeasesResponse): void {
    this.p(`found ${r.leases.length} leases`);
    for (const l of r.leases) this.p(hexID16(l.ID));
  }

  override memberList(r: t.MemberListResponse): void {
    for (const row of memberRows(r)) this.p(row.join(', '));
  }

  override memberAdd(r: t.MemberAddResponse): void {
    const learner = r.member?.isLearner === true ? ' as learner ' : ' ';
    this.p(`Member ${hexID(r.member?.ID ?? '0').padStart(16, ' ')} added${learner}to cluster ${hexID(r.header?.cluster_id ?? '0').padStart(16, ' ')}`);
  }

  override memberChange(kind: MemberChange, id: bigint, r: t.MemberResponse): void {
    this.p(`Member ${hexID(id).padStart(16, ' ')} ${kind} cluster ${hexID(r.header?.cluster_id ?? '0').padStart(16, ' ')}`);
  }

  override endpointHealth(list: EpHealth[]): void {
    // etcdctl logs health lines to stderr in the simple format.
    for (const h of list) {
      if (h.error === '') this.sink.err(`${h.ep} is healthy: successfully committed proposal: took = ${goDuration(h.tookNs)}\n`);
      else this.sink.err(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}\n`);
    }
  }

  override endpointStatus(list: EpStatus[]): void {
    for (const row of statusRows(list)) this.p(row.join(', '));
  }

  override endpointHashKV(list: EpHashKV[]): void {
    for (const h of list) this.p(`${h.ep}, ${h.resp.hash}`);
  }

  override alarm(r: t.AlarmResponse): void {
    for (const a of r.alarms) this.p(`memberID:${a.memberID} alarm:${alarmTypes[a.alarm] ?? String(a.alarm)} `);
  }

  override moveLeader(leader: bigint, target: bigint, _r: Msg): void {
    this.p(`Leadership transferred from ${hexID(leader)} to ${hexID(target)}`);
  }

  override dbStatus(s: DbStatus): void {
    this.p(dbStatusRow(s).join(', '));
  }

  override dbHashKV(h: DbHashKV): void {
    this.p(dbHashKVRow(h).join(', '));
  }

  override auth(a: AuthPrint): void {
    a.simple();
  }

  override roleGet(role: string, r: t.AuthRoleGetResponse): void {
    this.p(`Role ${role}`);
    if (role === 'root' && r.perm.length === 0) {
      this.p('KV Read:');
      this.p('\t[, <open ended>');
      this.p('KV Write:');
      this.p('\t[, <open ended>');
      return;
    }
    this.permSection(r, 'KV Read:', [0, 2]);
    this.permSection(r, 'KV Write:', [1, 2]);
  }

  private permSection(r: t.AuthRoleGetResponse, title: string, types: number[]): void {
    this.p(title);
    for (const perm of r.perm) {
      if (!types.includes(perm.permType)) continue;
      if (perm.range_end.length === 0) this.raw(Buffer.from(`\t${perm.key.toString('latin1')}\n`, 'latin1'));
      else this.permRange(perm);
    }
  }

  private permRange(perm: t.Permission): void {
    const sKey = perm.key.toString('latin1');
    const sEnd = perm.range_end.toString('latin1');
    let line = sEnd !== '\x00' ? `\t[${sKey}, ${sEnd})` : `\t[${sKey}, <open ended>`;
    if (prefixRangeEnd(perm.key).equals(perm.range_end) && perm.key.length > 0) line += ` (prefix ${sKey})`;
    this.raw(Buffer.from(`${line}\n`, 'latin1'));
  }

  override userGet(user: string, r: t.AuthUserGetResponse): void {
    this.p(`User: ${user}`);
    this.p(`Roles:${r.roles.map((x) => ` ${x}`).join('')}`);
  }
}
