import type * as grpc from '@grpc/grpc-js';
import type { Member } from '../server';
import { unary } from './grpc-server';
import { headerOf } from './kv-service';

export function clusterHandlers(member: Member, fatal: (e: unknown) => void): grpc.UntypedServiceImplementation {
  return {
    MemberList: unary(async () => ({
      header: headerOf(member, member.currentRevision()),
      members: member.memberList().map((m) => ({ ID: m.id.toString(), name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner })),
    }), fatal),
  };
}
