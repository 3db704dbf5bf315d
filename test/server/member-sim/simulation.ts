// The whole-member simulation: N members, each a real raft node and a real
// applier (src/server's Applier: MVCC store, lessor, members, alarms,
// consistent index, batched backend commits) on the memory backend, over a
// simulated network that drops, delays, duplicates and partitions, with
// crashes (whatever the applier had not yet committed to its backend is lost;
// raft's persisted log survives) and restarts, raft log compaction and
// snapshot transfer to lagging members. Then the network heals, every member
// comes back, and all members must hold the same state: equal HashKV,
// revision, compaction point, leases and their keys, alarms.
//
// Everything random comes from the seed: a seed replays exactly. Time is a
// ManualClock; every timer the applier sets runs on it.
import {
  RawNode, MemoryStorage, isEmptyHardState, type Entry, type Message, type Ready, type Snapshot,
} from '../../../src/raft';
import { memoryBackend, dumpBackend, restoreBackend, type Backend, type BatchOp, type IterateRange } from '../../../src/storage';
import { ManualClock, ManualTimers, SeededRandom, EtcdError } from '../../../src/util';
import { Applier, encodeRequest, silentLogger, type ApplierTestMutation, type Op, type SnapshotInstaller } from '../../../src/server';
import type { Compare, PutRequest, RequestOp, TxnRequest } from '../../../src/mvcc';
import { Rng } from '../../helpers/random';

export interface MemberSimOptions {
  seed: number;
  mutation?: ApplierTestMutation;
  chaosTicks?: number;
  healTicksMax?: number;
}

export interface MemberSimStats {
  proposals: number;
  applied: number;
  crashes: number;
  restarts: number;
  partitions: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  compactions: number;
  dropped: number;
  revision: number;
}

export interface MemberSimResult {
  seed: number;
  violation: string | null;
  stats: MemberSimStats;
  /** The agreed state's hash and revision: equal for equal seeds. */
  digest: string;
}

const tickMs = 100;
const electionTicks = 10;
const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

class Violation extends Error {}

function check(cond: boolean, what: () => string): asserts cond {
  if (!cond) throw new Violation(what());
}

/** A member's view of its disk: after a crash, nothing the dead incarnation does reaches the disk. */
class CrashableBackend implements Backend {
  private dead = false;
  constructor(private readonly disk: Backend) {}
  crash(): void { this.dead = true; }
  private gate<T>(f: () => Promise<T>): Promise<T> {
    return this.dead ? new Promise<T>(() => undefined) : f();
  }
  get(key: Buffer): Promise<Buffer | undefined> { return this.gate(() => this.disk.get(key)); }
  getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> { return this.gate(() => this.disk.getMany(keys)); }
  iterate(range: IterateRange): AsyncIterable<[Buffer, Buffer]> {
    if (this.dead) return (async function* () { await new Promise(() => undefined); })();
    return this.disk.iterate(range);
  }
  write(ops: BatchOp[], options: { sync: boolean }): Promise<void> { return this.gate(() => this.disk.write(ops, options)); }
  sizeBytes(): Promise<number> { return this.gate(() => this.disk.sizeBytes()); }
  defragment(): Promise<void> { return this.gate(() => this.disk.defragment()); }
  // The disk outlives every incarnation; closing a view closes nothing.
  async close(): Promise<void> {}
}

interface SimMember {
  readonly id: bigint;
  readonly storage: MemoryStorage;
  /** Survives crashes: the member's store backend (what commits wrote). */
  disk: Backend;
  view: CrashableBackend | undefined;
  applier: Applier | undefined;
  node: RawNode | undefined;
  timers: ManualTimers | undefined;
  snapshotIndex: number;
  lastRevision: number;
}

interface InFlight { at: number; seq: number; msg: Message }

