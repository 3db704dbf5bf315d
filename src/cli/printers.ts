// etcdctl 3.4's printers (simple, fields, json, table, protobuf), one
// method per kind of response, byte for byte.
import { constructorFor, type AnyService } from '../client';
import type * as t from '../client';
import { goJsonHeaderFields, goJsonMessage, goJsonValue, RawJson } from './go-json';
import { stripDefaults } from '../client';
import { goDuration, goQuote, goSlice, hexID, hexID16, hexWithPrefix, humanizeBytes } from './go-format';
import { Exit, ExitError, type Context, type OutputFormat } from './runtime';
import { renderTable } from './table';

type Msg = Record<string, unknown>;

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

export interface DbStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

const eventTypes = ['PUT', 'DELETE'];
const permTypes = ['READ', 'WRITE', 'READWRITE'];
const alarmTypes = ['NONE', 'NOSPACE', 'CORRUPT'];

function unsupported(format: string): never {
  throw new ExitError(Exit.badFeature, `${format} not supported as output format`);
}

/** Go's fmt.Printf(string(b)) with no arguments: verbs become %!v(MISSING). */
export function goPrintfNoArgs(b: Buffer): Buffer {
  // etcdctl 3.4 writes the marshalled bytes verbatim (observed: a 0x25 byte passes through).
  if (b.length >= 0) return b;
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const c = b[i] ?? 0;
    if (c !== 0x25) {
      out.push(c);
      continue;
    }
    let j = i + 1;
    while (j < b.length && ' +-#0'.includes(String.fromCharCode(b[j] ?? 0))) j++;
    while (j < b.length && (b[j] ?? 0) >= 0x30 && (b[j] ?? 0) <= 0x39) j++;
    if (j < b.length && b[j] === 0x2e) {
      j++;
      while (j < b.length && (b[j] ?? 0) >= 0x30 && (b[j] ?? 0) <= 0x39) j++;
    }
    if (j >= b.length) {
      out.push(...Buffer.from('%!(NOVERB)'));
      i = j;
      continue;
    }
    const verb = b[j] ?? 0;
    if (verb === 0x25) out.push(0x25);
    else out.push(...Buffer.from('%!'), verb, ...Buffer.from('(MISSING)'));
    i = j;
  }
  return Buffer.from(out);
}

function pbEncode(service: AnyService, method: string, msg: unknown): Buffer {
  const def = constructorFor(service).service[method];
  if (def === undefined) throw new Error(`no method ${service}.${method}`);
  const typeName = ((def as unknown as { responseType?: { type?: { name?: string } } }).responseType)?.type?.name;
  const pkg = service === 'Election' ? 'v3electionpb' : service === 'Lock' ? 'v3lockpb' : 'etcdserverpb';
  return def.responseSerialize(typeName === undefined ? msg : stripDefaults(typeName, msg as Record<string, unknown>, pkg));
}

function pbEncodeType(typeName: string, msg: unknown): Buffer {
  // Messages that are not a method's response: borrow a method that returns them where one exists.
  const byType: Record<string, [AnyService, string]> = {
    ResponseHeader: ['KV', 'Compact'],
  };
  const m = byType[typeName];
  if (m !== undefined) return pbEncode(m[0], m[1], { header: msg }).subarray(2);
  throw new Error(`cannot encode ${typeName}`);
}

export class Printer {
  readonly format: OutputFormat;
  readonly isHex: boolean;
  valueOnly = false;
  private readonly ctx: Context;

  constructor(ctx: Context) {
    this.ctx = ctx;
    this.format = ctx.format;
    this.isHex = ctx.hex;
  }

  private p(s = ''): void {
    this.ctx.println(s);
  }

  private raw(b: Buffer | string): void {
    this.ctx.out(b);
  }

  private json(typeName: string, msg: unknown): void {
    this.p(goJsonMessage(typeName, msg as Msg));
  }

  private pb(service: AnyService, method: string, msg: unknown): void {
    this.raw(goPrintfNoArgs(pbEncode(service, method, msg)));
  }

