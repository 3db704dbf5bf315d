// Watch and lease, differentially: the same seeded interleaving of writes,
// watch creates (keys, prefixes, past/future/compacted start revisions,
// prev_kv, filters, client-chosen and duplicate IDs), cancels, compactions,
// lease grants/keepalives/revokes and progress requests goes to a real etcd
// and to keel; what each watch received is compared. Responses may be cut
// differently (catch-up batching is timing-dependent in both servers), so the
// comparison is per watch: its created/canceled answers, compact_revision,
// cancel_reason, and the flattened event list. Writes are sequential; after
// each phase both sides must settle on the same picture.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { etcdService } from '../../src/proto';
import { startEtcd, startKeel, cleanupAll, skipUnlessTools, assertTools, isCI, type ServerProcess } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';
import { Rng } from '../helpers/random';

after(cleanupAll);
if (isCI) assertTools(['etcd', 'keel']);
const skip = skipUnlessTools(['etcd', 'keel']);

interface PbKv { key: Buffer; create_revision: string; mod_revision: string; version: string; value: Buffer; lease: string }
interface PbEvent { type: number; kv: PbKv; prev_kv: PbKv | null }
interface PbWatchResponse { header: { revision: string }; watch_id: string; created: boolean; canceled: boolean; compact_revision: string; cancel_reason: string; events: PbEvent[] }

class Stream {
  readonly responses: PbWatchResponse[] = [];
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<object, PbWatchResponse>;
  constructor(endpoint: string) {
    const Watch = etcdService('Watch');
    this.client = new Watch(endpoint, grpc.credentials.createInsecure());
    this.call = (this.client as unknown as { Watch(): grpc.ClientDuplexStream<object, PbWatchResponse> }).Watch();
    this.call.on('data', (r: PbWatchResponse) => this.responses.push(r));
    this.call.on('error', () => undefined);
  }
  send(req: object): void { this.call.write(req); }
  close(): void { this.call.cancel(); this.client.close(); }
}

/** One server under test: a client and two watch streams. */
class Side {
  readonly kv: EtcdClient;
  readonly streams: Stream[];
  constructor(readonly server: ServerProcess) {
    this.kv = new EtcdClient(server.endpoint);
    this.streams = [new Stream(server.endpoint), new Stream(server.endpoint)];
  }
  /** Per stream and watch ID: the control answers and the events, in arrival order, normalized. */
  picture(): string[] {
    return this.streams.map((s) => {
      const byWatch = new Map<string, string[]>();
      for (const r of s.responses) {
        if (r.watch_id === '-1' && !r.created) continue; // progress answers are compared separately
        const lines = byWatch.get(r.watch_id) ?? [];
        if (r.created) lines.push(`created${r.canceled ? ` canceled(${r.cancel_reason})` : ''}`);
        else if (r.canceled) lines.push(`canceled compact=${r.compact_revision}${r.cancel_reason === '' ? '' : ` (${r.cancel_reason})`}`);
        for (const e of r.events) {
          const p = e.prev_kv === null ? '' : ` prev=${e.prev_kv.value.toString('hex')}@${e.prev_kv.mod_revision}`;
          lines.push(`${e.type === 0 ? 'PUT' : 'DEL'} ${e.kv.key.toString()}=${e.kv.value.toString('hex')} c${e.kv.create_revision} m${e.kv.mod_revision} v${e.kv.version} l${e.kv.lease === '0' ? 0 : 'L'}${p}`);
        }
        byWatch.set(r.watch_id, lines);
      }
      return [...byWatch].sort(([a], [b2]) => Number(a) - Number(b2)).map(([id, lines]) => `watch ${id}: ${lines.join(' | ')}`).join('\n');
    });
  }
  close(): void { for (const s of this.streams) s.close(); this.kv.close(); }
}

const keys = ['a', 'b', 'c', 'd'];

