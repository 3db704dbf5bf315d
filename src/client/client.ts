// A small typed promise client for etcd's v3 API over grpc-js: several
// endpoints with failover, per-call deadlines, token auth, TLS. It talks to
// keel and to a real etcd alike; responses are proto-loader objects as
// decoded (int64 as decimal strings: convert IDs with toBigint, never Number).
import * as grpc from '@grpc/grpc-js';
import { electionService, etcdService, lockService, type ServiceName } from '../proto';
import { cleanRequest } from './descriptor';
import { ClientError, DeadlineError, fromServiceError, isTransportError } from './errors';
import type * as t from './types';

export type AnyService = ServiceName | 'Election' | 'Lock';

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Accept any server certificate (etcdctl --insecure-skip-tls-verify). */
  skipVerify?: boolean;
}

export interface ClientOptions {
  /** host:port, http://host:port or https://host:port. */
  endpoints: readonly string[];
  dialTimeoutMs?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Used for https:// endpoints, and for all endpoints when secure is set. */
  tls?: TlsOptions;
  /** Use TLS even for endpoints without a scheme (etcdctl --insecure-transport=false). */
  secure?: boolean;
  username?: string;
  password?: string;
  /** Called for every failed unary attempt (etcdctl logs these). */
  onCallError?: (e: ClientError, endpoint: string) => void;
  /** A TCP connection of its own per endpoint, not shared with other clients (load generators' --conns). */
  ownConnection?: boolean;
}

export interface CallOptions {
  timeoutMs?: number;
  /** An absolute deadline (ms since epoch); wins over timeoutMs. */
  deadline?: number;
}

const defaultTimeoutMs = 5_000;
const retryPauseMs = 100;

interface Endpoint {
  readonly raw: string;
  readonly address: string;
  readonly secure: boolean;
}

export function parseEndpoint(raw: string, forceSecure = false): Endpoint {
  let address = raw.trim();
  let secure = forceSecure;
  const m = /^(https?|unixs?):\/\/(.*)$/.exec(address);
  if (m !== null) {
    const scheme = m[1] ?? 'http';
    address = m[2] ?? '';
    if (scheme === 'https' || scheme === 'unixs') secure = true;
    if (scheme.startsWith('unix')) address = `unix:${address}`;
  }
  address = address.replace(/\/+$/, '');
  return { raw, address, secure };
}

export function constructorFor(service: AnyService): grpc.ServiceClientConstructor {
  if (service === 'Election') return electionService();
  if (service === 'Lock') return lockService();
  return etcdService(service);
}

function servicePackage(service: AnyService): string {
  return service === 'Election' ? 'v3electionpb' : service === 'Lock' ? 'v3lockpb' : 'etcdserverpb';
}

/** Drops default-valued fields: etcd tells a present empty range_end from an absent one. */
export function requestFor(service: AnyService, method: string, req: unknown): unknown {
  const def = constructorFor(service).service[method] as unknown as { requestType?: { type?: { name?: string } } } | undefined;
  return cleanRequest(def?.requestType?.type?.name, req, servicePackage(service));
}

/** A method's wire coders: encode as call() sends a request (defaults dropped), decode as call() returns a response. */
export interface MethodCodec {
  readonly path: string;
  encode(req: unknown): Buffer;
  decode(res: Buffer): unknown;
}

const codecs = new Map<string, MethodCodec>();

export function codecFor(service: AnyService, method: string): MethodCodec {
  const key = `${service}.${method}`;
  let codec = codecs.get(key);
  if (codec !== undefined) return codec;
  const def = constructorFor(service).service[method];
  if (def === undefined) throw new ClientError(grpc.status.UNIMPLEMENTED, `unknown method ${key}`);
  codec = {
    path: def.path,
    encode: (req) => def.requestSerialize(requestFor(service, method, req)),
    decode: (res) => def.responseDeserialize(res),
  };
  codecs.set(key, codec);
  return codec;
}

const identity = (b: Buffer): Buffer => b;

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;

