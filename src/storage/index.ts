export type { Backend, BatchOp, IterateRange } from './backend';
export { memoryBackend } from './memory-backend';
export { openLevelBackend } from './level-backend';
export { SortedStringMap } from './sorted-map';
