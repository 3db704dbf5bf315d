// -w protobuf: etcdctl's pbPrinter, the response's wire bytes written as they
// are. Where clientv3's type only embeds *pb.ResponseHeader (lease
// responses), etcdctl marshals the header alone.
import { constructorFor, stripDefaults, type AnyService } from '../../client';
import type * as t from '../../client';
import { UnsupportedPrinter, type AuthPrint, type Msg, type PrintSink } from './printer';

function pbEncode(service: AnyService, method: string, msg: unknown): Buffer {
  const def = constructorFor(service).service[method];
  if (def === undefined) throw new Error(`no method ${service}.${method}`);
  const typeName = ((def as unknown as { responseType?: { type?: { name?: string } } }).responseType)?.type?.name;
  const pkg = service === 'Election' ? 'v3electionpb' : service === 'Lock' ? 'v3lockpb' : 'etcdserverpb';
  return def.responseSerialize(typeName === undefined ? msg : stripDefaults(typeName, msg as Record<string, unknown>, pkg));
}

/** A ResponseHeader alone: a method's response holding only the header, minus its field tag and length. */
function pbEncodeHeader(header: unknown): Buffer {
  return pbEncode('KV', 'Compact', { header }).subarray(2);
}

/** One event: a WatchResponse holding it, minus the wrapper's tag (field 11, wire type 2: 0x5a) and varint length. */
function pbEncodeEvent(ev: t.Event): Buffer {
  const full = pbEncode('Watch', 'Watch', { events: [ev] });
  let i = 0;
  if (full[i] !== 0x5a) return Buffer.alloc(0);
  i++;
  while ((full[i] ?? 0) & 0x80) i++;
  return full.subarray(i + 1);
}

export class ProtobufPrinter extends UnsupportedPrinter {
  constructor(sink: PrintSink) {
    super('protobuf', sink);
  }

  private pb(service: AnyService, method: string, msg: unknown): void {
    // etcdctl 3.4 writes the marshalled bytes verbatim (observed: a 0x25 byte passes through).
    this.raw(pbEncode(service, method, msg));
  }

  private header(header: unknown): void {
    if (header === null || header === undefined) return;
    this.raw(pbEncodeHeader(header));
  }

  override get(r: t.RangeResponse): void {
    this.pb('KV', 'Range', r);
  }

  override put(r: t.PutResponse): void {
    this.pb('KV', 'Put', r);
  }

  override del(r: t.DeleteRangeResponse): void {
    this.pb('KV', 'DeleteRange', r);
  }

  override txn(r: t.TxnResponse): void {
    this.pb('KV', 'Txn', r);
  }

  override watch(r: t.WatchResponse): void {
    for (const ev of r.events) this.raw(pbEncodeEvent(ev));
  }

  override grant(r: t.LeaseGrantResponse): void {
    this.header(r.header);
  }

  override revoke(_id: bigint, r: t.LeaseRevokeResponse): void {
    this.pb('Lease', 'LeaseRevoke', r);
  }

  override keepAlive(r: t.LeaseKeepAliveResponse): void {
    this.header(r.header);
  }

  override timeToLive(r: t.LeaseTimeToLiveResponse): void {
    this.header(r.header);
  }

  override leases(r: t.LeaseLeasesResponse): void {
    this.header(r.header);
  }

  override memberList(r: t.MemberListResponse): void {
    this.pb('Cluster', 'MemberList', r);
  }

  override memberAdd(r: t.MemberAddResponse): void {
    this.pb('Cluster', 'MemberAdd', r);
  }

  override memberChange(_kind: string, _id: bigint, r: t.MemberResponse, method: string): void {
    this.pb('Cluster', method, r);
  }

  override alarm(r: t.AlarmResponse): void {
    this.pb('Maintenance', 'Alarm', r);
  }

  override moveLeader(_leader: bigint, _target: bigint, r: Msg): void {
    this.pb('Maintenance', 'MoveLeader', r);
  }

  override auth(a: AuthPrint): void {
    this.pb('Auth', a.method === 'AuthStatus' ? a.method : a.method.replace(/^Auth/, ''), a.resp);
  }

  override roleGet(_role: string, r: t.AuthRoleGetResponse): void {
    this.pb('Auth', 'RoleGet', r);
  }

  override userGet(_user: string, r: t.AuthUserGetResponse): void {
    this.pb('Auth', 'UserGet', r);
  }
}
