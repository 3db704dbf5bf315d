// (g) txn-rev (etcd #18667): Txns `Then(put a v, range k at revision r)` sent
// to random members, followers included, where r is sometimes compacted. On
// etcd 3.5.16 a follower answers "required revision has been compacted" while
// the other members apply the put, and the members' revisions differ from then
// on; the divergence checker (every member's revision and HashKV after the
// heal) finds it. Setup: put k three times, compact at the last put.
import { SeededRandom } from '../../src/util';
import { rev, runWorkers, Worker, type Workload, type WorkloadContext } from './common';

const key = 'jt/k';
const target = 'jt/a';

export class TxnRevWorkload implements Workload {
  readonly name = 'txn-rev';
  private compacted = 0;
  private counter = 0;

  async run(ctx: WorkloadContext): Promise<void> {
    const setup = new Worker(ctx, this.name, 0, new SeededRandom(ctx.seed + 11));
    await this.recompact(setup, 3);
    setup.close();
    const workers = await runWorkers(ctx, this.name, (w) => this.step(w));
    workers.forEach((w) => w.close());
  }

  private async recompact(w: Worker, puts: number): Promise<void> {
    let last = 0;
    for (let i = 0; i < puts; i++) {
      const value = `k${++this.counter}`;
      const out = await w.op('put', { key, value }, async (c) => {
        const r = await c.put({ key, value }, w.timeout);
        return { type: 'ok', fields: { value, revision: rev(r.header) } };
      });
      if (out.type === 'ok' && out.fields.revision !== undefined) last = out.fields.revision;
    }
    if (last === 0) return;
    const out = await w.op('compact', { value: last }, async (c) => {
      const r = await c.compact(last, false, w.timeout);
      return { type: 'ok', fields: { value: last, revision: rev(r.header) } };
    });
    if (out.type === 'ok') {
      this.compacted = Math.max(this.compacted, last);
      w.ctx.state.compactRevision = Math.max(w.ctx.state.compactRevision, last);
    }
  }

  private async step(w: Worker): Promise<void> {
    if (w.rng.bool(0.04)) return this.recompact(w, 1);
    const compact = Math.max(this.compacted, w.ctx.state.compactRevision);
    const p = w.rng.float();
    const at = p < 0.5 ? Math.max(1, compact - w.rng.int(0, 2)) : p < 0.75 ? compact : Math.max(compact, w.ctx.state.maxRevision);
    const value = `v${++this.counter}`;
    w.target = w.rng.intBelow(1024);
    await w.op('txn-rev', { key: target, value: [value, at] }, async (c) => {
      const r = await c.txn({ compare: [], success: [{ request_put: { key: target, value } }, { request_range: { key, revision: at } }], failure: [] }, w.timeout);
      return { type: 'ok', fields: { value: [value, at], revision: rev(r.header) } };
    });
    w.target = undefined;
  }

  async final(): Promise<void> {}
}
