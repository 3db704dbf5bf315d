// The MVCC store's durable ordered byte-KV. Keys order bytewise.

export interface BatchOp {
  type: 'put' | 'del';
  key: Buffer;
  value?: Buffer;
}

export interface IterateRange {
  gte?: Buffer;
  lt?: Buffer;
  reverse?: boolean;
  /** Entries yielded at most; absent or negative: no limit. */
  limit?: number;
}

export interface Backend {
  get(key: Buffer): Promise<Buffer | undefined>;
  getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]>;
  /** Sees the data as of the call (a snapshot), whatever is written while it runs. */
  iterate(range: IterateRange): AsyncIterable<[Buffer, Buffer]>;
  /** Applies every op or none; with sync, resolves only once the batch is on stable storage. */
  write(ops: BatchOp[], options: { sync: boolean }): Promise<void>;
  /** Bytes on disk (files in the data dir) or held in memory. */
  sizeBytes(): Promise<number>;
  /** Rewrites the files to drop deleted data (etcd's defragment; LevelDB's full compaction). */
  defragment(): Promise<void>;
  close(): Promise<void>;
}
