// A deterministic simulator for src/raft: N members over an in-memory network
// that drops, duplicates, delays and reorders messages, with partitions,
// crashes and restarts (a restarted member keeps only what it persisted),
// leader transfers, membership changes, compaction, proposals and reads.
// Safety invariants are checked as every step's Ready is handled; then the
// network heals and the cluster must converge within a bounded number of ticks.
//
// Everything random comes from the seed, one stream per concern, so a seed
// replays exactly; events are numbered per kind ("crash#3") so a failing run
// can be shrunk by disabling events without disturbing the others.
import {
  RawNode, MemoryStorage, applyConfChange, confStateEqual, decodeConfChange, isEmptyHardState, isRaftError, makeConfState,
  type ConfChange, type ConfState, type Entry, type Message, type RaftTestMutation, type Ready, type Snapshot,
} from '../../../src/raft';
import { SeededRandom } from '../../../src/util';
import { MinHeap } from './heap';

export const eventKinds = ['propose', 'read', 'crash', 'restart', 'partition', 'heal', 'transfer', 'member', 'compact', 'ambush'] as const;

/**
 * Adversarial traps aimed at protocol windows:
 * - crashNewLeader: the next member elected leader crashes before sending
 *   anything, or a few ticks later (leaves entries of its term that few or no
 *   other members hold, as in figure 8);
 * - crashOnCommit: the next leader whose commit index moves crashes before
 *   sending that Ready's messages;
 * - storm: for a while, new leaders and leaders that advance their commit
 *   index often crash before sending, and come back soon after;
 * - crashVoter: the next member that grants a vote crashes at once and comes
 *   back a little later (tests that votes are durable);
 * - isolateTransferrer: the next leader that orders a transfer stops hearing
 *   from anyone, and clients keep reading from it (tests the read lease).
 */
type TrapKind = 'crashNewLeader' | 'crashOnCommit' | 'storm' | 'crashVoter' | 'isolateTransferrer';
const trapKinds: readonly TrapKind[] = ['crashNewLeader', 'crashOnCommit', 'storm', 'crashVoter', 'isolateTransferrer'];

interface Trap {
  readonly kind: TrapKind;
  readonly until: number;
  readonly delay: number;
}

interface Scheduled {
  readonly at: number;
  readonly action: 'crash' | 'restart' | 'read';
  readonly member: bigint;
  readonly incarnation: number;
}
export type EventKind = (typeof eventKinds)[number];

export interface SimOptions {
  readonly seed: number;
  /** Event IDs ("crash#3") to skip: used to shrink a failing run. */
  readonly disabled?: ReadonlySet<string>;
  readonly mutation?: RaftTestMutation;
  /** Keep a human-readable trace (slower). */
  readonly trace?: boolean;
  readonly chaosTicks?: number;
  readonly healTicks?: number;
}

export interface SimStats {
  ticks: number;
  deliveries: number;
  dropped: number;
  proposals: number;
  proposalsRefused: number;
  committed: number;
  reads: number;
  readsRefused: number;
  readsServed: number;
  crashes: number;
  restarts: number;
  partitions: number;
  transfers: number;
  /** Configuration changes applied (counted once per log index). */
  confChanges: number;
  /** Accepted proposals that ended up committed / never committed (lost on a leader change or in the network). */
  proposalsCommitted: number;
  proposalsLost: number;
  snapshotsInstalled: number;
  compactions: number;
  leaders: number;
  members: number;
  healTicks: number;
}

export interface SimResult {
  readonly seed: number;
  readonly violation: string | null;
  readonly tick: number;
  /** Events that actually ran, in order. */
  readonly events: readonly string[];
  readonly trace: readonly string[];
  readonly stats: SimStats;
  /** A hash of every Ready handled: equal for equal seeds. */
  readonly digest: number;
  readonly settings: string;
}

export class Violation extends Error {
  override name = 'Violation';
}

function check(cond: boolean, what: () => string): asserts cond {
  if (!cond) throw new Violation(what());
}

// ------------------------------------------------------------------ hashing

function fnv(h: number, x: number): number {
  h ^= x & 0xffff;
  h = Math.imul(h, 16777619);
  h ^= (x >>> 16) & 0xffff;
  h = Math.imul(h, 16777619);
  return h >>> 0;
}

function hashBytes(b: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < b.byteLength; i++) {
    h ^= b[i] as number;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function hashNumber(h: number, n: number): number {
  return fnv(fnv(h, n % 4294967296), Math.floor(n / 4294967296));
}

// ------------------------------------------------------------------ members

interface StateMachine {
  applied: number;
  hash: number;
  confState: ConfState;
}

interface PendingRead {
  readonly member: bigint;
  readonly incarnation: number;
  /** Every index known committed anywhere when the read was asked. */
  readonly minIndex: number;
  index: number | null;
}

class Member {
  node: RawNode | null = null;
  incarnation = 0;
  sm: StateMachine;
  removed = false;
  /** Highest index of this member's commit already checked against the global record. */
  checkedCommit = 0;
  lastTerm = 0;
  waitingReads: PendingRead[] = [];
  crashBeforeSend = false;

  constructor(readonly id: bigint, readonly storage: MemoryStorage) {
    this.sm = { applied: 0, hash: 0, confState: storage.initialState().confState };
  }

  get alive(): boolean {
    return this.node !== null;
  }
}

function encodeSm(sm: StateMachine): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    applied: sm.applied, hash: sm.hash,
    voters: sm.confState.voters.map(String), learners: sm.confState.learners.map(String),
  }));
}

function decodeSm(data: Uint8Array): StateMachine {
  const o = JSON.parse(new TextDecoder().decode(data)) as { applied: number; hash: number; voters: string[]; learners: string[] };
  return { applied: o.applied, hash: o.hash, confState: makeConfState(o.voters.map(BigInt), o.learners.map(BigInt)) };
}

// ------------------------------------------------------------------ network

interface InFlight {
  readonly m: Message;
  readonly at: number;
  readonly order: number;
  readonly senderIncarnation: number;
}

