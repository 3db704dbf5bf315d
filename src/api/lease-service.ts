import type * as grpc from '@grpc/grpc-js';
import type { Member } from '../server';
import { AssertionError, EtcdError } from '../util';
import { int64ToBigint, int64ToNumber, type PbHeader } from './convert';
import { toServiceError } from './errors';
import { headerOf, unary, type RpcContext, type UnaryImpl } from './rpc';
import { KeepAliveForwarder } from './lease-forwarder';

interface PbLeaseGrantRequest { TTL: string; ID: string }
interface PbLeaseIdRequest { ID: string }
interface PbLeaseTimeToLiveRequest { ID: string; keys: boolean }

/** The Lease service: grpc-js handlers, and the unary methods as promise functions (fast-unary.ts calls them). */
export function leaseService(member: Member, rpc: RpcContext): { handlers: grpc.UntypedServiceImplementation; impls: Record<string, UnaryImpl<never, unknown>> } {
  const forwarder = new KeepAliveForwarder(5000 + 2 * member.config.electionTimeoutMs);
  const keepAlive = async (id: bigint): Promise<number | undefined> => {
    try {
      return await member.leaseKeepAlive(id);
    } catch (e) {
      if (!(e instanceof EtcdError && e.kind === 'NotLeader')) throw e;
      const url = member.leaderClientUrl();
      if (url === undefined) throw new EtcdError('NoLeader');
      return forwarder.renew(url, id);
    }
  };
  const impls = leaseImpls(member, forwarder);
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, impl] of Object.entries(impls)) out[name] = unary(impl, rpc) as grpc.UntypedHandleCall;
  return { handlers: { ...out, LeaseKeepAlive: keepAliveHandler(member, keepAlive, rpc) }, impls };
}

function leaseImpls(member: Member, forwarder: KeepAliveForwarder): Record<string, UnaryImpl<never, unknown>> {
  const h = (): PbHeader => headerOf(member, member.currentRevision());
  return {
    LeaseGrant: (async (req: PbLeaseGrantRequest) => {
      const r = await member.leaseGrant(int64ToBigint(req.ID), int64ToNumber(req.TTL));
      return { header: headerOf(member, r.revision), ID: r.id.toString(), TTL: r.ttlSeconds, error: '' };
    }) as UnaryImpl<never, unknown>,
    LeaseRevoke: (async (req: PbLeaseIdRequest) => {
      const r = await member.leaseRevoke(int64ToBigint(req.ID));
      return { header: headerOf(member, r.revision) };
    }) as UnaryImpl<never, unknown>,
    LeaseTimeToLive: (async (req: PbLeaseTimeToLiveRequest) => {
      const id = int64ToBigint(req.ID);
      const r = await member.leaseTimeToLive(id, req.keys === true).catch((e: unknown) => {
        if (e instanceof EtcdError && e.kind === 'NotLeader') return fromLeader(member, forwarder, id, req.keys === true);
        throw e;
      });
      // etcd answers an unknown lease with TTL -1 rather than an error; clients rely on it.
      if (r === undefined) return { header: h(), ID: id.toString(), TTL: -1, grantedTTL: 0, keys: [] };
      return { header: h(), ID: id.toString(), TTL: r.ttlSeconds, grantedTTL: r.grantedTtlSeconds, keys: r.keys };
    }) as UnaryImpl<never, unknown>,
    LeaseLeases: (async () => {
      const ids = await member.leaseLeases();
      return { header: h(), leases: ids.map((id) => ({ ID: id.toString() })) };
    }) as UnaryImpl<never, unknown>,
  };
}

type TimeToLive = { ttlSeconds: number; grantedTtlSeconds: number; keys: Buffer[] } | undefined;

/** A follower's answer: the leader's count (the header stays this member's, as etcd fills it). */
async function fromLeader(member: Member, forwarder: KeepAliveForwarder, id: bigint, keys: boolean): Promise<TimeToLive> {
  const url = member.leaderClientUrl();
  if (url === undefined) throw new EtcdError('NoLeader');
  const r = await forwarder.timeToLive(url, id, keys);
  const ttl = Number(r.TTL);
  return ttl === -1 ? undefined : { ttlSeconds: ttl, grantedTtlSeconds: Number(r.grantedTTL), keys: r.keys };
}

function keepAliveHandler(member: Member, keepAlive: (id: bigint) => Promise<number | undefined>, rpc: RpcContext): grpc.handleBidiStreamingCall<PbLeaseIdRequest, unknown> {
  const h = (): PbHeader => headerOf(member, member.currentRevision());
  return (call: grpc.ServerDuplexStream<PbLeaseIdRequest, unknown>) => {
    // One request, one answer, in order; a slow client only slows itself (grpc flow control).
    let chain = Promise.resolve();
    call.on('data', (req: PbLeaseIdRequest) => {
      chain = chain.then(async () => {
        const id = int64ToBigint(req.ID);
        try {
          // etcd answers a keepalive of an unknown lease with TTL 0.
          const ttl = await keepAlive(id);
          call.write({ header: h(), ID: id.toString(), TTL: ttl ?? 0 });
        } catch (e) {
          if (e instanceof AssertionError) rpc.fatal(e);
          if (e instanceof EtcdError) call.emit('error', toServiceError(e));
          else call.destroy(e as Error);
        }
      });
    });
    call.on('end', () => { void chain.then(() => call.end()); });
    call.on('error', () => undefined);
  };
}
