// The command table: etcdctl's command paths → handlers.
import type { Context } from '../runtime';
import { compactionCommand, delCommand, getCommand, putCommand, txnCommand } from './kv';
import {
  alarmDisarmCommand, alarmListCommand, defragCommand, endpointHashKVCommand, endpointHealthCommand,
  endpointStatusCommand, memberAddCommand, memberListCommand, memberPromoteCommand, memberRemoveCommand,
  memberUpdateCommand, moveLeaderCommand, versionCommand,
} from './maintenance';

import {
  leaseGrantCommand, leaseKeepAliveCommand, leaseListCommand, leaseRevokeCommand, leaseTimeToLiveCommand, watchCommand,
} from './lease-watch';
import {
  authDisableCommand, authEnableCommand, authStatusCommand, roleAddCommand, roleDeleteCommand, roleGetCommand,
  roleGrantPermissionCommand, roleListCommand, roleRevokePermissionCommand, userAddCommand, userDeleteCommand,
  userGetCommand, userGrantRoleCommand, userListCommand, userPasswdCommand, userRevokeRoleCommand,
} from './auth';
import { notSupported, snapshotSaveCommand, snapshotStatusCommand, snapshotRestoreCommand } from './snapshot';

export type Handler = (ctx: Context) => Promise<void>;

export const commands: Readonly<Record<string, Handler>> = {
  get: getCommand,
  put: putCommand,
  del: delCommand,
  txn: txnCommand,
  compaction: compactionCommand,
  version: versionCommand,
  'endpoint health': endpointHealthCommand,
  'endpoint status': endpointStatusCommand,
  'endpoint hashkv': endpointHashKVCommand,
  'alarm list': alarmListCommand,
  'alarm disarm': alarmDisarmCommand,
  defrag: defragCommand,
  'move-leader': moveLeaderCommand,
  'member list': memberListCommand,
  'member add': memberAddCommand,
  'member remove': memberRemoveCommand,
  'member update': memberUpdateCommand,
  'member promote': memberPromoteCommand,
  'lease grant': leaseGrantCommand,
  'lease revoke': leaseRevokeCommand,
  'lease timetolive': leaseTimeToLiveCommand,
  'lease list': leaseListCommand,
  'lease keep-alive': leaseKeepAliveCommand,
  watch: watchCommand,
  'auth enable': authEnableCommand,
  'auth disable': authDisableCommand,
  'auth status': authStatusCommand,
  'user add': userAddCommand,
  'user delete': userDeleteCommand,
  'user get': userGetCommand,
  'user list': userListCommand,
  'user passwd': userPasswdCommand,
  'user grant-role': userGrantRoleCommand,
  'user revoke-role': userRevokeRoleCommand,
  'role add': roleAddCommand,
  'role delete': roleDeleteCommand,
  'role get': roleGetCommand,
  'role list': roleListCommand,
  'role grant-permission': roleGrantPermissionCommand,
  'role revoke-permission': roleRevokePermissionCommand,
  'snapshot save': snapshotSaveCommand,
  'snapshot status': snapshotStatusCommand,
  'snapshot restore': snapshotRestoreCommand,
  lock: notSupported('lock', 'the Lock service client is not wired yet'),
  elect: notSupported('elect', 'the Election service client is not wired yet'),
  'make-mirror': notSupported('make-mirror', 'not implemented'),
  'check perf': notSupported('check perf', 'not implemented'),
  'check datascale': notSupported('check datascale', 'not implemented'),
  migrate: notSupported('migrate', 'v2 data is not supported'),
};