interface NetworkSettings {
  dropRate: number;
  dupRate: number;
  delayMax: number;
  longDelayRate: number;
  longDelayMax: number;
}

// ------------------------------------------------------------------ simulation

interface Settings {
  n: number;
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  readOnlyOption: 'safe' | 'lease';
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxCommittedSizePerReady: number;
  disableProposalForwarding: boolean;
  net: NetworkSettings;
  compactKeep: number;
  /** Multiplies the rate of crashes, restarts and partitions. */
  faultRate: number;
}

const deliveriesPerTickMax = 50_000;
const membersMax = 7;

export class Simulation {
  private readonly opts: SimOptions;
  private readonly settings: Settings;
  private readonly members = new Map<bigint, Member>();
  private founders: readonly bigint[] = [];
  private nextId = 1n;
  private readonly streams: Record<EventKind, SeededRandom>;
  private readonly eventCounts: Record<EventKind, number>;
  private readonly netRng: SeededRandom;
  private readonly nodeRng: SeededRandom;
  private readonly orderRng: SeededRandom;
  private readonly stormRng: SeededRandom;
  private readonly heap = new MinHeap<InFlight>((a, b) => a.at < b.at || (a.at === b.at && a.order < b.order));
  private blocked = new Set<number>();
  private net: NetworkSettings;
  private now = 0;
  private phase: 'chaos' | 'heal' = 'chaos';
  private proposalSeq = 0;
  private digest = 2166136261;
  private readonly events: string[] = [];
  private readonly traceLines: string[] = [];
  private readonly stats: SimStats = {
    ticks: 0, deliveries: 0, dropped: 0, proposals: 0, proposalsRefused: 0, committed: 0, reads: 0, readsRefused: 0,
    readsServed: 0, crashes: 0, restarts: 0, partitions: 0, transfers: 0, confChanges: 0, proposalsCommitted: 0, proposalsLost: 0, snapshotsInstalled: 0,
    compactions: 0, leaders: 0, members: 0, healTicks: 0,
  };

  // Global records the invariants are checked against.
  /** term → the member that led it. */
  private readonly leaderOfTerm = new Map<number, bigint>();
  /** index → committed entry (term, data hash, term of the member that first saw it committed). */
  private readonly committedTerm: number[] = [];
  private readonly committedHash: number[] = [];
  private readonly committedSeenTerm: number[] = [];
  private maxCommit = 0;
  /** (index, term) → data hash and the previous entry's term: log matching. */
  private readonly entryIdentity = new Map<number, { hash: number; prevTerm: number }>();
  /** index → state machine hash after applying it. */
  private readonly stateHashAt: number[] = [];
  private readonly pendingReads = new Map<string, PendingRead>();
  private traps: Trap[] = [];
  private readonly confApplied = new Set<number>();
  private readonly committedData = new Set<number>();
  private readonly acceptedData: number[] = [];
  private scheduled: Scheduled[] = [];
  private readonly issuedReadIds = new Set<string>();

  constructor(opts: SimOptions) {
    this.opts = opts;
    const master = new SeededRandom(opts.seed);
    const cfgRng = master.fork();
    this.netRng = master.fork();
    this.nodeRng = master.fork();
    this.orderRng = master.fork();
    const streams = {} as Record<EventKind, SeededRandom>;
    const counts = {} as Record<EventKind, number>;
    for (const k of eventKinds) {
      streams[k] = master.fork();
      counts[k] = 0;
    }
    this.streams = streams;
    this.stormRng = master.fork();
    this.eventCounts = counts;
    this.settings = drawSettings(cfgRng);
    this.net = { ...this.settings.net };
  }

  run(): SimResult {
    let violation: string | null = null;
    try {
      this.setup();
      const chaosTicks = this.opts.chaosTicks ?? 250;
      for (let t = 0; t < chaosTicks; t++) this.chaosTick();
      this.heal();
    } catch (e) {
      violation = e instanceof Violation ? e.message : `crash: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e)}`;
      this.trace(`VIOLATION ${violation.split('\n')[0] ?? ''}`);
    }
    this.stats.ticks = this.now;
    this.stats.members = [...this.members.values()].filter((m) => !m.removed).length;
    return {
      seed: this.opts.seed,
      violation,
      tick: this.now,
      events: this.events,
      trace: this.traceLines,
      stats: this.stats,
      digest: this.digest,
      settings: describeSettings(this.settings),
    };
  }

  // ---------------------------------------------------------------- setup

  private setup(): void {
    const ids: bigint[] = [];
    for (let i = 0; i < this.settings.n; i++) ids.push(this.nextId++);
    this.founders = ids;
    for (const id of ids) {
      const m = new Member(id, new MemoryStorage());
      this.members.set(id, m);
      this.start(m, ids);
    }
    this.trace(`settings ${describeSettings(this.settings)}`);
  }

  private start(m: Member, bootstrapPeers: readonly bigint[] = []): void {
    m.incarnation++;
    const s = this.settings;
    m.node = new RawNode({
      id: m.id,
      storage: m.storage,
      electionTicks: s.electionTicks,
      heartbeatTicks: s.heartbeatTicks,
      preVote: s.preVote,
      checkQuorum: s.checkQuorum,
      readOnlyOption: s.readOnlyOption,
      maxSizePerMsg: s.maxSizePerMsg,
      maxInflightMsgs: s.maxInflightMsgs,
      maxInflightBytes: s.maxInflightBytes,
      maxCommittedSizePerReady: s.maxCommittedSizePerReady,
      disableProposalForwarding: s.disableProposalForwarding,
      random: new SeededRandom(this.nodeRng.u32()),
      ...(bootstrapPeers.length > 0 ? { peers: bootstrapPeers } : {}),
      ...(this.opts.mutation !== undefined ? { testMutation: this.opts.mutation } : {}),
    });
    const snap = m.storage.snapshot();
    m.sm = snap.metadata.index > 0 ? decodeSm(snap.data) : { applied: 0, hash: 0, confState: snap.metadata.confState };
    check(m.sm.applied === snap.metadata.index, () => `member ${m.id}: snapshot data does not match its index`);
    m.waitingReads = [];
    const hs = m.storage.initialState().hardState;
    check(hs.term >= m.lastTerm, () => `member ${m.id}: term went back from ${m.lastTerm} to ${hs.term} across a restart`);
    m.checkedCommit = m.sm.applied;
    this.checkCommitted(m, hs.commit, hs.term);
  }