async function settle(etcd: Side, keel: Side, what: string): Promise<void> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const e = etcd.picture();
    const k = keel.picture();
    if (JSON.stringify(e) === JSON.stringify(k)) {
      // Stable for a moment: nothing more is on its way to either side.
      await new Promise((r) => setTimeout(r, 150));
      if (JSON.stringify(etcd.picture()) === JSON.stringify(e) && JSON.stringify(keel.picture()) === JSON.stringify(k)) return;
      continue;
    }
    if (Date.now() > deadline) assert.deepEqual(k, e, `watch streams differ after ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function both<T>(etcd: Side, keel: Side, f: (s: Side) => Promise<T>): Promise<[T, T]> {
  return [await f(etcd), await f(keel)];
}

async function runSeed(seed: number): Promise<void> {
  const [e, k] = await Promise.all([startEtcd(), startKeel()]);
  const etcd = new Side(e);
  const keel = new Side(k);
  const rng = new Rng(seed);
  const leases: string[] = [];
  let nextWatchId = 1;
  const watchIds: Array<[number, number]> = [];
  let revision = 1;
  try {
    for (let phase = 0; phase < 8; phase++) {
      // A burst of writes.
      for (let i = rng.int(1, 6); i > 0; i--) {
        // Every random choice is drawn once, before the same request goes to both sides.
        const key = rng.pick(keys);
        const op = rng.int(0, 9);
        const value = `v${rng.int(0, 3)}`;
        const lease = leases.length > 0 && rng.bool(0.3) ? leases[0] : undefined;
        const ranged = rng.bool(0.5);
        const [re, rk] = await both(etcd, keel, async (s) => {
          if (op < 5) return s.kv.put({ key: b(key), value: b(value), ...(lease !== undefined ? { lease } : {}) });
          if (op < 7) return s.kv.deleteRange({ key: b(key), ...(ranged ? { range_end: b('c') } : {}) });
          return s.kv.txn({ success: [{ request_put: { key: b(key), value: b('t') } }, { request_put: { key: b(key + key), value: b('tt') } }] });
        });
        assert.equal(re.ok, rk.ok, `write ${op} on ${key}`);
        if (re.ok) revision = Number((re.value as { header: { revision: string } }).header.revision);
      }
      // Watch creates and cancels, on either stream.
      for (let i = rng.int(0, 3); i > 0; i--) {
        const stream = rng.int(0, 1);
        if (watchIds.length > 0 && rng.bool(0.25)) {
          const [st, id] = watchIds.splice(rng.int(0, watchIds.length - 1), 1)[0] as [number, number];
          for (const side of [etcd, keel]) side.streams[st]!.send({ cancel_request: { watch_id: id } });
          continue;
        }
        const duplicate = watchIds.length > 0 && rng.bool(0.1);
        const id = duplicate ? (watchIds[0] as [number, number])[1] : nextWatchId++;
        const st2 = duplicate ? (watchIds[0] as [number, number])[0] : stream;
        const start = rng.bool(0.5) ? 0 : rng.int(1, revision + 2);
        const prefix = rng.bool(0.3);
        const key = rng.pick(keys);
        const req = {
          create_request: {
            key: b(key), range_end: prefix ? b(String.fromCharCode(key.charCodeAt(0) + 1)) : Buffer.alloc(0),
            start_revision: start, prev_kv: rng.bool(0.5), filters: rng.bool(0.2) ? [rng.int(0, 1)] : [], watch_id: id,
          },
        };
        for (const side of [etcd, keel]) side.streams[st2]!.send(req);
        if (!duplicate) watchIds.push([st2, id]);
        await settle(etcd, keel, `watch create ${JSON.stringify({ ...req.create_request, key, start, prefix })}`);
      }
      // Sometimes a compaction, a lease grant, keepalive or revoke.
      const extra = rng.int(0, 5);
      if (extra === 0 && revision > 2) {
        const at = rng.int(1, revision);
        const [ce, ck] = await both(etcd, keel, (s) => s.kv.compact({ revision: at, physical: true }));
        assert.deepEqual(ck.ok ? 'ok' : ck.details, ce.ok ? 'ok' : ce.details, `compact ${at}`);
      } else if (extra === 1) {
        const id = String(1000 + phase);
        const [ge, gk] = await both(etcd, keel, (s) => s.kv.leaseGrant({ TTL: 60, ID: id }));
        assert.equal(gk.ok, ge.ok);
        if (ge.ok) leases.push(id);
      } else if (extra === 2 && leases.length > 0) {
        const id = leases.shift() as string;
        const [re2, rk2] = await both(etcd, keel, (s) => s.kv.leaseRevoke(id));
        assert.equal(rk2.ok, re2.ok, `revoke ${id}`);
        if (re2.ok) revision = Number(must(await etcd.kv.range({ key: b('x') })).header!.revision);
      }
      await settle(etcd, keel, `phase ${phase}`);
      // With every watcher caught up, a progress request answers the same revision on both.
      for (const [si] of [[0], [1]] as Array<[number]>) {
        // etcd 3.5 (and keel) answer nothing on a stream without live watchers; etcd 3.4 answers anyway.
        const live = new Set<string>();
        for (const r of etcd.streams[si]!.responses) {
          if (r.created && !r.canceled) live.add(r.watch_id);
          else if (r.canceled) live.delete(r.watch_id);
        }
        if (live.size === 0) continue;
        const before = [etcd, keel].map((s) => s.streams[si]!.responses.length);
        for (const side of [etcd, keel]) side.streams[si]!.send({ progress_request: {} });
        const deadline = Date.now() + 5000;
        const answer = (s: Side, from: number): PbWatchResponse | undefined => s.streams[si]!.responses.slice(from).find((r) => r.watch_id === '-1' && !r.created);
        while ((answer(etcd, before[0]!) === undefined || answer(keel, before[1]!) === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(answer(keel, before[1]!)?.header.revision, answer(etcd, before[0]!)?.header.revision, `progress on stream ${si} after phase ${phase}`);
      }
    }
  } finally {
    etcd.close();
    keel.close();
    await Promise.all([e.stop(), k.stop()]);
  }
}

const seeds = process.env['WATCH_DIFF_SEED'] !== undefined ? [Number(process.env['WATCH_DIFF_SEED'])] : Array.from({ length: Number(process.env['WATCH_DIFF_SEEDS'] ?? 12) }, (_, i) => i + 1);

for (const seed of seeds) {
  test(`watch/lease differential against etcd, seed ${seed} (replay: WATCH_DIFF_SEED=${seed})`, { skip, timeout: 120_000 }, async () => {
    await runSeed(seed);
  });
}
