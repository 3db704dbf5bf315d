import type * as grpc from '@grpc/grpc-js';
import type { Member, AlarmAction, AlarmType } from '../server';
import { int64ToBigint, int64ToNumber } from './convert';
import { headerOf, unary, type RpcContext } from './rpc';
import { toServiceError } from './errors';

export function maintenanceHandlers(member: Member, rpc: RpcContext): Record<string, grpc.handleUnaryCall<never, unknown>> {
  return {
    Status: unary(async () => {
      const s = await member.status();
      return {
        header: headerOf(member, s.revision),
        version: s.version,
        dbSize: s.dbSize,
        leader: s.leader.toString(),
        raftIndex: s.raftIndex.toString(),
        raftTerm: s.raftTerm.toString(),
        raftAppliedIndex: s.raftAppliedIndex.toString(),
        errors: s.errors,
        dbSizeInUse: s.dbSizeInUse,
        isLearner: s.isLearner,
      };
    }, rpc),
    Alarm: unary(async (req: { action: number; memberID: string; alarm: number }) => {
      const alarms = await member.alarm(req.action as AlarmAction, int64ToBigint(req.memberID), req.alarm as AlarmType);
      return { header: headerOf(member, member.currentRevision()), alarms: alarms.map((a) => ({ memberID: a.memberId.toString(), alarm: a.alarm })) };
    }, rpc),
    HashKV: unary(async (req: { revision: string }) => {
      const r = await member.hashKv(int64ToNumber(req.revision));
      return { header: headerOf(member, r.revision), hash: r.hash, compact_revision: r.compactRevision, hash_revision: 0 };
    }, rpc),
    Defragment: unary(async () => {
      await member.defragment();
      return { header: headerOf(member, member.currentRevision()) };
    }, rpc),
    MoveLeader: unary(async (req: { targetID: string }) => {
      await member.moveLeader(int64ToBigint(req.targetID));
      return { header: headerOf(member, member.currentRevision()) };
    }, rpc),
    Hash: unary(async () => {
      const r = await member.hash();
      return { header: headerOf(member, r.revision), hash: r.hash };
    }, rpc),
    Snapshot: ((call: grpc.ServerWritableStream<unknown, unknown>) => {
      void (async () => {
        try {
          const { size, chunks } = await member.snapshot();
          let remaining = size;
          for await (const blob of chunks) {
            remaining -= blob.length;
            const ok = call.write({ header: headerOf(member, member.currentRevision()), remaining_bytes: remaining, blob });
            if (!ok) await new Promise<void>((r) => call.once('drain', () => r()));
            if (call.cancelled) return;
          }
          call.end();
        } catch (e) {
          call.emit('error', toServiceError(e));
        }
      })();
    }) as unknown as grpc.handleUnaryCall<never, unknown>,
  } as Record<string, grpc.handleUnaryCall<never, unknown>>;
}