  // ---------------------------------------------------------------- phases

  private chaosTick(): void {
    this.now++;
    this.scheduleEvents();
    this.runScheduled();
    this.tickAll();
    this.deliverDue();
  }

  private heal(): void {
    this.phase = 'heal';
    this.blocked.clear();
    this.traps = [];
    this.scheduled = [];
    for (const m of this.members.values()) m.crashBeforeSend = false;
    this.net = { dropRate: 0, dupRate: 0, delayMax: 1, longDelayRate: 0, longDelayMax: 1 };
    for (const m of this.members.values()) {
      if (!m.alive && !m.removed) this.restart(m);
    }
    this.trace('heal: network repaired, every member restarted');
    const healTicks = this.opts.healTicks ?? 30 * this.settings.electionTicks;
    const healHashes = new Set<number>();
    let lastPropose = -Infinity;
    for (let t = 0; t < healTicks; t++) {
      this.now++;
      this.stats.healTicks++;
      this.tickAll();
      this.deliverDue();
      const leader = this.stableLeader();
      if (leader === null) continue;
      const inLog = this.logHasAny(leader, healHashes);
      if (!inLog && t - lastPropose >= this.settings.electionTicks) {
        // Liveness: a fresh proposal must commit everywhere. Retry if it was lost.
        const tag = this.propose(leader, 'heal');
        if (tag !== null) healHashes.add(hashBytes(new TextEncoder().encode(tag)));
        lastPropose = t;
      }
      if (inLog && this.converged(leader) && !this.heap.some((f) => f.m.type === 'MsgProp')) {
        this.finalCheck(leader);
        for (const h of this.acceptedData) {
          if (this.committedData.has(h)) this.stats.proposalsCommitted++;
          else this.stats.proposalsLost++;
        }
        return;
      }
    }
    const leader = this.stableLeader();
    throw new Violation(`no convergence within ${healTicks} ticks after healing (leader: ${leader === null ? 'none' : leader.id}; ${this.describeCluster()})`);
  }

  // ---------------------------------------------------------------- events

  private scheduleEvents(): void {
    const f = this.settings.faultRate;
    const p: Record<EventKind, number> = {
      propose: 0.45, read: 0.3, crash: 0.012 * f, restart: 0.08 * f, partition: 0.015 * f, heal: 0.05 * f,
      transfer: 0.015, member: 0.015, compact: 0.03, ambush: 0.03 * f,
    };
    for (const kind of eventKinds) {
      const rng = this.streams[kind];
      if (rng.float() >= p[kind]) continue;
      const a = rng.u32();
      const b = rng.u32();
      const id = `${kind}#${++this.eventCounts[kind]}`;
      if (this.opts.disabled?.has(id)) continue;
      if (this.runEvent(kind, a, b)) this.events.push(id);
    }
  }

  private runEvent(kind: EventKind, a: number, b: number): boolean {
    const live = this.liveMembers();
    switch (kind) {
      case 'propose': {
        const m = pickBy(live, a);
        if (m === undefined) return false;
        this.propose(m, 'p');
        return true;
      }
      case 'read': {
        // Half the reads go to the leader: that is where lease reads are served.
        const m = (b & 1) === 0 ? this.leaderOr(live, a) : pickBy(live, a);
        if (m === undefined) return false;
        this.read(m);
        return true;
      }
      case 'crash': {
        const m = (b & 1) === 0 ? this.leaderOr(live, a) : pickBy(live, a);
        if (m === undefined) return false;
        if ((b & 2) === 0) {
          this.crash(m);
        } else {
          // Dies at its next Ready, after the write and before the messages leave.
          m.crashBeforeSend = true;
          this.trace(`crash ${m.id} armed: at its next Ready, before sending`);
        }
        return true;
      }
      case 'restart': {
        const down = [...this.members.values()].filter((m) => !m.alive && !m.removed);
        const m = pickBy(down, a);
        if (m === undefined) return false;
        this.restart(m);
        return true;
      }
      case 'partition':
        return this.partition(a, b);
      case 'heal':
        if (this.blocked.size === 0) return false;
        this.blocked.clear();
        this.trace('partition healed');
        return true;
      case 'transfer': {
        const leader = live.find((m) => m.node?.state === 'leader');
        if (leader === undefined || leader.node === null) return false;
        const voters = leader.node.status().confState.voters.filter((id) => id !== leader.id);
        const to = pickBy(voters, a);
        if (to === undefined) return false;
        this.trace(`transfer leadership ${leader.id} → ${to}`);
        this.stats.transfers++;
        leader.node.transferLeader(to);
        this.handleReadies(leader);
        return true;
      }
      case 'member':
        return this.changeMembership(a, b);
      case 'compact': {
        const m = pickBy(live, a);
        if (m === undefined) return false;
        return this.compact(m, b);
      }
      case 'ambush': {
        const kind = trapKinds[a % trapKinds.length] as TrapKind;
        this.traps.push({ kind, until: this.now + 5 * this.settings.electionTicks, delay: b % 4 });
        this.trace(`ambush armed: ${kind}`);
        return true;
      }
    }
  }

  private propose(m: Member, tag: string): string | null {
    const node = m.node;
    if (node === null) return null;
    const seq = ++this.proposalSeq;
    const data = new TextEncoder().encode(`${tag}${seq}`);
    const err = node.propose(data);
    this.trace(`propose ${tag}${seq} at ${m.id}${err === null ? '' : ` refused (${err.reason})`}`);
    if (err !== null) {
      this.stats.proposalsRefused++;
      this.handleReadies(m);
      return null;
    }
    this.stats.proposals++;
    this.acceptedData.push(hashBytes(data));
    this.handleReadies(m);
    return `${tag}${seq}`;
  }