  /** Responses whose clientv3 type only embeds *pb.ResponseHeader: -w protobuf marshals the header alone. */
  private pbHeader(header: unknown): void {
    if (header === null || header === undefined) {
      return;
    }
    this.raw(goPrintfNoArgs(pbEncodeType('ResponseHeader', header)));
  }

  private hdrFields(h: t.ResponseHeader | null): void {
    this.p(`"ClusterID" : ${h?.cluster_id ?? '0'}`);
    this.p(`"MemberID" : ${h?.member_id ?? '0'}`);
    this.p(`"Revision" : ${h?.revision ?? '0'}`);
    this.p(`"RaftTerm" : ${h?.raft_term ?? '0'}`);
  }

  private kvFields(pfx: string, kv: t.KeyValue): void {
    this.p(`"${pfx}Key" : ${goQuote(kv.key)}`);
    this.p(`"${pfx}CreateRevision" : ${kv.create_revision}`);
    this.p(`"${pfx}ModRevision" : ${kv.mod_revision}`);
    this.p(`"${pfx}Version" : ${kv.version}`);
    this.p(`"${pfx}Value" : ${goQuote(kv.value)}`);
    this.p(`"${pfx}Lease" : ${kv.lease}`);
  }

  private kvSimple(kv: t.KeyValue | null): void {
    const key = kv?.key ?? Buffer.alloc(0);
    const value = kv?.value ?? Buffer.alloc(0);
    if (this.isHex) {
      if (!this.valueOnly) this.p(hexWithPrefix(key));
      this.p(hexWithPrefix(value));
      return;
    }
    if (!this.valueOnly) this.raw(Buffer.concat([key, Buffer.from('\n')]));
    this.raw(Buffer.concat([value, Buffer.from('\n')]));
  }

  // --- KV

  get(r: t.RangeResponse): void {
    switch (this.format) {
      case 'simple':
        for (const kv of r.kvs) this.kvSimple(kv);
        return;
      case 'json':
        return this.json('RangeResponse', r);
      case 'protobuf':
        return this.pb('KV', 'Range', r);
      case 'fields':
        this.hdrFields(r.header);
        for (const kv of r.kvs) this.kvFields('', kv);
        this.p(`"More" : ${r.more ? 'true' : 'false'}`);
        this.p(`"Count" : ${r.count}`);
        return;
      default:
        return unsupported(this.format);
    }
  }

  put(r: t.PutResponse): void {
    switch (this.format) {
      case 'simple':
        this.p('OK');
        if (r.prev_kv !== null && r.prev_kv !== undefined) this.kvSimple(r.prev_kv);
        return;
      case 'json':
        return this.json('PutResponse', r);
      case 'protobuf':
        return this.pb('KV', 'Put', r);
      case 'fields':
        this.hdrFields(r.header);
        if (r.prev_kv !== null && r.prev_kv !== undefined) this.kvFields('Prev', r.prev_kv);
        return;
      default:
        return unsupported(this.format);
    }
  }

