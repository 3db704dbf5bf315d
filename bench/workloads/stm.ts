// stm: etcd's benchmark STM workload, speaking clientv3/concurrency's STM
// protocol on the wire. One operation = one STM transaction: pick
// --keys-per-txn distinct keys of --keys (16-byte keys, as etcd's), read each
// (a Txn holding one Range), overwrite the first floor(n × --txn-wr-percent /
// 100) of them, then commit Txn If(conflict checks) Then(puts). A failed
// commit is a conflict: count a retry and run the transaction again, as
// clientv3's NewSTM does. Latency covers all attempts.
//
// Isolation (--isolation), as clientv3's:
//   c  ReadCommitted: serializable reads, no conflict checks (never retries)
//   r  RepeatableReads: serializable reads, If(mod_revision(k) == seen) for every read key
//   s  Serializable: first read linearizable, the rest at its revision; same checks;
//      a failed commit's Else re-reads the keys, and the retry starts from them
//   ss SerializableSnapshot: as s, plus If(mod_revision(k) < first read's revision + 1) for written keys
//
// --stm-locker lock-rpc wraps each transaction in v3lock's Lock("stmlock") /
// Unlock, each client holding a session lease, as etcd's; latency counts from
// before the lock to after the unlock. (etcd's lock-client, the clientv3
// mutex recipe, is not offered.)
import { randomBytes } from 'node:crypto';
import { codecFor, type Client } from '../../src/client';
import { grantLeases, revokeLeases } from './lease';
import { abandonedOp, errorText, type Done, type Driver, type LoopControl } from './loop';
import { benchKey, type Isolation, type Options } from './options';

const stmAttemptsMax = 10_000;

interface RangeResponse { header?: { revision?: string } | null; kvs?: { mod_revision?: string }[] }
interface TxnResponse { header?: { revision?: string } | null; succeeded?: boolean; responses?: { response_range?: RangeResponse | null }[] }

/** What a read saw: the key's mod revision ('0' when absent) and the revision the read was served at. */
interface Seen { modRevision: string; revision: number }

const lockName = Buffer.from('stmlock');
const [EQUAL, LESS, MOD] = [0, 2, 2];

class StmDriver implements Driver {
  readonly series = ['stm'] as const;
  private readonly snapshotReads: boolean;
  private retries = 0;
  private reads = 0;
  private commits = 0;
  /** lock-rpc: each client's session lease. */
  sessions: bigint[] = [];

  constructor(private readonly o: Options, private readonly conns: Client[], private readonly ctl: LoopControl) {
    this.snapshotReads = o.isolation === 's' || o.isolation === 'ss';
  }

  counters(): Record<string, number> {
    return { retries: this.retries, reads: this.reads, commits: this.commits };
  }

  async close(): Promise<void> {
    // Revoking the sessions releases any lock still held (connections belong to the caller).
    await revokeLeases(this.conns, this.sessions);
  }

  issue(client: number, _g: number, done: Done): void {
    this.run(client).then(done, (e: unknown) => done(errorText(e)));
  }

  private async run(client: number): Promise<string | undefined> {
    const conn = this.conns[client % this.conns.length] as Client;
    const session = this.sessions[client];
    if (session === undefined) return this.transaction(conn);
    const lock = (method: 'Lock' | 'Unlock', req: unknown): Promise<{ key?: Buffer }> => conn.call<{ key?: Buffer }>('Lock', method, req, this.ctl.callOptions)
      .catch((e: unknown) => { throw new Error(`${method.toLowerCase()}: ${errorText(e)}`); });
    const held = await lock('Lock', { name: lockName, lease: session.toString() });
    const err = await this.transaction(conn).catch((e: unknown) => errorText(e));
    await lock('Unlock', { key: held.key ?? Buffer.alloc(0) });
    return err;
  }

