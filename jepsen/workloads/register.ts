// (a) register: per-key read, write and compare-and-set. Writes are Puts of
// a number unique per key, cas is a Txn comparing the value, reads are Range
// (linearizable by default; serializable ones carry extra.serializable and
// are checked for sequential consistency per process). After
// registerOpsPerKeyMax operations a key is retired for a fresh one, so each
// key's history stays small enough to check for linearizability.
import { CompareResult, CompareTarget } from '../../src/client';
import { registerOpsPerKeyMax } from '../limits';
import { SeededRandom } from '../../src/util';
import { rev, runWorkers, Worker, type Outcome, type Workload, type WorkloadContext } from './common';

interface Slot {
  key: string;
  ops: number;
  written: number;
}

export class RegisterWorkload implements Workload {
  readonly name = 'register';
  private readonly slots: Slot[] = [];
  private generation = 0;

  constructor(private readonly keyCount = 5) {
    for (let i = 0; i < keyCount; i++) this.slots.push(this.freshSlot());
  }

  private freshSlot(): Slot {
    return { key: `jr/${this.generation++}`, ops: 0, written: 0 };
  }

  private slot(w: Worker): Slot {
    const i = w.rng.intBelow(this.slots.length);
    let s = this.slots[i]!;
    if (s.ops >= registerOpsPerKeyMax) {
      s = this.freshSlot();
      this.slots[i] = s;
    }
    s.ops++;
    return s;
  }

  async run(ctx: WorkloadContext): Promise<void> {
    const workers = await runWorkers(ctx, this.name, (w) => this.step(w));
    workers.forEach((w) => w.close());
  }

  private async step(w: Worker): Promise<void> {
    const s = this.slot(w);
    const p = w.rng.float();
    if (p < 0.4) await read(w, s.key, false);
    else if (p < 0.5) await read(w, s.key, true);
    else if (p < 0.8) await this.write(w, s);
    else await this.cas(w, s);
  }

  private async write(w: Worker, s: Slot): Promise<void> {
    const v = ++s.written;
    await w.op('write', { key: s.key, value: v }, async (c) => {
      const r = await c.put({ key: s.key, value: String(v) }, w.timeout);
      return { type: 'ok', fields: { value: v, revision: rev(r.header) } };
    });
  }

  private async cas(w: Worker, s: Slot): Promise<void> {
    const expected = w.rng.int(0, Math.max(0, s.written));
    const next = ++s.written;
    await w.op('cas', { key: s.key, value: [expected, next] }, async (c) => {
      const r = await c.txn({
        compare: [{ key: s.key, target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: String(expected) }],
        success: [{ request_put: { key: s.key, value: String(next) } }],
        failure: [],
      }, w.timeout);
      const out: Outcome = { type: r.succeeded ? 'ok' : 'fail', fields: { value: [expected, next], revision: rev(r.header) } };
      if (!r.succeeded) out.fields.error = 'compare failed';
      return out;
    });
  }

  async final(ctx: WorkloadContext): Promise<void> {
    const w = new Worker(ctx, this.name, 0, new SeededRandom(ctx.seed));
    for (const s of this.slots) await read(w, s.key, false);
    w.close();
  }
}

async function read(w: Worker, key: string, serializable: boolean): Promise<void> {
  const extra = serializable ? { serializable: true } : undefined;
  await w.op('read', extra === undefined ? { key } : { key, extra }, async (c) => {
    const r = await c.range({ key, serializable }, w.timeout);
    const kv = r.kvs[0];
    const value = kv === undefined ? null : Number(kv.value.toString());
    return { type: 'ok', fields: { value, revision: rev(r.header), ...(extra === undefined ? {} : { extra }) } };
  });
}
