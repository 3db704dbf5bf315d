// (b) list-append, for strict serializability (Elle's micro-op form, see
// history.ts). Encoding: each key holds its list as decimal elements joined by
// spaces (a missing key is the empty list). A transaction is done in two
// steps: one read-only Txn ranges every key it touches, at one revision; the
// micro-ops are applied to those lists locally (a read sees the transaction's
// own earlier appends); then one Txn guarded by `mod_revision(k) == seen` for
// every touched key (0 for a missing one) puts the new lists. The guard makes
// the reads and writes one atomic step at the commit's revision; a guard that
// fails means another transaction came in between, and the whole operation
// fails (nothing was written). Read-only transactions are the first Txn alone.
import { CompareResult, CompareTarget, type Client, type Compare } from '../../src/client';
import { appendsPerKeyMax, appendTxnOpsMax } from '../limits';
import type { MicroOp } from '../history';
import { SeededRandom } from '../../src/util';
import { rev, runWorkers, Worker, type Outcome, type Workload, type WorkloadContext } from './common';

interface Slot {
  key: string;
  appended: number;
}

export function decodeList(value: Buffer | undefined): number[] {
  if (value === undefined || value.length === 0) return [];
  return value.toString().split(' ').map(Number);
}

export class AppendWorkload implements Workload {
  readonly name = 'append';
  private readonly slots: Slot[] = [];
  private generation = 0;
  private readonly everUsed: string[] = [];

  constructor(keyCount = 6) {
    for (let i = 0; i < keyCount; i++) this.slots.push(this.fresh());
  }

  private fresh(): Slot {
    const key = `ja/${this.generation++}`;
    this.everUsed.push(key);
    return { key, appended: 0 };
  }

  private pickSlot(w: Worker): Slot {
    const i = w.rng.intBelow(this.slots.length);
    let s = this.slots[i]!;
    if (s.appended >= appendsPerKeyMax) {
      s = this.fresh();
      this.slots[i] = s;
    }
    return s;
  }

  private generate(w: Worker): MicroOp[] {
    const n = w.rng.int(1, appendTxnOpsMax);
    const ops: MicroOp[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.pickSlot(w);
      if (w.rng.bool()) ops.push(['append', s.key, ++s.appended]);
      else ops.push(['r', s.key, null]);
    }
    return ops;
  }

  async run(ctx: WorkloadContext): Promise<void> {
    const workers = await runWorkers(ctx, this.name, (w) => this.step(w, this.generate(w)));
    workers.forEach((w) => w.close());
  }

  private async step(w: Worker, ops: MicroOp[]): Promise<void> {
    await w.op('txn', { value: ops }, (c) => transact(c, ops, w.timeout));
  }

  async final(ctx: WorkloadContext): Promise<void> {
    const w = new Worker(ctx, this.name, 0, new SeededRandom(ctx.seed));
    const keys = this.everUsed.slice(-64);
    for (let i = 0; i < keys.length; i += appendTxnOpsMax) {
      const ops: MicroOp[] = keys.slice(i, i + appendTxnOpsMax).map((k) => ['r', k, null]);
      await this.step(w, ops);
    }
    w.close();
  }
}

function guard(key: string, modRevision: string): Compare {
  return { key, target: CompareTarget.MOD, result: CompareResult.EQUAL, mod_revision: modRevision };
}

async function transact(c: Client, ops: MicroOp[], o: { timeoutMs: number }): Promise<Outcome> {
  const keys = [...new Set(ops.map((op) => op[1]))];
  const read = await c.txn({ compare: [], success: keys.map((key) => ({ request_range: { key } })), failure: [] }, o);
  const lists = new Map<string, number[]>();
  const mods = new Map<string, string>();
  keys.forEach((key, i) => {
    const kv = read.responses[i]?.response_range?.kvs[0];
    lists.set(key, decodeList(kv?.value));
    mods.set(key, kv?.mod_revision ?? '0');
  });
  const done: MicroOp[] = [];
  const dirty = new Set<string>();
  for (const op of ops) {
    const list = lists.get(op[1]) ?? [];
    if (op[0] === 'append') {
      list.push(op[2]);
      dirty.add(op[1]);
      done.push(op);
    } else {
      done.push(['r', op[1], [...list]]);
    }
    lists.set(op[1], list);
  }
  if (dirty.size === 0) return { type: 'ok', fields: { value: done, revision: rev(read.header) } };
  const write = await c.txn({
    compare: keys.map((k) => guard(k, mods.get(k) ?? '0')),
    success: [...dirty].map((key) => ({ request_put: { key, value: (lists.get(key) ?? []).join(' ') } })),
    failure: [],
  }, o);
  if (!write.succeeded) return { type: 'fail', fields: { error: 'guard failed: a concurrent write came first', revision: rev(write.header) } };
  return { type: 'ok', fields: { value: done, revision: rev(write.header) } };
}
