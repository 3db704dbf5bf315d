// The printer interface every output format implements, as etcdctl has one
// printer per format (printer.go): a format prints what it supports and
// inherits "<format> not supported as output format" for the rest.
import type * as t from '../../client';
import { hexID, humanizeBytes } from '../go-format';
import { Exit, ExitError } from '../exit';

export type OutputFormat = 'simple' | 'json' | 'fields' | 'table' | 'protobuf';

export type Msg = Record<string, unknown>;

/** Where a printer writes: stdout, and stderr for what etcdctl logs there (endpoint health). */
export interface PrintSink {
  out(data: string | Buffer): void;
  err(data: string): void;
}

export interface EpHealth {
  ep: string;
  health: boolean;
  /** Nanoseconds. */
  tookNs: bigint;
  error: string;
}

export interface EpStatus {
  ep: string;
  resp: t.StatusResponse;
}

export interface EpHashKV {
  ep: string;
  resp: t.HashKVResponse;
}

/** `snapshot status`: etcd's snapshot.Status. */
export interface DbStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

/** `etcdutl hashkv` (etcd 3.6's): the hash of the key space up to a revision. */
export interface DbHashKV {
  hash: number;
  hashRevision: number;
  compactRevision: number;
}

export type MemberChange = 'removed from' | 'updated in' | 'promoted in';

/** An auth/user/role response: its simple text and fields lines come from the command. */
export interface AuthPrint {
  /** The RPC's name as etcdctl's printer names it: AuthUserAdd, AuthRoleGet, AuthStatus, … */
  method: string;
  resp: Msg;
  simple: () => void;
  fields?: () => void;
}

export interface Printer {
  readonly format: OutputFormat;
  get(r: t.RangeResponse): void;
  put(r: t.PutResponse): void;
  del(r: t.DeleteRangeResponse): void;
  txn(r: t.TxnResponse): void;
  watch(r: t.WatchResponse): void;
  grant(r: t.LeaseGrantResponse): void;
  revoke(id: bigint, r: t.LeaseRevokeResponse): void;
  keepAlive(r: t.LeaseKeepAliveResponse): void;
  timeToLive(r: t.LeaseTimeToLiveResponse, keys: boolean): void;
  leases(r: t.LeaseLeasesResponse): void;
  memberList(r: t.MemberListResponse): void;
  memberAdd(r: t.MemberAddResponse): void;
  memberChange(kind: MemberChange, id: bigint, r: t.MemberResponse, method: string): void;
  endpointHealth(list: EpHealth[]): void;
  endpointStatus(list: EpStatus[]): void;
  endpointHashKV(list: EpHashKV[]): void;
  alarm(r: t.AlarmResponse): void;
  moveLeader(leader: bigint, target: bigint, r: Msg): void;
  dbStatus(s: DbStatus): void;
  dbHashKV(h: DbHashKV): void;
  auth(a: AuthPrint): void;
  roleGet(role: string, r: t.AuthRoleGetResponse): void;
  userGet(user: string, r: t.AuthUserGetResponse): void;
}

/** etcdctl's printerUnsupported: the base every format's printer overrides where it has an output. */
export class UnsupportedPrinter implements Printer {
  constructor(readonly format: OutputFormat, protected readonly sink: PrintSink) {}

  protected unsupported(): never {
    throw new ExitError(Exit.badFeature, `${this.format} not supported as output format`);
  }

  protected p(s = ''): void {
    this.sink.out(`${s}\n`);
  }

  protected raw(b: Buffer | string): void {
    this.sink.out(b);
  }

  get(_r: t.RangeResponse): void { this.unsupported(); }
  put(_r: t.PutResponse): void { this.unsupported(); }
  del(_r: t.DeleteRangeResponse): void { this.unsupported(); }
  txn(_r: t.TxnResponse): void { this.unsupported(); }
  watch(_r: t.WatchResponse): void { this.unsupported(); }
  grant(_r: t.LeaseGrantResponse): void { this.unsupported(); }
  revoke(_id: bigint, _r: t.LeaseRevokeResponse): void { this.unsupported(); }
  keepAlive(_r: t.LeaseKeepAliveResponse): void { this.unsupported(); }
  timeToLive(_r: t.LeaseTimeToLiveResponse, _keys: boolean): void { this.unsupported(); }
  leases(_r: t.LeaseLeasesResponse): void { this.unsupported(); }
  memberList(_r: t.MemberListResponse): void { this.unsupported(); }
  memberAdd(_r: t.MemberAddResponse): void { this.unsupported(); }
  memberChange(_kind: MemberChange, _id: bigint, _r: t.MemberResponse, _method: string): void { this.unsupported(); }
  endpointHealth(_list: EpHealth[]): void { this.unsupported(); }
  endpointStatus(_list: EpStatus[]): void { this.unsupported(); }
  endpointHashKV(_list: EpHashKV[]): void { this.unsupported(); }
  alarm(_r: t.AlarmResponse): void { this.unsupported(); }
  moveLeader(_leader: bigint, _target: bigint, _r: Msg): void { this.unsupported(); }
  dbStatus(_s: DbStatus): void { this.unsupported(); }
  dbHashKV(_h: DbHashKV): void { this.unsupported(); }
  auth(_a: AuthPrint): void { this.unsupported(); }
  roleGet(_role: string, _r: t.AuthRoleGetResponse): void { this.unsupported(); }
  userGet(_user: string, _r: t.AuthUserGetResponse): void { this.unsupported(); }
}

export const eventTypes = ['PUT', 'DELETE'];
export const permTypes = ['READ', 'WRITE', 'READWRITE'];
export const alarmTypes = ['NONE', 'NOSPACE', 'CORRUPT'];

// Rows shared by the simple and table printers (etcdctl's make*Table).

export function memberRows(r: { members: t.Member[] }): string[][] {
  return r.members.map((m) => [
    hexID(m.ID),
    m.name.length === 0 ? 'unstarted' : 'started',
    m.name,
    m.peerURLs.join(','),
    m.clientURLs.join(','),
    m.isLearner ? 'true' : 'false',
  ]);
}

export function statusRows(list: EpStatus[]): string[][] {
  return list.map(({ ep, resp }) => [
    ep,
    hexID(resp.header?.member_id ?? '0'),
    resp.version,
    humanizeBytes(BigInt(resp.dbSize)),
    resp.leader === (resp.header?.member_id ?? '0') ? 'true' : 'false',
    resp.isLearner ? 'true' : 'false',
    String(resp.raftTerm),
    String(resp.raftIndex),
    String(resp.raftAppliedIndex),
    resp.errors.join(', '),
  ]);
}

export function dbStatusRow(s: DbStatus): string[] {
  return [s.hash.toString(16), String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)];
}

export function dbHashKVRow(h: DbHashKV): string[] {
  return [String(h.hash), String(h.hashRevision), String(h.compactRevision)];
}
