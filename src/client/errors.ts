// Client-side errors. etcd's clients match on the message text the server
// sends (details), so the message is kept verbatim; the gRPC code rides along
// for callers that decide on it (failover, exit codes).
import * as grpc from '@grpc/grpc-js';

/** Go's grpc codes.Code.String() names, indexed by code. */
export const grpcCodeNames: readonly string[] = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
  'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

export class ClientError extends Error {
  /** gRPC status code (grpc.status). */
  readonly code: number;
  /** The server's message (etcd's error text) or a client-side reason. */
  readonly details: string;
  /** Endpoint the failing call went to, when known. */
  readonly endpoint: string | undefined;

  constructor(code: number, details: string, endpoint?: string) {
    super(details);
    this.name = 'ClientError';
    this.code = code;
    this.details = details;
    this.endpoint = endpoint;
  }

  get codeName(): string {
    return grpcCodeNames[this.code] ?? `Code(${this.code})`;
  }

  /** What Go's grpc status error prints: "rpc error: code = X desc = Y". */
  get rpcText(): string {
    return `rpc error: code = ${this.codeName} desc = ${this.details}`;
  }

  /** True when the call failed because no deadline was left: etcdctl prints "context deadline exceeded". */
  get isDeadline(): boolean {
    return this.code === grpc.status.DEADLINE_EXCEEDED;
  }
}

/** Deadline passed before any endpoint answered. */
export class DeadlineError extends ClientError {
  /** The last transport problem seen, for the log line etcdctl writes. */
  readonly lastCause: string;
  constructor(lastCause: string, endpoint?: string) {
    super(grpc.status.DEADLINE_EXCEEDED, 'context deadline exceeded', endpoint);
    this.name = 'DeadlineError';
    this.lastCause = lastCause;
  }
}

export function fromServiceError(e: unknown, endpoint: string): ClientError {
  if (e instanceof ClientError) return e;
  const se = e as Partial<grpc.ServiceError>;
  if (typeof se.code === 'number') return new ClientError(se.code, se.details ?? String(se.message ?? ''), endpoint);
  return new ClientError(grpc.status.UNKNOWN, e instanceof Error ? e.message : String(e), endpoint);
}

/** Errors after which another endpoint may succeed. */
export function isTransportError(e: ClientError): boolean {
  if (e.code !== grpc.status.UNAVAILABLE) return false;
  // etcd's own Unavailable errors ("etcdserver: no leader", "request timed out") are answers, not transport failures.
  return !e.details.startsWith('etcdserver:');
}
