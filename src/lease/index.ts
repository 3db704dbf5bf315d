export { Lessor, LeaseIdGenerator, minLeaseTtlSeconds, type Lease, type LeaseRecord, type LessorOptions } from './lessor';
