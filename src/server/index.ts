export { Member, etcdVersion, clusterVersion, AlarmType, AlarmAction, type AlarmMember, type MemberStatus, type PeerNetwork } from './member';
export { type MemberInfo, parseInitialCluster, InitialClusterError } from './membership';
export { type ServerConfig, defaultConfig } from './config';
export { createLogger, silentLogger, type Logger, type LogLevel, type LogFields } from './log';
export { memberIdOf, clusterIdOf, idToHex } from './ids';
export { spoolSnapshot, snapshotStatus, restoreSnapshot, type SnapshotStatus } from './snapshot';
export { parseRetention, type AutoCompactionMode } from './compactor';
export { writeEtcdSnapshot, restoreEtcdSnapshot, etcdSnapshotStatus, verifySnapshotHash, noEtcdAuth, type EtcdAuthBuckets, type EtcdSnapshotOptions, type EtcdSnapshotWritten, type EtcdSnapshotStatus, type RestoreEtcdOptions } from './etcd-snapshot';
