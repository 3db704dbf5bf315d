// Test scaffolding for white-box raft tests: build Raft state machines with
// chosen logs and terms, and a synchronous network that delivers messages in
// FIFO order with per-link drops and ignored message types.
import {
  MemoryStorage, makeConfState, message,
  type Entry, type EntryType, type HardState, type Message, type MessageType, type RaftConfig,
} from '../../src/raft';
import { Raft } from '../../src/raft';
import { SeededRandom } from '../../src/util';

export const ids = (...xs: number[]): bigint[] => xs.map(BigInt);

export function entry(index: number, term: number, data = '', type: EntryType = 'normal'): Entry {
  return { index, term, type, data: new TextEncoder().encode(data) };
}

/** Entries with the given terms at indexes 1, 2, 3, … */
export function entsWithTerms(...terms: number[]): Entry[] {
  return terms.map((t, i) => entry(i + 1, t));
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

export interface RaftOptions extends Partial<Omit<RaftConfig, 'id' | 'storage'>> {
  storage?: MemoryStorage;
  seed?: number;
}

/** A Raft over MemoryStorage bootstrapped with peers; PreVote and CheckQuorum off unless asked (as in the paper). */
export function newRaft(id: number, peers: readonly number[], electionTicks = 10, heartbeatTicks = 1, opts: RaftOptions = {}): Raft {
  const { storage: given, seed, ...rest } = opts;
  const storage = given ?? new MemoryStorage(makeConfState(ids(...peers)));
  return new Raft({
    preVote: false,
    checkQuorum: false,
    ...rest,
    id: BigInt(id),
    electionTicks,
    heartbeatTicks,
    storage,
    random: rest.random ?? new SeededRandom(seed ?? id),
  });
}

/** A MemoryStorage holding the entries, with the configuration of peers. */
export function storageWith(peers: readonly number[], ents: readonly Entry[], hs?: HardState): MemoryStorage {
  const s = new MemoryStorage(makeConfState(ids(...peers)));
  s.append(ents);
  if (hs !== undefined) s.setHardState(hs);
  return s;
}

/** A follower at term with the given log whose vote in that term is `vote` (0 = none). */
export function raftWithLog(id: number, peers: readonly number[], terms: readonly number[], term: number, vote = 0, opts: RaftOptions = {}): Raft {
  const storage = storageWith(peers, entsWithTerms(...terms), { term, vote: BigInt(vote), commit: 0 });
  return newRaft(id, peers, 10, 1, { ...opts, storage });
}

export function msgs(r: Raft): Message[] {
  return r.takeMessages();
}

/** Persists unstable entries like an application would, and returns newly committed entries (marking them applied). */
export function persist(r: Raft, storage: MemoryStorage): Entry[] {
  const log = r.raftLog;
  const snap = log.unstable.snapshot;
  if (snap !== null) {
    storage.applySnapshot(snap);
    log.stableSnapTo(snap.metadata.index);
    r.appliedTo(snap.metadata.index);
  }
  const ents = log.unstableEntries();
  storage.append(ents);
  const last = ents[ents.length - 1];
  if (last !== undefined) log.stableTo(last.index, last.term);
  storage.setHardState(r.hardState());
  const committed = [...log.nextCommittedEnts()];
  const lastC = committed[committed.length - 1];
  if (lastC !== undefined) r.appliedTo(lastC.index);
  return committed;
}

/** Every entry of the log, stable and unstable (compacted ones excluded). */
export function allEntries(r: Raft): Entry[] {
  const log = r.raftLog;
  if (log.lastIndex() < log.firstIndex()) return [];
  return [...log.slice(log.firstIndex(), log.lastIndex() + 1, Number.MAX_SAFE_INTEGER)];
}

export function logTerms(r: Raft): number[] {
  return allEntries(r).map((e) => e.term);
}

export function hup(r: Raft): void {
  r.step(message({ type: 'MsgHup', from: r.id }));
}

export function propose(r: Raft, data: string): ReturnType<Raft['step']> {
  return r.step(message({ type: 'MsgProp', from: r.id, entries: [entry(0, 0, data)] }));
}

export function tickN(r: Raft, n: number): void {
  for (let i = 0; i < n; i++) r.tick();
}

const linkKey = (from: bigint, to: bigint): string => `${from}:${to}`;

/** A synchronous network of Raft peers (null = a peer that swallows everything). */
export class Network {
  readonly peers = new Map<bigint, Raft | null>();
  private readonly dropLinks = new Map<string, number>();
  private readonly ignored = new Set<MessageType>();
  private dropPredicates: ((m: Message) => boolean)[] = [];
  private readonly rng = new SeededRandom(7);
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];

  constructor(...peers: (Raft | null)[]) {
    peers.forEach((p, i) => this.peers.set(p?.id ?? BigInt(i + 1), p));
  }

  /** A network of fresh peers 1..n (each given the full peer list). */
  static ofSize(n: number, opts: RaftOptions = {}, electionTicks = 10): Network {
    const all = Array.from({ length: n }, (_, i) => i + 1);
    return new Network(...all.map((id) => newRaft(id, all, electionTicks, 1, opts)));
  }

  raft(id: number | bigint): Raft {
    const r = this.peers.get(BigInt(id));
    if (r === undefined || r === null) throw new Error(`no raft ${id}`);
    return r;
  }

  /** Delivers messages and everything they cause, in FIFO order. */
  send(...initial: Message[]): void {
    const queue = [...initial];
    for (let guard = 0; queue.length > 0; guard++) {
      if (guard > 100_000) throw new Error('network does not settle');
      const m = queue.shift() as Message;
      const p = this.peers.get(m.to);
      if (p === undefined || p === null) continue;
      this.delivered.push(m);
      p.step(m);
      queue.push(...this.filter(p.takeMessages()));
    }
  }

  /** Starts an election at id. */
  campaign(id: number): void {
    this.send(message({ type: 'MsgHup', from: BigInt(id), to: BigInt(id) }));
  }

  propose(id: number, data: string): void {
    this.send(message({ type: 'MsgProp', from: BigInt(id), to: BigInt(id), entries: [entry(0, 0, data)] }));
  }

  /** Lets every peer flush what it queued (e.g. after ticks). */
  flush(): void {
    const out: Message[] = [];
    for (const p of this.peers.values()) if (p !== null) out.push(...this.filter(p.takeMessages()));
    this.send(...out);
  }

  drop(from: number, to: number, perc: number): void {
    this.dropLinks.set(linkKey(BigInt(from), BigInt(to)), perc);
  }

  cut(a: number, b: number): void {
    this.drop(a, b, 1);
    this.drop(b, a, 1);
  }

  isolate(id: number): void {
    for (const other of this.peers.keys()) {
      if (other !== BigInt(id)) this.cut(id, Number(other));
    }
  }

  /** Drops every message matching pred until recover(). */
  dropIf(pred: (m: Message) => boolean): void {
    this.dropPredicates.push(pred);
  }

  ignore(t: MessageType): void {
    this.ignored.add(t);
  }

  recover(): void {
    this.dropLinks.clear();
    this.ignored.clear();
    this.dropPredicates = [];
  }

  private filter(ms: readonly Message[]): Message[] {
    return ms.filter((m) => {
      if (this.ignored.has(m.type)) return false;
      if (this.dropPredicates.some((pred) => pred(m))) return false;
      if (m.type === 'MsgHup') throw new Error('MsgHup on the network');
      const p = this.dropLinks.get(linkKey(m.from, m.to)) ?? 0;
      return p === 0 ? true : this.rng.float() >= p;
    });
  }
}
