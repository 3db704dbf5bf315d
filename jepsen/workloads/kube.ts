// (f) kubernetes: the requests kube-apiserver sends (DESIGN.md's contract).
// create: Txn MOD(key) == 0 → put, else range; update/delete: Txn MOD(key) ==
// rv → put / delete_range, else range; the new resourceVersion is read from
// the nested header of responses[0]. Lists are paginated Ranges with limit,
// a pinned revision after the first page, continue keys ending in "\0", and
// count. Watches start at a list's revision + 1 with prev_kv. One worker
// compacts as the apiserver does: a Txn on VERSION(compact_rev_key), then
// Compact(physical=false) at the revision it saw last time.
import { CompareResult, CompareTarget, type TxnResponse } from '../../src/client';
import { kubeListPagesMax } from '../limits';
import { prefixEnd, rev, runWorkers, type Outcome, type Worker, type Workload, type WorkloadContext } from './common';
import { watchSession } from './watch-session';

export const kubePrefix = '/registry/jkpods/default/';
const objects = 10;
const pageLimit = 3;
const compactKey = 'compact_rev_key';

export class KubeWorkload implements Workload {
  readonly name = 'kube';
  private readonly rv = new Map<string, number>();
  private counter = 0;
  private lastListRevision = 0;
  private compactCandidate = 0;

  async run(ctx: WorkloadContext): Promise<void> {
    const watchers = Math.max(1, Math.floor(ctx.concurrency / 3));
    const [a, b] = await Promise.all([
      runWorkers(ctx, this.name, (w) => (w.id === 0 ? this.compact(w) : this.step(w))),
      runWorkers({ ...ctx, concurrency: watchers, rate: 1000, seed: ctx.seed + 3 }, this.name, (w) => this.watch(w)),
    ]);
    [...a, ...b].forEach((w) => w.close());
  }

  private async step(w: Worker): Promise<void> {
    const key = `${kubePrefix}p${w.rng.intBelow(objects)}`;
    const p = w.rng.float();
    if (p < 0.25) await this.create(w, key);
    else if (p < 0.55) await this.guarded(w, key, 'update');
    else if (p < 0.65) await this.guarded(w, key, 'delete');
    else if (p < 0.8) await this.get(w, key);
    else await this.list(w);
  }

  private body(key: string): string {
    return JSON.stringify({ kind: 'Pod', name: key.slice(kubePrefix.length), generation: ++this.counter });
  }

  private learn(key: string, r: TxnResponse): void {
    const kv = r.responses[0]?.response_range?.kvs[0];
    this.rv.set(key, kv === undefined ? 0 : Number(kv.mod_revision));
  }

  private async create(w: Worker, key: string): Promise<void> {
    const value = this.body(key);
    await w.op('create', { key, value }, async (c) => {
      const r = await c.txn({
        compare: [{ key, target: CompareTarget.MOD, result: CompareResult.EQUAL, mod_revision: '0' }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      }, w.timeout);
      return this.outcome(key, r, 0, ['PUT', key, value], 'response_put');
    });
  }

  private async guarded(w: Worker, key: string, f: 'update' | 'delete'): Promise<void> {
    const guard = this.rv.get(key) ?? 0;
    if (guard === 0) return this.get(w, key);
    const value = f === 'update' ? this.body(key) : null;
    await w.op(f, { key, value, extra: { guard } }, async (c) => {
      const r = await c.txn({
        compare: [{ key, target: CompareTarget.MOD, result: CompareResult.EQUAL, mod_revision: String(guard) }],
        success: [value === null ? { request_delete_range: { key } } : { request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      }, w.timeout);
      return this.outcome(key, r, guard, [value === null ? 'DELETE' : 'PUT', key, value], value === null ? 'response_delete_range' : 'response_put');
    });
  }

  private outcome(key: string, r: TxnResponse, guard: number, write: [string, string, string | null], nested: 'response_put' | 'response_delete_range'): Outcome {
    if (!r.succeeded) {
      this.learn(key, r);
      return { type: 'fail', fields: { error: guard === 0 ? 'AlreadyExists' : 'Conflict', revision: rev(r.header), extra: { guard } } };
    }
    const nestedRevision = rev(r.responses[0]?.[nested]?.header);
    this.rv.set(key, write[0] === 'DELETE' ? 0 : nestedRevision);
    return { type: 'ok', fields: { revision: rev(r.header), extra: { guard, nestedRevision, writes: [write] } } };
  }

  private async get(w: Worker, key: string): Promise<void> {
    await w.op('get', { key }, async (c) => {
      const r = await c.range({ key }, w.timeout);
      const kv = r.kvs[0];
      this.rv.set(key, kv === undefined ? 0 : Number(kv.mod_revision));
      return { type: 'ok', fields: { value: kv === undefined ? null : { mod: Number(kv.mod_revision), value: kv.value.toString() }, revision: rev(r.header) } };
    });
  }

  private async list(w: Worker): Promise<void> {
    await w.op('list', {}, async (c) => {
      const end = prefixEnd(kubePrefix);
      const items: Array<[string, number, string]> = [];
      const counts: number[] = [];
      let at = 0;
      let from: Buffer = Buffer.from(kubePrefix);
      for (let page = 0; page < kubeListPagesMax; page++) {
        const r = await c.range({ key: from, range_end: end, limit: pageLimit, ...(at > 0 ? { revision: at } : {}) }, w.timeout);
        if (at === 0) at = rev(r.header);
        counts.push(Number(r.count));
        for (const kv of r.kvs) items.push([kv.key.toString(), Number(kv.mod_revision), kv.value.toString()]);
        const last = r.kvs[r.kvs.length - 1];
        if (!r.more || last === undefined) break;
        from = Buffer.concat([last.key, Buffer.from([0])]);
      }
      this.lastListRevision = at;
      return { type: 'ok', fields: { value: { items, counts }, revision: at } };
    });
  }

  private async watch(w: Worker): Promise<void> {
    const start = this.lastListRevision > 0 ? this.lastListRevision + 1 : 0;
    await watchSession(w, { prefix: kubePrefix, start, durationMs: w.rng.int(2000, 8000), progressEveryMs: 1000 });
  }

  private async compact(w: Worker): Promise<void> {
    await w.op('compact', {}, async (c) => {
      const cur = await c.range({ key: compactKey }, w.timeout);
      const version = cur.kvs[0]?.version ?? '0';
      const r = await c.txn({
        compare: [{ key: compactKey, target: CompareTarget.VERSION, result: CompareResult.EQUAL, version }],
        success: [{ request_put: { key: compactKey, value: String(rev(cur.header)) } }],
        failure: [{ request_range: { key: compactKey } }],
      }, w.timeout);
      const target = this.compactCandidate;
      this.compactCandidate = rev(r.header);
      if (!r.succeeded || target === 0) return { type: 'ok', fields: { value: 0, revision: rev(r.header) } };
      await c.compact(target, false, w.timeout);
      w.ctx.state.compactRevision = Math.max(w.ctx.state.compactRevision, target);
      return { type: 'ok', fields: { value: target, revision: rev(r.header) } };
    });
    await new Promise((r) => setTimeout(r, 5000));
  }

  async final(ctx: WorkloadContext): Promise<void> {
    const [w] = await runWorkers({ ...ctx, concurrency: 1, stopped: () => true }, this.name, async () => undefined);
    if (w === undefined) return;
    await this.list(w);
    w.close();
  }
}