export class MemberSimulation {
  private readonly rng: Rng;
  private readonly clock = new ManualClock(0);
  private readonly members: SimMember[] = [];
  private readonly founders: bigint[];
  private net: InFlight[] = [];
  private blocked = new Set<string>();
  private now = 0;
  private seq = 0;
  private requestSeq = 0n;
  private leaseSeq = 0n;
  private readonly snapshotCount: number;
  private readonly dropRate: number;
  private readonly stats: MemberSimStats = { proposals: 0, applied: 0, crashes: 0, restarts: 0, partitions: 0, snapshotsSent: 0, snapshotsInstalled: 0, compactions: 0, dropped: 0, revision: 0 };

  constructor(private readonly opts: MemberSimOptions) {
    this.rng = new Rng(opts.seed);
    const n = this.rng.int(0, 3) === 0 ? 5 : 3;
    this.founders = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    this.snapshotCount = this.rng.int(15, 80);
    this.dropRate = this.rng.float() * 0.15;
    for (const id of this.founders) {
      this.members.push({ id, storage: new MemoryStorage(), disk: memoryBackend(), view: undefined, applier: undefined, node: undefined, timers: undefined, snapshotIndex: 0, lastRevision: 1 });
    }
  }

  async run(): Promise<MemberSimResult> {
    try {
      for (const m of this.members) await this.start(m);
      const chaos = this.opts.chaosTicks ?? 300;
      for (let t = 0; t < chaos; t++) await this.tick(true);
      await this.heal();
      const digest = await this.compare();
      return { seed: this.opts.seed, violation: null, stats: this.stats, digest };
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      return { seed: this.opts.seed, violation: e instanceof Violation ? e.message : `error: ${e.stack ?? e.message}`, stats: this.stats, digest: '' };
    }
  }

  // ---- members ----

  private async start(m: SimMember): Promise<void> {
    const timers = new ManualTimers(this.clock);
    const view = new CrashableBackend(m.disk);
    m.timers = timers;
    m.view = view;
    m.applier = await Applier.open(view, {
      memberId: m.id,
      clock: this.clock,
      timers,
      minLeaseTtlSeconds: 2,
      backendBatch: { batchIntervalMs: this.rng.int(1, 4) * tickMs, batchLimit: this.rng.int(1, 30) },
      fatal: (e) => { if (m.view === view) throw e; },
      log: silentLogger,
      hooks: { peerChanged: () => undefined, removedSelf: () => undefined, noSpaceDisarmed: () => undefined },
      storeOptions: { valueCacheBytes: this.rng.int(0, 2) * 2048, compactionBatchKeys: this.rng.int(1, 8), compactionIndexKeysPerTurn: this.rng.int(1, 8) },
      ...(this.opts.mutation === undefined ? {} : { testMutation: this.opts.mutation }),
    });
    const rev = m.applier.store.currentRevision();
    check(rev >= 1, () => `member ${m.id}: revision ${rev} after open`);
    // What a crash lost was never committed to the backend; raft replays it.
    m.lastRevision = rev;
    const fresh = m.storage.lastIndex() === 0 && isEmptyHardState(m.storage.initialState().hardState);
    // Raft replays from its snapshot (as etcd restarts from the last snapshot); the applier skips what its backend already has.
    const snapIndex = m.storage.snapshot().metadata.index;
    const applied = this.rng.int(0, 1) === 0 ? snapIndex : Math.max(snapIndex, Math.min(m.applier.appliedIndex, m.storage.initialState().hardState.commit));
    m.node = new RawNode({
      id: m.id,
      storage: m.storage,
      electionTicks,
      heartbeatTicks: 1,
      preVote: true,
      checkQuorum: true,
      applied,
      random: new SeededRandom(this.rng.u32()),
      ...(fresh ? { peers: this.founders } : {}),
    });
    m.snapshotIndex = snapIndex;
  }

