// (e) lock and election, as etcd's clientv3/concurrency recipes do them over
// KV, Lease and Watch: a session is a lease kept alive in the background; to
// lock, put <prefix><lease-hex> with the session lease if it does not exist
// yet (Txn on its create revision), then wait until no key under the prefix
// has a lower create revision (watch the nearest predecessor for its delete,
// then look again). The owner key's create revision is the fencing token:
// every write the holder makes is a Txn guarded by `create_revision(own key)
// == token`. Unlock deletes the key. An election is the same queue; campaign
// is lock, proclaim is a fenced write of the value, resign is unlock.
import { CompareResult, CompareTarget, SortOrder, SortTarget, toBigint, type Client, type WatchResponse } from '../../src/client';
import { ClientError } from '../../src/client';
import * as grpc from '@grpc/grpc-js';
import { recipeStepsMax } from '../limits';
import { prefixEnd, rev, runWorkers, sleep, type Outcome, type Worker, type Workload, type WorkloadContext } from './common';
import { keepAliveOnce } from './keepalive';

export interface Recipe {
  prefix: string;
  acquire: string;
  write: string;
  release: string;
}

export const lockRecipe: Recipe = { prefix: 'jk/lock/', acquire: 'acquire', write: 'fenced-write', release: 'release' };
export const electionRecipe: Recipe = { prefix: 'jk/election/', acquire: 'campaign', write: 'proclaim', release: 'resign' };
const sessionTtlSeconds = 3;

/** Where holders write: outside the queue's prefix, so it is never taken for a waiter. */
function dataKey(prefix: string): string {
  return `${prefix.replace(/\/$/, '')}-data`;
}

class Session {
  lost = false;
  private stopped = false;

  constructor(readonly lease: bigint, private readonly c: Client, private readonly timeoutMs: number) {}

  /** Keeps the lease alive every TTL/3 until stopped; a TTL 0 answer or a failure past the TTL marks it lost. */
  async keep(): Promise<void> {
    let lastOk = Date.now();
    for (let i = 0; !this.stopped && i < 1_000_000; i++) {
      try {
        const ttl = await keepAliveOnce(this.c, this.lease, this.timeoutMs);
        if (ttl <= 0) this.lost = true;
        else lastOk = Date.now();
      } catch {
        if (Date.now() - lastOk > sessionTtlSeconds * 1000) this.lost = true;
      }
      if (this.lost) return;
      await sleep((sessionTtlSeconds * 1000) / 3);
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

export class LockWorkload implements Workload {
  readonly name = 'lock';

  async run(ctx: WorkloadContext): Promise<void> {
    const workers = await runWorkers(ctx, this.name, (w) => this.cycle(w, w.id % 2 === 0 ? lockRecipe : electionRecipe));
    workers.forEach((w) => w.close());
  }

  private async cycle(w: Worker, recipe: Recipe): Promise<void> {
    const c = w.conn;
    let lease: bigint;
    try {
      lease = toBigint((await c.leaseGrant(sessionTtlSeconds, 0n, w.timeout)).ID);
    } catch {
      await sleep(200);
      return;
    }
    const session = new Session(lease, c, w.ctx.opTimeoutMs);
    const keeping = session.keep();
    const ownKey = `${recipe.prefix}${lease.toString(16)}`;
    const extra = { lock: recipe.prefix, lease: lease.toString() };
    const got = await w.op(recipe.acquire, { key: ownKey, extra }, (cc) => acquire(cc, recipe.prefix, ownKey, lease, w.ctx.opTimeoutMs * 3));
    if (got.type === 'ok') {
      const token = got.fields.value as number;
      await sleep(w.rng.int(20, 300));
      await w.op(recipe.write, { key: dataKey(recipe.prefix), value: token, extra }, (cc) => fencedWrite(cc, recipe.prefix, ownKey, token, w.timeout));
      await sleep(w.rng.int(0, 100));
      await w.op(recipe.release, { key: ownKey, extra }, async (cc) => {
        const r = await cc.deleteRange({ key: ownKey }, w.timeout);
        return { type: 'ok', fields: { revision: rev(r.header), extra } };
      });
    }
    session.stop();
    await keeping;
    try {
      await c.leaseRevoke(lease, w.timeout);
    } catch {
      /* the lease expires by itself */
    }
  }

  async final(): Promise<void> {}
}

async function acquire(c: Client, prefix: string, ownKey: string, lease: bigint, waitMs: number): Promise<Outcome> {
  const r = await c.txn({
    compare: [{ key: ownKey, target: CompareTarget.CREATE, result: CompareResult.EQUAL, create_revision: '0' }],
    success: [{ request_put: { key: ownKey, value: '', lease: lease.toString() } }],
    failure: [{ request_range: { key: ownKey } }],
  }, { timeoutMs: waitMs });
  const token = r.succeeded ? rev(r.header) : Number(r.responses[0]?.response_range?.kvs[0]?.create_revision ?? 0);
  const deadline = Date.now() + waitMs;
  for (let step = 0; step < recipeStepsMax; step++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const pred = await c.range({
      key: prefix, range_end: prefixEnd(prefix), sort_target: SortTarget.CREATE, sort_order: SortOrder.DESCEND, limit: 1,
      max_create_revision: String(token - 1),
    } as Parameters<Client['range']>[0], { timeoutMs: left });
    const kv = pred.kvs[0];
    if (kv === undefined) return { type: 'ok', fields: { value: token, revision: rev(pred.header), extra: { lock: prefix, token } } };
    await waitDelete(c, kv.key, rev(pred.header) + 1, left);
  }
  throw new ClientError(grpc.status.DEADLINE_EXCEEDED, 'context deadline exceeded');
}

/** Resolves when `key` is deleted at or after `from`; rejects after timeoutMs. */
async function waitDelete(c: Client, key: Buffer, from: number, timeoutMs: number): Promise<void> {
  const s = await c.duplex('Watch', 'Watch', { timeoutMs });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new ClientError(grpc.status.DEADLINE_EXCEEDED, 'context deadline exceeded')), timeoutMs);
    const finish = (e?: Error): void => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      s.on('error', () => undefined);
      s.cancel();
      if (e === undefined) resolve();
      else reject(e);
    };
    s.on('data', (r: WatchResponse) => {
      if (r.canceled) finish();
      else if (r.events.some((e) => e.type === 1 || String(e.type) === 'DELETE')) finish();
    });
    s.on('error', (e: grpc.ServiceError) => finish(new ClientError(e.code ?? grpc.status.UNAVAILABLE, e.details ?? e.message)));
    s.write({ create_request: { key: Buffer.from(key), start_revision: String(from) } });
  });
}

async function fencedWrite(c: Client, prefix: string, ownKey: string, token: number, o: { timeoutMs: number }): Promise<Outcome> {
  const r = await c.txn({
    compare: [{ key: ownKey, target: CompareTarget.CREATE, result: CompareResult.EQUAL, create_revision: String(token) }],
    success: [{ request_put: { key: dataKey(prefix), value: String(token) } }],
    failure: [],
  }, o);
  if (!r.succeeded) return { type: 'fail', fields: { error: 'fence: own key gone (session lost)', revision: rev(r.header) } };
  return { type: 'ok', fields: { value: token, revision: rev(r.header) } };
}