  private read(m: Member): void {
    const node = m.node;
    if (node === null) return;
    const ctx = node.readIndex();
    if (isRaftError(ctx)) {
      this.stats.readsRefused++;
      this.trace(`read at ${m.id} refused (${ctx.reason})`);
      return;
    }
    const key = hex(ctx);
    check(!this.issuedReadIds.has(key), () => `ReadIndex request id ${key} reused`);
    this.issuedReadIds.add(key);
    this.pendingReads.set(key, { member: m.id, incarnation: m.incarnation, minIndex: this.maxCommit, index: null });
    this.stats.reads++;
    this.trace(`read ${key.slice(-6)} at ${m.id} (must see ≥ ${this.maxCommit})`);
    this.handleReadies(m);
  }

  private runScheduled(): void {
    const due = this.scheduled.filter((x) => x.at <= this.now);
    if (due.length === 0) return;
    this.scheduled = this.scheduled.filter((x) => x.at > this.now);
    for (const x of due) {
      const m = this.members.get(x.member);
      if (m === undefined || m.removed || m.incarnation !== x.incarnation) continue;
      if (x.action === 'crash' && m.node !== null) this.crash(m);
      else if (x.action === 'restart' && m.node === null) this.restart(m);
      else if (x.action === 'read' && m.node !== null) this.read(m);
    }
  }

  private takeTrap(kind: TrapKind): Trap | null {
    this.traps = this.traps.filter((t) => t.until >= this.now);
    const i = this.traps.findIndex((t) => t.kind === kind);
    if (i < 0 || this.phase !== 'chaos') return null;
    const [t] = this.traps.splice(i, 1);
    return t ?? null;
  }

  /** Springs traps that watch what a member just sent. */
  private watchMessages(m: Member, msgs: readonly Message[]): void {
    if (this.traps.length === 0) return;
    if (msgs.some((x) => x.type === 'MsgVoteResp' && !x.reject)) {
      const t = this.takeTrap('crashVoter');
      if (t !== null) {
        this.trace(`ambush: crash voter ${m.id}`);
        this.scheduled.push({ at: this.now + 1 + t.delay, action: 'restart', member: m.id, incarnation: m.incarnation });
        this.crash(m);
        return;
      }
    }
    if (msgs.some((x) => x.type === 'MsgTimeoutNow')) {
      const t = this.takeTrap('isolateTransferrer');
      if (t !== null) {
        this.trace(`ambush: nobody reaches ${m.id} any more; clients read from it`);
        for (const other of this.members.keys()) if (other !== m.id) this.blocked.add(linkKey(other, m.id));
        for (let i = 1; i <= this.settings.electionTicks; i++) {
          this.scheduled.push({ at: this.now + i, action: 'read', member: m.id, incarnation: m.incarnation });
        }
      }
    }
  }

  /** Traps that crash a member between persisting a Ready and sending its messages. */
  private crashBeforeSend(m: Member, rd: Ready, commitBefore: number): boolean {
    if (m.crashBeforeSend) {
      this.trace(`crash ${m.id} before sending`);
      this.crash(m);
      return true;
    }
    if (this.traps.length === 0) return false;
    if (this.stormy(m, rd, commitBefore)) return true;
    let trap: Trap | null = null;
    if (rd.softState !== null && rd.softState.state === 'leader') {
      trap = this.takeTrap('crashNewLeader');
      if (trap !== null && trap.delay > 0) {
        this.trace(`ambush: leader ${m.id} will crash in ${trap.delay} ticks`);
        this.scheduled.push({ at: this.now + trap.delay, action: 'crash', member: m.id, incarnation: m.incarnation });
        return false;
      }
    }
    if (trap === null && m.node?.state === 'leader' && rd.hardState !== null && rd.hardState.commit > commitBefore) {
      trap = this.takeTrap('crashOnCommit');
    }
    if (trap === null) return false;
    this.trace(`ambush: ${trap.kind}: ${m.id} crashes before sending`);
    this.crash(m);
    return true;
  }

  private stormy(m: Member, rd: Ready, commitBefore: number): boolean {
    this.traps = this.traps.filter((t) => t.until >= this.now);
    if (this.phase !== 'chaos' || !this.traps.some((t) => t.kind === 'storm')) return false;
    const elected = rd.softState !== null && rd.softState.state === 'leader';
    const committed = m.node?.state === 'leader' && rd.hardState !== null && rd.hardState.commit > commitBefore;
    const p = elected ? 0.5 : committed ? 0.3 : 0;
    if (p === 0 || this.stormRng.float() >= p) return false;
    this.trace(`storm: ${m.id} crashes before sending`);
    this.scheduled.push({ at: this.now + 1 + this.stormRng.intBelow(6), action: 'restart', member: m.id, incarnation: m.incarnation });
    this.crash(m);
    return true;
  }

  private crash(m: Member): void {
    m.node = null;
    m.crashBeforeSend = false;
    m.lastTerm = m.storage.initialState().hardState.term;
    m.waitingReads = [];
    this.stats.crashes++;
    this.trace(`crash ${m.id}`);
  }

  private restart(m: Member): void {
    this.stats.restarts++;
    // Like the server: a founding member that never persisted anything bootstraps again
    // (same peers, same entries); it must not replay a prefix of the bootstrap from a peer.
    const empty = m.storage.lastIndex() === 0 && isEmptyHardState(m.storage.initialState().hardState);
    const again = empty && this.founders.includes(m.id);
    this.trace(`restart ${m.id}${again ? ' (nothing persisted: bootstrap again)' : ''}`);
    this.start(m, again ? this.founders : []);
    this.handleReadies(m);
  }

