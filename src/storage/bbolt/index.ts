export { BboltReader, BboltError, bucketRefOf, type BboltEntry, type BucketRef } from './reader';
export { writeBbolt, type BboltItem, type BboltSource, type BboltWriteOptions, type BboltWriteResult } from './writer';
export { fnv1a64, bboltMagic, bboltVersion, type Meta as BboltMeta } from './page';
