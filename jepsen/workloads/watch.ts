// (c) watch: writers put, delete and put two keys in one Txn under jw/;
// watchers watch the whole prefix with prev_kv from chosen start revisions
// (the oldest uncompacted one, a random one that may be compacted, "now", or
// where their previous session stopped: resuming), ask for progress, and
// close and resume after a few seconds. Every ok write records the events it
// made (extra.writes) so the checker can compare deliveries with writes. At
// the end one last write is made and every watcher must catch up to it.
import { SeededRandom } from '../../src/util';
import { rev, runWorkers, Worker, type Workload, type WorkloadContext } from './common';
import { watchSession } from './watch-session';

export const watchPrefix = 'jw/';
const keyCount = 8;

export class WatchWorkload implements Workload {
  readonly name = 'watch';
  private counter = 0;
  private readonly resumeAt = new Map<number, number>();

  async run(ctx: WorkloadContext): Promise<void> {
    const writers = Math.max(1, Math.ceil(ctx.concurrency / 2));
    const watchers = Math.max(2, Math.floor(ctx.concurrency / 2));
    const writeCtx = { ...ctx, concurrency: writers };
    const watchCtx = { ...ctx, concurrency: watchers, seed: ctx.seed + 1, rate: 1000 };
    const [a, b] = await Promise.all([
      runWorkers(writeCtx, this.name, (w) => this.write(w)),
      runWorkers(watchCtx, this.name, (w) => this.watch(w)),
    ]);
    [...a, ...b].forEach((w) => w.close());
  }

  private key(w: Worker): string {
    return `${watchPrefix}${w.rng.intBelow(keyCount)}`;
  }

  private async write(w: Worker): Promise<void> {
    const p = w.rng.float();
    const value = `v${++this.counter}`;
    if (p < 0.6) {
      const key = this.key(w);
      await w.op('put', { key, value }, async (c) => {
        const r = await c.put({ key, value }, w.timeout);
        return { type: 'ok', fields: { value, revision: rev(r.header), extra: { writes: [['PUT', key, value]] } } };
      });
    } else if (p < 0.8) {
      const key = this.key(w);
      await w.op('delete', { key }, async (c) => {
        const r = await c.deleteRange({ key }, w.timeout);
        const writes = Number(r.deleted) > 0 ? [['DELETE', key, null]] : [];
        return { type: 'ok', fields: { value: Number(r.deleted), revision: rev(r.header), extra: { writes } } };
      });
    } else {
      const k1 = this.key(w);
      let k2 = this.key(w);
      if (k2 === k1) k2 = `${watchPrefix}${(Number(k1.slice(watchPrefix.length)) + 1) % keyCount}`;
      const pairs = [[k1, value], [k2, value]];
      await w.op('txn-put', { value: pairs }, async (c) => {
        const r = await c.txn({ compare: [], success: pairs.map(([key, v]) => ({ request_put: { key: key!, value: v! } })), failure: [] }, w.timeout);
        return { type: 'ok', fields: { value: pairs, revision: rev(r.header), extra: { writes: pairs.map(([k, v]) => ['PUT', k, v]) } } };
      });
    }
  }

  private chooseStart(w: Worker): number {
    const p = w.rng.float();
    const last = this.resumeAt.get(w.id);
    const { compactRevision, maxRevision } = w.ctx.state;
    if (p < 0.35 && last !== undefined) return last;
    if (p < 0.55 && compactRevision > 0) return compactRevision + 1;
    if (p < 0.8) return w.rng.int(Math.max(1, compactRevision - 5), Math.max(1, maxRevision + 1));
    return 0;
  }

  private async watch(w: Worker): Promise<void> {
    const start = this.chooseStart(w);
    const r = await watchSession(w, { prefix: watchPrefix, start, durationMs: w.rng.int(1000, 6000), progressEveryMs: 700 });
    if (r.through > 0) this.resumeAt.set(w.id, r.through + 1);
  }

  async final(ctx: WorkloadContext): Promise<void> {
    const w = new Worker(ctx, this.name, 0, new SeededRandom(ctx.seed + 7));
    const key = `${watchPrefix}final`;
    const out = await w.op('put', { key, value: 'final' }, async (c) => {
      const r = await c.put({ key, value: 'final' }, { timeoutMs: 10_000 });
      return { type: 'ok', fields: { value: 'final', revision: rev(r.header), extra: { writes: [['PUT', key, 'final']] } } };
    });
    const finalRevision = out.fields.revision;
    w.close();
    if (out.type !== 'ok' || finalRevision === undefined) return;
    // Every watcher resumes once more and must reach the final write (a starved watcher never does).
    const ids = [...this.resumeAt.keys()];
    await Promise.all(ids.map(async (id) => {
      const fw = new Worker(ctx, this.name, id, new SeededRandom(ctx.seed + id));
      await watchSession(fw, {
        prefix: watchPrefix,
        start: this.resumeAt.get(id) ?? 0,
        durationMs: 30_000,
        progressEveryMs: 500,
        untilRevision: finalRevision,
        extra: { final: true, finalRevision },
      });
      fw.close();
    }));
  }
}