  private crash(m: SimMember): void {
    if (m.node === undefined) return;
    this.stats.crashes++;
    m.view?.crash();
    m.node = undefined;
    m.applier = undefined;
    m.timers = undefined;
    m.view = undefined;
  }

  private alive(): SimMember[] {
    return this.members.filter((x) => x.node !== undefined);
  }

  // ---- the loop ----

  private async tick(chaos: boolean): Promise<void> {
    this.now++;
    this.clock.advance(tickMs);
    if (chaos) await this.chaosEvents();
    for (const m of this.alive()) m.node!.tick();
    this.deliver();
    for (const m of this.alive()) await this.handleReadies(m);
    for (const m of this.alive()) m.timers!.run();
    // Let background work (backend commits, compaction) take its turns.
    await new Promise((r) => setImmediate(r));
  }

  private async chaosEvents(): Promise<void> {
    const r = this.rng;
    const proposals = r.int(0, 4);
    for (let i = 0; i < proposals; i++) this.propose();
    if (r.float() < 0.02) {
      const victim = this.members[r.int(0, this.members.length - 1)]!;
      if (this.alive().length > 1) this.crash(victim);
    }
    if (r.float() < 0.05) {
      const dead = this.members.filter((x) => x.node === undefined);
      if (dead.length > 0) {
        this.stats.restarts++;
        await this.start(dead[r.int(0, dead.length - 1)]!);
      }
    }
    if (r.float() < 0.02) this.partition();
    if (r.float() < 0.03) this.blocked.clear();
  }

  private partition(): void {
    this.stats.partitions++;
    this.blocked.clear();
    const ids = this.members.map((m) => m.id);
    const side = new Set(ids.filter(() => this.rng.int(0, 1) === 0));
    for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
  }

  private send(msg: Message): void {
    if (this.blocked.has(`${msg.from}>${msg.to}`) || this.rng.float() < this.dropRate) {
      this.stats.dropped++;
      return;
    }
    const copies = this.rng.float() < 0.02 ? 2 : 1;
    for (let i = 0; i < copies; i++) this.net.push({ at: this.now + this.rng.int(0, 3), seq: this.seq++, msg });
  }

