import type * as grpc from '@grpc/grpc-js';
import type { Member } from '../server';
import { unary } from './grpc-server';
import { headerOf } from './kv-service';

export function maintenanceHandlers(member: Member, fatal: (e: unknown) => void): Record<string, grpc.handleUnaryCall<never, unknown>> {
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
    }, fatal),
  } as Record<string, grpc.handleUnaryCall<never, unknown>>;
}
