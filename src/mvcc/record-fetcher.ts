// Reads revision records, together with every other read that asks during
// this event-loop turn: one backend call for many concurrent point reads.
// Each LevelDB call costs the event loop a snapshot and a hand-off to the
// thread pool, which contend with the pool's own work on a busy machine.
// Safe to delay: revision records never change, and the reads that asked
// hold off compaction until they end.
import { limits } from '../util';
import type { Backend } from '../storage';

interface FetchBatch {
  keys: Buffer[];
  parts: Array<{ start: number; count: number; resolve: (values: Array<Buffer | undefined>) => void; reject: (e: unknown) => void }>;
}

export class RecordFetcher {
  /** Record reads waiting for the next backend call; bounded by limits.historyReadChunkKeysMax keys (a fuller batch starts another). */
  private batch: FetchBatch | undefined;

  constructor(private readonly backend: Backend) {}

  fetch(keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    let batch = this.batch;
    if (batch === undefined || batch.keys.length + keys.length > limits.historyReadChunkKeysMax) {
      batch = { keys: [], parts: [] };
      this.batch = batch;
      const flushing = batch;
      setImmediate(() => this.flush(flushing));
    }
    const part = { start: batch.keys.length, count: keys.length, resolve: (_: Array<Buffer | undefined>): void => {}, reject: (_: unknown): void => {} };
    for (const k of keys) batch.keys.push(k);
    batch.parts.push(part);
    return new Promise((resolve, reject) => {
      part.resolve = resolve;
      part.reject = reject;
    });
  }

  private flush(batch: FetchBatch): void {
    if (this.batch === batch) this.batch = undefined;
    this.backend.getMany(batch.keys).then(
      (values) => {
        for (const p of batch.parts) p.resolve(values.slice(p.start, p.start + p.count));
      },
      (e: unknown) => {
        for (const p of batch.parts) p.reject(e);
      },
    );
  }
}
