// What every service handler shares: the unary adapter (etcd's status for
// domain errors; an assertion failure takes the member down), request size
// bookkeeping as etcd measures it, the hasleader check and response headers.
// Services import this; grpc-server.ts only assembles them.
import * as grpc from '@grpc/grpc-js';
import { AssertionError, EtcdError } from '../util';
import type { Member } from '../server';
import * as c from './convert';
import { toServiceError } from './errors';

/** Byte length of the encoded request, recorded by the deserializer (etcd checks request size on the encoded form). */
export const requestBytes = Symbol('requestBytes');
/** Set instead of decoding when a request is over etcd's gRPC receive limit. */
const oversizedBytes = Symbol('oversizedBytes');
export type Sized = { [requestBytes]?: number; [oversizedBytes]?: number };

export function sizeOf(req: object): number {
  return (req as Sized)[requestBytes] ?? 0;
}

function varintBytes(v: bigint): number {
  let n = 1;
  for (let x = v >> 7n; x > 0n; x >>= 7n) n++;
  return n;
}

/**
 * The size etcd compares with --max-request-bytes: the request wrapped in an
 * InternalRaftRequest with a RequestHeader{ID} (field 100), whose IDs carry
 * the member ID's low 16 bits in their top bits.
 */
export function internalRequestBytes(requestBytes: number, memberId: bigint): number {
  const idBytes = varintBytes(((memberId & 0xffffn) << 48n) | (1n << 47n));
  const header = 1 + idBytes;
  return 2 + varintBytes(BigInt(header)) + header + 1 + varintBytes(BigInt(requestBytes)) + requestBytes;
}

export function withRequestSize(def: grpc.ServiceDefinition, receiveBytesMax: number): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(def)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        if (buf.length > receiveBytesMax) return { [oversizedBytes]: buf.length };
        const obj = decode(buf) as Sized;
        obj[requestBytes] = buf.length;
        return obj;
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/** Whether the size-recording deserializer refused the request as over the receive limit. */
export function hasOversizedMark(req: unknown): boolean {
  return typeof req === 'object' && req !== null && (req as Sized)[oversizedBytes] !== undefined;
}

function oversizedError(req: unknown, receiveBytesMax: number): grpc.ServiceError | undefined {
  const n = (req as Sized | null)?.[oversizedBytes];
  if (n === undefined) return undefined;
  // Go gRPC's wording, which etcd clients see.
  const details = `grpc: received message larger than max (${n} vs. ${receiveBytesMax})`;
  return Object.assign(new Error(details), { code: grpc.status.RESOURCE_EXHAUSTED, details, metadata: new grpc.Metadata() });
}

export type UnaryImpl<Req, Res> = (req: Req) => Promise<Res>;

/** What every handler needs from the server it runs in. */
export interface RpcContext {
  /** Takes the member down (an assertion failed: keel's own state is wrong). */
  fatal(e: unknown): void;
  /** etcd's gRPC receive limit: --max-request-bytes plus gRPC overhead. */
  receiveBytesMax: number;
  hasLeader(): boolean;
}

/**
 * Adapts a promise handler to grpc-js. Domain errors become etcd's status;
 * an assertion failure is a bug in keel and takes the member down.
 */
export function unary<Req, Res>(impl: UnaryImpl<Req, Res>, rpc: RpcContext): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const tooBig = oversizedError(call.request, rpc.receiveBytesMax);
    if (tooBig !== undefined) {
      callback(tooBig);
      return;
    }
    if (requiresLeader(call.metadata) && !rpc.hasLeader()) {
      callback(toServiceError(new EtcdError('NoLeader')));
      return;
    }
    let p: Promise<Res>;
    try {
      p = impl(call.request);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (res) => callback(null, res),
      (e: unknown) => {
        if (e instanceof AssertionError) rpc.fatal(e);
        callback(toServiceError(e));
      },
    );
  };
}

/** etcd clients (kube-apiserver's watches among them) send hasleader=true to be refused rather than wait when there is no leader. */
export function requiresLeader(md: grpc.Metadata): boolean {
  return md.get('hasleader')[0] === 'true';
}

export function headerOf(member: Member, revision: number): c.PbHeader {
  return c.header({ clusterId: member.clusterId, memberId: member.memberId, raftTerm: member.raftTerm }, revision);
}

