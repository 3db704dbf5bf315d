import type * as grpc from '@grpc/grpc-js';
import type { Member, MemberInfo } from '../server';
import { int64ToBigint } from './convert';
import { headerOf, unary, type RpcContext } from './rpc';

function memberToPb(m: MemberInfo): object {
  return { ID: m.id.toString(), name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner };
}

export function clusterHandlers(member: Member, rpc: RpcContext): grpc.UntypedServiceImplementation {
  const h = (): object => headerOf(member, member.currentRevision());
  return {
    MemberList: unary(async () => ({ header: h(), members: member.memberList().map(memberToPb) }), rpc),
    MemberAdd: unary(async (req: { peerURLs: string[]; isLearner: boolean }) => {
      const r = await member.memberAdd(req.peerURLs ?? [], req.isLearner === true);
      return { header: h(), member: memberToPb(r.member), members: r.members.map(memberToPb) };
    }, rpc),
    MemberRemove: unary(async (req: { ID: string }) => ({ header: h(), members: (await member.memberRemove(int64ToBigint(req.ID))).map(memberToPb) }), rpc),
    MemberUpdate: unary(async (req: { ID: string; peerURLs: string[] }) => ({ header: h(), members: (await member.memberUpdate(int64ToBigint(req.ID), req.peerURLs ?? [])).map(memberToPb) }), rpc),
    MemberPromote: unary(async (req: { ID: string }) => ({ header: h(), members: (await member.memberPromote(int64ToBigint(req.ID))).map(memberToPb) }), rpc),
  };
}