  private partition(a: number, b: number): boolean {
    const ids = this.liveMembers().map((m) => m.id).concat([...this.members.values()].filter((m) => !m.alive && !m.removed).map((m) => m.id));
    if (ids.length < 2) return false;
    const kind = a % 5;
    this.blocked.clear();
    const block = (from: bigint, to: bigint): void => {
      this.blocked.add(linkKey(from, to));
    };
    const split = (side: Set<bigint>, symmetric: boolean): void => {
      for (const x of ids) for (const y of ids) if (side.has(x) && !side.has(y)) {
        block(x, y);
        if (symmetric) block(y, x);
      }
    };
    const shuffled = shuffle(ids, b);
    let what: string;
    switch (kind) {
      case 0: { // symmetric, random sides
        const side = new Set(shuffled.slice(0, 1 + (b % (ids.length - 1))));
        split(side, true);
        what = `symmetric ${[...side].join(',')} | rest`;
        break;
      }
      case 1: { // minority | majority
        const side = new Set(shuffled.slice(0, Math.floor((ids.length - 1) / 2) || 1));
        split(side, true);
        what = `minority ${[...side].join(',')} | majority`;
        break;
      }
      case 2: { // isolate the leader
        const leader = this.liveMembers().find((m) => m.node?.state === 'leader');
        const side = new Set([leader?.id ?? (shuffled[0] as bigint)]);
        split(side, true);
        what = `isolate leader ${[...side].join(',')}`;
        break;
      }
      case 3: { // one member can send but not receive
        const x = shuffled[0] as bigint;
        for (const y of ids) if (y !== x) block(y, x);
        what = `asymmetric: nobody reaches ${x}`;
        break;
      }
      default: { // one member can receive but not send; plus a random one-way link
        const x = shuffled[0] as bigint;
        for (const y of ids) if (y !== x) block(x, y);
        const p = shuffled[1] as bigint;
        const q = shuffled[shuffled.length - 1] as bigint;
        if (p !== q) block(p, q);
        what = `asymmetric: ${x} reaches nobody, ${p} ↛ ${q}`;
        break;
      }
    }
    this.stats.partitions++;
    this.trace(`partition ${what}`);
    return true;
  }

  private changeMembership(a: number, b: number): boolean {
    const leader = this.liveMembers().find((m) => m.node?.state === 'leader');
    if (leader === undefined || leader.node === null) return false;
    const cs = leader.node.status().confState;
    const total = cs.voters.length + cs.learners.length;
    const op = a % 5;
    let cc: ConfChange;
    let fresh: Member | null = null;
    if ((op === 0 || op === 1) && total < membersMax) {
      const id = this.nextId++;
      fresh = new Member(id, new MemoryStorage());
      cc = { type: op === 0 ? 'addLearnerNode' : 'addNode', nodeId: id, context: new Uint8Array(0) };
    } else if (op === 2 && cs.learners.length > 0) {
      cc = { type: 'addNode', nodeId: pickBy(cs.learners, b) as bigint, context: new Uint8Array(0) };
    } else if (op === 3 && cs.voters.length > 1) {
      cc = { type: 'addLearnerNode', nodeId: pickBy(cs.voters, b) as bigint, context: new Uint8Array(0) };
    } else if (total > 1) {
      cc = { type: 'removeNode', nodeId: pickBy([...cs.voters, ...cs.learners], b) as bigint, context: new Uint8Array(0) };
    } else {
      return false;
    }
    if (fresh !== null) {
      this.members.set(fresh.id, fresh);
      this.start(fresh);
    }
    // Sometimes ask a follower, which forwards the change to the leader.
    const at = ((b >>> 8) & 1) === 1 ? (pickBy(this.liveMembers(), b >>> 9) ?? leader) : leader;
    const err = at.node?.proposeConfChange(cc) ?? null;
    this.trace(`conf change ${cc.type} ${cc.nodeId} at ${at.id}${err === null ? '' : ` refused (${err.reason})`}`);
    if (err !== null && fresh !== null) {
      fresh.node = null;
      fresh.removed = true;
    }
    this.handleReadies(at);
    return true;
  }

  private compact(m: Member, b: number): boolean {
    const applied = m.sm.applied;
    const snapIndex = m.storage.snapshot().metadata.index;
    if (applied <= snapIndex) return false;
    m.storage.createSnapshot(applied, m.sm.confState, encodeSm(m.sm));
    const keep = b % (this.settings.compactKeep + 1);
    const to = applied - keep;
    if (to > m.storage.firstIndex() - 1) m.storage.compact(to);
    this.stats.compactions++;
    this.trace(`compact ${m.id}: snapshot at ${applied}, log from ${m.storage.firstIndex()}`);
    return true;
  }

  // ---------------------------------------------------------------- ticking and delivery

  private tickAll(): void {
    const live = shuffle(this.liveMembers(), this.orderRng.u32());
    for (const m of live) {
      if (m.node === null) continue;
      m.node.tick();
      this.handleReadies(m);
    }
  }

  private deliverDue(): void {
    for (let n = 0; n < deliveriesPerTickMax; n++) {
      const top = this.heap.peek();
      if (top === undefined || top.at > this.now) return;
      this.heap.pop();
      this.deliver(top);
    }
  }

