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

interface Kv { mod_revision?: string }
interface RangeResponse { header?: { revision?: string } | null; kvs?: Kv[] }
interface TxnResponse {
  header?: { revision?: string } | null;
  succeeded?: boolean;
  responses?: { response_range?: RangeResponse | null }[];
}

/** What a read saw: the key's mod revision ('0' when absent) and the revision the read was served at. */
interface Seen { modRevision: string; revision: number }

const lockName = Buffer.from('stmlock');
const revokeTimeoutMs = 3_000;

const EQUAL = 0;
const LESS = 2;
const MOD = 2;

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

  issue(client: number, g: number, done: Done): void {
    const session = this.sessions[client];
    if (session === undefined) { this.transaction(client, g, done); return; }
    const conn = this.conns[client % this.conns.length] as Client;
    const lock = (method: 'Lock' | 'Unlock', req: unknown): Promise<{ key?: Buffer }> => conn.call('Lock', method, req, this.ctl.callOptions);
    lock('Lock', { name: lockName, lease: session.toString() }).then(
      (held) => this.transaction(client, g, (err) => {
        lock('Unlock', { key: held.key ?? Buffer.alloc(0) }).then(() => done(err), (e: unknown) => done(err ?? `unlock: ${errorText(e)}`));
      }),
      (e: unknown) => done(`lock: ${errorText(e)}`),
    );
  }

  private transaction(client: number, _g: number, done: Done): void {
    const conn = this.conns[client % this.conns.length] as Client;
    const keys = this.pickKeys();
    const writes = Math.floor((keys.length * this.o.txnWrPercent) / 100);
    let prefetch = new Map<string, Seen>();
    let attempts = 0;
    const attempt = (): void => {
      if (this.ctl.stopped && attempts > 0) { done(abandonedOp); return; }
      if (++attempts > stmAttemptsMax) { done(`stm: no commit in ${stmAttemptsMax} attempts`); return; }
      const readSet = new Map<string, Seen>();
      let baseRevision: string | undefined;
      const readAt = (i: number): void => {
        if (i === keys.length) { commit(readSet); return; }
        const key = keys[i] as Buffer;
        const name = key.toString('latin1');
        const first = readSet.size === 0;
        const hit = prefetch.get(name);
        if (hit !== undefined) {
          prefetch.delete(name);
          readSet.set(name, hit);
          if (first && this.snapshotReads) baseRevision = String(hit.revision);
          readAt(i + 1);
          return;
        }
        this.reads++;
        this.send(conn, { success: [{ request_range: this.readRequest(key, baseRevision) }] }, (err, r) => {
          if (err !== undefined || r === undefined) { done(err ?? 'stm: empty read'); return; }
          const seen = seenOf(r.responses?.[0]?.response_range, r);
          readSet.set(name, seen);
          if (first && this.snapshotReads) baseRevision = String(seen.revision);
          readAt(i + 1);
        });
      };
      readAt(0);
    };
    const commit = (readSet: Map<string, Seen>): void => {
      this.commits++;
      const request = this.commitRequest(this.o.isolation, keys, writes, readSet);
      this.send(conn, request, (err, r) => {
        if (err !== undefined || r === undefined) { done(err ?? 'stm: empty commit'); return; }
        if (r.succeeded === true) { done(); return; }
        this.retries++;
        if (this.snapshotReads) prefetch = prefetched(readSet, r);
        attempt();
      });
    };
    attempt();
  }

  private readRequest(key: Buffer, baseRevision: string | undefined): Record<string, unknown> {
    if (!this.snapshotReads) return { key, serializable: true };
    if (baseRevision === undefined) return { key }; // the first read of s/ss is linearizable and fixes the revision
    return { key, revision: baseRevision, serializable: true };
  }

  private commitRequest(iso: Isolation, keys: Buffer[], writes: number, readSet: Map<string, Seen>): Record<string, unknown> {
    const compare: Record<string, unknown>[] = [];
    if (iso !== 'c') {
      for (const [name, seen] of readSet) {
        compare.push({ result: EQUAL, target: MOD, key: Buffer.from(name, 'latin1'), mod_revision: seen.modRevision });
      }
    }
    if (iso === 'ss') {
      let firstRevision = Number.MAX_SAFE_INTEGER - 1;
      for (const seen of readSet.values()) firstRevision = Math.min(firstRevision, seen.revision);
      for (let i = 0; i < writes; i++) {
        compare.push({ result: LESS, target: MOD, key: keys[i] as Buffer, mod_revision: String(firstRevision + 1) });
      }
    }
    const success = keys.slice(0, writes).map((key) => ({ request_put: { key, value: randomBytes(this.o.valSize) } }));
    const request: Record<string, unknown> = { compare, success };
    // s and ss read the keys back in the Else branch, saving the retry a round trip (clientv3's prefetch).
    if (this.snapshotReads) request['failure'] = [...readSet.keys()].map((name) => ({ request_range: { key: Buffer.from(name, 'latin1') } }));
    return request;
  }

  private send(conn: Client, request: Record<string, unknown>, then: (err: string | undefined, r: TxnResponse | undefined) => void): void {
    const txn = codecFor('KV', 'Txn');
    conn.callRaw('KV', 'Txn', txn.encode(request), this.ctl.callOptions).then((response) => {
      let r: TxnResponse;
      try {
        r = txn.decode(response) as TxnResponse;
      } catch (e) {
        then(`stm: undecodable response (${errorText(e)})`, undefined);
        return;
      }
      then(undefined, r);
    }, (e: unknown) => then(errorText(e), undefined));
  }

  /** --keys-per-txn distinct keys of --keys, at random. */
  private pickKeys(): Buffer[] {
    const want = this.o.keysPerTxn;
    const space = this.o.stmKeys;
    const chosen = new Set<number>();
    for (let tries = 0; chosen.size < want && tries < want * 64; tries++) chosen.add(Math.floor(Math.random() * space));
    // Only when nearly every key is wanted: take the next free ones (want ≤ space, so this ends).
    for (let n = Math.floor(Math.random() * space); chosen.size < want; n = (n + 1) % space) chosen.add(n);
    return [...chosen].map((n) => benchKey(n, this.o.keySize));
  }
}

function seenOf(range: RangeResponse | null | undefined, txn: TxnResponse): Seen {
  const nested = Number(range?.header?.revision ?? 0);
  const revision = nested > 0 ? nested : Number(txn.header?.revision ?? 0);
  return { modRevision: range?.kvs?.[0]?.mod_revision ?? '0', revision };
}

function prefetched(readSet: Map<string, Seen>, r: TxnResponse): Map<string, Seen> {
  const out = new Map<string, Seen>();
  let i = 0;
  for (const name of readSet.keys()) {
    const range = r.responses?.[i++]?.response_range;
    if (range !== undefined && range !== null) out.set(name, seenOf(range, r));
  }
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