export class Client {
  options: ClientOptions;
  private readonly endpoints: Endpoint[];
  private readonly stubs = new Map<string, grpc.Client>();
  /** One channel per endpoint, shared by every service's stub: one connection, as etcd's clientv3 has. */
  private readonly channels = new Map<string, grpc.Channel>();
  private current = 0;
  private token: string | undefined;
  private rawMetadata: grpc.Metadata | undefined;
  private rawToken: string | undefined;
  private closed = false;

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) throw new ClientError(grpc.status.INVALID_ARGUMENT, 'no endpoints given');
    this.options = options;
    this.endpoints = options.endpoints.map((e) => parseEndpoint(e, options.secure === true));
  }

  /** The endpoints as given. */
  get endpointList(): string[] {
    return this.endpoints.map((e) => e.raw);
  }

  /** A client for one of the endpoints only, with the same options (per-endpoint commands). */
  forEndpoint(endpoint: string): Client {
    return new Client({ ...this.options, endpoints: [endpoint] });
  }

  close(): void {
    this.closed = true;
    for (const channel of this.channels.values()) channel.close();
    this.stubs.clear();
    this.channels.clear();
  }

  private credentials(ep: Endpoint): grpc.ChannelCredentials {
    if (!ep.secure) return grpc.credentials.createInsecure();
    const tls = this.options.tls ?? {};
    const verify: grpc.VerifyOptions = tls.skipVerify === true
      ? { checkServerIdentity: () => undefined, rejectUnauthorized: false }
      : {};
    return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null, verify);
  }

  private stub(ep: Endpoint, service: AnyService): grpc.Client {
    const key = `${ep.address}|${service}`;
    let stub = this.stubs.get(key);
    if (stub === undefined) {
      const Ctor = constructorFor(service);
      const channelOptions: grpc.ChannelOptions = {
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        'grpc.keepalive_time_ms': this.options.keepaliveTimeMs ?? 2_000,
        'grpc.keepalive_timeout_ms': this.options.keepaliveTimeoutMs ?? 6_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 500,
      };
      if (this.options.ownConnection === true) channelOptions['grpc.use_local_subchannel_pool'] = 1;
      let channel = this.channels.get(ep.address);
      if (channel === undefined) {
        channel = new grpc.Channel(ep.address, this.credentials(ep), channelOptions);
        this.channels.set(ep.address, channel);
      }
      stub = new Ctor(ep.address, this.credentials(ep), { channelOverride: channel });
      this.stubs.set(key, stub);
    }
    return stub;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token !== undefined) md.set('token', this.token);
    return md;
  }

  private unaryOnce(ep: Endpoint, service: AnyService, method: string, reqIn: unknown, deadline: number): Promise<unknown> {
    const req = requestFor(service, method, reqIn);
    const stub = this.stub(ep, service) as unknown as Record<string, Unary>;
    const fn = stub[method];
    if (typeof fn !== 'function') {
      return Promise.reject(new ClientError(grpc.status.UNIMPLEMENTED, `unknown method ${service}.${method}`, ep.raw));
    }
    return new Promise((resolve, reject) => {
      fn.call(stub, req, this.metadata(), { deadline }, (err, res) => {
        if (err !== null) reject(fromServiceError(err, ep.raw));
        else resolve(res);
      });
    });
  }

  /** Set when getting a token failed: etcdctl fails such commands at connect time (exit 2). */
  authFailed = false;

  private async authenticate(ep: Endpoint, deadline: number): Promise<void> {
    if (this.options.username === undefined || this.token !== undefined) return;
    try {
      const res = (await this.unaryOnce(ep, 'Auth', 'Authenticate', { name: this.options.username, password: this.options.password ?? '' }, deadline)) as { token: string };
      this.token = res.token;
    } catch (e) {
      const ce = fromServiceError(e, ep.raw);
      if (ce.details === 'etcdserver: authentication is not enabled') {
        this.token = undefined;
        this.options = { ...this.options };
        delete (this.options as { username?: string }).username;
        return;
      }
      if (!isTransportError(ce)) this.authFailed = true;
      throw ce;
    }
  }

  /**
   * A unary call with failover: transport failures move on to the next
   * endpoint, and the whole round repeats until the deadline; answers from
   * a server (etcd errors included) end the call.
   */
  async call<Res>(service: AnyService, method: string, req: unknown, opts: CallOptions = {}): Promise<Res> {
    if (this.closed) throw new ClientError(grpc.status.CANCELLED, 'grpc: the client connection is closing');
    const deadline = opts.deadline ?? Date.now() + (opts.timeoutMs ?? defaultTimeoutMs);
    let lastCause = 'no endpoint reachable';
    for (;;) {
      for (let i = 0; i < this.endpoints.length; i++) {
        const idx = (this.current + i) % this.endpoints.length;
        const ep = this.endpoints[idx];
        if (ep === undefined) continue;
        try {
          await this.authenticate(ep, deadline);
          const res = await this.unaryOnce(ep, service, method, req, deadline);
          this.current = idx;
          return res as Res;
        } catch (e) {
          const ce = fromServiceError(e, ep.raw);
          if (ce.code === grpc.status.DEADLINE_EXCEEDED || Date.now() >= deadline) {
            const err = new DeadlineError(ce.code === grpc.status.DEADLINE_EXCEEDED ? lastCause : ce.details, ep.raw);
            this.options.onCallError?.(err, ep.raw);
            throw err;
          }
          if (!isTransportError(ce)) {
            this.options.onCallError?.(ce, ep.raw);
            throw ce;
          }
          lastCause = ce.details;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const err = new DeadlineError(lastCause, this.endpoints[this.current]?.raw);
        this.options.onCallError?.(err, this.endpoints[this.current]?.raw ?? '');
        throw err;
      }
      await new Promise((r) => setTimeout(r, Math.min(retryPauseMs, left)));
    }
  }

  /**
   * One unary attempt with the request already encoded (codecFor) and the
   * response left encoded, on the current endpoint, without failover or
   * retry: for load generators, which send the same bytes many times and
   * count every failure.
   */
  callRaw(service: AnyService, method: string, request: Buffer, opts: CallOptions = {}): Promise<Buffer> {
    const ep = this.endpoints[this.current];
    if (this.closed || ep === undefined) return Promise.reject(new ClientError(grpc.status.CANCELLED, 'grpc: the client connection is closing'));
    const deadline = opts.deadline ?? Date.now() + (opts.timeoutMs ?? defaultTimeoutMs);
    if (this.token === undefined && this.options.username !== undefined) {
      return this.authenticate(ep, deadline).then(() => this.callRaw(service, method, request, { deadline }));
    }
    // No per-call allocations beyond grpc-js's own: the stub and the metadata (no token yet, or the same token) are reused.
    const stub = this.stub(ep, service);
    if (this.rawMetadata === undefined || this.rawToken !== this.token) [this.rawMetadata, this.rawToken] = [this.metadata(), this.token];
    const md = this.rawMetadata;
    return new Promise((resolve, reject) => {
      stub.makeUnaryRequest(codecFor(service, method).path, identity, identity, request, md, { deadline }, (err, res) => {
        if (err !== null || res === undefined) reject(fromServiceError(err ?? new Error('empty response'), ep.raw));
        else resolve(res);
      });
    });
  }

  /** duplex() without the coders: encoded messages in and out (codecFor). */
  async duplexRaw(service: AnyService, method: string, opts: CallOptions = {}): Promise<grpc.ClientDuplexStream<Buffer, Buffer>> {
    const deadline = opts.deadline ?? Date.now() + (opts.timeoutMs ?? this.options.dialTimeoutMs ?? defaultTimeoutMs);
    const ep = await this.pickStreamEndpoint(deadline);
    return this.stub(ep, service).makeBidiStreamRequest(codecFor(service, method).path, identity, identity, this.metadata(), {});
  }

  /** Finds a reachable endpoint (by a cheap call) for streams; returns its index. */
  private async pickStreamEndpoint(deadline: number): Promise<Endpoint> {
    if (this.endpoints.length === 1) {
      const only = this.endpoints[0];
      if (only !== undefined) {
        await this.authenticate(only, deadline);
        return only;
      }
    }
    await this.call('Maintenance', 'Status', {}, { deadline });
    const ep = this.endpoints[this.current];
    if (ep === undefined) throw new ClientError(grpc.status.UNAVAILABLE, 'no endpoint');
    return ep;
  }

  /** A bidirectional stream (Watch.Watch, Lease.LeaseKeepAlive) on a reachable endpoint. */
  async duplex(service: AnyService, method: string, opts: CallOptions = {}): Promise<grpc.ClientDuplexStream<unknown, unknown>> {
    const deadline = opts.deadline ?? Date.now() + (opts.timeoutMs ?? this.options.dialTimeoutMs ?? defaultTimeoutMs);
    const ep = await this.pickStreamEndpoint(deadline);
    const stub = this.stub(ep, service) as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, unknown>>;
    const fn = stub[method];
    if (typeof fn !== 'function') throw new ClientError(grpc.status.UNIMPLEMENTED, `unknown method ${service}.${method}`);
    return fn.call(stub, this.metadata(), {});
  }

  /** A server stream (Maintenance.Snapshot, Election.Observe). */
  async serverStream(service: AnyService, method: string, req: unknown, opts: CallOptions & { streamDeadline?: number } = {}): Promise<grpc.ClientReadableStream<unknown>> {
    const deadline = opts.deadline ?? Date.now() + (opts.timeoutMs ?? this.options.dialTimeoutMs ?? defaultTimeoutMs);
    const ep = await this.pickStreamEndpoint(deadline);
    const stub = this.stub(ep, service) as unknown as Record<string, (r: unknown, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>>;
    const fn = stub[method];
    if (typeof fn !== 'function') throw new ClientError(grpc.status.UNIMPLEMENTED, `unknown method ${service}.${method}`);
    req = requestFor(service, method, req);
    const callOpts: grpc.CallOptions = opts.streamDeadline !== undefined ? { deadline: opts.streamDeadline } : {};
    return fn.call(stub, req, this.metadata(), callOpts);
  }

  // --- KV

  range(req: t.RangeRequest, o?: CallOptions): Promise<t.RangeResponse> {
    return this.call('KV', 'Range', req, o);
  }
  put(req: t.PutRequest, o?: CallOptions): Promise<t.PutResponse> {
    return this.call('KV', 'Put', req, o);
  }
  deleteRange(req: t.DeleteRangeRequest, o?: CallOptions): Promise<t.DeleteRangeResponse> {
    return this.call('KV', 'DeleteRange', req, o);
  }
  txn(req: t.TxnRequest, o?: CallOptions): Promise<t.TxnResponse> {
    return this.call('KV', 'Txn', req, o);
  }
  compact(revision: t.Int64In, physical: boolean, o?: CallOptions): Promise<t.CompactionResponse> {
    return this.call('KV', 'Compact', { revision: String(revision), physical }, o);
  }

  // --- Lease

  leaseGrant(ttlSeconds: t.Int64In, id: bigint = 0n, o?: CallOptions): Promise<t.LeaseGrantResponse> {
    return this.call('Lease', 'LeaseGrant', { TTL: String(ttlSeconds), ID: id.toString() }, o);
  }
  leaseRevoke(id: bigint, o?: CallOptions): Promise<t.LeaseRevokeResponse> {
    return this.call('Lease', 'LeaseRevoke', { ID: id.toString() }, o);
  }
  leaseTimeToLive(id: bigint, keys: boolean, o?: CallOptions): Promise<t.LeaseTimeToLiveResponse> {
    return this.call('Lease', 'LeaseTimeToLive', { ID: id.toString(), keys }, o);
  }
  leaseLeases(o?: CallOptions): Promise<t.LeaseLeasesResponse> {
    return this.call('Lease', 'LeaseLeases', {}, o);
  }

  // --- Cluster

  memberList(o?: CallOptions): Promise<t.MemberListResponse> {
    return this.call('Cluster', 'MemberList', {}, o);
  }
  memberAdd(peerURLs: string[], isLearner: boolean, o?: CallOptions): Promise<t.MemberAddResponse> {
    return this.call('Cluster', 'MemberAdd', { peerURLs, isLearner }, o);
  }
  memberRemove(id: bigint, o?: CallOptions): Promise<t.MemberResponse> {
    return this.call('Cluster', 'MemberRemove', { ID: id.toString() }, o);
  }
  memberUpdate(id: bigint, peerURLs: string[], o?: CallOptions): Promise<t.MemberResponse> {
    return this.call('Cluster', 'MemberUpdate', { ID: id.toString(), peerURLs }, o);
  }
  memberPromote(id: bigint, o?: CallOptions): Promise<t.MemberResponse> {
    return this.call('Cluster', 'MemberPromote', { ID: id.toString() }, o);
  }

  // --- Maintenance

  status(o?: CallOptions): Promise<t.StatusResponse> {
    return this.call('Maintenance', 'Status', {}, o);
  }
  hashKV(revision: t.Int64In, o?: CallOptions): Promise<t.HashKVResponse> {
    return this.call('Maintenance', 'HashKV', { revision: String(revision) }, o);
  }
  alarm(action: number, memberID: bigint, alarm: number, o?: CallOptions): Promise<t.AlarmResponse> {
    return this.call('Maintenance', 'Alarm', { action, memberID: memberID.toString(), alarm }, o);
  }
  defragment(o?: CallOptions): Promise<t.Message> {
    return this.call('Maintenance', 'Defragment', {}, o);
  }
  moveLeader(targetID: bigint, o?: CallOptions): Promise<t.Message> {
    return this.call('Maintenance', 'MoveLeader', { targetID: targetID.toString() }, o);
  }

  // --- Auth

  auth<Res = t.Message>(method: string, req: unknown, o?: CallOptions): Promise<Res> {
    return this.call('Auth', method, req, o);
  }
}

/** An int64 from the wire (decimal string) as bigint; unsigned IDs stay exact. */
export function toBigint(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string' && v !== '') return BigInt(v);
  return 0n;
}

/** uint64 → the same bits as int64 (Go's int64(id)). */
export function toInt64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

/** int64 → the same bits as uint64. */
export function toUint64(v: bigint): bigint {
  return BigInt.asUintN(64, v);
}
