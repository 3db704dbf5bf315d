// (d) lease: grant a lease, attach 1–leaseKeysMax keys to it in one Txn, then
// keep it alive, read its keys, wait (sometimes past its TTL), and finally
// revoke it or let it expire. The checker asks: did the keys disappear only
// by revoke or once the TTL had run out since the last acknowledged
// keepalive, and all together?
import { toBigint } from '../../src/client';
import { leaseKeysMax } from '../limits';
import { prefixEnd, rev, runWorkers, sleep, type Worker, type Workload, type WorkloadContext } from './common';
import { keepAliveOnce } from './keepalive';

export const leasePrefix = 'jl/';

export class LeaseWorkload implements Workload {
  readonly name = 'lease';

  async run(ctx: WorkloadContext): Promise<void> {
    const workers = await runWorkers(ctx, this.name, (w) => this.lifecycle(w));
    workers.forEach((w) => w.close());
  }

  private async lifecycle(w: Worker): Promise<void> {
    const ttl = w.rng.int(2, 5);
    const g = await w.op('grant', { value: ttl }, async (c) => {
      const r = await c.leaseGrant(ttl, 0n, w.timeout);
      return { type: 'ok', fields: { value: { id: r.ID, ttl: Number(r.TTL) }, revision: rev(r.header) } };
    });
    if (g.type !== 'ok') return;
    const { id, ttl: granted } = g.fields.value as { id: string; ttl: number };
    const lease = toBigint(id);
    const prefix = `${leasePrefix}${id}/`;
    const keys = Array.from({ length: w.rng.int(1, leaseKeysMax) }, (_, i) => `${prefix}${i}`);
    const put = await w.op('put', { value: keys, extra: { lease: id } }, async (c) => {
      const r = await c.txn({ compare: [], success: keys.map((key) => ({ request_put: { key, value: 'x', lease: id } })), failure: [] }, w.timeout);
      return { type: 'ok', fields: { value: keys, revision: rev(r.header), extra: { lease: id } } };
    });
    if (put.type !== 'ok') return;
    const rounds = w.rng.int(1, 6);
    for (let i = 0; i < rounds && !w.ctx.stopped(); i++) {
      if (w.rng.bool(0.6)) await this.keepalive(w, lease, id);
      await this.read(w, prefix, id);
      await sleep(w.rng.float() * granted * 1000 * (w.rng.bool(0.15) ? 1.6 : 0.5));
    }
    if (w.rng.bool(0.6)) {
      await w.op('revoke', { extra: { lease: id } }, async (c) => {
        const r = await c.leaseRevoke(lease, w.timeout);
        return { type: 'ok', fields: { revision: rev(r.header), extra: { lease: id } } };
      });
    }
    await this.read(w, prefix, id);
  }

  private async keepalive(w: Worker, lease: bigint, id: string): Promise<void> {
    await w.op('keepalive', { extra: { lease: id } }, async (c) => {
      const ttl = await keepAliveOnce(c, lease, w.ctx.opTimeoutMs);
      return { type: 'ok', fields: { value: ttl, extra: { lease: id } } };
    });
  }

  private async read(w: Worker, prefix: string, id: string): Promise<void> {
    await w.op('read', { extra: { lease: id } }, async (c) => {
      const r = await c.range({ key: prefix, range_end: prefixEnd(prefix), keys_only: true }, w.timeout);
      return { type: 'ok', fields: { value: r.kvs.map((kv) => kv.key.toString()), revision: rev(r.header), extra: { lease: id } } };
    });
  }

  async final(): Promise<void> {}
}
