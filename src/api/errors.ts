// The one table from domain error kinds to etcd's gRPC status codes and exact
// messages. Clients (etcdctl, clientv3, kube-apiserver) match on the text.
import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { EtcdError, type ErrorKind } from '../util';

interface GrpcErrorSpec { code: Status; message: string }

const table: Record<ErrorKind, GrpcErrorSpec> = {
  EmptyKey: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: key is not provided' },
  KeyNotFound: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: key not found' },
  ValueProvided: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: value is provided' },
  LeaseProvided: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: lease is provided' },
  TooManyOps: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: too many operations in txn request' },
  DuplicateKey: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: duplicate key given in txn request' },
  InvalidSortOption: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: invalid sort option' },
  Compacted: { code: Status.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision has been compacted' },
  FutureRev: { code: Status.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision is a future revision' },
  RequestTooLarge: { code: Status.INVALID_ARGUMENT, message: 'etcdserver: request is too large' },
  TooManyRequests: { code: Status.RESOURCE_EXHAUSTED, message: 'etcdserver: too many requests' },
  NoSpace: { code: Status.RESOURCE_EXHAUSTED, message: 'etcdserver: mvcc: database space exceeded' },
  LeaseNotFound: { code: Status.NOT_FOUND, message: 'etcdserver: requested lease not found' },
  LeaseExist: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: lease already exists' },
  LeaseTTLTooLarge: { code: Status.OUT_OF_RANGE, message: 'etcdserver: too large lease TTL' },
  NoLeader: { code: Status.UNAVAILABLE, message: 'etcdserver: no leader' },
  NotLeader: { code: Status.UNAVAILABLE, message: 'etcdserver: not leader' },
  Timeout: { code: Status.UNAVAILABLE, message: 'etcdserver: request timed out' },
  Stopped: { code: Status.UNAVAILABLE, message: 'etcdserver: server stopped' },
  Corrupt: { code: Status.DATA_LOSS, message: 'etcdserver: corrupt cluster' },
  PermissionDenied: { code: Status.PERMISSION_DENIED, message: 'etcdserver: permission denied' },
  NotCapable: { code: Status.UNAVAILABLE, message: 'etcdserver: not capable' },
  MemberExist: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: member ID already exist' },
  PeerURLExist: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: Peer URLs already exists' },
  MemberNotFound: { code: Status.NOT_FOUND, message: 'etcdserver: member not found' },
  MemberNotLearner: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: can only promote a learner member' },
  LearnerNotReady: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: can only promote a learner member which is in sync with leader' },
  TooManyLearners: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: too many learner members in cluster' },
  Unhealthy: { code: Status.UNAVAILABLE, message: 'etcdserver: unhealthy cluster' },
  BadLeaderTransferee: { code: Status.FAILED_PRECONDITION, message: 'etcdserver: bad leader transferee' },
  TimeoutLeaderTransfer: { code: Status.DEADLINE_EXCEEDED, message: 'etcdserver: request timed out, leader transfer took too long' },
};

export function grpcErrorSpec(kind: ErrorKind): GrpcErrorSpec {
  return table[kind];
}

function serviceError(code: Status, message: string): ServiceError {
  const err = new Error(message) as ServiceError;
  err.code = code;
  err.details = message;
  err.metadata = new Metadata();
  return err;
}

/**
 * Turns a thrown value into the gRPC error a client sees. Domain errors get
 * etcd's code and text; anything else is a bug or an operating failure and is
 * reported as Unknown with its message (assertion failures are rethrown by the
 * caller before they get here: they must crash the member).
 */
export function toServiceError(e: unknown): ServiceError {
  if (e instanceof EtcdError) {
    const spec = table[e.kind];
    return serviceError(spec.code, spec.message);
  }
  const message = e instanceof Error ? e.message : String(e);
  return serviceError(Status.UNKNOWN, message);
}