  del(r: t.DeleteRangeResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(String(r.deleted));
        for (const kv of r.prev_kvs) this.kvSimple(kv);
        return;
      case 'json':
        return this.json('DeleteRangeResponse', r);
      case 'protobuf':
        return this.pb('KV', 'DeleteRange', r);
      case 'fields':
        this.hdrFields(r.header);
        this.p(`"Deleted" : ${r.deleted}`);
        for (const kv of r.prev_kvs) this.kvFields('Prev', kv);
        return;
      default:
        return unsupported(this.format);
    }
  }

  txn(r: t.TxnResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(r.succeeded ? 'SUCCESS' : 'FAILURE');
        for (const op of r.responses) {
          this.p('');
          if (op.response_delete_range) this.del(op.response_delete_range);
          else if (op.response_put) this.put(op.response_put);
          else if (op.response_range) this.get(op.response_range);
          else this.p(`unexpected response ${JSON.stringify(op)}`);
        }
        return;
      case 'json':
        return this.json('TxnResponse', r);
      case 'protobuf':
        return this.pb('KV', 'Txn', r);
      case 'fields':
        this.hdrFields(r.header);
        this.p(`"Succeeded" : ${r.succeeded ? 'true' : 'false'}`);
        for (const op of r.responses) {
          if (op.response_delete_range) this.del(op.response_delete_range);
          else if (op.response_put) this.put(op.response_put);
          else if (op.response_range) this.get(op.response_range);
          else this.p(`"Unknown" : ${goQuote(JSON.stringify(op))}`);
        }
        return;
      default:
        return unsupported(this.format);
    }
  }

  watch(r: t.WatchResponse): void {
    switch (this.format) {
      case 'simple':
        for (const ev of r.events) {
          this.p(eventTypes[ev.type] ?? String(ev.type));
          if (ev.prev_kv !== null && ev.prev_kv !== undefined) this.kvSimple(ev.prev_kv);
          this.kvSimple(ev.kv);
        }
        return;
      case 'json': {
        const header = goJsonMessage('ResponseHeader', (r.header ?? {}) as Msg);
        const events = r.events.length === 0 ? 'null' : `[${r.events.map((e) => goJsonMessage('mvccpb.Event', e as unknown as Msg)).join(',')}]`;
        this.p(`{"Header":${header},"Events":${events},"CompactRevision":${r.compact_revision},"Canceled":${r.canceled ? 'true' : 'false'},"Created":${r.created ? 'true' : 'false'}}`);
        return;
      }
      case 'protobuf':
        for (const ev of r.events) this.raw(goPrintfNoArgs(encodeEvent(ev)));
        return;
      case 'fields':
        this.hdrFields(r.header);
        for (const ev of r.events) {
          this.p(`"Type" : ${eventTypes[ev.type] ?? String(ev.type)}`);
          if (ev.prev_kv !== null && ev.prev_kv !== undefined) this.kvFields('Prev', ev.prev_kv);
          if (ev.kv !== null) this.kvFields('', ev.kv);
        }
        return;
      default:
        return unsupported(this.format);
    }
  }

  // --- Lease

  grant(r: t.LeaseGrantResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(`lease ${hexID16(r.ID)} granted with TTL(${r.TTL}s)`);
        return;
      case 'json':
        this.p(`{${[...goJsonHeaderFields(r.header), `"ID":${r.ID}`, `"TTL":${r.TTL}`, `"Error":${goJsonValue(r.error ?? '')}`].join(',')}}`);
        return;
      case 'protobuf':
        return this.pbHeader(r.header);
      case 'fields':
        this.hdrFields(r.header);
        this.p(`"ID" : ${r.ID}`);
        this.p(`"TTL" : ${r.TTL}`);
        return;
      default:
        return unsupported(this.format);
    }
  }

  revoke(id: bigint, r: t.LeaseRevokeResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(`lease ${hexID16(id)} revoked`);
        return;
      case 'json':
        return this.json('LeaseRevokeResponse', r);
      case 'protobuf':
        return this.pb('Lease', 'LeaseRevoke', r);
      case 'fields':
        this.hdrFields(r.header);
        return;
      default:
        return unsupported(this.format);
    }
  }

  keepAlive(r: t.LeaseKeepAliveResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(`lease ${hexID16(r.ID)} keepalived with TTL(${r.TTL})`);
        return;
      case 'json':
        this.p(`{${[...goJsonHeaderFields(r.header), `"ID":${r.ID}`, `"TTL":${r.TTL}`].join(',')}}`);
        return;
      case 'protobuf':
        return this.pbHeader(r.header);
      case 'fields':
        this.hdrFields(r.header);
        this.p(`"ID" : ${r.ID}`);
        this.p(`"TTL" : ${r.TTL}`);
        return;
      default:
        return unsupported(this.format);
    }
  }

  timeToLive(r: t.LeaseTimeToLiveResponse, keys: boolean): void {
    switch (this.format) {
      case 'simple': {
        if (r.grantedTTL === '0' && r.TTL === '-1') {
          this.p(`lease ${hexID16(r.ID)} already expired`);
          return;
        }
        let txt = `lease ${hexID16(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
        if (keys) txt += `, attached keys(${goSlice(r.keys.map((k) => k.toString('latin1')))})`;
        this.raw(Buffer.concat([Buffer.from(txt, 'latin1'), Buffer.from('\n')]));
        return;
      }
      case 'json': {
        const ks = r.keys.length === 0 ? 'null' : `[${r.keys.map((k) => `"${k.toString('base64')}"`).join(',')}]`;
        this.p(`{${[...goJsonHeaderFields(r.header), `"id":${r.ID}`, `"ttl":${r.TTL}`, `"granted-ttl":${r.grantedTTL}`, `"keys":${ks}`].join(',')}}`);
        return;
      }
      case 'protobuf':
        return this.pbHeader(r.header);
      case 'fields':
        this.hdrFields(r.header);
        this.p(`"ID" : ${r.ID}`);
        this.p(`"TTL" : ${r.TTL}`);
        this.p(`"GrantedTTL" : ${r.grantedTTL}`);
        for (const k of r.keys) this.p(`"Key" : ${goQuote(k)}`);
        return;
      default:
        return unsupported(this.format);
    }
  }

  leases(r: t.LeaseLeasesResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(`found ${r.leases.length} leases`);
        for (const l of r.leases) this.p(hexID16(l.ID));
        return;
      case 'json':
        this.p(`{${[...goJsonHeaderFields(r.header), `"leases":[${r.leases.map((l) => `{"id":${l.ID}}`).join(',')}]`].join(',')}}`);
        return;
      case 'protobuf':
        return this.pbHeader(r.header);
      case 'fields':
        this.hdrFields(r.header);
        for (const l of r.leases) this.p(`"ID" : ${l.ID}`);
        return;
      default:
        return unsupported(this.format);
    }
  }

  // --- Cluster

  private memberRows(r: { members: t.Member[] }): string[][] {
    return r.members.map((m) => [
      hexID(m.ID),
      m.name.length === 0 ? 'unstarted' : 'started',
      m.name,
      m.peerURLs.join(','),
      m.clientURLs.join(','),
      m.isLearner ? 'true' : 'false',
    ]);
  }

  memberList(r: t.MemberListResponse): void {
    switch (this.format) {
      case 'simple':
        for (const row of this.memberRows(r)) this.p(row.join(', '));
        return;
      case 'json':
        return this.json('MemberListResponse', r);
      case 'protobuf':
        return this.pb('Cluster', 'MemberList', r);
      case 'fields':
        this.hdrFields(r.header);
        for (const m of r.members) {
          this.p(`"ID" : ${m.ID}`);
          this.p(`"Name" : ${goQuote(m.name)}`);
          for (const u of m.peerURLs) this.p(`"PeerURL" : ${goQuote(u)}`);
          for (const u of m.clientURLs) this.p(`"ClientURL" : ${goQuote(u)}`);
          this.p(`"IsLearner" : ${m.isLearner ? 'true' : 'false'}`);
          this.p();
        }
        return;
      case 'table':
        this.raw(renderTable(['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'], this.memberRows(r)));
        return;
      default:
        return unsupported(this.format);
    }
  }

  memberAdd(r: t.MemberAddResponse): void {
    switch (this.format) {
      case 'simple':
        this.p(`Member ${hexID(r.member?.ID ?? '0').padStart(16, ' ')} added${r.member?.isLearner === true ? ' as learner ' : ' '}to cluster ${hexID(r.header?.cluster_id ?? '0').padStart(16, ' ')}`);
        return;
      case 'json':
        return this.json('MemberAddResponse', r);
      case 'protobuf':
        return this.pb('Cluster', 'MemberAdd', r);
      case 'fields':
        this.hdrFields(r.header);
        return;
      default:
        return unsupported(this.format);
    }
  }

  memberChange(kind: 'removed from' | 'updated in' | 'promoted in', id: bigint, r: t.MemberResponse, method: string): void {
    switch (this.format) {
      case 'simple':
        this.p(`Member ${hexID(id).padStart(16, ' ')} ${kind} cluster ${hexID(r.header?.cluster_id ?? '0').padStart(16, ' ')}`);
        return;
      case 'json':
        return this.json(`${method}Response`, r);
      case 'protobuf':
        return this.pb('Cluster', method, r);
      case 'fields':
        this.hdrFields(r.header);
        return;
      default:
        return unsupported(this.format);
    }
  }

  // --- Maintenance

  endpointHealth(list: EpHealth[]): void {
    const took = (h: EpHealth): string => goDuration(h.tookNs);
    switch (this.format) {
      case 'simple':
        for (const h of list) {
          if (h.error === '') this.ctx.errln(`${h.ep} is healthy: successfully committed proposal: took = ${took(h)}`);
          else this.ctx.errln(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}`);
        }
        return;
      case 'json':
        this.p(goJsonValue(list.map((h) => ({ endpoint: h.ep, health: h.health, took: took(h), error: h.error === '' ? undefined : h.error }))));
        return;
      case 'fields':
        for (const h of list) {
          this.p(`"Endpoint" : ${goQuote(h.ep)}`);
          this.p(`"Health" : ${h.health ? 'true' : 'false'}`);
          this.p(`"Took" : ${took(h)}`);
          this.p(`"Error" : ${h.error}`);
          this.p();
        }
        return;
      case 'table':
        this.raw(renderTable(['endpoint', 'health', 'took', 'error'], list.map((h) => [h.ep, h.health ? 'true' : 'false', took(h), h.error])));
        return;
      default:
        return unsupported(this.format);
    }
  }

  private statusRows(list: EpStatus[]): string[][] {
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

  endpointStatus(list: EpStatus[]): void {
    switch (this.format) {
      case 'simple':
        for (const row of this.statusRows(list)) this.p(row.join(', '));
        return;
      case 'json':
        this.p(`[${list.map((s) => `{"Endpoint":${goJsonValue(s.ep)},"Status":${goJsonMessage('StatusResponse', s.resp as unknown as Msg)}}`).join(',')}]`);
        return;
      case 'fields':
        for (const { ep, resp } of list) {
          this.hdrFields(resp.header);
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
        return;
      case 'table':
        this.raw(renderTable(['endpoint', 'ID', 'version', 'db size', 'is leader', 'is learner', 'raft term', 'raft index', 'raft applied index', 'errors'], this.statusRows(list)));
        return;
      default:
        return unsupported(this.format);
    }
  }

  endpointHashKV(list: EpHashKV[]): void {
    switch (this.format) {
      case 'simple':
        for (const h of list) this.p(`${h.ep}, ${h.resp.hash}`);
        return;
      case 'json':
        this.p(`[${list.map((h) => `{"Endpoint":${goJsonValue(h.ep)},"HashKV":${goJsonMessage('HashKVResponse', h.resp as unknown as Msg)}}`).join(',')}]`);
        return;
      case 'fields':
        for (const h of list) {
          this.hdrFields(h.resp.header);
          this.p(`"Endpoint" : ${goQuote(h.ep)}`);
          this.p(`"Hash" : ${h.resp.hash}`);
          this.p();
        }
        return;
      case 'table':
        this.raw(renderTable(['endpoint', 'hash'], list.map((h) => [h.ep, String(h.resp.hash)])));
        return;
      default:
        return unsupported(this.format);
    }
  }

  alarm(r: t.AlarmResponse): void {
    switch (this.format) {
      case 'simple':
        for (const a of r.alarms) this.p(`memberID:${a.memberID} alarm:${alarmTypes[a.alarm] ?? String(a.alarm)} `);
        return;
      case 'json':
        return this.json('AlarmResponse', r);
      case 'protobuf':
        return this.pb('Maintenance', 'Alarm', r);
      case 'fields':
        this.hdrFields(r.header);
        for (const a of r.alarms) {
          this.p(`"MemberID" : ${a.memberID}`);
          this.p(`"AlarmType" : ${alarmTypes[a.alarm] ?? String(a.alarm)}`);
          this.p();
        }
        return;
      default:
        return unsupported(this.format);
    }
  }

  moveLeader(leader: bigint, target: bigint, r: Msg): void {
    switch (this.format) {
      case 'simple':
        this.p(`Leadership transferred from ${hexID(leader)} to ${hexID(target)}`);
        return;
      case 'json':
        return this.json('MoveLeaderResponse', r);
      case 'protobuf':
        return this.pb('Maintenance', 'MoveLeader', r);
      default:
        return unsupported(this.format);
    }
  }

  dbStatus(s: DbStatus): void {
    const row = [s.hash.toString(16), String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)];
    switch (this.format) {
      case 'simple':
        this.p(row.join(', '));
        return;
      case 'json':
        this.p(goJsonValue({ hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize }));
        return;
      case 'table':
        this.raw(renderTable(['hash', 'revision', 'total keys', 'total size'], [row]));
        return;
      default:
        return unsupported(this.format);
    }
  }

  // --- Auth

  /** Simple text for auth/user/role commands; the other formats print the RPC response. */
  authResponse(simple: () => void, method: string, r: Msg, fields?: () => void): void {
    switch (this.format) {
      case 'simple':
        return simple();
      case 'json':
        return this.json(`${method}Response`, r);
      case 'protobuf':
        return this.pb('Auth', method === 'AuthStatus' ? method : method.replace(/^Auth/, ''), r);
      case 'fields':
        if (method === 'AuthUserGet' || method === 'AuthUserList') return unsupported(this.format);
        this.hdrFields(r['header'] as t.ResponseHeader | null);
        fields?.();
        return;
      default:
        return unsupported(this.format);
    }
  }

  roleGet(role: string, r: t.AuthRoleGetResponse): void {
    const simple = (): void => {
      this.p(`Role ${role}`);
      if (role === 'root' && r.perm.length === 0) {
        this.p('KV Read:');
        this.p('\t[, <open ended>');
        this.p('KV Write:');
        this.p('\t[, <open ended>');
        return;
      }
      const printRange = (perm: t.Permission): void => {
        const sKey = perm.key.toString('latin1');
        const sEnd = perm.range_end.toString('latin1');
        let line = sEnd !== '\x00' ? `\t[${sKey}, ${sEnd})` : `\t[${sKey}, <open ended>`;
        if (prefixRangeEnd(perm.key).equals(perm.range_end) && perm.key.length > 0) line += ` (prefix ${sKey})`;
        this.raw(Buffer.from(`${line}\n`, 'latin1'));
      };
      const section = (title: string, types: number[]): void => {
        this.p(title);
        for (const perm of r.perm) {
          if (!types.includes(perm.permType)) continue;
          if (perm.range_end.length === 0) this.raw(Buffer.from(`\t${perm.key.toString('latin1')}\n`, 'latin1'));
          else printRange(perm);
        }
      };
      section('KV Read:', [0, 2]);
      section('KV Write:', [1, 2]);
    };
    this.authResponse(simple, 'AuthRoleGet', r as unknown as Msg, () => {
      for (const perm of r.perm) {
        this.p(`"PermType" :  ${permTypes[perm.permType] ?? String(perm.permType)}`);
        this.p(`"Key" : ${goQuote(perm.key)}`);
        this.p(`"RangeEnd" : ${goQuote(perm.range_end)}`);
      }
    });
  }

  userGet(user: string, r: t.AuthUserGetResponse): void {
    this.authResponse(() => {
      this.p(`User: ${user}`);
      this.p(`Roles:${r.roles.map((x) => ` ${x}`).join('')}`);
    }, 'AuthUserGet', r as unknown as Msg, () => {
      this.p(`"User" : ${goQuote(user)}`);
      this.p(`"Roles" :${r.roles.map((x) => ` ${goQuote(x)}`).join('')}`);
    });
  }

  /** Values for json printers built by hand. */
  static raw(text: string): RawJson {
    return new RawJson(text);
  }
}

/** clientv3.GetPrefixRangeEnd. */
export function prefixRangeEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function encodeEvent(ev: t.Event): Buffer {
  // Watch responses carry events; encode one event by wrapping it and stripping the wrapper's tag.
  const full = pbEncode('Watch', 'Watch', { events: [ev] });
  // field 11 (events), wire type 2: tag 0x5a, then a varint length.
  let i = 0;
  if (full[i] !== 0x5a) return Buffer.alloc(0);
  i++;
  while ((full[i] ?? 0) & 0x80) i++;
  return full.subarray(i + 1);
}