  private send(from: Member, m: Message): void {
    const net = this.net;
    const copies = this.netRng.float() < net.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.netRng.float() < net.dropRate) {
        this.stats.dropped++;
        if (m.type === 'MsgSnap') this.reportSnapshot(from, from.incarnation, m.to, false);
        continue;
      }
      let delay = this.netRng.intBelow(net.delayMax + 1);
      if (this.netRng.float() < net.longDelayRate) delay += this.netRng.intBelow(net.longDelayMax + 1);
      this.heap.push({ m, at: this.now + delay, order: this.netRng.u32(), senderIncarnation: from.incarnation });
    }
  }

  private deliver(f: InFlight): void {
    const m = f.m;
    const to = this.members.get(m.to);
    const from = this.members.get(m.from);
    const blocked = this.blocked.has(linkKey(m.from, m.to));
    if (to === undefined || to.node === null || to.removed || blocked || from === undefined || from.removed) {
      this.stats.dropped++;
      if (m.type === 'MsgSnap' && from !== undefined) this.reportSnapshot(from, f.senderIncarnation, m.to, false);
      if (blocked && from !== undefined && from.node !== null && from.incarnation === f.senderIncarnation && this.netRng.bool(0.3)) {
        from.node.reportUnreachable(m.to);
        this.handleReadies(from);
      }
      return;
    }
    this.stats.deliveries++;
    if (this.opts.trace === true) this.trace(`deliver ${describeMessage(m)}`);
    const err = to.node.step(m);
    if (err !== null && err.kind !== 'StepPeerNotFound' && err.kind !== 'ProposalDropped') {
      throw new Violation(`member ${to.id} refused ${m.type}: ${err.message}`);
    }
    this.handleReadies(to);
    if (m.type === 'MsgSnap' && from !== undefined) this.reportSnapshot(from, f.senderIncarnation, m.to, true);
  }

  private reportSnapshot(from: Member, incarnation: number, to: bigint, ok: boolean): void {
    if (from.node === null || from.incarnation !== incarnation) return;
    from.node.reportSnapshot(to, ok ? 'finish' : 'failure');
    this.handleReadies(from);
  }

  // ---------------------------------------------------------------- the Ready loop

  private handleReadies(m: Member): void {
    for (let guard = 0; m.node !== null && m.node.hasReady(); guard++) {
      check(guard < 1000, () => `member ${m.id}: Ready loop does not settle`);
      const node = m.node;
      const rd = node.ready();
      this.hashReady(m, rd);
      const commitBefore = m.storage.initialState().hardState.commit;
      this.persist(m, rd);
      if (rd.softState !== null && rd.softState.state === 'leader') this.onLeader(m, node.status().hardState.term);
      if (this.crashBeforeSend(m, rd, commitBefore)) return;
      for (const msg of rd.messages) this.send(m, msg);
      this.watchMessages(m, rd.messages);
      if (m.node === null) return;
      this.apply(m, rd);
      node.advance();
      this.afterReady(m, rd);
    }
  }

  private persist(m: Member, rd: Ready): void {
    if (rd.snapshot !== null) m.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) {
      m.storage.append(rd.entries);
      this.checkLogMatching(m, rd.entries);
    }
    if (rd.hardState !== null) {
      const prev = m.storage.initialState().hardState;
      check(rd.hardState.term >= prev.term, () => `member ${m.id}: persisted term went backwards`);
      m.storage.setHardState(rd.hardState);
      this.checkCommitted(m, rd.hardState.commit, rd.hardState.term);
    }
  }

  private apply(m: Member, rd: Ready): void {
    if (rd.snapshot !== null) this.installSnapshot(m, rd.snapshot);
    for (const e of rd.committedEntries) this.applyEntry(m, e);
    for (const rs of rd.readStates) this.acceptReadState(m, rs.index, rs.requestCtx);
  }

  private installSnapshot(m: Member, snap: Snapshot): void {
    const sm = decodeSm(snap.data);
    check(sm.applied === snap.metadata.index, () => `snapshot data at ${sm.applied} labelled ${snap.metadata.index}`);
    const known = this.stateHashAt[sm.applied];
    check(known === undefined || known === sm.hash, () => `member ${m.id}: snapshot at ${sm.applied} holds a different state than members that applied that index`);
    if (sm.applied > m.sm.applied) m.sm = sm;
    this.stats.snapshotsInstalled++;
    this.trace(`member ${m.id} installed snapshot at ${snap.metadata.index}`);
  }

  private applyEntry(m: Member, e: Entry): void {
    if (e.index <= m.sm.applied) return;
    check(e.index === m.sm.applied + 1, () => `member ${m.id}: applying ${e.index} after ${m.sm.applied}`);
    const dataHash = hashBytes(e.data);
    const hash = fnv(fnv(fnv(m.sm.hash, e.index), e.term), dataHash);
    const known = this.stateHashAt[e.index];
    if (known === undefined) {
      this.stateHashAt[e.index] = hash;
    } else {
      check(known === hash, () => `state machine safety: member ${m.id} applied a different entry at ${e.index} (term ${e.term})`);
    }
    m.sm.applied = e.index;
    m.sm.hash = hash;
    if (e.type === 'confChange') this.applyConfChangeEntry(m, e);
    else if (e.data.byteLength > 0) this.committedData.add(dataHash);
  }

  private applyConfChangeEntry(m: Member, e: Entry): void {
    const cc = decodeConfChange(e.data);
    m.sm.confState = applyConfChange(m.sm.confState, cc);
    if (!this.confApplied.has(e.index)) {
      this.confApplied.add(e.index);
      this.stats.confChanges++;
    }
    if (cc.type !== 'removeNode') return;
    const gone = this.members.get(cc.nodeId);
    if (gone === undefined || gone.removed) return;
    // The cluster has committed the removal: stop the member, as its transport would.
    gone.removed = true;
    gone.node = null;
    gone.waitingReads = [];
    this.trace(`member ${cc.nodeId} removed (applied at ${m.id}, index ${e.index})`);
  }

  private acceptReadState(m: Member, index: number, ctx: Uint8Array): void {
    const key = hex(ctx);
    const r = this.pendingReads.get(key);
    check(r !== undefined, () => `member ${m.id}: ReadState for unknown or already answered request ${key}`);
    check(r.member === m.id && r.incarnation === m.incarnation, () => `member ${m.id}: ReadState for a request of another member or life`);
    check(index >= r.minIndex, () => `stale read at ${m.id}: read index ${index} but index ${r.minIndex} was committed when the read was asked`);
    this.pendingReads.delete(key);
    r.index = index;
    m.waitingReads.push(r);
    this.trace(`read ${key.slice(-6)} at ${m.id} gets index ${index}`);
  }

  private afterReady(m: Member, rd: Ready): void {
    const node = m.node;
    if (node === null) return;
    const st = node.status();
    const hs = st.hardState;
    if (st.softState.state === 'leader') {
      const prev = this.leaderOfTerm.get(hs.term);
      check(prev === undefined || prev === m.id, () => `two leaders in term ${hs.term}: ${prev} and ${m.id}`);
    }
    this.checkCommitted(m, hs.commit, hs.term);
    check(st.applied === m.sm.applied, () => `member ${m.id}: raft thinks ${st.applied} is applied, the state machine is at ${m.sm.applied}`);
    check(confStateEqual(st.appliedConfState, m.sm.confState),
      () => `member ${m.id}: raft's configuration at the applied index differs from the one the application folded`);
    // Reads are answered only once the state machine has caught up with their index.
    if (m.waitingReads.length > 0) {
      const still: PendingRead[] = [];
      for (const r of m.waitingReads) {
        if (r.index !== null && m.sm.applied >= r.index) {
          check(m.sm.applied >= r.minIndex, () => 'read served before applying through its index');
          this.stats.readsServed++;
        } else {
          still.push(r);
        }
      }
      m.waitingReads = still;
    }
  }

  // ---------------------------------------------------------------- invariants

  /** Election safety and leader completeness (§5.2, §5.4). */
  private onLeader(m: Member, term: number): void {
    const prev = this.leaderOfTerm.get(term);
    check(prev === undefined || prev === m.id, () => `election safety: two leaders in term ${term}: ${prev} and ${m.id}`);
    if (prev === undefined) this.stats.leaders++;
    this.leaderOfTerm.set(term, m.id);
    this.trace(`member ${m.id} leads term ${term}`);
    const first = m.storage.firstIndex();
    for (let i = first; i <= this.maxCommit; i++) {
      const t = this.committedTerm[i];
      if (t === undefined || (this.committedSeenTerm[i] as number) >= term) continue;
      check(i <= m.storage.lastIndex() && m.storage.term(i) === t,
        () => `leader completeness: leader ${m.id} of term ${term} lacks entry ${i} (term ${t}) committed earlier`);
    }
  }

  /** Log matching (§5.3): an (index, term) pair names one entry, with one predecessor. */
  private checkLogMatching(m: Member, ents: readonly Entry[]): void {
    for (const e of ents) {
      if (e.index < m.storage.firstIndex()) continue;
      const prevTerm = m.storage.term(e.index - 1);
      const key = e.index * 1048576 + e.term;
      const id = { hash: hashBytes(e.data), prevTerm };
      const known = this.entryIdentity.get(key);
      if (known === undefined) {
        this.entryIdentity.set(key, id);
      } else {
        check(known.hash === id.hash && known.prevTerm === id.prevTerm,
          () => `log matching: member ${m.id} holds a different entry ${e.index}/term ${e.term} (or a different predecessor)`);
      }
    }
  }

  /**
   * State machine safety and durability: every index up to a member's commit
   * names the same entry everywhere, and stays so across restarts; leaders of
   * later terms hold it.
   */
  private checkCommitted(m: Member, commit: number, term: number): void {
    if (commit <= m.checkedCommit) return;
    const first = m.storage.firstIndex();
    for (let i = Math.max(m.checkedCommit + 1, first); i <= commit; i++) {
      check(i <= m.storage.lastIndex(), () => `member ${m.id} commits ${commit} beyond its persisted log ${m.storage.lastIndex()}`);
      const t = m.storage.term(i);
      const h = this.persistedHash(m, i);
      const known = this.committedTerm[i];
      if (known === undefined) {
        this.committedTerm[i] = t;
        this.committedHash[i] = h;
        this.committedSeenTerm[i] = term;
        this.stats.committed++;
        this.checkLeadersHold(i, t, term);
      } else {
        check(known === t && this.committedHash[i] === h,
          () => `committed entry lost: member ${m.id} has term ${t} at committed index ${i}, expected term ${known}`);
      }
    }
    m.checkedCommit = commit;
    if (commit > this.maxCommit) this.maxCommit = commit;
  }

  private persistedHash(m: Member, i: number): number {
    const e = m.storage.entries(i, i + 1, Number.MAX_SAFE_INTEGER)[0];
    return e === undefined ? 0 : hashBytes(e.data);
  }

  private checkLeadersHold(i: number, t: number, seenTerm: number): void {
    for (const l of this.members.values()) {
      const node = l.node;
      if (node === null || node.state !== 'leader') continue;
      const lt = node.status().hardState.term;
      if (lt <= seenTerm || i < l.storage.firstIndex()) continue;
      check(i <= l.storage.lastIndex() && l.storage.term(i) === t,
        () => `leader completeness: leader ${l.id} of term ${lt} lacks entry ${i} committed in term ≤ ${seenTerm}`);
    }
  }

  // ---------------------------------------------------------------- convergence

  private stableLeader(): Member | null {
    let found: Member | null = null;
    for (const m of this.members.values()) {
      if (m.node === null || m.node.state !== 'leader') continue;
      if (found !== null) return null; // two leaders of different terms: not settled yet
      found = m;
    }
    return found;
  }

  private logHasAny(leader: Member, hashes: ReadonlySet<number>): boolean {
    if (hashes.size === 0) return false;
    const last = leader.storage.lastIndex();
    for (let i = Math.max(leader.storage.firstIndex(), last - 300); i <= last; i++) {
      if (hashes.has(this.persistedHash(leader, i))) return true;
    }
    return false;
  }

  /** One leader that every member of its configuration follows, all caught up and applied. */
  private converged(leader: Member): boolean {
    const node = leader.node;
    if (node === null) return false;
    const st = node.status();
    if (st.hardState.commit !== st.lastIndex) return false;
    for (const id of [...st.confState.voters, ...st.confState.learners]) {
      const m = this.members.get(id);
      if (m === undefined || m.node === null) return false;
      const s = m.node.status();
      if (s.hardState.term !== st.hardState.term || s.softState.lead !== leader.id) return false;
      if (m.sm.applied !== st.lastIndex || s.hardState.commit !== st.lastIndex) return false;
    }
    return true;
  }

  private finalCheck(leader: Member): void {
    const st = (leader.node as RawNode).status();
    for (const id of [...st.confState.voters, ...st.confState.learners]) {
      const m = this.members.get(id) as Member;
      for (let i = m.storage.firstIndex(); i <= this.maxCommit; i++) {
        const t = this.committedTerm[i];
        if (t === undefined) continue;
        check(m.storage.term(i) === t && this.persistedHash(m, i) === this.committedHash[i],
          () => `after convergence member ${id} disagrees with committed entry ${i}`);
      }
      check(m.sm.hash === this.stateHashAt[m.sm.applied], () => `after convergence member ${id} has a different state`);
    }
    this.trace(`converged: leader ${leader.id}, term ${st.hardState.term}, commit ${st.hardState.commit}`);
  }

  private describeCluster(): string {
    const parts: string[] = [];
    for (const m of this.members.values()) {
      if (m.removed) continue;
      if (m.node === null) {
        parts.push(`${m.id}:down`);
        continue;
      }
      const s = m.node.status();
      parts.push(`${m.id}:${s.softState.state}/t${s.hardState.term}/lead${s.softState.lead}/c${s.hardState.commit}/a${m.sm.applied}/l${s.lastIndex}/cfg[${s.confState.voters.join(',')}|${s.confState.learners.join(',')}]`);
    }
    return parts.join(' ');
  }

  // ---------------------------------------------------------------- helpers

  private leaderOr(live: readonly Member[], r: number): Member | undefined {
    return live.find((m) => m.node?.state === 'leader') ?? pickBy(live, r);
  }

  private liveMembers(): Member[] {
    const out: Member[] = [];
    for (const m of this.members.values()) if (m.node !== null) out.push(m);
    return out;
  }

  private trace(line: string): void {
    if (this.opts.trace !== true) return;
    this.traceLines.push(`t${this.now} ${line}`);
  }

  private hashReady(m: Member, rd: Ready): void {
    let h = fnv(this.digest, Number(m.id));
    if (rd.hardState !== null) h = hashNumber(hashNumber(fnv(h, rd.hardState.term), rd.hardState.commit), Number(rd.hardState.vote));
    for (const e of rd.entries) h = fnv(hashNumber(fnv(h, e.term), e.index), hashBytes(e.data));
    for (const e of rd.committedEntries) h = hashNumber(h, e.index);
    for (const msg of rd.messages) h = hashNumber(fnv(fnv(fnv(h, msg.type.length), Number(msg.to)), msg.term), msg.index + msg.commit * 7 + msg.entries.length * 13);
    for (const rs of rd.readStates) h = hashNumber(h, rs.index);
    this.digest = h;
  }
}

