export * from './types';
export { WatchHub, WatchStream, WatchFilter, type WatchOutput, type WatchSink, type WatchCreate, type HubSource } from './watch';
export { readHistory, type HistoryChunk } from './history';
export { hashKv, hashAll } from './hash';
export { MvccStore, type MvccStoreOptions, type EventListener, txnHasWrite } from './store';
