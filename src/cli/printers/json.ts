// -w json: etcdctl's jsonPrinter, Go's encoding/json of the clientv3 response
// structs (goJsonMessage), with the shapes etcdctl builds by hand where
// clientv3 wraps a response (leases, watch, endpoint lists).
import type * as t from '../../client';
import { goJsonHeaderFields, goJsonMessage, goJsonValue } from '../go-json';
import { goDuration } from '../go-format';
import {
  UnsupportedPrinter,
  type AuthPrint, type DbHashKV, type DbStatus, type EpHashKV, type EpHealth, type EpStatus, type Msg, type PrintSink,
} from './printer';

export class JsonPrinter extends UnsupportedPrinter {
  constructor(sink: PrintSink) {
    super('json', sink);
  }

  private json(typeName: string, msg: unknown): void {
    this.p(goJsonMessage(typeName, msg as Msg));
  }

  override get(r: t.RangeResponse): void {
    this.json('RangeResponse', r);
  }

  override put(r: t.PutResponse): void {
    this.json('PutResponse', r);
  }

  override del(r: t.DeleteRangeResponse): void {
    this.json('DeleteRangeResponse', r);
  }

  override txn(r: t.TxnResponse): void {
    this.json('TxnResponse', r);
  }

  override watch(r: t.WatchResponse): void {
    const header = goJsonMessage('ResponseHeader', (r.header ?? {}) as Msg);
    const events = r.events.length === 0 ? 'null' : `[${r.events.map((e) => goJsonMessage('mvccpb.Event', e as unknown as Msg)).join(',')}]`;
    this.p(`{"Header":${header},"Events":${events},"CompactRevision":${r.compact_revision},"Canceled":${r.canceled ? 'true' : 'false'},"Created":${r.created ? 'true' : 'false'}}`);
  }

  override grant(r: t.LeaseGrantResponse): void {
    this.p(`{${[...goJsonHeaderFields(r.header), `"ID":${r.ID}`, `"TTL":${r.TTL}`, `"Error":${goJsonValue(r.error ?? '')}`].join(',')}}`);
  }

  override revoke(_id: bigint, r: t.LeaseRevokeResponse): void {
    this.json('LeaseRevokeResponse', r);
  }

  override keepAlive(r: t.LeaseKeepAliveResponse): void {
    this.p(`{${[...goJsonHeaderFields(r.header), `"ID":${r.ID}`, `"TTL":${r.TTL}`].join(',')}}`);
  }

  override timeToLive(r: t.LeaseTimeToLiveResponse): void {
    const ks = r.keys.length === 0 ? 'null' : `[${r.keys.map((k) => `"${k.toString('base64')}"`).join(',')}]`;
    this.p(`{${[...goJsonHeaderFields(r.header), `"id":${r.ID}`, `"ttl":${r.TTL}`, `"granted-ttl":${r.grantedTTL}`, `"keys":${ks}`].join(',')}}`);
  }

  override leases(r: t.LeaseLeasesResponse): void {
    this.p(`{${[...goJsonHeaderFields(r.header), `"leases":[${r.leases.map((l) => `{"id":${l.ID}}`).join(',')}]`].join(',')}}`);
  }

  override memberList(r: t.MemberListResponse): void {
    this.json('MemberListResponse', r);
  }

  override memberAdd(r: t.MemberAddResponse): void {
    this.json('MemberAddResponse', r);
  }

  override memberChange(_kind: string, _id: bigint, r: t.MemberResponse, method: string): void {
    this.json(`${method}Response`, r);
  }

  override endpointHealth(list: EpHealth[]): void {
    this.p(goJsonValue(list.map((h) => ({ endpoint: h.ep, health: h.health, took: goDuration(h.tookNs), error: h.error === '' ? undefined : h.error }))));
  }

  override endpointStatus(list: EpStatus[]): void {
    this.p(`[${list.map((s) => `{"Endpoint":${goJsonValue(s.ep)},"Status":${goJsonMessage('StatusResponse', s.resp as unknown as Msg)}}`).join(',')}]`);
  }

  override endpointHashKV(list: EpHashKV[]): void {
    this.p(`[${list.map((h) => `{"Endpoint":${goJsonValue(h.ep)},"HashKV":${goJsonMessage('HashKVResponse', h.resp as unknown as Msg)}}`).join(',')}]`);
  }

  override alarm(r: t.AlarmResponse): void {
    this.json('AlarmResponse', r);
  }

  override moveLeader(_leader: bigint, _target: bigint, r: Msg): void {
    this.json('MoveLeaderResponse', r);
  }

  override dbStatus(s: DbStatus): void {
    this.p(goJsonValue({ hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize }));
  }

  override dbHashKV(h: DbHashKV): void {
    this.p(goJsonValue({ hash: h.hash, hashRevision: h.hashRevision, compactRevision: h.compactRevision }));
  }

  override auth(a: AuthPrint): void {
    this.json(`${a.method}Response`, a.resp);
  }

  override roleGet(_role: string, r: t.AuthRoleGetResponse): void {
    this.json('AuthRoleGetResponse', r);
  }

  override userGet(_user: string, r: t.AuthUserGetResponse): void {
    this.json('AuthUserGetResponse', r);
  }
}
