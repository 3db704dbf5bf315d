import type * as grpc from '@grpc/grpc-js';
import type { Member } from '../server';
import { EtcdError } from '../util';
import * as c from './convert';
import * as v from './validate';
import { headerOf, sizeOf, unary, internalRequestBytes, type RpcContext, type UnaryImpl } from './rpc';

/** A read-only txn is served locally when every range in it is serializable (etcd's isTxnSerializable). */
function txnSerializable(r: c.PbTxnRequest): boolean {
  const ops = [...(r.success ?? []), ...(r.failure ?? [])];
  return ops.every((op) => (op.request === 'request_range' ? op.request_range?.serializable === true : op.request === 'request_txn' ? txnSerializable(op.request_txn!) : true));
}

export function kvHandlers(member: Member, rpc: RpcContext): Record<string, grpc.handleUnaryCall<never, unknown>> {
  const out: Record<string, grpc.handleUnaryCall<never, unknown>> = {};
  for (const [name, impl] of Object.entries(kvImpls(member))) out[name] = unary(impl, rpc);
  return out;
}

/** The KV methods as promise functions (grpc-js's handlers above, and fast-unary.ts, call them). */
export function kvImpls(member: Member): Record<string, UnaryImpl<never, unknown>> {
  const h = (rev: number): c.PbHeader => headerOf(member, rev);
  const wrapped = (req: object): number => internalRequestBytes(sizeOf(req), member.memberId);
  return {
    Range: (async (req: c.PbRangeRequest) => {
      const r = c.rangeFromPb(req);
      v.checkRange(r);
      const res = await member.range(r, req.serializable === true);
      return c.rangeToPb(h(res.revision), res);
    }) as UnaryImpl<never, unknown>,
    Put: (async (req: c.PbPutRequest) => {
      const r = c.putFromPb(req);
      v.checkPut(r);
      const res = await member.put(r, wrapped(req));
      return c.putToPb(h(res.revision), res);
    }) as UnaryImpl<never, unknown>,
    DeleteRange: (async (req: c.PbDeleteRangeRequest) => {
      const r = c.deleteRangeFromPb(req);
      v.checkDeleteRange(r);
      const res = await member.deleteRange(r, wrapped(req));
      return c.deleteRangeToPb(h(res.revision), res);
    }) as UnaryImpl<never, unknown>,
    Txn: (async (req: c.PbTxnRequest) => {
      v.checkTxn(req, member.config.maxTxnOps);
      const r = c.txnFromPb(req);
      v.checkIntervals(r.success);
      v.checkIntervals(r.failure);
      const res = await member.txn(r, wrapped(req), txnSerializable(req));
      return c.txnToPb(h(res.revision), res);
    }) as UnaryImpl<never, unknown>,
    Compact: (async (req: c.PbCompactionRequest) => {
      const revision = c.int64ToNumber(req.revision);
      if (revision < 0) throw new EtcdError('Compacted');
      const res = await member.compact(revision);
      return { header: h(res.revision) };
    }) as UnaryImpl<never, unknown>,
  };
}
