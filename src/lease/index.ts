export { Lessor, LeaseIdGenerator, minLeaseTtlSeconds, type Lease, type LeaseRecord, type LessorOptions } from './lessor';
export { leaseMetaPrefix, leaseMetaName, leaseMetaOp, encodeLeaseRecord, decodeLeaseRecord, loadLeases, trackLeaseAttachments } from './lease-store';