  private async transaction(conn: Client): Promise<string | undefined> {
    const keys = this.pickKeys();
    const writes = Math.floor((keys.length * this.o.txnWrPercent) / 100);
    let prefetch = new Map<string, Seen>();
    for (let attempt = 1; attempt <= stmAttemptsMax; attempt++) {
      if (this.ctl.stopped && attempt > 1) return abandonedOp;
      const readSet = new Map<string, Seen>();
      let baseRevision: string | undefined;
      for (const key of keys) {
        const name = key.toString('latin1');
        let seen = prefetch.get(name);
        if (seen === undefined) {
          this.reads++;
          const r = await this.send(conn, { success: [{ request_range: this.readRequest(key, baseRevision) }] });
          seen = seenOf(r.responses?.[0]?.response_range, r);
        }
        if (readSet.size === 0 && this.snapshotReads) baseRevision = String(seen.revision);
        readSet.set(name, seen);
      }
      this.commits++;
      const r = await this.send(conn, this.commitRequest(this.o.isolation, keys, writes, readSet));
      if (r.succeeded === true) return undefined;
      this.retries++;
      prefetch = this.snapshotReads ? prefetched(readSet, r) : new Map();
    }
    return `stm: no commit in ${stmAttemptsMax} attempts`;
  }

  private readRequest(key: Buffer, baseRevision: string | undefined): Record<string, unknown> {
    if (!this.snapshotReads) return { key, serializable: true };
    // The first read of s/ss is linearizable and fixes the revision of the rest.
    return baseRevision === undefined ? { key } : { key, revision: baseRevision, serializable: true };
  }

  private commitRequest(iso: Isolation, keys: Buffer[], writes: number, readSet: Map<string, Seen>): Record<string, unknown> {
    const key = (name: string): Buffer => Buffer.from(name, 'latin1');
    const compare = iso === 'c' ? [] : [...readSet].map(([name, seen]) => ({ result: EQUAL, target: MOD, key: key(name), mod_revision: seen.modRevision }));
    if (iso === 'ss') {
      const firstRevision = Math.min(Number.MAX_SAFE_INTEGER - 1, ...[...readSet.values()].map((x) => x.revision));
      for (let i = 0; i < writes; i++) compare.push({ result: LESS, target: MOD, key: keys[i] as Buffer, mod_revision: String(firstRevision + 1) });
    }
    const success = keys.slice(0, writes).map((k) => ({ request_put: { key: k, value: randomBytes(this.o.valSize) } }));
    // s and ss read the keys back in the Else branch, saving the retry a round trip (clientv3's prefetch).
    const failure = this.snapshotReads ? [...readSet.keys()].map((name) => ({ request_range: { key: key(name) } })) : [];
    return { compare, success, failure };
  }

  private async send(conn: Client, request: Record<string, unknown>): Promise<TxnResponse> {
    const txn = codecFor('KV', 'Txn');
    const response = await conn.callRaw('KV', 'Txn', txn.encode(request), this.ctl.callOptions);
    try {
      return txn.decode(response) as TxnResponse;
    } catch (e) {
      throw new Error(`stm: undecodable response (${errorText(e)})`);
    }
  }

  /** --keys-per-txn distinct keys of --keys, at random. */
  private pickKeys(): Buffer[] {
    const [want, space] = [this.o.keysPerTxn, this.o.stmKeys];
    const chosen = new Set<number>();
    for (let tries = 0; chosen.size < want && tries < want * 64; tries++) chosen.add(Math.floor(Math.random() * space));
    // Only when nearly every key is wanted: take the next free ones (want ≤ space, so this ends).
    for (let n = Math.floor(Math.random() * space); chosen.size < want; n = (n + 1) % space) chosen.add(n);
    return [...chosen].map((n) => benchKey(n, this.o.keySize));
  }
}

function seenOf(range: RangeResponse | null | undefined, txn: TxnResponse): Seen {
  const nested = Number(range?.header?.revision ?? 0);
  return { modRevision: range?.kvs?.[0]?.mod_revision ?? '0', revision: nested > 0 ? nested : Number(txn.header?.revision ?? 0) };
}

function prefetched(readSet: Map<string, Seen>, r: TxnResponse): Map<string, Seen> {
  const out = new Map<string, Seen>();
  [...readSet.keys()].forEach((name, i) => {
    const range = r.responses?.[i]?.response_range;
    if (range !== undefined && range !== null) out.set(name, seenOf(range, r));
  });
  return out;
}

export async function makeStmDriver(o: Options, conns: Client[], clients: number, ctl: LoopControl): Promise<Driver> {
  const driver = new StmDriver(o, conns, ctl);
  // lock-rpc: a session lease per client, long enough to outlive the run, so the sessions need no keepalives.
  if (o.stmLocker === 'lock-rpc') {
    driver.sessions = await grantLeases(conns, clients, Math.ceil(o.durationMaxSeconds) + 60, ctl)
      .catch((e: unknown) => { throw new Error(`stm session lease: ${errorText(e)}`); });
  }
  return driver;
}
