// -w fields: etcdctl's fieldsPrinter, one `"Name" : value` line per field.
import type * as t from '../../client';
import { goDuration, goQuote, goSlice } from '../go-format';
import {
  UnsupportedPrinter, alarmTypes, eventTypes, permTypes,
  type AuthPrint, type DbHashKV, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type PrintSink,
} from './printer';

export class FieldsPrinter extends UnsupportedPrinter {
  constructor(sink: PrintSink) {
    super('fields', sink);
  }

  private hdr(h: t.ResponseHeader | null): void {
    this.p(`"ClusterID" : ${h?.cluster_id ?? '0'}`);
    this.p(`"MemberID" : ${h?.member_id ?? '0'}`);
    this.p(`"Revision" : ${h?.revision ?? '0'}`);
    this.p(`"RaftTerm" : ${h?.raft_term ?? '0'}`);
  }

  private kv(pfx: string, kv: t.KeyValue): void {
    this.p(`"${pfx}Key" : ${goQuote(kv.key)}`);
    this.p(`"${pfx}CreateRevision" : ${kv.create_revision}`);
    this.p(`"${pfx}ModRevision" : ${kv.mod_revision}`);
    this.p(`"${pfx}Version" : ${kv.version}`);
    this.p(`"${pfx}Value" : ${goQuote(kv.value)}`);
    this.p(`"${pfx}Lease" : ${kv.lease}`);
  }

  override get(r: t.RangeResponse): void {
    this.hdr(r.header);
    for (const kv of r.kvs) this.kv('', kv);
    this.p(`"More" : ${r.more ? 'true' : 'false'}`);
    this.p(`"Count" : ${r.count}`);
  }

  override put(r: t.PutResponse): void {
    this.hdr(r.header);
    if (r.prev_kv !== null && r.prev_kv !== undefined) this.kv('Prev', r.prev_kv);
  }

  override del(r: t.DeleteRangeResponse): void {
    this.hdr(r.header);
    this.p(`"Deleted" : ${r.deleted}`);
    for (const kv of r.prev_kvs) this.kv('Prev', kv);
  }

  override txn(r: t.TxnResponse): void {
    this.hdr(r.header);
    this.p(`"Succeeded" : ${r.succeeded ? 'true' : 'false'}`);
    for (const op of r.responses) {
      if (op.response_delete_range) this.del(op.response_delete_range);
      else if (op.response_put) this.put(op.response_put);
      else if (op.response_range) this.get(op.response_range);
      else this.p(`"Unknown" : ${goQuote(JSON.stringify(op))}`);
    }
  }

  override watch(r: t.WatchResponse): void {
    this.hdr(r.header);
    for (const ev of r.events) {
      this.p(`"Type" : ${eventTypes[ev.type] ?? String(ev.type)}`);
      if (ev.prev_kv !== null && ev.prev_kv !== undefined) this.kv('Prev', ev.prev_kv);
      if (ev.kv !== null) this.kv('', ev.kv);
    }
  }

  override grant(r: t.LeaseGrantResponse): void {
    this.hdr(r.header);
    this.p(`"ID" : ${r.ID}`);
    this.p(`"TTL" : ${r.TTL}`);
  }

  override revoke(_id: bigint, r: t.LeaseRevokeResponse): void {
    this.hdr(r.header);
  }

  override keepAlive(r: t.LeaseKeepAliveResponse): void {
    this.hdr(r.header);
    this.p(`"ID" : ${r.ID}`);
    this.p(`"TTL" : ${r.TTL}`);
  }

  override timeToLive(r: t.LeaseTimeToLiveResponse): void {
    this.hdr(r.header);
    this.p(`"ID" : ${r.ID}`);
    this.p(`"TTL" : ${r.TTL}`);
    this.p(`"GrantedTTL" : ${r.grantedTTL}`);
    for (const k of r.keys) this.p(`"Key" : ${goQuote(k)}`);
  }

