export * from './types';
export { WatchHub, WatchStream, WatchFilter, type WatchOutput, type WatchSink, type WatchCreate, type HubSource } from './watch';
export { readHistory, type HistoryChunk } from './history';
export { hashKv, hashAll, crc32c } from './hash';
export { etcdRevisionBytes, parseEtcdRevisionBytes, encodeEtcdKeyValue, encodeEtcdTombstone, decodeEtcdKeyValue, ProtoWriter, protoFields, EtcdFormatError, type EtcdRevision, type ProtoField } from './etcd-format';
export { MvccStore, type MvccStoreOptions, type EventListener, txnHasWrite } from './store';
