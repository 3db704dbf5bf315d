export * from './types';
export { WatchHub, WatchStream, WatchFilter, type WatchOutput, type WatchSink, type WatchCreate, type HubSource } from './watch';
export { readHistory, type HistoryChunk } from './history';
export { hashKv, hashAll, crc32c, compactionHash } from './hash';
export { etcdRevisionBytes, parseEtcdRevisionBytes, encodeEtcdKeyValue, encodeEtcdTombstone, decodeEtcdKeyValue, ProtoWriter, protoFields, EtcdFormatError, isStoreRevisionKey, storeEntryToEtcd, etcdEntryToStore, storeMetaName, storeRevisions, storeRevisionOps, type EtcdRevision, type ProtoField, type EtcdKeyBucketEntry } from './etcd-format';
export { MvccStore, type MvccStoreOptions, type EventListener, txnHasWrite } from './store';
// For unit tests of the parts (test/ imports a src folder only through its index.ts).
export { ValueCache, valueCacheEntryOverheadBytes, appendPut, appendTombstone, compactEntry, isLive, isLiveRevision, newKeyEntry, revisionAt, revisionsOf, type DroppedRevision, type KeyEntry } from './key-index';
export { decodeRecord, decodeRevision, decodeRevisionKey, encodeKeyValue, encodeRevision, revisionKey } from './codec';