  override leases(r: t.LeaseLeasesResponse): void {
    this.hdr(r.header);
    for (const l of r.leases) this.p(`"ID" : ${l.ID}`);
  }

  override memberList(r: t.MemberListResponse): void {
    this.hdr(r.header);
    for (const m of r.members) {
      this.p(`"ID" : ${m.ID}`);
      this.p(`"Name" : ${goQuote(m.name)}`);
      for (const u of m.peerURLs) this.p(`"PeerURL" : ${goQuote(u)}`);
      for (const u of m.clientURLs) this.p(`"ClientURL" : ${goQuote(u)}`);
      this.p(`"IsLearner" : ${m.isLearner ? 'true' : 'false'}`);
      this.p();
    }
  }

  override memberAdd(r: t.MemberAddResponse): void {
    this.hdr(r.header);
  }

  override memberChange(_kind: string, _id: bigint, r: t.MemberResponse): void {
    this.hdr(r.header);
  }

  override endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      this.p(`"Endpoint" : ${goQuote(h.ep)}`);
      this.p(`"Health" : ${h.health ? 'true' : 'false'}`);
      this.p(`"Took" : ${goDuration(h.tookNs)}`);
      this.p(`"Error" : ${h.error}`);
      this.p();
    }
  }

  override endpointStatus(list: EpStatus[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.p(`"Version" : ${goQuote(resp.version)}`);
      this.p(`"DBSize" : ${resp.dbSize}`);
      this.p(`"Leader" : ${resp.leader}`);
      this.p(`"IsLearner" : ${resp.isLearner ? 'true' : 'false'}`);
      this.p(`"RaftIndex" : ${resp.raftIndex}`);
      this.p(`"RaftTerm" : ${resp.raftTerm}`);
      this.p(`"RaftAppliedIndex" : ${resp.raftAppliedIndex}`);
      this.p(`"Errors" : ${goSlice(resp.errors)}`);
      this.p(`"Endpoint" : ${goQuote(ep)}`);
      this.p();
    }
  }

  override endpointHashKV(list: EpHashKV[]): void {
    for (const h of list) {
      this.hdr(h.resp.header);
      this.p(`"Endpoint" : ${goQuote(h.ep)}`);
      this.p(`"Hash" : ${h.resp.hash}`);
      this.p();
    }
  }

  override alarm(r: t.AlarmResponse): void {
    this.hdr(r.header);
    for (const a of r.alarms) {
      this.p(`"MemberID" : ${a.memberID}`);
      this.p(`"AlarmType" : ${alarmTypes[a.alarm] ?? String(a.alarm)}`);
      this.p();
    }
  }

  override dbStatus(s: DbStatus): void {
    this.p(`"Hash" : ${s.hash}`);
    this.p(`"Revision" : ${s.revision}`);
    this.p(`"Keys" : ${s.totalKey}`);
    this.p(`"Size" : ${s.totalSize}`);
  }

  override dbHashKV(h: DbHashKV): void {
    this.p(`"Hash" : ${h.hash}`);
    this.p(`"Hash revision" : ${h.hashRevision}`);
    this.p(`"Compact revision" : ${h.compactRevision}`);
  }

  override auth(a: AuthPrint): void {
    // etcdctl's fieldsPrinter has no UserGet or UserList.
    if (a.method === 'AuthUserGet' || a.method === 'AuthUserList') this.unsupported();
    this.hdr(a.resp['header'] as t.ResponseHeader | null);
    a.fields?.();
  }

  override roleGet(_role: string, r: t.AuthRoleGetResponse): void {
    this.hdr(r.header);
    for (const perm of r.perm) {
      this.p(`"PermType" :  ${permTypes[perm.permType] ?? String(perm.permType)}`);
      this.p(`"Key" : ${goQuote(perm.key)}`);
      this.p(`"RangeEnd" : ${goQuote(perm.range_end)}`);
    }
  }
}