  private deliver(): void {
    const due = this.net.filter((x) => x.at <= this.now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.net = this.net.filter((x) => x.at > this.now);
    for (const d of due) {
      const to = this.members.find((m) => m.id === d.msg.to);
      if (to?.node === undefined || this.blocked.has(`${d.msg.from}>${d.msg.to}`)) continue;
      to.node.step(d.msg);
    }
  }

  private async handleReadies(m: SimMember): Promise<void> {
    for (let guard = 0; m.node?.hasReady() === true; guard++) {
      check(guard < 1000, () => `member ${m.id}: Ready loop does not settle`);
      const node = m.node;
      const applier = m.applier!;
      const rd: Ready = node.ready();
      if (rd.snapshot !== null) await this.installSnapshot(m, applier, rd.snapshot);
      if (m.node !== node) return;
      if (rd.snapshot !== null) m.storage.applySnapshot({ metadata: rd.snapshot.metadata, data: new Uint8Array(0) });
      if (rd.entries.length > 0) m.storage.append(rd.entries);
      if (rd.hardState !== null) m.storage.setHardState(rd.hardState);
      for (const msg of rd.messages) await this.sendMessage(m, applier, msg);
      if (rd.committedEntries.length > 0) await this.apply(m, applier, rd.committedEntries);
      if (m.node !== node) return;
      node.advance();
    }
  }

  private async sendMessage(m: SimMember, applier: Applier, msg: Message): Promise<void> {
    if (msg.type !== 'MsgSnap' || msg.snapshot === null) {
      this.send(msg);
      return;
    }
    // As the member does: the raft snapshot carries only metadata; the store is attached when sent.
    this.stats.snapshotsSent++;
    const parts: Buffer[] = [];
    for await (const c of dumpBackend(applier.backend)) parts.push(c);
    this.send({ ...msg, snapshot: { ...msg.snapshot, data: Buffer.concat(parts) } });
    m.node?.reportSnapshot(msg.to, 'finish');
  }

  private async installSnapshot(m: SimMember, applier: Applier, snap: Snapshot): Promise<void> {
    if (snap.metadata.index <= applier.appliedIndex) return;
    check(snap.data.byteLength > 0, () => `member ${m.id}: a snapshot without the store`);
    this.stats.snapshotsInstalled++;
    let staged: Backend | undefined;
    const installer: SnapshotInstaller = {
      async stage() {
        staged = memoryBackend();
        await restoreBackend(staged, (async function* () { yield snap.data; })());
      },
      async swapIn() {
        m.disk = staged!;
        m.view = new CrashableBackend(staged!);
        return m.view;
      },
    };
    await applier.restore(installer);
    m.snapshotIndex = snap.metadata.index;
  }

  private async apply(m: SimMember, applier: Applier, entries: readonly Entry[]): Promise<void> {
    const outcomes = await applier.apply(entries);
    this.stats.applied += outcomes.length;
    const rev = applier.store.currentRevision();
    check(rev >= m.lastRevision, () => `member ${m.id}: revision went back from ${m.lastRevision} to ${rev}`);
    m.lastRevision = rev;
    for (const o of outcomes) {
      // An assertion or a non-etcd error inside apply would have thrown; refusals must be etcd's errors.
      check(o.ok || o.value instanceof EtcdError, () => `member ${m.id}: request ${o.requestId} failed with ${String(o.value)}`);
    }
    const applied = applier.appliedIndex;
    if (applied - m.snapshotIndex >= this.snapshotCount && applied <= m.storage.lastIndex()) {
      await applier.committer.flush(true);
      m.storage.createSnapshot(applied, m.node!.status().appliedConfState, new Uint8Array(0));
      m.storage.compact(Math.max(m.storage.firstIndex(), applied - this.rng.int(0, 10)));
      m.snapshotIndex = applied;
      this.stats.compactions++;
    } else {
      applier.committer.schedule();
    }
  }

  // ---- proposals ----

  private propose(): void {
    const alive = this.alive();
    if (alive.length === 0) return;
    const m = alive[this.rng.int(0, alive.length - 1)]!;
    const body = this.randomOp(m);
    this.stats.proposals++;
    m.node!.propose(encodeRequest({ id: ++this.requestSeq, body }));
  }

  private key(): Buffer {
    return Buffer.from(keys[this.rng.int(0, keys.length - 1)]!);
  }

  private lease(m: SimMember): bigint {
    const ids = m.applier!.lessor.ids();
    return ids.length === 0 || this.rng.int(0, 2) === 0 ? 0n : ids[this.rng.int(0, ids.length - 1)]!;
  }

  private putRequest(m: SimMember): PutRequest {
    const ignoreValue = this.rng.int(0, 9) === 0;
    return { key: this.key(), value: ignoreValue ? Buffer.alloc(0) : Buffer.from(String(this.rng.int(0, 99))), lease: this.lease(m), prevKv: this.rng.int(0, 1) === 0, ignoreValue, ignoreLease: this.rng.int(0, 9) === 0 };
  }

  private requestOp(m: SimMember): RequestOp {
    const r = this.rng.int(0, 3);
    if (r === 0) return { put: this.putRequest(m) };
    if (r === 1) return { deleteRange: { key: this.key(), rangeEnd: this.rng.int(0, 2) === 0 ? Buffer.from('z') : Buffer.alloc(0), prevKv: true } };
    const rev = m.applier!.store.currentRevision();
    return { range: { key: this.key(), rangeEnd: Buffer.from('z'), limit: this.rng.int(0, 3), revision: this.rng.int(0, 1) === 0 ? 0 : this.rng.int(1, rev), sortOrder: 0, sortTarget: 0, keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 } };
  }

  private randomCompare(): Compare {
    const target = this.rng.int(0, 3);
    return { result: this.rng.int(0, 3), target, key: this.key(), rangeEnd: Buffer.alloc(0), version: this.rng.int(0, 3), createRevision: this.rng.int(0, 20), modRevision: this.rng.int(0, 20), value: Buffer.from(String(this.rng.int(0, 99))) };
  }

  private randomOp(m: SimMember): Op {
    const r = this.rng.int(0, 99);
    const store = m.applier!.store;
    if (r < 35) return { op: 'put', req: this.putRequest(m) };
    if (r < 45) return { op: 'deleteRange', req: { key: this.key(), rangeEnd: this.rng.int(0, 3) === 0 ? Buffer.from('z') : Buffer.alloc(0), prevKv: this.rng.int(0, 1) === 0 } };
    if (r < 75) {
      const ops = (n: number): RequestOp[] => Array.from({ length: n }, () => this.requestOp(m));
      const req: TxnRequest = { compare: Array.from({ length: this.rng.int(0, 2) }, () => this.randomCompare()), success: ops(this.rng.int(0, 3)), failure: ops(this.rng.int(0, 2)) };
      return { op: 'txn', req };
    }
    if (r < 80) return { op: 'compact', revision: this.rng.int(1, Math.max(1, store.currentRevision())) };
    if (r < 88) return { op: 'leaseGrant', id: ++this.leaseSeq, ttl: this.rng.int(2, 60) };
    if (r < 95) {
      const ids = m.applier!.lessor.ids();
      return { op: 'leaseRevoke', id: ids.length === 0 ? this.leaseSeq + 1n : ids[this.rng.int(0, ids.length - 1)]! };
    }
    return { op: 'alarm', action: this.rng.int(1, 2), memberId: this.founders[this.rng.int(0, this.founders.length - 1)]!, alarm: this.rng.int(0, 2) };
  }

  // ---- heal and compare ----

  private async heal(): Promise<void> {
    this.blocked.clear();
    for (const m of this.members) if (m.node === undefined) { this.stats.restarts++; await this.start(m); }
    const max = this.opts.healTicksMax ?? 2000;
    for (let t = 0; t < max; t++) {
      await this.tick(false);
      if (this.converged()) return;
    }
    const state = this.members.map((m) => `${m.id}: applied ${m.applier?.appliedIndex} commit ${m.node?.commitIndex} lead ${m.node?.status().softState.lead}`).join('; ');
    throw new Violation(`no convergence within ${max} ticks after heal (${state})`);
  }

  private converged(): boolean {
    const lead = this.members[0]!.node!.status().softState.lead;
    if (lead === 0n) return false;
    const commit = this.members.find((m) => m.id === lead)?.node?.commitIndex ?? 0;
    return this.members.every((m) => m.node!.status().softState.lead === lead && m.node!.commitIndex === commit && m.applier!.appliedIndex >= commit && !m.node!.hasReady());
  }

  private async compare(): Promise<string> {
    const states: string[] = [];
    for (const m of this.members) {
      const a = m.applier!;
      const h = await a.hashKv(0);
      const leases = a.lessor.ids().sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)).map((id) => `${id}:${a.lessor.keysOf(id).map((k) => k.toString()).join('+')}`);
      const alarms = a.alarms.list().map((x) => `${x.memberId}/${x.alarm}`).sort();
      states.push(`hash=${h.hash} rev=${h.revision} compact=${h.compactRevision} leases=[${leases.join(',')}] alarms=[${alarms.join(',')}]`);
    }
    this.stats.revision = this.members[0]!.applier!.store.currentRevision();
    const first = states[0]!;
    states.forEach((s, i) => check(s === first, () => `member ${this.members[i]!.id} diverged after heal:\n  ${this.members[0]!.id}: ${first}\n  ${this.members[i]!.id}: ${s}`));
    return first;
  }
}