// ------------------------------------------------------------------ settings

function drawSettings(rng: SeededRandom): Settings {
  const checkQuorum = rng.bool(0.6);
  const maxSizePerMsg = rng.pick([24, 64, 256, 4096]);
  return {
    n: rng.pick([3, 5]),
    electionTicks: 10,
    heartbeatTicks: rng.pick([1, 2, 3]),
    preVote: rng.bool(0.6),
    checkQuorum,
    readOnlyOption: checkQuorum && rng.bool() ? 'lease' : 'safe',
    maxSizePerMsg,
    maxInflightMsgs: rng.int(1, 8),
    maxInflightBytes: maxSizePerMsg * rng.int(1, 8),
    maxCommittedSizePerReady: rng.pick([24, 256, 1 << 20]),
    disableProposalForwarding: rng.bool(0.2),
    net: {
      dropRate: rng.pick([0, 0.02, 0.1, 0.2]),
      dupRate: rng.pick([0, 0.02, 0.1]),
      delayMax: rng.pick([0, 1, 3, 6]),
      longDelayRate: rng.pick([0, 0.01, 0.05]),
      longDelayMax: 30,
    },
    compactKeep: rng.pick([0, 3, 20]),
    faultRate: rng.pick([0.5, 1, 2, 4]),
  };
}

