export * from './assert';
export * from './errors';
export * as limits from './limits';
export * from './clock';
export * from './random';
export * from './failpoints';
