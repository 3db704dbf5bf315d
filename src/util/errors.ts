// Domain errors a user can cause. api/errors.ts maps each kind to etcd's gRPC
// code and exact message; domain code only names the kind.
export type ErrorKind =
  | 'EmptyKey'
  | 'KeyNotFound'
  | 'ValueProvided'
  | 'LeaseProvided'
  | 'TooManyOps'
  | 'DuplicateKey'
  | 'InvalidSortOption'
  | 'Compacted'
  | 'FutureRev'
  | 'RequestTooLarge'
  | 'TooManyRequests'
  | 'NoSpace'
  | 'LeaseNotFound'
  | 'LeaseExist'
  | 'LeaseTTLTooLarge'
  | 'NoLeader'
  | 'NotLeader'
  | 'Timeout'
  | 'Stopped'
  | 'Corrupt'
  | 'PermissionDenied'
  | 'NotCapable'
  | 'MemberExist'
  | 'PeerURLExist'
  | 'MemberNotFound'
  | 'MemberNotLearner'
  | 'LearnerNotReady'
  | 'TooManyLearners'
  | 'Unhealthy'
  | 'BadLeaderTransferee'
  | 'TimeoutLeaderTransfer';

export class EtcdError extends Error {
  override name = 'EtcdError';
  constructor(readonly kind: ErrorKind, detail?: string) {
    super(detail === undefined ? kind : `${kind}: ${detail}`);
  }
}

export function isEtcdError(e: unknown, kind?: ErrorKind): e is EtcdError {
  return e instanceof EtcdError && (kind === undefined || e.kind === kind);
}
