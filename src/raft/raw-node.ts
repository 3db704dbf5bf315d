// The application's handle on a raft node (etcd-io/raft's RawNode): feed it
// ticks, messages and requests; take a Ready; persist, send, apply; advance().
//
//   const rn = new RawNode(config);
//   every tick:           rn.tick()
//   on a message:         rn.step(m)
//   on a write:           rn.propose(data)        → RaftError | null
//   on a linearizable read: rn.readIndex()        → request ctx | RaftError
//   then: while (rn.hasReady()) { const rd = rn.ready(); …persist, send, apply…; rn.advance(); }
import { assert } from '../util';
import { encodeConfChange, type ConfChange } from './conf-change';
import type { RaftConfig } from './config';
import { RaftError } from './errors';
import { Raft } from './raft';
import {
  hardStateEqual, localMessageTypes, message, responseMessageTypes,
  type ConfState, type Entry, type EntryType, type HardState, type Message, type Ready, type SoftState, type StateType,
} from './types';
import type { ProgressState } from './progress';

export type SnapshotStatus = 'finish' | 'failure';

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflight: number;
}

export interface RaftStatus {
  readonly id: bigint;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly leadTransferee: bigint;
  /** The configuration in effect (the latest in the log, committed or not). */
  readonly confState: ConfState;
  /**
   * The configuration as of the applied index (or the stored snapshot, if
   * later): the one to record with a snapshot taken at the applied index.
   */
  readonly appliedConfState: ConfState;
  /** Followers' progress; empty unless leader. */
  readonly progress: ReadonlyMap<bigint, ProgressStatus>;
}

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private outstanding: Ready | null = null;

  /** Throws RaftError('ConfigInvalid') for unsafe settings. */
  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    // Compare with what is on disk: a bootstrap changed the hard state before any Ready.
    this.prevHardState = config.storage.initialState().hardState;
  }

  get id(): bigint {
    return this.raft.id;
  }

  /** Advances the logical clock by one tick (elections, heartbeats, lease, CheckQuorum). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (subject to pre-vote). */
  campaign(): void {
    this.raft.step(message({ type: 'MsgHup', from: this.raft.id }));
  }

  /** Proposes one entry. Null when accepted (it may still be lost); RaftError 'ProposalDropped' when refused. */
  propose(data: Uint8Array): RaftError | null {
    return this.proposeEntries([{ type: 'normal', data }]);
  }

  /** Proposes several entries as one batch: accepted or refused together. */
  proposeBatch(data: readonly Uint8Array[]): RaftError | null {
    if (data.length === 0) return null;
    return this.proposeEntries(data.map((d) => ({ type: 'normal' as const, data: d })));
  }

  /**
   * Proposes a membership change. Refused unless this node leads (or forwards
   * to a leader that accepts), no other change is uncommitted, the leader has
   * committed an entry of its term, and the change is valid. It takes effect
   * in raft once appended; the application learns of it when the entry is
   * committed (decode with decodeConfChange, fold with applyConfChange).
   */
  proposeConfChange(cc: ConfChange): RaftError | null {
    return this.proposeEntries([{ type: 'confChange', data: encodeConfChange(cc) }]);
  }

  private proposeEntries(es: readonly { type: EntryType; data: Uint8Array }[]): RaftError | null {
    const entries: Entry[] = es.map((e) => ({ term: 0, index: 0, type: e.type, data: e.data }));
    return this.raft.step(message({ type: 'MsgProp', from: this.raft.id, entries }));
  }

  /** Feeds a message from a peer. Local message types and answers from non-members are refused. */
  step(m: Message): RaftError | null {
    if (localMessageTypes.has(m.type)) return new RaftError('StepLocalMsg', `${m.type} cannot come from the network`);
    if (responseMessageTypes.has(m.type) && !this.raft.prs.isMember(m.from)) {
      return new RaftError('StepPeerNotFound', `${m.type} from unknown member ${m.from}`);
    }
    const problem = malformation(m);
    if (problem !== null) return new RaftError('StepInvalidMsg', problem);
    return this.raft.step(m);
  }

  /**
   * Asks for a linearizable read point. Returns the request ctx (24 bytes,
   * never reused, even across restarts with a fresh Random seed); the answer
   * arrives as a ReadState with the same requestCtx in a later Ready. Serve
   * the read once applied ≥ ReadState.index. No answer may come (leader
   * change, lost message): time out and ask again.
   */
  readIndex(): Uint8Array | RaftError {
    return this.raft.readIndex();
  }

  /** Asks the leader to hand leadership to transferee; proposals are refused while it is under way. */
  transferLeader(transferee: bigint): void {
    this.raft.step(message({ type: 'MsgTransferLeader', from: transferee }));
  }

  /** The transport could not reach id: the leader stops pipelining to it. */
  reportUnreachable(id: bigint): void {
    this.raft.step(message({ type: 'MsgUnreachable', from: id }));
  }

  /** The transport finished (or failed) sending a snapshot to id. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    this.raft.step(message({ type: 'MsgSnapStatus', from: id, reject: status === 'failure' }));
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.raft;
    if (!softStateEqual(r.softState(), this.prevSoftState)) return true;
    if (!hardStateEqual(r.hardState(), this.prevHardState)) return true;
    if (r.raftLog.hasPendingSnapshot() || r.raftLog.unstable.entries.length > 0) return true;
    return r.hasPendingOutput() || r.raftLog.hasNextCommittedEnts();
  }

  /** The next batch of work. Call advance() after handling it and before the next ready(). */
  ready(): Ready {
    assert(this.outstanding === null, 'advance() the previous Ready before asking for another');
    const r = this.raft;
    const messages = r.takeMessages();
    const soft = r.softState();
    const hard = r.hardState();
    const entries = r.raftLog.unstableEntries();
    const rd: Ready = {
      softState: softStateEqual(soft, this.prevSoftState) ? null : soft,
      hardState: hardStateEqual(hard, this.prevHardState) ? null : hard,
      readStates: r.takeReadStates(),
      entries,
      snapshot: r.raftLog.unstable.snapshot,
      committedEntries: r.raftLog.nextCommittedEnts(),
      messages,
      mustSync: entries.length > 0 || hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote,
    };
    this.prevSoftState = soft;
    this.prevHardState = hard;
    this.outstanding = rd;
    return rd;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    const rd = this.outstanding;
    assert(rd !== null, 'advance() without a Ready');
    const log = this.raft.raftLog;
    // Entries replaced while the Ready was being written stay unstable; the prefix that survived is durable.
    for (let i = rd.entries.length - 1; i >= 0; i--) {
      const e = rd.entries[i] as Entry;
      if (log.unstable.maybeTerm(e.index) !== e.term) continue;
      log.stableTo(e.index, e.term);
      break;
    }
    if (rd.snapshot !== null) {
      log.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > log.applied) this.raft.appliedTo(rd.snapshot.metadata.index);
    }
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      this.raft.appliedTo(lastCommitted.index);
      this.raft.reduceUncommittedSize(rd.committedEntries);
    }
    this.outstanding = null;
  }

  status(): RaftStatus {
    const r = this.raft;
    const progress = new Map<bigint, ProgressStatus>();
    if (r.state === 'leader') {
      for (const [id, pr] of r.prs.progress) {
        progress.set(id, {
          match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner,
          recentActive: pr.recentActive, inflight: pr.inflights.size(),
        });
      }
    }
    return {
      id: r.id,
      hardState: { term: r.term, vote: r.vote, commit: r.raftLog.committed },
      softState: r.softState(),
      applied: r.raftLog.applied,
      firstIndex: r.raftLog.firstIndex(),
      lastIndex: r.raftLog.lastIndex(),
      leadTransferee: r.leadTransferee,
      confState: r.currentConf(),
      appliedConfState: r.appliedConfState(),
      progress,
    };
  }

  /** The raft state machine itself, for tests that need to look inside. */
  get internals(): Raft {
    return this.raft;
  }

  get state(): StateType {
    return this.raft.state;
  }

  /** The current term, without building a whole status() (read on every client response). */
  get term(): number {
    return this.raft.term;
  }

  /** The commit index, without building a whole status(). */
  get commitIndex(): number {
    return this.raft.raftLog.committed;
  }
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.state === b.state;
}

function isIndex(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

/** Why a message from the network cannot be stepped, or null. Bad input is refused, not asserted. */
function malformation(m: Message): string | null {
  if (!isIndex(m.term)) return 'term must be a non-negative safe integer';
  if (!isIndex(m.index)) return 'index must be a non-negative safe integer';
  if (!isIndex(m.logTerm)) return 'logTerm must be a non-negative safe integer';
  if (!isIndex(m.commit)) return 'commit must be a non-negative safe integer';
  if (!isIndex(m.rejectHint)) return 'rejectHint must be a non-negative safe integer';
  if (m.from <= 0n || m.from >= 1n << 64n) return 'from must be a non-zero uint64';
  if (m.type === 'MsgSnap' && m.snapshot === null) return 'MsgSnap without a snapshot';
  if (m.type === 'MsgProp' && m.entries.length === 0) return 'MsgProp without entries';
  let prev = m.index;
  for (const e of m.entries) {
    if (m.type === 'MsgApp' && e.index !== prev + 1) return 'MsgApp entries must follow index contiguously';
    if (!Number.isSafeInteger(e.term) || e.term < 0 || (m.type === 'MsgApp' && e.term > m.term)) return 'entry term out of range';
    prev = e.index;
  }
  return null;
}