function describeSettings(s: Settings): string {
  return `n=${s.n} heartbeat=${s.heartbeatTicks} preVote=${s.preVote} checkQuorum=${s.checkQuorum} reads=${s.readOnlyOption} ` +
    `msgBytes=${s.maxSizePerMsg} inflight=${s.maxInflightMsgs}/${s.maxInflightBytes}B readyBytes=${s.maxCommittedSizePerReady} ` +
    `noForward=${s.disableProposalForwarding} drop=${s.net.dropRate} dup=${s.net.dupRate} delay≤${s.net.delayMax} ` +
    `long=${s.net.longDelayRate} keep=${s.compactKeep} faults×${s.faultRate}`;
}

function describeMessage(m: Message): string {
  let s = `${m.from}→${m.to} ${m.type} t${m.term}`;
  if (m.type === 'MsgApp') s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} commit=${m.commit}`;
  else if (m.type === 'MsgAppResp') s += ` idx=${m.index}${m.reject ? ` reject hint=${m.rejectHint}/${m.logTerm}` : ''}`;
  else if (m.type === 'MsgVote' || m.type === 'MsgPreVote') s += ` last=${m.index}/${m.logTerm}`;
  else if (m.type.endsWith('Resp')) s += m.reject ? ' reject' : ' grant';
  else if (m.type === 'MsgHeartbeat') s += ` commit=${m.commit} round=${m.index}`;
  else if (m.type === 'MsgSnap' && m.snapshot !== null) s += ` snap=${m.snapshot.metadata.index}/${m.snapshot.metadata.term}`;
  else if (m.type === 'MsgReadIndexResp') s += ` index=${m.index}`;
  return s;
}

function linkKey(from: bigint, to: bigint): number {
  return Number(from) * 4096 + Number(to);
}

function pickBy<T>(items: readonly T[], r: number): T | undefined {
  if (items.length === 0) return undefined;
  return items[r % items.length];
}

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const rng = new SeededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.intBelow(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
